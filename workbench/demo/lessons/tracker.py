"""Following the running lesson across engine snapshots: baseline, check, completion."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from workbench.demo.lessons.model import CheckResult, Lesson, LessonState, RecordLike
from workbench.demo.lessons.reading import dig


class LessonTracker:
    """Follows one running lesson across snapshots and remembers which lessons were completed.

    ``start`` takes the baseline (the snapshot, the record cursor, the event clock); ``update``
    feeds the check what arrived since. Once a check passes the lesson stays done until it is
    started again (the check keeps running so its evidence stays live), and ``just_completed``
    is true for exactly that one update.
    """

    RECORD_LIMIT = 5000
    """Records read per update; under a flood the check sees the newest ones."""
    CACHE_ENTRIES = 500
    """Cache entries handed to a lesson that shows them."""

    __slots__ = (
        "lesson",
        "state",
        "result",
        "completed",
        "just_completed",
        "_cursor",
        "_event_time",
        "_event_keys",
    )

    def __init__(self, completed: set[str] | None = None) -> None:
        self.lesson: Lesson | None = None
        self.state: LessonState | None = None
        self.result: CheckResult | None = None
        self.completed: set[str] = set(completed or ())
        """Ids of lessons whose check passed at some point."""
        self.just_completed = False
        self._cursor = 0
        self._event_time = 0.0
        self._event_keys: set[tuple[str, str]] = set()

    @property
    def records_seen(self) -> int:
        """The record cursor: the check has looked at every record up to this one."""
        return self._cursor

    def start(self, lesson: Lesson, snapshot: Mapping[str, Any]) -> None:
        """Begin (or restart) ``lesson`` with ``snapshot`` as its baseline."""
        self.lesson = lesson
        self.state = LessonState(baseline=snapshot, snapshot=snapshot)
        self.result = CheckResult(False, "started; follow the steps")
        self.just_completed = False
        self._cursor = int(dig(snapshot, "records", "total", default=0))
        self._event_time = float(snapshot.get("time") or time.time())
        self._event_keys = set()

    def stop(self) -> None:
        """Forget the running lesson (its completion, if any, is kept)."""
        self.lesson = None
        self.state = None
        self.result = None
        self.just_completed = False

    def _new_events(self, snapshot: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        # Events carry wall-clock times; several may share one, so remember those already taken
        # at the newest time seen.
        out = []
        for e in snapshot.get("events") or ():
            t = float(e.get("time", 0.0))
            key = (str(e.get("kind")), str(e.get("message")))
            if t > self._event_time:
                self._event_time = t
                self._event_keys = {key}
                out.append(e)
            elif t == self._event_time and key not in self._event_keys:
                self._event_keys.add(key)
                out.append(e)
        return out

    def update(self, snapshot: Mapping[str, Any], engine: Any = None) -> CheckResult:
        """Run the check on a fresh snapshot (and, with ``engine``, the records since the last
        update). Never raises: a failing check is reported as its progress line."""
        self.just_completed = False
        lesson, st = self.lesson, self.state
        if lesson is None or st is None:
            return CheckResult(False, "no lesson started")
        records: Sequence[RecordLike] = ()
        if engine is not None:
            records, self._cursor, _skipped = engine.records_since(self._cursor, self.RECORD_LIMIT)
            if lesson.shows_cache:
                entries = getattr(getattr(engine, "cache", None), "entries", None)
                st.cache_entries = entries(self.CACHE_ENTRIES) if callable(entries) else ()
        st.snapshot = snapshot
        st.records = records
        st.events.extend(self._new_events(snapshot))
        try:
            result = lesson.check(st)
        except Exception as exc:  # a check bug must not take the UI down
            result = CheckResult(False, f"check failed: {exc!r}")
        was_done = self.result is not None and self.result.done
        if was_done and self.result is not None:
            # Done is sticky; only the evidence keeps moving.
            result = CheckResult(True, self.result.progress, result.evidence)
        elif result.done:
            self.just_completed = True
            self.completed.add(lesson.id)
        self.result = result
        return result
