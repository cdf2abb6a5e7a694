"""Reading snapshots and records for the checks, and the stock lines checks build from them.

Snapshot reading is tolerant: a missing key reads as "nothing yet", never as an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from workbench.demo.lessons.model import (
    DEMO_AGENT_PREFIX,
    MARK,
    MARK_HEADER,
    MARK_PARAM,
    LessonState,
    RecordLike,
)


def dig(d: Any, *keys: Any, default: Any = None) -> Any:
    """The value under ``keys`` in nested mappings, or ``default`` where one is missing."""
    for k in keys:
        if not isinstance(d, Mapping):
            return default
        d = d.get(k)
        if d is None:
            return default
    return d


def proxy_total(snap: Mapping[str, Any], proxy: str) -> int:
    """Requests ``proxy`` has handled, all time."""
    return int(dig(snap, "stats", "total", "proxies", proxy, "requests", default=0))


def proxy_failures(snap: Mapping[str, Any], proxy: str) -> int:
    """5xx answers plus requests that got no answer at all."""
    classes = dig(snap, "stats", "total", "proxies", proxy, "status_classes", default={})
    return int(classes.get("5xx", 0)) + int(classes.get("err", 0))


def failures_line(st: LessonState) -> str:
    """Per-proxy 5xx (and no answer) counts since the lesson started."""
    parts = []
    for proxy in ("reverse", "forward"):
        if dig(st.snapshot, "listeners", proxy):
            n = proxy_failures(st.snapshot, proxy) - proxy_failures(st.baseline, proxy)
            parts.append(f"{proxy} {n}")
    return "5xx since the lesson started: " + " · ".join(parts) + " (watch the reverse proxy's)"


def backend_requests(snap: Mapping[str, Any], name: str) -> int:
    """Requests the backend called ``name`` has been sent, all time."""
    return int(dig(snap, "stats", "total", "backends", name, "requests", default=0))


def find_backend(snap: Mapping[str, Any], name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pool, backend) dicts for the backend called ``name``; empty dicts when there is none."""
    for pool in (dig(snap, "pools", default={}) or {}).values():
        for b in pool.get("backends", ()):
            if b.get("name") == name:
                return pool, b
    return {}, {}


def rule_hits(snap: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The snapshot's rules (with their hit counts) by name."""
    return {r["name"]: r for r in dig(snap, "rules", default=()) or () if "name" in r}


def header_value(headers: Sequence[tuple[str, str]] | None, name: str) -> str | None:
    """The first value of header ``name`` (any case), or None."""
    lname = name.lower()
    for n, v in headers or ():
        if n.lower() == lname:
            return v
    return None


_MARKED = re.compile(rf"[?&]{MARK_PARAM}=")


def plural(n: int, word: str) -> str:
    """``n word`` with an s unless n is 1."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def is_students(rec: RecordLike) -> bool:
    """Whether the student sent ``rec``: it carries the marker and is not the workbench's own.

    CONNECT requests carry no URL query, so any CONNECT that is not the workbench's counts (the
    demo traffic never opens tunnels).
    """
    agent = header_value(rec.request_headers, "user-agent") or ""
    if agent.startswith(DEMO_AGENT_PREFIX):
        return False
    if rec.method == "CONNECT":
        return True
    return bool(_MARKED.search(rec.url) or _MARKED.search(rec.path)) or (
        header_value(rec.request_headers, MARK_HEADER) is not None
    )


def request_line(rec: RecordLike) -> str:
    """The request line as the proxy received it (without the HTTP version).

    A forward proxy is sent the whole URL (absolute form; ``host:port`` for CONNECT); a reverse
    proxy, like any web server, only the path and query.
    """
    target = rec.url if rec.proxy == "forward" else (rec.path or "/")
    return f"{rec.method} {target}"


def outcome(rec: RecordLike) -> str:
    """What became of ``rec``: its status and who answered or stopped it."""
    status = str(rec.status) if rec.status is not None else f"no answer ({rec.error or '?'})"
    if rec.rule and rec.status is not None and rec.status >= 300:
        return f"{status}, stopped by rule {rec.rule}"
    if rec.backend:
        return (
            f"{status} from {rec.pool}/{rec.backend}"
            if rec.pool
            else f"{status} from {rec.backend}"
        )
    return status


def waiting_for_own(st: LessonState, what: str) -> str:
    """A progress line that says the demo's requests do not count, when some arrived."""
    demo = sum(1 for r in st.records if not is_students(r))
    st.memory["demo_seen"] = st.memory.get("demo_seen", 0) + demo
    note = " (the demo's requests don't count)" if st.memory["demo_seen"] else ""
    return f"waiting for {what} with ?{MARK}{note}"
