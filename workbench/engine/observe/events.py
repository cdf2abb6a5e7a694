"""The engine's event log: health changes, live edits, errors — bounded."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class Event:
    """Something that happened to the live state: a health change, a live edit, an error."""

    time: float
    kind: str
    """``health``, ``edit``, ``error`` or ``info``."""
    message: str
    who: str = "engine"


class EventLog:
    """Bounded list of recent events (health changes, live edits)."""

    def __init__(self, capacity: int = 500) -> None:
        self._events: deque[Event] = deque(maxlen=capacity)
        self.total = 0

    def add(self, kind: str, message: str, who: str = "engine") -> Event:
        ev = Event(time.time(), kind, message, who)
        self._events.append(ev)
        self.total += 1
        return ev

    def recent(self, n: int = 50) -> list[Event]:
        return list(self._events)[-n:]
