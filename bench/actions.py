"""Action latency with the cache cold and warm, and answers under an injected 30% API error rate.

Starts the real account API stand-in and the real action server (with Redis when it is reachable, else the
in-process cache), then calls the action server's webhook the way Rasa does, with trackers of verified
investors. Prints a table and, as the last line, one JSON object with the figures.

    .venv/bin/python bench/actions.py [--investors 200] [--turns 600] [--error-rate 0.3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import infra  # noqa: E402
from tests.e2e_support.stack import (  # noqa: E402
    AccountsApi,
    action_server_env,
    http_json,
    start_accounts_api,
    start_action_server,
)

# What a correct answer to each intent contains (any of the markers).
EXPECT = {
    "check_portfolio": ["Your portfolio", "Folio "],
    "sip_status": ["Your SIPs", "no SIPs"],
    "transaction_history": ["transactions"],
    "kyc_status": ["KYC"],
    "redemption_status": ["Redemption in progress", "No redemption", "no redemption"],
    "check_nav": ["NAV as of"],
}
NAV_QUERIES = ["flexi cap", "bluechip", "elss", "liquid fund", "midcap", "small cap", "nifty 50 index", "gilt",
               "balanced advantage", "arbitrage"]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))]


def tracker(sender: str, intent: str, slots: dict[str, Any], entities: dict[str, str] | None = None) -> dict[str, Any]:
    message = {"text": f"/{intent}", "intent": {"name": intent, "confidence": 1.0},
               "entities": [{"entity": k, "value": v} for k, v in (entities or {}).items()],
               "message_id": uuid.uuid4().hex}
    return {"sender_id": sender, "slots": slots, "latest_message": message,
            "events": [{"event": "user", "text": message["text"], "parse_data": message}], "paused": False,
            "followup_action": None, "active_loop": {}, "latest_action_name": "action_listen"}


def call(action_url: str, intent: str, sender: str, slots: dict[str, Any],
         entities: dict[str, str] | None = None) -> tuple[float, list[dict[str, Any]]]:
    body = {"next_action": f"action_{intent}", "sender_id": sender, "tracker": tracker(sender, intent, slots, entities),
            "domain": {}, "version": "3.6.21"}
    started = time.perf_counter()
    status, data, _ = http_json("POST", action_url, body, timeout=60)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200:
        raise RuntimeError(f"action server answered {status}: {data}")
    return elapsed, list(data.get("responses", []))


def verified_slots(api: AccountsApi, mobile: str) -> dict[str, Any]:
    investor = api.call("GET", f"/v1/investors/by-mobile/{mobile}")[1]
    return {"investor_id": str(investor["investor_id"]), "verified_at": time.time() + 3600}


def latencies(action_url: str, people: list[str], slots: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """p50/p99 of portfolio (cold, then warm cache) and NAV answers."""
    cold: list[float] = []
    warm: list[float] = []
    nav_cold: list[float] = []
    nav_warm: list[float] = []
    for mobile in people:
        cold.append(call(action_url, "check_portfolio", mobile, slots[mobile])[0])
        warm.append(call(action_url, "check_portfolio", mobile, slots[mobile])[0])
    for i, query in enumerate(NAV_QUERIES * 3):
        target = nav_cold if i < len(NAV_QUERIES) else nav_warm
        target.append(call(action_url, "check_nav", people[0], {}, {"scheme": query})[0])
    figures: dict[str, Any] = {}
    for name, values in [("portfolio_cold", cold), ("portfolio_warm", warm), ("nav_cold", nav_cold),
                         ("nav_warm", nav_warm)]:
        figures[f"{name}_p50_ms"] = round(statistics.median(values), 1)
        figures[f"{name}_p99_ms"] = round(percentile(values, 99), 1)
    return figures


def under_errors(api: AccountsApi, action_url: str, people: list[str], slots: dict[str, dict[str, Any]],
                 args: argparse.Namespace) -> dict[str, Any]:
    """Turns under injected API errors: each answer is right, or the honest 'unavailable', within the deadline."""
    api.faults(error_rate=args.error_rate, lost_response_share=0.5, seed=20240401)
    intents = list(EXPECT)
    correct = honest = other = 0
    turn_ms: list[float] = []
    for turn in range(args.turns):
        mobile = people[turn % len(people)]
        intent = intents[turn % len(intents)]
        entities = {"scheme": NAV_QUERIES[turn % len(NAV_QUERIES)]} if intent == "check_nav" else None
        elapsed, responses = call(action_url, intent, mobile, slots[mobile] if intent != "check_nav" else {},
                                  entities)
        turn_ms.append(elapsed)
        text = "\n".join(r.get("text") or "" for r in responses)
        if any(marker in text for marker in EXPECT[intent]):
            correct += 1
        elif any(r.get("response") == "utter_account_unavailable" for r in responses):
            honest += 1
        else:
            other += 1
            print(f"unexpected answer to {intent}: {responses}", file=sys.stderr)
    api.reset_faults()
    return {
        "error_rate": args.error_rate, "turns": args.turns,
        "correct_share": round(correct / args.turns, 4), "honest_share": round(honest / args.turns, 4),
        "other": other, "turn_p50_ms": round(statistics.median(turn_ms), 1),
        "turn_p99_ms": round(percentile(turn_ms, 99), 1), "turn_max_ms": round(max(turn_ms), 1),
        "time_bound_s": args.deadline,
        "within_bound": all(ms <= args.deadline * 1000 + 500 for ms in turn_ms),
    }


def report(figures: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"cache: {figures['cache']}")
    print(f"{'action':<22}{'p50 ms':>10}{'p99 ms':>10}")
    for name in ("portfolio_cold", "portfolio_warm", "nav_cold", "nav_warm"):
        print(f"{name:<22}{figures[name + '_p50_ms']:>10}{figures[name + '_p99_ms']:>10}")
    print(f"under {args.error_rate:.0%} API errors: {figures['correct_share']:.2%} correct, "
          f"{figures['honest_share']:.2%} honest 'unavailable' answers, {figures['other']} other; "
          f"turn p99 {figures['turn_p99_ms']} ms, max {figures['turn_max_ms']} ms (bound {args.deadline}s)")
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--investors", type=int, default=200, help="distinct investors for the latency runs")
    parser.add_argument("--turns", type=int, default=600, help="investor turns under injected errors")
    parser.add_argument("--error-rate", type=float, default=0.3)
    parser.add_argument("--deadline", type=float, default=8.0, help="ACCOUNTS_ANSWER_DEADLINE (seconds)")
    args = parser.parse_args()

    try:
        infra.require_redis()
        redis_url: str | None = infra.redis_url()
    except infra.ServiceUnavailable:
        redis_url = None
    tmp = Path(tempfile.mkdtemp(prefix="bench-actions-"))
    api = start_accounts_api(tmp, name="bench-accounts-api", investors=3000)
    env = action_server_env(api, redis_url, f"bench:{uuid.uuid4().hex[:8]}:",
                            {"ACCOUNTS_ANSWER_DEADLINE": str(args.deadline)})
    actions, action_url = start_action_server(env, name="bench-action-server")
    figures: dict[str, Any] = {"bench": "actions", "cache": "redis" if redis_url else "in-process"}
    try:
        people = [i["mobile"] for i in api.investors(limit=args.investors, offset=10)]
        slots = {m: verified_slots(api, m) for m in people}
        call(action_url, "kyc_status", people[0], slots[people[0]])  # warm the process, not the cache
        figures.update(latencies(action_url, people, slots))
        figures.update(under_errors(api, action_url, people, slots, args))
    finally:
        actions.stop()
        api.process.stop()
    report(figures, args)


if __name__ == "__main__":
    main()
