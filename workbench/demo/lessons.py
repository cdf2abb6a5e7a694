"""The guided lessons of the classroom: what to read, what to do, and how we know it worked.

Pure data and pure checks, no Textual: a :class:`Lesson` carries its text and a ``check``
function; a :class:`LessonTracker` takes a baseline when a lesson starts and, on every engine
snapshot, hands the check a :class:`LessonState` (baseline, latest snapshot, the records and
events that arrived since) and returns a :class:`CheckResult`. Checks read only plain snapshot
data and finished records, so they are unit-tested with hand-built dicts.

Steps may contain placeholders that :func:`fill` replaces with live addresses: ``{reverse}``,
``{forward}``, ``{admin}``, ``{origin}`` (a demo backend's URL), ``{origin_host}`` (its
``host:port``) and ``{origin_port}``.
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
    "CheckResult",
    "Lesson",
    "LessonState",
    "LessonTracker",
    "fill",
    "lesson_by_id",
]


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
    upstream_headers: list[tuple[str, str]] | None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Verdict of a lesson's check: finished or not, and a short line saying why."""

    done: bool
    progress: str


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
    """Concrete instructions naming the real keys; may hold address placeholders (see fill)."""
    look_for: str
    """What to watch on screen while doing the steps."""
    check: Check
    table: tuple[tuple[str, str, str], ...] = ()
    """Optional comparison table: a header row, then (aspect, forward, reverse) rows."""


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


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# -- the checks ---------------------------------------------------------------------------------
def check_two_proxies(st: LessonState) -> CheckResult:
    """Done once both proxies handled requests since the start."""
    rev = _proxy_total(st.snapshot, "reverse") - _proxy_total(st.baseline, "reverse")
    fwd = _proxy_total(st.snapshot, "forward") - _proxy_total(st.baseline, "forward")
    seen = f"reverse proxy {rev}, forward proxy {fwd} requests since you started"
    if rev > 0 and fwd > 0:
        return CheckResult(True, seen)
    missing = "forward" if rev > 0 else "reverse" if fwd > 0 else "either"
    return CheckResult(False, f"{seen}; no traffic through the {missing} proxy yet")


def check_server_sees(st: LessonState) -> CheckResult:
    """Done once a request to /echo went through the forward proxy since the start."""
    for rec in st.records:
        if rec.proxy != "forward" or rec.method == "CONNECT":
            continue
        if rec.path.split("?", 1)[0] != "/echo":
            continue
        sent = rec.upstream_headers
        xff, via = _header(sent, "X-Forwarded-For"), _header(sent, "Via")
        if sent is None:
            told = "open it in Traffic with enter to compare its headers"
        elif xff or via:
            parts = [f"X-Forwarded-For: {xff}" if xff else "", f"Via: {via}" if via else ""]
            told = "the origin was told " + " and ".join(p for p in parts if p)
        else:
            told = "the origin got no header naming the client or a proxy"
        st.memory["echo"] = f"forward /echo seen ({rec.status or 'no answer'}): {told}"
        break
    if "echo" in st.memory:
        return CheckResult(True, st.memory["echo"])
    return CheckResult(False, "no request to /echo through the forward proxy yet")


def check_caching(st: LessonState) -> CheckResult:
    """Done after at least one cache hit and one purge since the start."""
    now, base = st.snapshot.get("cache"), st.baseline.get("cache")
    if now is None:
        return CheckResult(False, "the cache is off in this engine: nothing to observe")
    hits = int(now.get("hits", 0)) - int((base or {}).get("hits", 0))
    purged = any(
        e.get("kind") == "edit" and str(e.get("message", "")).startswith("cache: purged")
        for e in st.events
    )
    if hits > 0 and purged:
        return CheckResult(True, f"{_plural(hits, 'cache hit')}, then a purge emptied the cache")
    if hits <= 0:
        extra = " (a purge is done)" if purged else ""
        return CheckResult(False, f"no cache hit since you started{extra}")
    return CheckResult(False, f"{_plural(hits, 'cache hit')} so far; now purge: 3, then p")


BALANCE_BACKEND = "web-2"
BALANCE_MIN_REQUESTS = 20
"""Pool requests needed after the drain before its share counts as measured."""
BALANCE_MAX_SHARE = 0.05
"""Share still allowed after the drain: requests already in flight may land late."""


def check_balancing(st: LessonState) -> CheckResult:
    """Done when web-2 left the rotation and then took (almost) no requests, with no 5xx."""
    name = BALANCE_BACKEND
    pool, b = _find_backend(st.snapshot, name)
    if not b:
        return CheckResult(False, f"no backend named {name} here: this lesson needs the classroom")
    names = [x["name"] for x in pool.get("backends", ())]
    out = b.get("weight") == 0 or b.get("state") in ("draining", "disabled")
    counts = {n: _backend_requests(st.snapshot, n) for n in names}
    if not out:
        # Back in rotation: any earlier drain no longer counts.
        st.memory.pop("drain", None)
        base = {n: _backend_requests(st.baseline, n) for n in names}
        total = sum(counts.values()) - sum(base.values())
        if total <= 0:
            return CheckResult(False, f"{name} has weight {b.get('weight')}; set it to 0")
        share = (counts[name] - base[name]) / total
        return CheckResult(
            False, f"{name} still gets {share:.0%} of requests (weight {b.get('weight')})"
        )
    drain = st.memory.get("drain")
    if drain is None:
        drain = st.memory["drain"] = {
            "counts": counts,
            "failures": _proxy_failures(st.snapshot, "reverse"),
        }
    failures = _proxy_failures(st.snapshot, "reverse") - drain["failures"]
    if failures > 0:
        return CheckResult(
            False, f"{_plural(failures, '5xx')} since {name} left; press enter to try again"
        )
    total = sum(counts.values()) - sum(drain["counts"].get(n, 0) for n in names)
    mine = counts[name] - drain["counts"].get(name, 0)
    if total < BALANCE_MIN_REQUESTS:
        return CheckResult(
            False,
            f"{name} is out of rotation; {total} of {BALANCE_MIN_REQUESTS} pool requests "
            "seen since (is traffic flowing?)",
        )
    share = mine / total
    if share > BALANCE_MAX_SHARE:
        return CheckResult(False, f"{name} still gets {share:.0%} of requests")
    return CheckResult(True, f"{name} drained with zero 5xx ({mine} of {total} requests since)")


FAILOVER_MIN_REQUESTS = 10
"""Good reverse-proxy answers needed while a backend is down, to show requests kept flowing."""


def check_failover(st: LessonState) -> CheckResult:
    """Done when a backend went down by health, no 5xx followed, and it came back up."""
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
    if down is None:
        return CheckResult(False, "no backend has gone down yet: kill web-3 (2, then k)")
    name = down["backend"]
    failures = _proxy_failures(st.snapshot, "reverse") - down["failures"]
    good = _proxy_total(st.snapshot, "reverse") - down["total"] - failures
    if failures > 0:
        return CheckResult(
            False,
            f"{_plural(failures, '5xx')} after {name} went down; press enter to try again",
        )
    if good < FAILOVER_MIN_REQUESTS:
        return CheckResult(
            False,
            f"{name} is out; {good} of {FAILOVER_MIN_REQUESTS} requests answered since "
            "(is traffic flowing?)",
        )
    if not mem.get("revived"):
        return CheckResult(
            False, f"{name} is out and {good} requests got answers, zero 5xx; now revive it"
        )
    return CheckResult(True, f"{name} went down and came back; {good} requests, zero 5xx")


@cache
def classroom_rule_names() -> frozenset[str]:
    """Names of the rules the classroom starts with (a student's rule is any other)."""
    from workbench.demo.classroom import classroom_config

    return frozenset(r.name for r in classroom_config().rules)


def check_access(st: LessonState) -> CheckResult:
    """Done when a block rule of the student's own stopped a request (or the tracker rule did,
    while demo traffic is off, so the request must have been theirs)."""
    now, base = _rule_hits(st.snapshot), _rule_hits(st.baseline)
    mine = [
        r
        for name, r in now.items()
        if name not in classroom_rule_names() and r.get("action") in ("block", "redirect")
    ]
    for r in mine:
        before = int(base.get(r["name"], {}).get("hits", 0))
        hits = int(r.get("hits", 0))
        # A rule deleted and re-added under the same name starts from 0 again.
        gained = hits - before if hits >= before else hits
        if gained > 0:
            return CheckResult(True, f"your rule {r['name']} stopped {_plural(gained, 'request')}")
    tracker = int(now.get("block-tracker", {}).get("hits", 0)) - int(
        base.get("block-tracker", {}).get("hits", 0)
    )
    traffic = _get(st.snapshot, "demo", "traffic", default=None)
    demo_sending = bool(traffic and traffic.get("running") and traffic.get("rate", 0) > 0)
    if tracker > 0 and not demo_sending:
        return CheckResult(
            True, f"block-tracker stopped {_plural(tracker, 'request')} you sent to tracker.test"
        )
    if mine:
        names = ", ".join(r["name"] for r in mine)
        return CheckResult(False, f"{names}: no hits yet; does the filter match any traffic?")
    return CheckResult(
        False,
        f"add a block rule of your own (4, then n); block-tracker stopped {tracker} demo requests",
    )


def check_tls(st: LessonState) -> CheckResult:
    """Done once a CONNECT reached the forward proxy since the start (200 or refused)."""
    for rec in st.records:
        if rec.proxy != "forward" or rec.method != "CONNECT":
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
        break
    if "connect" in st.memory:
        return CheckResult(True, st.memory["connect"])
    if _get(st.snapshot, "proxies", "forward", "tunnels", default=0):
        return CheckResult(False, "a tunnel is open; its record appears when it closes")
    return CheckResult(False, "no CONNECT through the forward proxy yet (step 1)")


def check_read(st: LessonState) -> CheckResult:
    """A page to read: done as soon as it is opened."""
    return CheckResult(True, "nothing to run here: match each row to a lesson you did")


# -- the lessons --------------------------------------------------------------------------------
LESSONS: tuple[Lesson, ...] = (
    Lesson(
        id="two-proxies",
        title="Two proxies",
        concept=(
            "Both kinds of proxy sit between a client and a server, but they work for different "
            "people. A forward proxy is picked by the client: it runs near the users and fetches "
            "any site on their behalf, so the sites meet the proxy instead of the user. A reverse "
            "proxy is picked by the site owner: it stands in front of the servers, accepts every "
            "visitor and hands the request to one of several machines, so visitors never learn "
            "which server answered or where it lives. This classroom runs one of each."
        ),
        diagram=(
            " browser ──► FORWARD proxy ──► any web site\n"
            "   works for the client: hides who is asking\n"
            "\n"
            " visitor ──► REVERSE proxy ──► web-1 | web-2 | web-3\n"
            "   works for the site: hides which server answers"
        ),
        steps=(
            "Press 1 (Traffic). The demo sends requests through both proxies at once; open any "
            "row with enter to see which proxy handled it.",
            "Open a reverse request: its trace names the route, the pool and the backend the "
            "balancer picked. The client only ever talked to {reverse}.",
            "Open a forward request: its URL is absolute (http://host:port/...), because the "
            "client asked the proxy to fetch a whole address for it.",
            "Send one of each yourself: curl -s {reverse}/ and curl -s -x {forward} {origin}/",
        ),
        look_for=(
            "Reverse requests end at a pool member (web-1, api-2, ...); forward requests end at "
            "the origin's own host:port. The check passes once both proxies handled requests "
            "after you started the lesson."
        ),
        check=check_two_proxies,
    ),
    Lesson(
        id="server-sees",
        title="What servers see",
        concept=(
            "A forward proxy decides how much of the client reaches the server. In transparent "
            "mode (the classroom's) it adds X-Forwarded-For with the client's address and a Via "
            "line naming itself. Anonymous mode drops the address but keeps Via: the server "
            "knows a proxy is there, not who is behind it. Elite mode removes both, and the "
            "request looks as if the proxy made it. None of these headers proves anything on its "
            "own: a client can write its own X-Forwarded-For, and only proxies you run can vouch "
            "for what they added."
        ),
        diagram=(
            " client ── GET http://origin/echo\n"
            "    │\n"
            "    ▼\n"
            " forward proxy  transparent: + X-Forwarded-For + Via\n"
            "    │           anonymous:   + Via only\n"
            "    │           elite:       nothing naming anyone\n"
            "    ▼\n"
            " origin /echo ──► replies with the headers it got"
        ),
        steps=(
            "Press 1 (Traffic), press / and type ~u /echo: the demo keeps sending /echo through "
            "the forward proxy.",
            "Select one and press enter: compare the request headers as the client sent them "
            "with the headers the proxy forwarded.",
            "Ask the origin yourself: curl -s -x {forward} {origin}/echo (its JSON lists the "
            "headers it received).",
            "Forge a header and watch the proxy append to it: curl -s -x {forward} "
            "-H 'X-Forwarded-For: 203.0.113.9' {origin}/echo",
            "Compare with no proxy at all: curl -s {origin}/echo (no Via, no X-Forwarded-For).",
            "Switch the mode live: ctrl+p, type privacy, choose anonymous, then elite; repeat "
            "the curl commands and open a new /echo record after each switch.",
        ),
        look_for=(
            "The X-Forwarded-For and Via lines in the forwarded headers. On one machine the "
            "client and the proxy are both 127.0.0.1, so read the headers, not the address."
        ),
        check=check_server_sees,
    ),
    Lesson(
        id="caching",
        title="Caching",
        concept=(
            "A cache keeps copies of responses so repeated requests are answered without "
            "bothering a backend: on the reverse side that shields the servers, on the forward "
            "side it saves the users' bandwidth. Cache-Control max-age says how long a copy stays "
            "fresh; after that the proxy revalidates with If-None-Match, and a 304 renews the copy "
            "cheaply. Vary names request headers that pick different copies (Accept-Language for "
            "/lang). Private and no-store answers are never shared. A purge drops copies on "
            "demand, for instance after a deploy."
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
            "Press 3 (Cache): the hit ratio climbs as the demo asks for /static/app.css and "
            "/static/logo.png (public, max-age=60) again and again.",
            "Press 1, press / and type ~cache hit, then open a hit with enter: the trace says why "
            "the copy could be used and how old it is.",
            "Filter ~u /lang: one URL, one copy per language, because the backend answers with "
            "Vary: Accept-Language.",
            "Filter ~u /etag: no-cache means every use is checked with the backend first; look "
            "for revalidated and 304 in the trace.",
            "Press 3, then p and confirm to purge: the entries drop to 0 and the next requests "
            "are misses until the cache fills again.",
        ),
        look_for=(
            "Hit ratio, entries and bytes in the Cache view; misses right after the purge; "
            "/private never stored."
        ),
        check=check_caching,
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
            "no client gets a 5xx.",
            "Optional: press a to try round_robin, least_connections or ip_hash and see how the "
            "shares move.",
            "When you are done, select web-2 and press + to put it back.",
        ),
        look_for=(
            "The share and requests per second of each backend in Backends; the 5xx count in "
            "Overview (5) stays at 0."
        ),
        check=check_balancing,
    ),
    Lesson(
        id="failover",
        title="Health & failover",
        concept=(
            "Balancing onto a dead server hurts someone, so the proxy watches its backends. "
            "Active checks fetch /healthz every second: two failures in a row mark a backend "
            "down, two passes bring it back. Passive checks count real requests that fail and "
            "eject a backend for a while. A failed idempotent request is retried once on another "
            "backend, so clients rarely notice a crash at all."
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
            "Press 2 (Backends), select web-3 and press k to kill it: its port stops accepting "
            "connections.",
            "Within about two seconds web-3 turns down; the event log shows why.",
            "Press 1: requests keep getting answers. Open one sent right after the kill with "
            "enter: its trace may show the retry on another backend.",
            "Press 2, select web-3 and press k again to revive it; after two good checks it is "
            "up again and back in rotation.",
        ),
        look_for=(
            "web-3's state (up → down → up), the health column, and the 5xx count that stays at "
            "0 once web-3 is out."
        ),
        check=check_failover,
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
            "Press 1, press / and type ~u /private: those requests now end in 403 and their "
            "trace names your rule; no backend saw them.",
            "Back in Rules, press space on your rule to switch it off, and again to switch it on.",
            "Or, with the demo traffic off: curl -s -x {forward} http://tracker.test/pixel",
        ),
        look_for=(
            "Hit counters per rule, the rule's name in the trace, and blocked requests that "
            "never reached a backend."
        ),
        check=check_access,
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
            "(connect_ports, just 443 by default), so it is no way into mail or SSH servers. A "
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
        look_for="Which side each proxy protects, and what each one hides.",
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
            ("Whose IP is hidden", "The client's, from the servers", "The servers', from clients"),
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
_PLACEHOLDER = re.compile(r"\{(reverse|forward|admin|origin|origin_host|origin_port)\}")
_DEFAULTS = {
    "reverse": "http://127.0.0.1:8080",
    "forward": "http://127.0.0.1:8888",
    "admin": "http://127.0.0.1:8081",
    "origin": "http://127.0.0.1:9001",
}


def addresses(snapshot: Mapping[str, Any] | None) -> dict[str, str]:
    """Values for the step placeholders from a snapshot (classroom defaults when unknown)."""
    values = dict(_DEFAULTS)
    for k, v in (_get(snapshot, "listeners", default={}) or {}).items():
        if k in values and v:
            values[k] = str(v)
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
    started again, and ``just_completed`` is true for exactly that one update.
    """

    RECORD_LIMIT = 5000
    """Records read per update; under a flood the check sees the newest ones."""

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

    def __init__(self) -> None:
        self.lesson: Lesson | None = None
        self.state: LessonState | None = None
        self.result: CheckResult | None = None
        self.completed: set[str] = set()
        """Ids of lessons whose check passed at some point."""
        self.just_completed = False
        self._cursor = 0
        self._event_time = 0.0
        self._event_keys: set[tuple[str, str]] = set()

    def start(self, lesson: Lesson, snapshot: Mapping[str, Any]) -> None:
        """Begin (or restart) ``lesson`` with ``snapshot`` as its baseline."""
        self.lesson = lesson
        self.state = LessonState(baseline=snapshot, snapshot=snapshot)
        self.result = CheckResult(False, "started; follow the steps")
        self.just_completed = False
        self._cursor = int(_get(snapshot, "records", "total", default=0))
        self._event_time = float(snapshot.get("time") or time.time())
        self._event_keys = set()

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
        if self.result is not None and self.result.done:
            return self.result
        records: Sequence[RecordLike] = ()
        if engine is not None:
            records, self._cursor, _skipped = engine.records_since(self._cursor, self.RECORD_LIMIT)
        st.snapshot = snapshot
        st.records = records
        st.events.extend(self._new_events(snapshot))
        try:
            result = lesson.check(st)
        except Exception as exc:  # a check bug must not take the UI down
            result = CheckResult(False, f"check failed: {exc!r}")
        if result.done:
            self.just_completed = True
            self.completed.add(lesson.id)
        self.result = result
        return result
