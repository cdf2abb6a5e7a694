"""A saved capture standing in for a running engine: ``workbench view FILE.har``.

The UI reads an engine through a few calls (``records_since``, ``snapshot``, ``control``); this
answers them from a fixed list of records, so the Traffic view, its filters and the detail view
work unchanged, and every change is refused with a message (there are no proxies to change).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from workbench.config.model import Config
from workbench.engine.control import Result
from workbench.engine.observe.records import RecordLog, RequestRecord


class ReadOnlyControl:
    """Refuses every live edit: a saved capture has no proxies to change. Marks are allowed."""

    def __init__(self, source: str, records: RecordLog) -> None:
        self.source = source
        self._records = records

    def mark(self, record_id: int, marked: bool = True) -> Result:
        """Mark or unmark a record of the capture (view state only)."""
        from workbench.engine.control import mark_record

        return mark_record(self._records, record_id, marked)

    def __getattr__(self, name: str) -> Callable[..., Result]:
        if name.startswith("_"):
            raise AttributeError(name)

        def refuse(*args: Any, **kwargs: Any) -> Result:
            return Result(False, f"read-only: viewing the saved capture {self.source}")

        return refuse


class CaptureEngine:
    """Just enough of an :class:`~workbench.engine.engine.Engine` for the UI, from records."""

    read_only = True

    def __init__(self, records: list[RequestRecord], source: str) -> None:
        self.source = source
        """The file the records came from."""
        n = max(len(records), 1)
        # Every record keeps its details and bodies: the file is already in memory.
        self.records = RecordLog(capacity=n, detail_capacity=n, body_cap=1, body_budget=1 << 62)
        for rec in records:
            marked, rec.marked = rec.marked, False
            self.records.append(rec)
            if marked:
                self.records.set_marked(rec, True)
        self.listeners = {"viewing": source}
        self.control = ReadOnlyControl(source, self.records)
        self.config = Config()
        self.pools: dict[str, Any] = {}
        self.rule_configs: list[Any] = []
        self.ruleset = None
        self.cache = None
        self.cache_layer = None
        self.reverse = None
        self.forward = None
        self.demo = None
        self.started_at = records[0].start if records else time.time()

    def records_since(self, cursor: int = 0, limit: int = 1000):
        """As :meth:`RecordLog.records_since`."""
        return self.records.records_since(cursor, limit)

    def snapshot(self) -> dict[str, Any]:
        """A still picture: no rates, no pools; the record counts of the file."""
        total = self.records.total
        idle = {"over": 1, "requests": 0, "rate": 0.0, "errors": 0, "error_rate": 0.0}
        return {
            "time": time.time(),
            "started_at": self.started_at,
            "listeners": dict(self.listeners),
            "stats": {"windows": {1: idle, 10: idle, 60: idle}, "total": {}, "proxies": {}},
            "pools": {},
            "rules": [],
            "cache": None,
            "records": {"total": total, "stored": total, "dropped": 0, "capacity": total},
            "events": [],
            "errors": {"internal": 0, "bad_requests": 0},
            "proxies": {"reverse": None, "forward": None},
            "demo": None,
        }
