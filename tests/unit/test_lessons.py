"""Lesson checks on hand-built snapshots: each check passes exactly when the steps were followed."""

from __future__ import annotations

from typing import Any

import pytest

from workbench.demo.lessons import (
    LESSONS,
    CheckResult,
    Lesson,
    LessonState,
    LessonTracker,
    addresses,
    check_access,
    check_balancing,
    check_caching,
    check_failover,
    check_read,
    check_server_sees,
    check_tls,
    check_two_proxies,
    fill,
    is_students,
    lesson_by_id,
    request_line,
    unmet_needs,
)
from workbench.demo.progress import Progress
from workbench.engine.observe.records import RequestRecord


# -- snapshot builders --------------------------------------------------------------------------
def snap(
    *,
    t: float = 100.0,
    reverse: tuple[int, int] = (0, 0),
    forward: int = 0,
    backends: dict[str, int] | None = None,
    weights: dict[str, int] | None = None,
    cache: dict[str, Any] | None = None,
    rules: dict[str, tuple[str, int]] | None = None,
    events: list[tuple[float, str, str]] = (),
    traffic_running: bool = True,
    tunnels: int = 0,
    records_total: int = 0,
) -> dict[str, Any]:
    """A snapshot shaped like ``Engine.snapshot()``; ``reverse`` is (requests, 5xx)."""
    backends = backends or {}
    weights = weights or {"web-1": 3, "web-2": 1, "web-3": 1}
    return {
        "time": t,
        "listeners": {"reverse": "http://127.0.0.1:8080", "forward": "http://127.0.0.1:8888"},
        "stats": {
            "total": {
                "proxies": {
                    "reverse": {"requests": reverse[0], "status_classes": {"5xx": reverse[1]}},
                    "forward": {"requests": forward, "status_classes": {}},
                },
                "backends": {n: {"requests": c} for n, c in backends.items()},
            }
        },
        "pools": {
            "web": {
                "name": "web",
                "backends": [
                    {"name": n, "weight": w, "state": "up", "url": f"http://127.0.0.1:900{i}"}
                    for i, (n, w) in enumerate(weights.items(), 1)
                ],
            }
        },
        "cache": cache,
        "rules": [
            {"name": n, "action": a, "hits": h, "enabled": True}
            for n, (a, h) in (rules or {}).items()
        ],
        "events": [{"time": et, "kind": k, "message": m, "who": "x"} for et, k, m in events],
        "records": {"total": records_total},
        "proxies": {"forward": {"tunnels": tunnels}},
        "demo": {
            "traffic": {"running": traffic_running, "rate": 20.0},
            "backends": {"web-1": {"url": "http://127.0.0.1:41234"}},
        },
    }


def rec(
    proxy: str,
    method: str,
    path: str,
    status: int | None = 200,
    *,
    url: str = "",
    upstream: list[tuple[str, str]] | None = None,
    error: str | None = None,
    sni: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    response: list[tuple[str, str]] | None = None,
    backend: str | None = None,
    pool: str | None = None,
    rule: str | None = None,
    cache: str | None = None,
) -> RequestRecord:
    r = RequestRecord(1, 0.0, "127.0.0.1", proxy, method, url or path, "h", path, headers or [])
    r.status = status
    r.upstream_headers = upstream
    r.response_headers = response
    r.error = error
    r.sni = sni
    r.backend, r.pool, r.rule, r.cache = backend, pool, rule, cache
    return r


DEMO_UA = [("User-Agent", "workbench-demo-traffic/1.0")]


def run(check, before: dict, *afters: dict, records=(), events_since: float | None = None):
    """Feed snapshots to a check like the tracker does; the last result."""
    st = LessonState(baseline=before, snapshot=before)
    result = CheckResult(False, "")
    for i, after in enumerate(afters):
        st.snapshot = after
        st.records = records if i == len(afters) - 1 else ()
        cutoff = before["time"] if events_since is None else events_since
        st.events = [e for e in after["events"] if e["time"] > cutoff]
        result = check(st)
    return result


# -- the lesson set -----------------------------------------------------------------------------
def test_lessons_are_complete_and_fit_the_screen():
    ids = [lesson.id for lesson in LESSONS]
    assert len(ids) == len(set(ids))
    assert {
        "two-proxies",
        "server-sees",
        "caching",
        "balancing",
        "failover",
        "access",
        "tls",
        "at-a-glance",
    } <= set(ids)
    for lesson in LESSONS:
        lines = lesson.diagram.split("\n")
        assert len(lines) <= 10, lesson.id
        assert max(len(line) for line in lines) <= 60, lesson.id
        assert lesson.steps and lesson.concept and lesson.look_for and callable(lesson.check)
        assert len(lesson.title) <= 20, lesson.id  # fits the 26-column list with its mark
    assert lesson_by_id("balancing").check is check_balancing
    assert lesson_by_id("nope") is None


def test_at_a_glance_table_covers_the_comparison():
    table = lesson_by_id("at-a-glance").table
    assert table[0] == ("", "Forward proxy", "Reverse proxy")
    aspects = [row[0] for row in table[1:]]
    assert aspects == [
        "What it is",
        "Typical use",
        "Direction",
        "Whose address it hides",
        "Load balancing",
        "Caching",
        "Security role",
        "Where it runs",
    ]
    assert all(len(row) == 3 and all(row[1:]) for row in table[1:])
    assert check_read(LessonState({}, {})).done


# -- forward vs reverse -------------------------------------------------------------------------
MINE_REV = rec(
    "reverse", "GET", "/?student=me", response=[("X-Backend", "web-2")], backend="web-2", pool="web"
)
MINE_FWD = rec(
    "forward", "GET", "/?student=me", url="http://127.0.0.1:9001/?student=me", backend=None
)


@pytest.mark.parametrize(
    ("records", "done", "fragment"),
    [
        ([], False, "waiting for your own requests with ?student=me"),
        # The demo's requests, however many, never count.
        (
            [rec("reverse", "GET", "/", headers=DEMO_UA), rec("forward", "GET", "/")],
            False,
            "the demo's requests don't count",
        ),
        # A marker forged by the demo's user agent does not count either.
        ([rec("reverse", "GET", "/?student=me", headers=DEMO_UA)], False, "waiting"),
        ([MINE_REV], False, "now send one through the forward proxy"),
        ([MINE_FWD], False, "now send one through the reverse proxy"),
        ([MINE_REV, MINE_FWD], True, "your requests went through both proxies"),
        (
            [MINE_REV, rec("forward", "GET", "/", headers=[("X-Student", "ana")], url="http://x/")],
            True,
            "both proxies",
        ),
    ],
)
def test_two_proxies(records, done, fragment):
    res = run(check_two_proxies, snap(reverse=(10, 0), forward=5), snap(), records=records)
    assert res.done is done
    assert fragment in res.progress


def test_two_proxies_shows_the_request_lines_as_received():
    res = run(check_two_proxies, snap(), snap(), records=[MINE_REV, MINE_FWD])
    assert res.evidence == (
        "reverse proxy received: GET /?student=me  → 200 from web/web-2; "
        "the answer said X-Backend: web-2",
        "forward proxy received: GET http://127.0.0.1:9001/?student=me  → 200",
    )


def test_request_line_and_marker():
    assert request_line(MINE_FWD) == "GET http://127.0.0.1:9001/?student=me"
    assert request_line(MINE_REV) == "GET /?student=me"
    assert request_line(rec("forward", "CONNECT", "", url="a:443")) == "CONNECT a:443"
    assert is_students(rec("forward", "CONNECT", "", url="a:443"))
    assert not is_students(rec("forward", "CONNECT", "", url="a:443", headers=DEMO_UA))
    assert not is_students(rec("reverse", "GET", "/?students=me"))
    assert is_students(rec("reverse", "GET", "/x?a=1&student=bo"))


# -- what the server sees -----------------------------------------------------------------------
TRANSPARENT = [("X-Forwarded-For", "127.0.0.1"), ("Via", "1.1 workbench")]


def echo(upstream, path="/echo?student=me", **kw):
    return rec("forward", "GET", path, upstream=upstream, **kw)


@pytest.mark.parametrize(
    ("records", "done", "fragment"),
    [
        ([], False, "waiting for your own /echo"),
        ([rec("reverse", "GET", "/echo?student=me", upstream=[])], False, "waiting"),
        ([echo(TRANSPARENT, "/echo")], False, "waiting"),  # the demo's /echo, no marker
        ([echo(TRANSPARENT, headers=DEMO_UA)], False, "waiting"),
        ([echo(TRANSPARENT)], False, "seen in transparent mode; now switch the mode"),
        ([echo(TRANSPARENT), echo(TRANSPARENT)], False, "now switch"),
        ([echo(TRANSPARENT), echo([("Via", "1.1 workbench")])], True, "transparent and anonymous"),
        ([echo([]), echo(TRANSPARENT)], True, "elite and transparent"),
    ],
)
def test_server_sees(records, done, fragment):
    res = run(check_server_sees, snap(), snap(), records=records)
    assert res.done is done
    assert fragment in res.progress


def test_server_sees_says_what_the_origin_got_in_each_mode():
    st = LessonState(snap(), snap(), records=[echo(TRANSPARENT)])
    res = check_server_sees(st)
    assert res.evidence == (
        "transparent origin got X-Forwarded-For: 127.0.0.1, Via: 1.1 workbench; the "
        "connection came from the proxy's address",
    )
    st.records = [echo([])]
    res = check_server_sees(st)
    assert (
        res.done
        and "elite       origin got no header naming the client or a proxy" in (res.evidence[1])
    )
    st.records = ()
    assert check_server_sees(st).done


# -- caching ------------------------------------------------------------------------------------
PURGE = (150.0, "edit", "cache: purged 12 entries")
MY_HIT = rec("reverse", "GET", "/static/app.css?student=me", cache="hit")
DEMO_HIT = rec("reverse", "GET", "/static/app.css", cache="hit", headers=DEMO_UA)


@pytest.mark.parametrize(
    ("cache_after", "events", "records", "done", "fragment"),
    [
        (None, [], [], False, "cache is off"),
        ({"hits": 5}, [PURGE], [DEMO_HIT], False, "don't count) (a purge is done)"),
        ({"hits": 9}, [], [MY_HIT], False, "your request was a cache hit; now purge"),
        ({"hits": 9}, [(50.0, "edit", "cache: purged 3 entries")], [MY_HIT], False, "now purge"),
        ({"hits": 9}, [(150.0, "edit", "rules: added 'x'")], [MY_HIT], False, "now purge"),
        (
            {"hits": 9},
            [PURGE],
            [rec("reverse", "GET", "/x?student=me", cache="miss")],
            False,
            "waiting for a cache hit",
        ),
        ({"hits": 6}, [PURGE], [MY_HIT], True, "served from the cache, then you purged"),
    ],
)
def test_caching(cache_after, events, records, done, fragment):
    res = run(
        check_caching,
        snap(cache={"hits": 5}),
        snap(t=200, cache=cache_after, events=events),
        records=records,
    )
    assert res.done is done
    assert fragment in res.progress


def test_caching_lists_one_copy_per_language():
    st = LessonState(snap(cache={"hits": 0}), snap(cache={"hits": 0}))
    st.cache_entries = [
        {"url": "http://127.0.0.1:8080/lang", "vary": {"accept-language": "fr"}, "hits": 2},
        {"url": "http://127.0.0.1:8080/lang", "vary": {"accept-language": "de"}, "hits": 0},
        {"url": "http://127.0.0.1:8080/language", "vary": {}, "hits": 0},
        {"url": "http://127.0.0.1:8080/static/app.css", "vary": {}, "hits": 9},
    ]
    res = check_caching(st)
    assert res.evidence == (
        "stored copy of /lang  accept-language=de  hits 0",
        "stored copy of /lang  accept-language=fr  hits 2",
    )


# -- load balancing -----------------------------------------------------------------------------
BASE = {"web-1": 60, "web-2": 20, "web-3": 20}


def counts(w1: int, w2: int, w3: int) -> dict[str, int]:
    return {"web-1": w1, "web-2": w2, "web-3": w3}


@pytest.mark.parametrize(
    ("steps", "done", "fragment"),
    [
        # Untouched: web-2 keeps its share.
        ([snap(backends=counts(90, 30, 30))], False, "web-2 still gets 20% of requests (weight 1)"),
        ([snap(backends=BASE)], False, "web-2 has weight 1; set it to 0"),
        # Weight 0, but too few requests since to tell.
        (
            [
                snap(backends=BASE, weights={"web-1": 3, "web-2": 0, "web-3": 1}),
                snap(backends=counts(70, 20, 25), weights={"web-1": 3, "web-2": 0, "web-3": 1}),
            ],
            False,
            "15 of 20 pool requests",
        ),
        # Drained: web-2 got 1 in-flight straggler out of 40.
        (
            [
                snap(backends=BASE, weights={"web-1": 3, "web-2": 0, "web-3": 1}),
                snap(backends=counts(90, 21, 29), weights={"web-1": 3, "web-2": 0, "web-3": 1}),
            ],
            True,
            "web-2 drained with zero 5xx (1 of 40 requests since)",
        ),
        # Still getting a real share although the weight is 0: not drained.
        (
            [
                snap(backends=BASE, weights={"web-1": 3, "web-2": 0, "web-3": 1}),
                snap(backends=counts(80, 30, 30), weights={"web-1": 3, "web-2": 0, "web-3": 1}),
            ],
            False,
            "web-2 still gets 25% of requests",
        ),
        # Drained but a 5xx after the drain.
        (
            [
                snap(backends=BASE, weights={"web-1": 3, "web-2": 0, "web-3": 1}),
                snap(
                    backends=counts(100, 20, 30),
                    weights={"web-1": 3, "web-2": 0, "web-3": 1},
                    reverse=(100, 2),
                ),
            ],
            False,
            "2 5xxs from the reverse proxy since web-2 left",
        ),
        # Weight back to 1 before enough requests: the drain is forgotten.
        (
            [
                snap(backends=BASE, weights={"web-1": 3, "web-2": 0, "web-3": 1}),
                snap(backends=counts(100, 40, 40)),
            ],
            False,
            "web-2 still gets",
        ),
    ],
)
def test_balancing(steps, done, fragment):
    res = run(check_balancing, snap(backends=BASE), *steps)
    assert res.done is done
    assert fragment in res.progress


def test_balancing_5xx_before_the_drain_does_not_count():
    w0 = {"web-1": 3, "web-2": 0, "web-3": 1}
    res = run(
        check_balancing,
        snap(backends=BASE, reverse=(50, 3)),
        snap(backends=BASE, weights=w0, reverse=(50, 3)),
        snap(backends=counts(90, 20, 30), weights=w0, reverse=(100, 3)),
    )
    assert res.done and res.progress == "web-2 drained with zero 5xx (0 of 40 requests since)"
    assert "5xx since the lesson started: reverse 0 · forward 0" in res.evidence[1]


def test_balancing_needs_the_student_to_take_web_2_out():
    """web-2 already out when the lesson started (an earlier drain) is not the student's act."""
    w0 = {"web-1": 3, "web-2": 0, "web-3": 1}
    res = run(
        check_balancing,
        snap(backends=BASE, weights=w0),
        snap(backends=counts(90, 20, 30), weights=w0),
    )
    assert not res.done and "already out of rotation when the lesson started" in res.progress


def test_balancing_without_web_2():
    res = run(check_balancing, snap(weights={"a": 1}), snap(weights={"a": 1}))
    assert not res.done and "no backend named web-2" in res.progress


# -- health and failover ------------------------------------------------------------------------
DOWN = (110.0, "health", "web/web-3: up → down (health check failed 2× (refused))")
EJECT = (108.0, "health", "web/web-3: up → ejected (ejected for 5s after 3 failures)")
UP = (130.0, "health", "web/web-3: down → up (health check passed 2×)")
UP_OTHER = (130.0, "health", "web/web-1: down → up (health check passed 2×)")
DISABLED = (110.0, "edit", "web/web-3: up → disabled (disabled by user)")


@pytest.mark.parametrize(
    ("steps", "done", "fragment"),
    [
        ([snap(t=105, reverse=(120, 0))], False, "no backend has gone down yet"),
        ([snap(t=112, reverse=(120, 0), events=[DISABLED])], False, "no backend has gone down"),
        (
            [
                snap(t=112, reverse=(120, 0), events=[DOWN]),
                snap(t=120, reverse=(125, 0), events=[DOWN]),
            ],
            False,
            "5 of 10 requests answered",
        ),
        (
            [
                snap(t=112, reverse=(120, 0), events=[DOWN]),
                snap(t=120, reverse=(150, 0), events=[DOWN]),
            ],
            False,
            "web-3 is out and 30 requests got answers, zero 5xx; now revive it",
        ),
        (
            [
                snap(t=112, reverse=(120, 0), events=[DOWN]),
                snap(t=131, reverse=(160, 0), events=[DOWN, UP_OTHER]),
            ],
            False,
            "now revive it",
        ),
        (
            [
                snap(t=112, reverse=(120, 0), events=[DOWN]),
                snap(t=131, reverse=(160, 0), events=[DOWN, UP]),
            ],
            True,
            "web-3 went down and came back; 40 requests, zero 5xx",
        ),
        # Passive ejection counts as going down too.
        (
            [
                snap(t=109, reverse=(120, 0), events=[EJECT]),
                snap(t=131, reverse=(160, 0), events=[EJECT, DOWN, UP]),
            ],
            True,
            "web-3 went down and came back",
        ),
        # A 5xx once web-3 was out: the failover was not clean.
        (
            [
                snap(t=112, reverse=(120, 0), events=[DOWN]),
                snap(t=131, reverse=(160, 1), events=[DOWN, UP]),
            ],
            False,
            "1 5xx from the reverse proxy after web-3 went down",
        ),
    ],
)
def test_failover(steps, done, fragment):
    res = run(check_failover, snap(t=100, reverse=(100, 0)), *steps)
    assert res.done is done
    assert fragment in res.progress


def test_failover_ignores_5xx_while_the_backend_was_being_detected():
    """Errors between the kill and the down verdict are expected; only later ones count."""
    res = run(
        check_failover,
        snap(t=100, reverse=(100, 0)),
        snap(t=112, reverse=(120, 2), events=[DOWN]),
        snap(t=131, reverse=(160, 2), events=[DOWN, UP]),
    )
    assert res.done


# -- access control -----------------------------------------------------------------------------
CLASS_RULES = {"block-tracker": ("block", 10), "tag-json": ("tag", 50), "slow-api": ("delay", 0)}


@pytest.mark.parametrize(
    ("rules_after", "records", "done", "fragment"),
    [
        (CLASS_RULES, [], False, "add a block rule of your own"),
        # The demo's tracker pixels are blocked all the time: not the student's doing.
        (
            {**CLASS_RULES, "block-tracker": ("block", 15)},
            [rec("forward", "GET", "/pixel", 403, rule="block-tracker", headers=DEMO_UA)],
            False,
            "add a block rule of your own",
        ),
        (
            {**CLASS_RULES, "block-tracker": ("block", 12)},
            [rec("forward", "GET", "/pixel?student=me", 403, rule="block-tracker")],
            True,
            "your GET /pixel?student=me → 403, stopped by block-tracker",
        ),
        ({**CLASS_RULES, "no-private": ("block", 0)}, [], False, "no-private: no hits yet"),
        ({**CLASS_RULES, "no-private": ("block", 3)}, [], True, "your rule no-private stopped 3"),
        ({**CLASS_RULES, "tag-json": ("tag", 90)}, [], False, "add a block rule"),
        ({**CLASS_RULES, "mine": ("set_header", 9)}, [], False, "add a block rule"),
    ],
)
def test_access(rules_after, records, done, fragment):
    res = run(check_access, snap(rules=CLASS_RULES), snap(rules=rules_after), records=records)
    assert res.done is done
    assert fragment in res.progress


def test_access_ignores_rules_that_existed_before_the_start():
    before = snap(rules={**CLASS_RULES, "earlier": ("block", 7)})
    res = run(check_access, before, snap(rules={**CLASS_RULES, "earlier": ("block", 9)}))
    assert not res.done and "add a block rule of your own" in res.progress
    # Deleted before the lesson and added again during it: it is the student's new rule.
    res = run(check_access, snap(rules=CLASS_RULES), snap(rules={**CLASS_RULES, "x": ("block", 1)}))
    assert res.done


# -- TLS ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("records", "tunnels", "done", "fragment"),
    [
        ([], 0, False, "no CONNECT"),
        ([], 1, False, "a tunnel is open"),
        ([rec("forward", "GET", "/")], 0, False, "no CONNECT"),
        (
            [rec("forward", "CONNECT", "", 403, url="a:1", error="x", headers=DEMO_UA)],
            0,
            False,
            "no CONNECT",
        ),
        (
            [
                rec(
                    "forward",
                    "CONNECT",
                    "",
                    403,
                    url="127.0.0.1:41234",
                    error="CONNECT port not allowed",
                )
            ],
            0,
            True,
            "CONNECT 127.0.0.1:41234 refused with 403: its port is not in connect_ports",
        ),
        (
            [rec("forward", "CONNECT", "", 200, url="example.com:443", sni="example.com")],
            0,
            True,
            "tunnel to example.com:443 opened (200), SNI example.com",
        ),
        (
            [rec("forward", "CONNECT", "", 502, url="nowhere:443", error="cannot connect")],
            0,
            True,
            "CONNECT nowhere:443 answered 502: cannot connect",
        ),
    ],
)
def test_tls(records, tunnels, done, fragment):
    res = run(check_tls, snap(), snap(tunnels=tunnels), records=records)
    assert res.done is done
    assert fragment in res.progress


def test_tls_shows_what_became_of_each_of_the_students_tunnels():
    """Several CONNECTs arriving together each get a line saying how they ended, and a tunnel
    to an IP address is not called "not TLS" for lacking an SNI."""
    records = [
        rec("forward", "CONNECT", "", 403, url="127.0.0.1:41234", error="CONNECT port not allowed"),
        rec("forward", "CONNECT", "", 200, url="127.0.0.1:8443"),
        rec("forward", "CONNECT", "", 502, url="example.com:443", error="cannot connect"),
    ]
    res = run(check_tls, snap(), snap(), records=records)
    assert res.done
    shown = "\n".join(res.evidence)
    assert res.evidence == (
        "forward proxy received: CONNECT 127.0.0.1:41234  → 403 refused: its port is not in "
        "connect_ports",
        "forward proxy received: CONNECT 127.0.0.1:8443  → 200 tunnel, no SNI (an IP address, "
        "or not TLS); 0 bytes relayed unread",
        "forward proxy received: CONNECT example.com:443  → 502: cannot connect",
    )
    assert "not TLS inside" not in shown


# -- placeholders -------------------------------------------------------------------------------
def test_fill_uses_live_addresses_and_leaves_other_braces():
    values = addresses(snap())
    assert values["origin"] == "http://127.0.0.1:41234"
    assert (values["origin_host"], values["origin_port"]) == ("127.0.0.1:41234", "41234")
    text = "curl -p -x {forward} http://{origin_host}/ with forward: {privacy: elite} {nope}"
    assert fill(text, values) == (
        "curl -p -x http://127.0.0.1:8888 http://127.0.0.1:41234/"
        " with forward: {privacy: elite} {nope}"
    )
    assert addresses(None)["forward"] == "http://127.0.0.1:8888"
    assert values["mark"] == "student=me"


def test_a_missing_proxy_is_never_a_default_port():
    s = snap()
    s["listeners"] = {"reverse": "http://127.0.0.1:8080"}
    s["proxies"] = {"reverse": {"cache": True}, "forward": None}
    values = addresses(s)
    assert values["forward"] == "(no forward proxy running)"
    assert values["admin"] == "(no admin API running)"
    assert values["privacy"] == "(none)"


@pytest.mark.parametrize(
    ("listeners", "demo", "skipped"),
    [
        ({"reverse": "r", "forward": "f"}, True, set()),
        # sample_configs/reverse.yaml: a reverse proxy with web-1/web-2, no demo backends.
        ({"reverse": "r"}, False, {"two-proxies", "server-sees", "failover", "tls", "intercept"}),
        ({"forward": "f"}, True, {"two-proxies", "caching", "balancing", "failover", "access"}),
    ],
)
def test_lessons_that_need_a_missing_proxy_are_skipped(listeners, demo, skipped):
    s = snap(cache={"hits": 0})
    s["listeners"] = listeners
    s["proxies"] = {p: {"cache": True} for p in listeners}
    if not demo:
        s["demo"] = None
    elif "forward" in listeners:  # the classroom: localhost intercepted, its HTTPS origin runs
        s["proxies"]["forward"]["intercept"] = {"hosts": ["localhost"]}
        s["demo"]["secure_origin"] = "https://localhost:8443"
    if "reverse" not in listeners:
        s["pools"] = {}
    assert {lesson.id for lesson in LESSONS if unmet_needs(lesson, s)} == skipped
    if skipped:
        why = unmet_needs(lesson_by_id(sorted(skipped)[0]), s)
        assert why.startswith("This lesson needs ") and "does not run" in why
    assert all(unmet_needs(lesson, None) is None for lesson in LESSONS)


# -- the tracker --------------------------------------------------------------------------------
class FakeEngine:
    """Just the record log reader the tracker uses."""

    def __init__(self, records: list[RequestRecord]) -> None:
        self.records = records

    def records_since(self, cursor: int, limit: int):
        new = [r for r in self.records if r.seq > cursor][-limit:]
        return new, max([cursor, *(r.seq for r in self.records)]), 0


def test_tracker_reads_records_after_the_baseline_only():
    old = rec("forward", "CONNECT", "", 403, url="a:1", error="CONNECT port not allowed")
    old.seq = 1
    engine = FakeEngine([old])
    tracker = LessonTracker()
    tracker.start(lesson_by_id("tls"), snap(records_total=1))
    assert not tracker.update(snap(), engine).done
    new = rec("forward", "CONNECT", "", 403, url="b:2", error="CONNECT port not allowed")
    new.seq = 2
    engine.records.append(new)
    res = tracker.update(snap(), engine)
    assert res.done and "CONNECT b:2" in res.progress
    assert tracker.just_completed and tracker.completed == {"tls"}


def test_tracker_collects_events_once_and_notifies_once():
    hit = rec("reverse", "GET", "/static/app.css?student=me", cache="hit")
    hit.seq = 1
    engine = FakeEngine([])
    tracker = LessonTracker()
    tracker.start(lesson_by_id("caching"), snap(t=100, cache={"hits": 0}))
    s1 = snap(t=160, cache={"hits": 0}, events=[PURGE])
    assert not tracker.update(s1, engine).done
    assert not tracker.update(s1, engine).done
    assert tracker.state is not None and len(tracker.state.events) == 1  # not counted twice
    engine.records.append(hit)
    res = tracker.update(snap(t=170, cache={"hits": 2}, events=[PURGE]), engine)
    assert res.done and tracker.just_completed
    # Done is sticky until the lesson is started again, and reported as new only once.
    assert tracker.update(snap(t=180, cache={"hits": 2}), engine).done
    assert not tracker.just_completed
    tracker.start(lesson_by_id("caching"), snap(t=190, cache={"hits": 2}, events=[PURGE]))
    assert not tracker.update(snap(t=191, cache={"hits": 3}, events=[PURGE]), engine).done
    assert tracker.completed == {"caching"}


def test_progress_survives_a_restart_and_resets(tmp_path):
    path = tmp_path / "state" / "lessons.json"
    progress = Progress(path)
    assert progress.completed == set() and not path.exists()
    assert progress.add("tls") is None and progress.add("caching") is None
    assert Progress(path).completed == {"tls", "caching"}
    assert Progress(path).reset() is None
    assert Progress(path).completed == set()
    path.write_text("{not json")
    assert Progress(path).completed == set()


def test_progress_lives_in_the_xdg_state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert Progress().path == tmp_path / "proxy-workbench" / "lessons.json"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert str(Progress().path).endswith(".local/state/proxy-workbench/lessons.json")


def test_progress_write_failure_is_a_message(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    error = Progress(blocker / "lessons.json").add("tls")
    assert error is not None and error.startswith("cannot save lesson progress")


def test_tracker_ignores_events_from_before_the_start():
    tracker = LessonTracker()
    tracker.start(lesson_by_id("failover"), snap(t=120, reverse=(100, 0), events=[DOWN]))
    res = tracker.update(snap(t=131, reverse=(160, 0), events=[DOWN, UP]))
    assert not res.done and "no backend has gone down yet" in res.progress


def test_tracker_survives_a_broken_check():
    def broken(st: LessonState) -> CheckResult:
        raise KeyError("pools")

    lesson = Lesson("x", "X", "c", "d", ("s",), "l", broken)
    tracker = LessonTracker()
    assert tracker.update(snap()) == CheckResult(False, "no lesson started")
    tracker.start(lesson, snap())
    res = tracker.update(snap())
    assert not res.done and "check failed" in res.progress
