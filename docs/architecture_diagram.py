"""Render docs/architecture.png: the services, their ports, the queues and the stores (docs/architecture.md).

`python docs/architecture_diagram.py` (matplotlib only). The Mermaid diagram in docs/architecture.md shows the
same boxes and arrows; change both together.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

OUT = Path(__file__).with_name("architecture.png")
COLOURS = {"outside": "#f2f2f2", "service": "#dbe9f6", "standin": "#fdf0d5", "queue": "#e3f4e1", "store": "#f6dede"}

# name: (x, y, width, height, kind, label)
BOXES = {
    "phone": (0.2, 8.6, 2.8, 1.0, "outside", "Investor's WhatsApp"),
    "meta": (0.2, 6.3, 2.8, 1.3, "standin", "Meta Cloud API\n(simulator :8090,\nstandins/whatsapp_cloud)"),
    "gateway": (4.0, 8.4, 3.0, 1.3, "service", "Webhook gateway :5006\nconnectors/whatsapp\n(gateway.py)"),
    "intake": (4.0, 3.9, 3.0, 1.4, "queue", "RabbitMQ  wa.intake\nwa.intake.0..15 (quorum)\nwa.dlx -> wa.dlq"),
    "rasa": (8.2, 6.2, 3.2, 1.6, "service", "Rasa :5005\nNLU + dialogue\nconnectors/whatsapp (channel)\nbot/ (stores)"),
    "actions": (12.6, 6.2, 3.0, 1.6, "service", "Action server :5055\nactions/\n(python -m actions.server)"),
    "accounts": (12.6, 8.6, 3.0, 1.2, "standin",
                 "Account API :8088\nstandins/accounts_api\n(fund house's own in prod)"),
    "broker": (8.2, 3.6, 3.2, 1.5, "queue",
               "RabbitMQ  rasa-events (fanout)\nhandoff-events.0..7 (quorum)\n-> handoff-events.dead"),
    "handoff": (12.6, 3.6, 3.0, 1.5, "service", "Handoff service :8091\nhandoff/ (agent inbox)"),
    "agent": (12.6, 1.2, 3.0, 1.0, "outside", "Agent's browser"),
    "redis": (3.6, 0.5, 3.9, 2.2, "store",
              "Redis :6379\ngateway/channel: wa:* dedupe, 24 h window,\nrate limits, send keys, members\n"
              "actions: mfa:accounts:* cache, sessions\nRasa: locks; handoff: live pub/sub"),
    "postgres": (8.2, 0.5, 3.2, 2.2, "store", "PostgreSQL :5432\n(SQLite locally)\nRasa: trackers\n"
                 "handoff: tickets, agents\naccount API stand-in: its book"),
}
# (from, to, label[, where along the arrow the label sits: 0 = start, 1 = end])
ARROWS: list[tuple[str, str, str] | tuple[str, str, str, float]] = [
    ("phone", "meta", ""),
    ("meta", "gateway", "signed webhook"),
    ("gateway", "intake", "verify, dedupe,\npublish (confirmed)", 0.75),
    ("intake", "rasa", "one consumer\nper partition"),
    ("rasa", "meta", "replies: Graph API client (graph.py)", 0.25),
    ("rasa", "actions", "HTTP + bearer"),
    ("actions", "accounts", "actions/api: retries,\nbreaker, cache"),
    ("rasa", "broker", "outbox (SQLite file\nper replica)"),
    ("broker", "handoff", "partitions"),
    ("handoff", "agent", "inbox (SSE)"),
    ("handoff", "rasa", "agent replies\n(Rasa HTTP API)"),
    ("actions", "handoff", "action_handoff"),
]


def border_point(name: str, towards: tuple[float, float]) -> tuple[float, float]:
    """Where the line from the box's centre towards a point leaves the box (plus a small gap)."""
    x, y, w, h, _, _ = BOXES[name]
    cx, cy = x + w / 2, y + h / 2
    dx, dy = towards[0] - cx, towards[1] - cy
    scale = min((w / 2 + 0.12) / abs(dx) if dx else float("inf"), (h / 2 + 0.12) / abs(dy) if dy else float("inf"))
    return cx + dx * scale, cy + dy * scale


def centre(name: str) -> tuple[float, float]:
    x, y, w, h, _, _ = BOXES[name]
    return x + w / 2, y + h / 2


def main() -> None:
    fig, ax = plt.subplots(figsize=(16, 10.5))
    ax.set_xlim(0, 16)
    ax.set_ylim(0, 10.2)
    ax.axis("off")
    for x, y, w, h, kind, label in BOXES.values():
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fc=COLOURS[kind], ec="#555555"))
        ax.text(x + w / 2, y + h / 2, label, ha="center", va="center", fontsize=9.5)
    for start, end, label, *where in ARROWS:
        (x1, y1), (x2, y2) = border_point(start, centre(end)), border_point(end, centre(start))
        t = where[0] if where else 0.5
        ax.add_patch(FancyArrowPatch((x1, y1), (x2, y2), arrowstyle="-|>", mutation_scale=14, color="#333333",
                                     shrinkA=0, shrinkB=0, lw=1.1))
        if label:
            ax.text(x1 + t * (x2 - x1) + 0.08, y1 + t * (y2 - y1) + 0.05, label, ha="left" if x1 == x2 else "center",
                    va="bottom", fontsize=8, color="#1f3b73")
    legend = [("outside", "outside the system"), ("service", "our services"), ("standin", "stand-ins (local)"),
              ("queue", "RabbitMQ queues"), ("store", "stores")]
    for i, (kind, text) in enumerate(legend):
        ax.add_patch(FancyBboxPatch((0.25, 4.6 - i * 0.55), 0.35, 0.3, boxstyle="round,pad=0.02", fc=COLOURS[kind],
                                    ec="#555555"))
        ax.text(0.75, 4.75 - i * 0.55, text, va="center", fontsize=9)
    ax.set_title("Investor assistant: services, ports, queues and stores (docs/architecture.md)", fontsize=13)
    fig.savefig(OUT, dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    main()
