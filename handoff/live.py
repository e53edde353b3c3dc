"""Live updates for open inbox pages: an in-process fan-out that the SSE route subscribes to.

Each browser tab gets a bounded queue; a tab too slow to keep up is told to reload instead of holding memory.
With several replicas behind a load balancer, pin an agent's tab to one replica (sticky sessions) or put a
pub/sub in front of `publish` (docs/handoff.md, "Scaling out").
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


class Subscriber:
    def __init__(self, agent_id: int, role: str) -> None:
        self.agent_id = agent_id
        self.role = role
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1000)
        self.overflowed = False


class LiveHub:
    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()

    def subscribe(self, agent_id: int, role: str) -> Subscriber:
        sub = Subscriber(agent_id, role)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Send an event to every open tab (agents see the queue, so every tab gets every change)."""
        frame = f"event: {kind}\ndata: {json.dumps(data, default=str)}\n\n"
        for sub in list(self.subscribers):
            try:
                sub.queue.put_nowait(frame)
            except asyncio.QueueFull:
                sub.overflowed = True

    @property
    def agents_connected(self) -> int:
        return len({s.agent_id for s in self.subscribers})
