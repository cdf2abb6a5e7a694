"""What a lesson is made of: the :class:`Lesson` itself, the state its check reads and the verdict
it returns, plus the marker that tells the student's own requests from the demo's."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

MARK = "student=me"
"""The query marker the lessons ask the student to add to their own requests."""
MARK_PARAM = "student"
MARK_HEADER = "x-student"
DEMO_AGENT_PREFIX = "workbench-"
"""User-Agent prefix of the workbench's own requests (demo traffic, health checks)."""


class RecordLike(Protocol):
    """The fields of :class:`workbench.engine.observe.records.RequestRecord` the checks read."""

    proxy: str
    method: str
    url: str
    path: str
    status: int | None
    error: str | None
    sni: str | None
    bytes_in: int
    bytes_out: int
    request_headers: list[tuple[str, str]]
    upstream_headers: list[tuple[str, str]] | None
    response_headers: list[tuple[str, str]] | None
    pool: str | None
    backend: str | None
    cache: str | None
    rule: str | None
    trace: list[tuple[str, str, str]]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Verdict of a lesson's check: finished or not, a short line saying why, and evidence."""

    done: bool
    progress: str
    evidence: tuple[str, ...] = ()
    """Lines for the lesson's live panel: what the proxies actually received and did."""


@dataclass(slots=True)
class LessonState:
    """Everything a check may look at; ``memory`` is the check's own notes between updates."""

    baseline: Mapping[str, Any]
    """The engine snapshot taken when the lesson started."""
    snapshot: Mapping[str, Any]
    """The latest engine snapshot."""
    records: Sequence[RecordLike] = ()
    """Records that finished since the previous update (not since the start: keep notes)."""
    events: list[Mapping[str, Any]] = field(default_factory=list)
    """Every engine event since the lesson started, oldest first."""
    memory: dict[str, Any] = field(default_factory=dict)
    cache_entries: Sequence[Mapping[str, Any]] = ()
    """The cache's entries now (only for lessons that show them)."""


Check = Callable[[LessonState], CheckResult]


@dataclass(frozen=True)
class Lesson:
    """One guided lesson: a concept, a picture, steps with real keys, and a live check."""

    id: str
    title: str
    concept: str
    """A few sentences: the idea behind what the student is about to do."""
    diagram: str
    """Small ASCII picture (at most 60 columns and 10 lines)."""
    steps: tuple[str, ...]
    """Concrete instructions naming the real keys; may hold placeholders (see fill)."""
    look_for: str
    """What to watch on screen while doing the steps."""
    check: Check
    table: tuple[tuple[str, str, str], ...] = ()
    """Optional comparison table: a header row, then (aspect, forward, reverse) rows."""
    needs: tuple[str, ...] = ()
    """What the lesson needs running: ``reverse``, ``forward``, ``cache``, ``demo`` (the
    classroom's built-in backends), ``intercept`` (HTTPS interception of the classroom's
    HTTPS origin) or ``backend:NAME``."""
    shows_cache: bool = False
    """The check wants the cache's entries (see :attr:`LessonState.cache_entries`)."""
