"""The guided lessons of the classroom: what to read, what to do, and how we know it worked.

Pure data and pure checks, no Textual: a :class:`Lesson` carries its text and a ``check``
function; a :class:`LessonTracker` takes a baseline when a lesson starts and, on every engine
snapshot, hands the check a :class:`LessonState` (baseline, latest snapshot, the records and
events that arrived since) and returns a :class:`CheckResult`. Checks read only plain snapshot
data and finished records, so they are unit-tested with hand-built dicts.

Only the student's own actions count. Requests count when they carry the lesson's marker
(``?student=...`` in the URL, or an ``X-Student`` header; the demo traffic never sends either),
rules count when they were added after the lesson started, and weight changes and kills count
when the check saw them happen. A lesson whose proxy the running configuration lacks says so
(:func:`unmet_needs`) instead of sending the student to a port nothing listens on.

Steps and concepts may contain placeholders that :func:`fill` replaces with live values:
``{reverse}``, ``{forward}``, ``{admin}``, ``{origin}`` (a demo backend's URL), ``{origin_host}``
(its ``host:port``), ``{origin_port}``, ``{mark}`` (the query marker), ``{privacy}`` (the
forward proxy's privacy mode now), ``{kill_key}`` (the Backends view's kill key, as bound),
``{secure_origin}`` (the classroom's HTTPS origin, ``https://localhost:PORT``) and
``{secure_port}`` (its port).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

__all__ = [
    "LESSONS",
    "MARK",
    "CheckResult",
    "Lesson",
    "LessonState",
    "LessonTracker",
    "addresses",
    "fill",
    "is_students",
    "lesson_by_id",
    "request_line",
    "unmet_needs",
]

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


# -- reading snapshots (tolerant: a missing key reads as "nothing yet") --------------------------
def _get(d: Any, *keys: Any, default: Any = None) -> Any:
    for k in keys:
        if not isinstance(d, Mapping):
            return default
        d = d.get(k)
        if d is None:
            return default
    return d


def _proxy_total(snap: Mapping[str, Any], proxy: str) -> int:
    return int(_get(snap, "stats", "total", "proxies", proxy, "requests", default=0))


def _proxy_failures(snap: Mapping[str, Any], proxy: str) -> int:
    """5xx answers plus requests that got no answer at all."""
    classes = _get(snap, "stats", "total", "proxies", proxy, "status_classes", default={})
    return int(classes.get("5xx", 0)) + int(classes.get("err", 0))


def _failures_line(st: LessonState) -> str:
    """Per-proxy 5xx (and no answer) counts since the lesson started."""
    parts = []
    for proxy in ("reverse", "forward"):
        if _get(st.snapshot, "listeners", proxy):
            n = _proxy_failures(st.snapshot, proxy) - _proxy_failures(st.baseline, proxy)
            parts.append(f"{proxy} {n}")
    return "5xx since the lesson started: " + " · ".join(parts) + " (watch the reverse proxy's)"


def _backend_requests(snap: Mapping[str, Any], name: str) -> int:
    return int(_get(snap, "stats", "total", "backends", name, "requests", default=0))


def _find_backend(snap: Mapping[str, Any], name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pool, backend) dicts for the backend called ``name``; empty dicts when there is none."""
    for pool in (_get(snap, "pools", default={}) or {}).values():
        for b in pool.get("backends", ()):
            if b.get("name") == name:
                return pool, b
    return {}, {}


def _rule_hits(snap: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in _get(snap, "rules", default=()) or () if "name" in r}


def _header(headers: Sequence[tuple[str, str]] | None, name: str) -> str | None:
    lname = name.lower()
    for n, v in headers or ():
        if n.lower() == lname:
            return v
    return None


_HEALTH = re.compile(r"^(?P<pool>[^/]+)/(?P<backend>[^:]+): (?P<old>\w+) → (?P<new>\w+)")
_MARKED = re.compile(rf"[?&]{MARK_PARAM}=")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def is_students(rec: RecordLike) -> bool:
    """Whether the student sent ``rec``: it carries the marker and is not the workbench's own.

    CONNECT requests carry no URL query, so any CONNECT that is not the workbench's counts (the
    demo traffic never opens tunnels).
    """
    agent = _header(rec.request_headers, "user-agent") or ""
    if agent.startswith(DEMO_AGENT_PREFIX):
        return False
    if rec.method == "CONNECT":
        return True
    return bool(_MARKED.search(rec.url) or _MARKED.search(rec.path)) or (
        _header(rec.request_headers, MARK_HEADER) is not None
    )


def request_line(rec: RecordLike) -> str:
    """The request line as the proxy received it (without the HTTP version).

    A forward proxy is sent the whole URL (absolute form; ``host:port`` for CONNECT); a reverse
    proxy, like any web server, only the path and query.
    """
    target = rec.url if rec.proxy == "forward" else (rec.path or "/")
    return f"{rec.method} {target}"


def _outcome(rec: RecordLike) -> str:
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


# -- what a lesson needs ------------------------------------------------------------------------
_NEED_TEXT = {
    "reverse": "the reverse proxy",
    "forward": "the forward proxy",
    "cache": "the cache turned on",
    "demo": "the classroom's built-in backends",
    "intercept": "HTTPS interception of localhost with the classroom's HTTPS origin",
}


def unmet_needs(lesson: Lesson, snapshot: Mapping[str, Any] | None) -> str | None:
    """Why ``lesson`` cannot run on this engine, or None when everything it needs is there.

    Before the first snapshot nothing is known, so nothing is reported missing.
    """
    if snapshot is None:
        return None
    listeners = _get(snapshot, "listeners", default={}) or {}
    missing: list[str] = []
    for need in lesson.needs:
        if need in ("reverse", "forward"):
            ok = bool(listeners.get(need))
        elif need == "cache":
            ok = snapshot.get("cache") is not None and any(
                (_get(snapshot, "proxies", p, default={}) or {}).get("cache")
                for p in ("reverse", "forward")
            )
        elif need == "demo":
            ok = bool(_get(snapshot, "demo", "backends", default=None))
        elif need == "intercept":
            hosts = _get(snapshot, "proxies", "forward", "intercept", "hosts", default=()) or ()
            ok = "localhost" in hosts and bool(_get(snapshot, "demo", "secure_origin"))
        elif need.startswith("backend:"):
            ok = bool(_find_backend(snapshot, need.split(":", 1)[1])[1])
        else:
            ok = True
        if not ok:
            missing.append(_NEED_TEXT.get(need, f"a backend named {need.split(':', 1)[-1]}"))
    if not missing:
        return None
    return (
        "This lesson needs "
        + " and ".join(missing)
        + ", which this configuration does not run. Skip it, or start `workbench` on its own "
        "for the classroom, which has everything the lessons use."
    )


# -- the checks ---------------------------------------------------------------------------------
def _waiting_for_own(st: LessonState, what: str) -> str:
    """A progress line that says the demo's requests do not count, when some arrived."""
    demo = sum(1 for r in st.records if not is_students(r))
    st.memory["demo_seen"] = st.memory.get("demo_seen", 0) + demo
    note = " (the demo's requests don't count)" if st.memory["demo_seen"] else ""
    return f"waiting for {what} with ?{MARK}{note}"


def check_two_proxies(st: LessonState) -> CheckResult:
    """Done once the student's own marked requests went through both proxies."""
    mem = st.memory
    for rec in st.records:
        if (
            rec.method == "CONNECT"
            or not is_students(rec)
            or rec.proxy not in ("reverse", "forward")
        ):
            continue
        line = f"{rec.proxy} proxy received: {request_line(rec)}  → {_outcome(rec)}"
        answered_by = _header(rec.response_headers, "X-Backend")
        if rec.proxy == "reverse" and answered_by:
            line += f"; the answer said X-Backend: {answered_by}"
        mem[rec.proxy] = line
    evidence = tuple(mem[p] for p in ("reverse", "forward") if p in mem)
    if "reverse" in mem and "forward" in mem:
        return CheckResult(True, "your requests went through both proxies", evidence)
    if not evidence:
        return CheckResult(False, _waiting_for_own(st, "your own requests"), evidence)
    missing = "forward" if "reverse" in mem else "reverse"
    return CheckResult(False, f"now send one through the {missing} proxy (step 1)", evidence)


def _privacy_seen(sent: Sequence[tuple[str, str]] | None) -> str:
    """Which privacy mode the headers the origin received look like."""
    xff, via = _header(sent, "X-Forwarded-For"), _header(sent, "Via")
    if xff and via:
        return "transparent"
    if via:
        return "anonymous"
    return "elite"


def check_server_sees(st: LessonState) -> CheckResult:
    """Done once the student's own /echo went through the forward proxy in two privacy modes."""
    modes: dict[str, str] = st.memory.setdefault("modes", {})
    for rec in st.records:
        if rec.proxy != "forward" or rec.method == "CONNECT" or not is_students(rec):
            continue
        if rec.path.split("?", 1)[0] != "/echo" or rec.upstream_headers is None:
            continue
        sent = rec.upstream_headers
        mode = _privacy_seen(sent)
        xff, via = _header(sent, "X-Forwarded-For"), _header(sent, "Via")
        told = [f"X-Forwarded-For: {xff}" if xff else "", f"Via: {via}" if via else ""]
        got = ", ".join(t for t in told if t) or "no header naming the client or a proxy"
        modes[mode] = f"{mode:<11} origin got {got}; the connection came from the proxy's address"
    evidence = tuple(modes.values())
    if len(modes) >= 2:
        return CheckResult(True, f"you compared {' and '.join(modes)}", evidence)
    if modes:
        now = _get(st.snapshot, "proxies", "forward", "privacy", default="?")
        return CheckResult(
            False,
            f"seen in {next(iter(modes))} mode; now switch the mode (ctrl+p, privacy; it is "
            f"{now}) and repeat step 1",
            evidence,
        )
    return CheckResult(False, _waiting_for_own(st, "your own /echo through the forward proxy"))


_SERVED = ("hit", "stale", "revalidated")


def _variants(st: LessonState, path: str) -> tuple[str, ...]:
    """One line per stored copy of ``path`` (different Vary values are different copies)."""
    lines = []
    for e in st.cache_entries:
        url = str(e.get("url", ""))
        if url.split("://", 1)[-1].partition("/")[2].split("?", 1)[0] != path.lstrip("/"):
            continue
        vary = e.get("vary") or {}
        picked = ", ".join(f"{k}={v if v is not None else '(none)'}" for k, v in vary.items())
        lines.append(
            f"stored copy of {url.split('://', 1)[-1].partition('/')[1]}"
            f"{url.split('://', 1)[-1].partition('/')[2]}  {picked or 'no Vary'}  "
            f"hits {e.get('hits', 0)}"
        )
    return tuple(sorted(lines))


def check_caching(st: LessonState) -> CheckResult:
    """Done after the student's own request was answered from the cache, then a purge."""
    if st.snapshot.get("cache") is None:
        return CheckResult(False, "the cache is off in this engine: nothing to observe")
    mem = st.memory
    for rec in st.records:
        if is_students(rec) and rec.method != "CONNECT" and rec.cache:
            mem["last"] = f"your {request_line(rec)}: cache {rec.cache.upper()}"
            if rec.cache in _SERVED:
                mem["hit"] = True
    purged = any(
        e.get("kind") == "edit" and str(e.get("message", "")).startswith("cache: purged")
        for e in st.events
    )
    variants = _variants(st, "/lang")
    evidence = tuple(x for x in (mem.get("last"),) if x) + (
        variants or ("no copy of /lang stored yet (step 3)",)
    )
    if mem.get("hit") and purged:
        return CheckResult(
            True, "your request was served from the cache, then you purged", evidence
        )
    if not mem.get("hit"):
        extra = " (a purge is done)" if purged else ""
        return CheckResult(
            False, _waiting_for_own(st, "a cache hit on your own request") + extra, evidence
        )
    return CheckResult(False, "your request was a cache hit; now purge (3, then p)", evidence)


BALANCE_BACKEND = "web-2"
BALANCE_MIN_REQUESTS = 20
"""Pool requests needed after the drain before its share counts as measured."""
BALANCE_MAX_SHARE = 0.05
"""Share still allowed after the drain: requests already in flight may land late."""


def _in_rotation(b: Mapping[str, Any]) -> bool:
    return b.get("weight") != 0 and b.get("state") not in ("draining", "disabled")


def check_balancing(st: LessonState) -> CheckResult:
    """Done when the student took web-2 out of rotation and it then took (almost) no requests,
    with no 5xx from the reverse proxy. Seeing web-2 in rotation first proves the change was
    made during the lesson."""
    name = BALANCE_BACKEND
    pool, b = _find_backend(st.snapshot, name)
    if not b:
        return CheckResult(False, f"no backend named {name} here: this lesson needs the classroom")
    names = [x["name"] for x in pool.get("backends", ())]
    counts = {n: _backend_requests(st.snapshot, n) for n in names}
    mem = st.memory
    _bp, base_b = _find_backend(st.baseline, name)
    if base_b and _in_rotation(base_b):
        mem["seen_in"] = True
    if _in_rotation(b):
        mem["seen_in"] = True
        # Back in rotation: any earlier drain no longer counts.
        mem.pop("drain", None)
        base = {n: _backend_requests(st.baseline, n) for n in names}
        total = sum(counts.values()) - sum(base.values())
        if total <= 0:
            return CheckResult(False, f"{name} has weight {b.get('weight')}; set it to 0")
        share = (counts[name] - base[name]) / total
        return CheckResult(
            False,
            f"{name} still gets {share:.0%} of requests (weight {b.get('weight')})",
            (_failures_line(st),),
        )
    if not mem.get("seen_in"):
        return CheckResult(
            False,
            f"{name} was already out of rotation when the lesson started: put it back "
            "(select it in Backends, press +), then take it out yourself",
        )
    drain = mem.get("drain")
    if drain is None:
        drain = mem["drain"] = {
            "counts": counts,
            "failures": _proxy_failures(st.snapshot, "reverse"),
        }
    failures = _proxy_failures(st.snapshot, "reverse") - drain["failures"]
    total = sum(counts.values()) - sum(drain["counts"].get(n, 0) for n in names)
    mine = counts[name] - drain["counts"].get(name, 0)
    evidence = (
        f"since {name} left the rotation: {mine} of {total} {pool.get('name', 'pool')} requests "
        f"went to it",
        _failures_line(st),
    )
    if failures > 0:
        return CheckResult(
            False,
            f"{_plural(failures, '5xx')} from the reverse proxy since {name} left; press enter "
            "to try again",
            evidence,
        )
    if total < BALANCE_MIN_REQUESTS:
        return CheckResult(
            False,
            f"{name} is out of rotation; {total} of {BALANCE_MIN_REQUESTS} pool requests "
            "seen since (is traffic flowing?)",
            evidence,
        )
    share = mine / total
    if share > BALANCE_MAX_SHARE:
        return CheckResult(False, f"{name} still gets {share:.0%} of requests", evidence)
    return CheckResult(
        True, f"{name} drained with zero 5xx ({mine} of {total} requests since)", evidence
    )


FAILOVER_MIN_REQUESTS = 10
"""Good reverse-proxy answers needed while a backend is down, to show requests kept flowing."""


def check_failover(st: LessonState) -> CheckResult:
    """Done when a backend went down by health, the reverse proxy answered without 5xx, and the
    backend came back up — all after the lesson started."""
    mem = st.memory
    for i, e in enumerate(st.events):
        if e.get("kind") != "health":
            continue
        m = _HEALTH.match(str(e.get("message", "")))
        if m is None:
            continue
        if "down" not in mem and m["new"] in ("down", "ejected"):
            mem["down"] = {
                "backend": m["backend"],
                "index": i,
                "failures": _proxy_failures(st.snapshot, "reverse"),
                "total": _proxy_total(st.snapshot, "reverse"),
            }
        elif (
            "down" in mem
            and m["new"] == "up"
            and m["backend"] == mem["down"]["backend"]
            and i > mem["down"]["index"]
        ):
            mem["revived"] = True
    down = mem.get("down")
    evidence = (_failures_line(st),)
    if down is None:
        return CheckResult(
            False, "no backend has gone down yet: kill web-3 in Backends (step 1)", evidence
        )
    name = down["backend"]
    failures = _proxy_failures(st.snapshot, "reverse") - down["failures"]
    good = _proxy_total(st.snapshot, "reverse") - down["total"] - failures
    if failures > 0:
        return CheckResult(
            False,
            f"{_plural(failures, '5xx')} from the reverse proxy after {name} went down; press "
            "enter to try again",
            evidence,
        )
    if good < FAILOVER_MIN_REQUESTS:
        return CheckResult(
            False,
            f"{name} is out; {good} of {FAILOVER_MIN_REQUESTS} requests answered since "
            "(is traffic flowing?)",
            evidence,
        )
    if not mem.get("revived"):
        return CheckResult(
            False,
            f"{name} is out and {good} requests got answers, zero 5xx; now revive it",
            evidence,
        )
    return CheckResult(True, f"{name} went down and came back; {good} requests, zero 5xx", evidence)


@cache
def classroom_rule_names() -> frozenset[str]:
    """Names of the rules the classroom starts with (a student's rule is any other)."""
    from workbench.demo.classroom import classroom_config

    return frozenset(r.name for r in classroom_config().rules)


def check_access(st: LessonState) -> CheckResult:
    """Done when a block rule the student added after the lesson started stopped a request, or
    a rule stopped one of the student's own marked requests."""
    mem = st.memory
    for rec in st.records:
        if is_students(rec) and rec.rule and rec.status is not None and rec.status >= 300:
            mem["stopped"] = f"your {request_line(rec)} → {rec.status}, stopped by {rec.rule}"
    now = _rule_hits(st.snapshot)
    existing = set(_rule_hits(st.baseline)) | classroom_rule_names()
    mine = [
        r
        for name, r in now.items()
        if name not in existing and r.get("action") in ("block", "redirect")
    ]
    evidence = tuple(
        f"your rule {r['name']}: {r.get('when', '')} → {r.get('action')}, "
        f"{_plural(int(r.get('hits', 0)), 'hit')}"
        for r in mine
    ) + tuple(x for x in (mem.get("stopped"),) if x)
    for r in mine:
        if int(r.get("hits", 0)) > 0:
            return CheckResult(
                True,
                f"your rule {r['name']} stopped {_plural(int(r['hits']), 'request')}",
                evidence,
            )
    if "stopped" in mem:
        return CheckResult(True, mem["stopped"], evidence)
    if mine:
        names = ", ".join(r["name"] for r in mine)
        return CheckResult(
            False, f"{names}: no hits yet; does the filter match any traffic?", evidence
        )
    return CheckResult(False, "add a block rule of your own (4, then n)", evidence)


def check_tls(st: LessonState) -> CheckResult:
    """Done once the student's CONNECT reached the forward proxy since the start."""
    for rec in st.records:
        if rec.proxy != "forward" or rec.method != "CONNECT" or not is_students(rec):
            continue
        target = rec.url
        if rec.status == 200:
            sni = f", SNI {rec.sni}" if rec.sni else ", no SNI (not TLS inside)"
            moved = rec.bytes_in + rec.bytes_out
            st.memory["connect"] = (
                f"tunnel to {target} opened (200){sni}; {moved} bytes relayed unread"
            )
        elif rec.status == 403 and rec.error == "CONNECT port not allowed":
            st.memory["connect"] = (
                f"CONNECT {target} refused with 403: its port is not in connect_ports"
            )
        else:
            why = f": {rec.error}" if rec.error else ""
            st.memory["connect"] = f"CONNECT {target} answered {rec.status or 'nothing'}{why}"
        st.memory["line"] = f"forward proxy received: {request_line(rec)}"
        break
    evidence = tuple(x for x in (st.memory.get("line"),) if x)
    if "connect" in st.memory:
        return CheckResult(True, st.memory["connect"], evidence)
    if _get(st.snapshot, "proxies", "forward", "tunnels", default=0):
        return CheckResult(False, "a tunnel is open; its record appears when it closes")
    return CheckResult(False, "no CONNECT through the forward proxy yet (step 1)")


def _decrypted(rec: RecordLike) -> bool:
    """A request that came out of an intercepted (decrypted) HTTPS connection."""
    return any(stage == "tls" and verdict == "intercepted" for stage, verdict, _ in rec.trace)


def check_intercept(st: LessonState) -> CheckResult:
    """Done once the student's own HTTPS request was decrypted by the forward proxy."""
    mem = st.memory
    for rec in st.records:
        if rec.proxy != "forward" or not is_students(rec):
            continue
        if rec.method == "CONNECT":
            refused = [d for s, v, d in rec.trace if s == "tls" and v in ("rejected", "failed")]
            if refused:
                mem["refused"] = (
                    f"CONNECT {rec.url}: the client refused the workbench's certificate, "
                    "so it sent nothing (it was not told to trust the CA)"
                )
            continue
        if not _decrypted(rec):
            continue
        headers = len(rec.request_headers or ())
        body = f"a {rec.bytes_in:,}-byte body" if rec.bytes_in else "no body"
        status = rec.status if rec.status is not None else f"no answer ({rec.error or '?'})"
        mem["seen"] = (
            f"decrypted: {rec.method} {rec.path} → {status}; {headers} headers and {body}, "
            "all readable by the proxy"
        )
        mem["line"] = f"the forward proxy read inside TLS: {request_line(rec)}"
    evidence = tuple(x for x in (mem.get("refused"), mem.get("line")) if x)
    if "seen" in mem:
        return CheckResult(True, mem["seen"], evidence)
    if "refused" in mem:
        return CheckResult(
            False,
            "curl refused the certificate; now trust the CA for one request (step 2)",
            evidence,
        )
    return CheckResult(False, _waiting_for_own(st, "your own HTTPS request"), evidence)


def check_read(st: LessonState) -> CheckResult:
    """A page to read: done as soon as it is opened."""
    return CheckResult(True, "nothing to run here: match each row to a lesson you did")


# -- the lessons --------------------------------------------------------------------------------
LESSONS: tuple[Lesson, ...] = (
    Lesson(
        id="two-proxies",
        title="Two proxies",
        concept=(
            "Both kinds of proxy stand between a client and a server; what differs is who put "
            "them there. A forward proxy is chosen by the client: it runs near the users and "
            "fetches any site on their behalf, so the site talks to the proxy. Whether the site "
            "also learns who the user is depends on the proxy's mode: this one runs in "
            "{privacy} mode, and lesson 2 shows what each mode passes on. A reverse proxy is "
            "chosen by the site's owner: it accepts every visitor and hands each request to one "
            "of several servers, so visitors connect only to the proxy, never to a server's own "
            "address. That alone does not keep secret which server answered: the classroom's "
            "backends name themselves in an X-Backend header, and a proxy removes such headers "
            "only when told to (hide_backend_headers). This classroom runs one of each."
        ),
        diagram=(
            " browser ──► FORWARD proxy ──► any web site\n"
            "   acts for the client; how much of the client\n"
            "   it passes on depends on its privacy mode\n"
            "\n"
            " visitor ──► REVERSE proxy ──► web-1 | web-2 | web-3\n"
            "   acts for the site: visitors reach only the proxy"
        ),
        steps=(
            "Send one request through each proxy, marked as yours: curl -s '{reverse}/?{mark}' "
            "and curl -s -x {forward} '{origin}/?{mark}'. Only requests carrying {mark} count: "
            "the demo traffic never sends it.",
            "The live panel above shows each request line exactly as the proxy received it: the "
            "reverse proxy got only a path (/?{mark}), the forward proxy a whole URL "
            "(http://host:port/...), because the client asked it to fetch that address.",
            "Press 1 (Traffic), press / and type ~u student, and open your reverse request with "
            "enter: its trace names the route, the pool and the backend the balancer picked. "
            "The client only ever talked to {reverse}.",
            "Run curl -si '{reverse}/?{mark}' a few times: the X-Backend header in each answer "
            "says which server handled it.",
        ),
        look_for=(
            "Reverse requests end at a pool member (web-1, api-2, ...); forward requests end at "
            "the origin's own host:port. The check passes once your own marked requests went "
            "through both proxies after you started the lesson."
        ),
        check=check_two_proxies,
        needs=("reverse", "forward"),
    ),
    Lesson(
        id="server-sees",
        title="What servers see",
        concept=(
            "A forward proxy decides how much of the client reaches the server. Transparent mode "
            "hides nothing: it adds X-Forwarded-For with the client's address and a Via line "
            "naming itself. Anonymous mode leaves the address out but keeps Via: the server "
            "knows a proxy is involved, not who is behind it. Elite mode sends neither, so the "
            "request looks as if the proxy made it; the server still sees the proxy's own "
            "address as the source of the connection, so it learns where the request came "
            "from, only not who asked the proxy. None of these headers proves anything on its "
            "own: a client can write its own X-Forwarded-For, and only proxies you run can vouch "
            "for what they added. The forward proxy is in {privacy} mode now."
        ),
        diagram=(
            " client ── GET http://origin/echo\n"
            "    │\n"
            "    ▼\n"
            " forward proxy  transparent: + X-Forwarded-For + Via\n"
            "    │           anonymous:   + Via only\n"
            "    │           elite:       neither header\n"
            "    ▼\n"
            " origin /echo   sees the proxy's IP address in every mode"
        ),
        steps=(
            "Ask the origin what it received through the proxy: curl -s -x {forward} "
            "'{origin}/echo?{mark}' (its JSON lists the headers it got). The live panel shows "
            "the same from the proxy's side.",
            "Forge a header and watch the proxy append to it: curl -s -x {forward} "
            "-H 'X-Forwarded-For: 203.0.113.9' '{origin}/echo?{mark}'",
            "Compare with no proxy at all: curl -s '{origin}/echo' (no Via, no X-Forwarded-For).",
            "Switch the mode live: ctrl+p, type privacy, choose anonymous or elite; then repeat "
            "step 1. The check passes once you have seen two modes.",
            "Press 1, press / and type ~u /echo, and open a record with enter: it shows the "
            "headers as the client sent them and as the proxy forwarded them.",
        ),
        look_for=(
            "The X-Forwarded-For and Via lines in the forwarded headers. On one machine the "
            "client and the proxy are both 127.0.0.1, so read the headers, not the address."
        ),
        check=check_server_sees,
        needs=("forward",),
    ),
    Lesson(
        id="caching",
        title="Caching",
        concept=(
            "A cache keeps copies of responses so repeated requests are answered without "
            "bothering a backend: on the reverse side that shields the servers, on the forward "
            "side it saves the users' bandwidth. Cache-Control max-age says how long a copy stays "
            "fresh; after that the proxy revalidates with If-None-Match, and a 304 renews the copy "
            "cheaply. Vary names request headers that pick different copies: /lang answers with "
            "Vary: Accept-Language, so the cache keeps one copy of that one URL per language. "
            "Private and no-store answers are never shared. A purge drops copies on demand, for "
            "instance after a deploy."
        ),
        diagram=(
            " request ─► cache ── fresh copy? ── yes ─► HIT\n"
            "              │                  (backend untouched)\n"
            "              │ no, or stale\n"
            "              ▼\n"
            "           backend ─► 200: store for max-age\n"
            "                   └► 304: still good, revalidated"
        ),
        steps=(
            "Fetch a file twice yourself: curl -s -o /dev/null -D - '{reverse}/static/app.css"
            "?{mark}'. The first answer's Cache-Status header says it was stored, the second "
            "that it was a hit.",
            "Press 3 (Cache): the hit ratio climbs as the demo asks for /static/app.css and "
            "/static/logo.png (public, max-age=60) again and again.",
            "One URL, one copy per language: curl -s -H 'Accept-Language: fr' '{reverse}/lang' "
            "and again with de. The live panel lists the stored copies of /lang, one per "
            "Accept-Language value.",
            "Press 1, press / and type ~u /etag: no-cache means every use is checked with the "
            "backend first; look for revalidated and 304 in the trace.",
            "Press 3, then p and confirm to purge: the entries drop to 0 and the next requests "
            "are misses until the cache fills again.",
        ),
        look_for=(
            "Hit ratio, entries and bytes in the Cache view; misses right after the purge; "
            "/private never stored."
        ),
        check=check_caching,
        needs=("reverse", "cache"),
        shows_cache=True,
    ),
    Lesson(
        id="balancing",
        title="Load balancing",
        concept=(
            "A reverse proxy spreads requests over a pool. Round robin takes each backend in "
            "turn. Weighted round robin gives each a share in proportion to its weight (web-1 has "
            "3, web-2 and web-3 have 1: about 60/20/20). Least connections sends each request to "
            "the backend with the fewest in flight, which helps when some requests are slow "
            "(the api pool uses it). Hashing (ip_hash, consistent_hash) sends the same client or "
            "URL to the same backend every time. A weight of 0 drains a backend gently: running "
            "requests finish, new ones go elsewhere, and no client sees an error."
        ),
        diagram=(
            "              ┌─► web-1  weight 3   ~60%\n"
            " reverse ─────┼─► web-2  weight 1   ~20%  → 0 → 0%\n"
            " proxy        └─► web-3  weight 1   ~20%"
        ),
        steps=(
            "Press 2 (Backends) and compare each web backend's expected share (from the weights) "
            "with its actual share.",
            "Select web-2 and press - until its weight is 0 (or press = and type 0).",
            "Watch web-2's actual share fall towards 0% while web-1 and web-3 take its requests; "
            "the reverse proxy answers no client with a 5xx.",
            "Optional: press a to try round_robin, least_connections or ip_hash and see how the "
            "shares move.",
            "When you are done, select web-2 and press + to put it back.",
        ),
        look_for=(
            "The share and requests per second of each backend in Backends; the reverse "
            "proxy's 5xx count (Overview, 5) stays at 0. The forward proxy has its own count: "
            "it does not balance, so it is not what this lesson is about."
        ),
        check=check_balancing,
        needs=("reverse", f"backend:{BALANCE_BACKEND}"),
    ),
    Lesson(
        id="failover",
        title="Health & failover",
        concept=(
            "Balancing onto a dead server hurts someone, so the proxy watches its backends. "
            "Active checks fetch /healthz every second: two failures in a row mark a backend "
            "down, two passes bring it back. Passive checks count real requests that fail and "
            "eject a backend for a while. A failed idempotent request is retried once on another "
            "backend, so clients of the reverse proxy rarely notice a crash at all. The forward "
            "proxy has no pool to fall back on: a request sent through it straight to a dead "
            "server's address fails, and its 5xx count shows it."
        ),
        diagram=(
            " every 1 s: GET /healthz\n"
            "   web-3  ✗ ✗  → down  (out of the balancer)\n"
            "   web-3  ✓ ✓  → up    (back in rotation)\n"
            "\n"
            " request ─► web-3 ✗ connection refused\n"
            "        └─► retry on web-1 ✓ 200 (client sees 200)"
        ),
        steps=(
            "Press 2 (Backends), select web-3 and press {kill_key} to kill it: its port "
            "stops accepting connections.",
            "Within about two seconds web-3 turns down; the event log shows why.",
            "Press 1: requests keep getting answers. Open one sent right after the kill with "
            "enter: its trace may show the retry on another backend.",
            "Press 5 (Overview) and watch the reverse proxy's 5xx count: it stays at 0. The "
            "forward proxy's may rise, because some demo requests go to web-3's own address.",
            "Press 2, select web-3 and press {kill_key} again to revive it; after two good "
            "checks it is up again and back in rotation.",
        ),
        look_for=(
            "web-3's state (up → down → up), the health column, and the reverse proxy's 5xx "
            "count, which stays at 0 once web-3 is out."
        ),
        check=check_failover,
        needs=("reverse", "demo"),
    ),
    Lesson(
        id="access",
        title="Blocking & ACLs",
        concept=(
            "A proxy is a natural checkpoint. The forward proxy decides who may use it at all: "
            "allow_clients lists the networks it serves (loopback here), everyone else gets 403, "
            "so it never turns into an open proxy. It can also decide what users may reach: "
            "block-tracker answers 403 for tracker.test before any connection is made. A reverse "
            "proxy turns bad requests away before they touch a server. Rules run in order and "
            "the first block or redirect decides."
        ),
        diagram=(
            " request ─► ACL: client allowed? ── no ─► 403\n"
            "              │ yes\n"
            "              ▼\n"
            "            rules in order (block-tracker, yours…)\n"
            "              │ block ─► 403 page, nothing sent on\n"
            "              ▼\n"
            "            passed to the origin or the pool"
        ),
        steps=(
            "Press 4 (Rules): block-tracker's hit count grows with every tracker pixel the demo "
            "asks for.",
            "Press n to add a rule: name no-private, filter ~u /private, action block, status "
            "403; save it.",
            "Try it: curl -si '{reverse}/private?{mark}' answers 403, and the live panel names "
            "your rule; no backend saw the request.",
            "Press 1, press / and type ~u /private: the demo's requests end in 403 too.",
            "Back in Rules, press space on your rule to switch it off, and again to switch it on.",
        ),
        look_for=(
            "Hit counters per rule, the rule's name in the trace, and blocked requests that "
            "never reached a backend."
        ),
        check=check_access,
        needs=("reverse",),
    ),
    Lesson(
        id="tls",
        title="HTTPS via a proxy",
        concept=(
            "For HTTPS the client asks the forward proxy for a tunnel: CONNECT host:443. The "
            "proxy opens a TCP connection and then copies bytes it cannot read. It learns the "
            "host and port, the server name the client sends in clear in the TLS hello (SNI), "
            "timings and byte counts; paths, headers, cookies and bodies stay encrypted. Since "
            "a tunnel can carry anything, a careful proxy allows CONNECT only to a few ports "
            "(connect_ports: just 443 by default; this classroom adds {secure_port} for its own "
            "HTTPS server), so it is no way into mail or SSH servers. A "
            "reverse proxy usually holds the site's certificate and ends TLS itself: it sees all."
        ),
        diagram=(
            " client ─ CONNECT example.com:443 ─► forward proxy\n"
            "    ◄──── 200 Connection established ─────┘\n"
            "    ═══ TLS hello (SNI example.com), then ═══►\n"
            "    ═══ encrypted bytes only ═════════════════►\n"
            " proxy sees:  host, port, SNI, timing, bytes\n"
            " proxy can't: path, headers, cookies, body"
        ),
        steps=(
            "Ask for a tunnel to a demo backend: curl -v -p -x {forward} http://{origin_host}/ "
            "— the proxy answers 403 because port {origin_port} is not in connect_ports.",
            "Press 1, press / and type ~m CONNECT, then press enter on it: the trace says which "
            "ports are allowed.",
            "If this machine reaches the internet: curl -s -o /dev/null -p -x {forward} "
            "https://example.com/ gives a 200 tunnel; its record shows the SNI and byte counts, "
            "and no path or headers.",
            "Offline, or to see both ends: quit (q) and run workbench run "
            "sample_configs/lesson-tls.yaml, which allows more ports and serves HTTPS on 8443; "
            "the file lists the curl commands.",
        ),
        look_for=(
            "The CONNECT record: its status (403 refused by connect_ports, 200 tunnel open), the "
            "SNI line of the trace, bytes each way. A 200 record appears when the tunnel closes."
        ),
        check=check_tls,
        needs=("forward",),
    ),
    Lesson(
        id="intercept",
        title="Reading HTTPS",
        concept=(
            "A forward proxy can read HTTPS only by ending the client's TLS itself. It answers "
            "the CONNECT, shows the client a certificate for the host that it makes on the spot "
            "and signs with its own certificate authority (CA), and opens a second TLS "
            "connection to the real server, whose certificate it checks. In between, the "
            "request is plain text to it: method, path, query, headers, cookies and body. Here "
            "the forward proxy decrypts CONNECTs to localhost only (forward.intercept.hosts); "
            "every other host stays a sealed tunnel.\n"
            "Reading someone's HTTPS is eavesdropping unless they agreed to it. So it works only "
            "for a client that chose to trust this CA; any other client sees a forged "
            "certificate, stops, and sends nothing."
        ),
        diagram=(
            " curl ══TLS══► forward proxy ══TLS══► localhost\n"
            "   certificate made by     real certificate,\n"
            "   the workbench CA        checked by the proxy\n"
            " proxy reads: method, path, headers, body\n"
            " no --cacert: curl refuses, nothing is sent"
        ),
        steps=(
            'Without trusting the CA: curl -x {forward} "{secure_origin}/echo?{mark}" — curl '
            "stops with a certificate error and sends nothing. Press 1: the CONNECT row's trace "
            "says the client rejected the certificate.",
            "Trust the CA for this one command (--cacert; nothing is installed) and send a "
            'little JSON: curl --cacert "$(workbench ca --path)" -x {forward} '
            "-H 'Content-Type: application/json' -d '{\"card\": \"4111 1111 1111 1111\"}' "
            '"{secure_origin}/echo?{mark}"',
            "Press 1 and find the row fwd POST /echo?{mark} on localhost; press enter. The "
            "trace starts with tls intercepted (SNI, TLS version, cipher); press 2 for the "
            "request: its headers and the card number you sent, in clear.",
            "workbench ca (without --path) prints the CA's fingerprint and how to trust it for "
            "good. Trust it only on a machine that is yours, and remove it when you are done.",
        ),
        look_for=(
            "The decrypted row: method, path and status like any plain request, its trace "
            "starting with tls intercepted, and in its detail the headers and the body — all "
            "that a tunnel hides."
        ),
        check=check_intercept,
        needs=("forward", "intercept"),
    ),
    Lesson(
        id="at-a-glance",
        title="At a glance",
        concept=(
            "Same machinery, opposite loyalties: the forward proxy acts for the people making "
            "requests, the reverse proxy for the servers answering them. The table sums up "
            "where they differ."
        ),
        diagram=(
            " [client side]            [server side]\n"
            " users ─► FORWARD ─► internet ─► REVERSE ─► servers"
        ),
        steps=(
            "Read the table row by row.",
            "For each row, recall where you saw it live: press l to go back to the first lesson "
            "and compare.",
        ),
        look_for="Which side each proxy protects, and what each one can hide.",
        check=check_read,
        table=(
            ("", "Forward proxy", "Reverse proxy"),
            (
                "What it is",
                "A go-between that clients use to reach other servers",
                "A go-between that servers put in front of themselves",
            ),
            (
                "Typical use",
                "Privacy for users; control over what they may reach",
                "Spreading load, caching, shielding the servers",
            ),
            (
                "Direction",
                "Outbound: from a client network to the internet",
                "Inbound: from the internet to the servers",
            ),
            (
                "Whose address it hides",
                "The client's, in anonymous or elite mode only (transparent passes it on); "
                "the proxy's own address always shows",
                "The servers': visitors connect only to the proxy (headers such as X-Backend "
                "can still name a server)",
            ),
            ("Load balancing", "Rarely", "One of its main jobs"),
            ("Caching", "Faster pages for its users", "Less work for the backends"),
            (
                "Security role",
                "Keeps users from harmful places",
                "Keeps harmful requests from the servers",
            ),
            ("Where it runs", "Inside the client's network", "In front of the web servers"),
        ),
    ),
)


def lesson_by_id(lesson_id: str) -> Lesson | None:
    """The lesson with this id, if any."""
    return next((lesson for lesson in LESSONS if lesson.id == lesson_id), None)


# -- placeholders -------------------------------------------------------------------------------
_PLACEHOLDER = re.compile(
    r"\{(reverse|forward|admin|origin|origin_host|origin_port|mark|privacy|kill_key"
    r"|secure_origin|secure_port)\}"
)
_DEFAULTS = {
    "reverse": "http://127.0.0.1:8080",
    "forward": "http://127.0.0.1:8888",
    "admin": "http://127.0.0.1:8081",
    "origin": "http://127.0.0.1:9001",
    "secure_origin": "https://localhost:8443",
}


def addresses(snapshot: Mapping[str, Any] | None) -> dict[str, str]:
    """Values for the placeholders from a snapshot (classroom defaults before the first one).

    A proxy the snapshot shows not running reads as ``(no reverse proxy running)``, never as a
    default port nothing listens on.
    """
    values = dict(_DEFAULTS)
    values["mark"] = MARK
    values["kill_key"] = "the kill key"  # the view fills in the live binding
    values["privacy"] = "transparent"
    if snapshot is not None:
        listeners = _get(snapshot, "listeners", default={}) or {}
        for k in ("reverse", "forward", "admin"):
            values[k] = str(listeners[k]) if listeners.get(k) else f"(no {k} proxy running)"
        if not listeners.get("admin"):
            values["admin"] = "(no admin API running)"
        values["privacy"] = str(
            _get(snapshot, "proxies", "forward", "privacy", default=None) or "(none)"
        )
    origin = None
    demo = _get(snapshot, "demo", "backends", default={}) or {}
    # web-1 first: it is always there in the classroom and serves /echo like every demo backend.
    for name in ("web-1", *demo):
        url = _get(demo, name, "url")
        if url:
            origin = str(url)
            break
    if origin is None:
        for pool in (_get(snapshot, "pools", default={}) or {}).values():
            for b in pool.get("backends", ()):
                if str(b.get("url", "")).startswith("http://"):
                    origin = str(b["url"])
                    break
            if origin:
                break
    secure = _get(snapshot, "demo", "secure_origin")
    if secure:
        values["secure_origin"] = str(secure).rstrip("/")
    values["secure_port"] = values["secure_origin"].rsplit(":", 1)[-1]
    values["origin"] = (origin or values["origin"]).rstrip("/")
    host = values["origin"].split("://", 1)[-1].split("/", 1)[0]
    values["origin_host"] = host
    values["origin_port"] = host.rsplit(":", 1)[-1] if ":" in host else "80"
    return values


def fill(text: str, values: Mapping[str, str]) -> str:
    """Replace the known placeholders in ``text``; leave any other braces alone (YAML, etc.)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), text)


# -- tracking -----------------------------------------------------------------------------------
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
        self._cursor = int(_get(snapshot, "records", "total", default=0))
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
