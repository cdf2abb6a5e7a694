"""HTTP cache semantics (RFC 9111): what is stored, when it is fresh, how it is revalidated."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from workbench.engine.cache import (
    HEURISTIC_STATUSES,
    MAX_DELTA,
    HttpCache,
    LookupResult,
    cache_status,
    parse_cache_control,
)
from workbench.engine.observe.records import Headers

T0 = 1_700_000_000.0
URL = "http://example.test/page"


class Clock:
    """An injected wall clock: tests move time by assignment, never by sleeping."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def http_date(t: float) -> str:
    return formatdate(t, usegmt=True)


def make_cache() -> tuple[HttpCache, Clock]:
    clock = Clock()
    return HttpCache(1 << 20, 1 << 16, clock=clock), clock


def put(
    cache: HttpCache,
    headers: Headers,
    *,
    status: int = 200,
    body: bytes = b"body",
    req: Headers | None = None,
    url: str = URL,
    method: str = "GET",
    t: float = T0,
    date: bool = True,
):
    resp = ([("Date", http_date(t))] if date else []) + headers
    return cache.store(method, url, req or [], status, resp, body, t, t)


def lookup(
    cache: HttpCache, at: float, req: Headers | None = None, *, method: str = "GET", url: str = URL
) -> LookupResult:
    return cache.lookup(method, url, req or [], now=at)


# -- Cache-Control parsing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max-age=60", {"max_age": 60}),
        ("MAX-AGE=60, Public", {"max_age": 60, "public": True}),
        ('max-age="60"', {"max_age": 60}),
        ("max-age=abc", {"max_age": 0}),
        ("max-age=-5", {"max_age": 0}),
        ("max-age", {"max_age": 0}),
        ("max-age=10, max-age=99", {"max_age": 10}),
        ("max-age=99999999999", {"max_age": MAX_DELTA}),
        ("max-stale", {"max_stale": MAX_DELTA}),
        ("max-stale=5", {"max_stale": 5}),
        # Qualified forms name fields to withhold; they are not the unqualified flag (§5.2.2.4).
        (
            'no-cache="Set-Cookie, X-Foo", max-age=5',
            {"no_cache_fields": ("set-cookie", "x-foo"), "max_age": 5},
        ),
        ('private="X-A", s-maxage=7', {"private_fields": ("x-a",), "s_maxage": 7}),
        ('no-cache="", max-age=5', {"no_cache": True, "max_age": 5}),
        (
            "stale-while-revalidate=30,stale-if-error=600",
            {"stale_while_revalidate": 30, "stale_if_error": 600},
        ),
        ("only-if-cached, min-fresh=3", {"only_if_cached": True, "min_fresh": 3}),
        (
            "no-store, must-revalidate, proxy-revalidate",
            {"no_store": True, "must_revalidate": True, "proxy_revalidate": True},
        ),
        ('community="UCI", x-ext', {}),
    ],
)
def test_parse_cache_control(value: str, expected: dict[str, object]) -> None:
    cc = parse_cache_control(value)
    for attr in cc.__slots__:
        default = {bool: False, tuple: ()}.get(type(getattr(cc, attr)))
        want = expected.get(attr, default)
        assert getattr(cc, attr) == want, attr


def test_parse_cache_control_is_memoised_per_raw_value() -> None:
    assert parse_cache_control("max-age=61, public") is parse_cache_control("max-age=61, public")


# -- what may be stored (§3) ----------------------------------------------------------------

AUTH = [("Authorization", "Bearer x")]


@pytest.mark.parametrize(
    ("method", "status", "req", "resp", "reason"),
    [
        ("GET", 200, [], [("Cache-Control", "max-age=60")], None),
        ("HEAD", 200, [], [("Cache-Control", "max-age=60")], None),
        ("POST", 200, [], [("Cache-Control", "max-age=60")], "Content-Location"),
        ("PUT", 200, [], [("Cache-Control", "max-age=60")], "method PUT"),
        ("GET", 206, [], [("Cache-Control", "max-age=60")], "partial content"),
        ("GET", 304, [], [("Cache-Control", "max-age=60")], "304"),
        ("GET", 200, [], [("Cache-Control", "no-store, max-age=60")], "no-store"),
        (
            "GET",
            200,
            [("Cache-Control", "no-store")],
            [("Cache-Control", "max-age=60")],
            "request no-store",
        ),
        ("GET", 200, [], [("Cache-Control", "private, max-age=60")], "private"),
        ("GET", 200, [], [("Cache-Control", 'private="X-User", max-age=60')], None),
        ("GET", 200, AUTH, [("Cache-Control", "max-age=60")], "Authorization"),
        ("GET", 200, AUTH, [("Cache-Control", "public, max-age=60")], None),
        ("GET", 200, AUTH, [("Cache-Control", "s-maxage=60")], None),
        ("GET", 200, AUTH, [("Cache-Control", "must-revalidate, max-age=60")], None),
        ("GET", 200, [], [("Cache-Control", "max-age=60"), ("Vary", "*")], "Vary: *"),
        ("GET", 200, [], [("Cache-Control", "max-age=60"), ("Set-Cookie", "a=1")], None),
        ("GET", 302, [], [("Last-Modified", http_date(T0 - 1000))], "without explicit freshness"),
        ("GET", 302, [], [("Cache-Control", "max-age=60")], None),
        ("GET", 500, [], [("Expires", http_date(T0 + 60))], None),
        ("GET", 404, [], [("Last-Modified", http_date(T0 - 1000))], None),
        ("GET", 200, [], [("Content-Type", "text/plain")], "stale on arrival and no validator"),
        ("GET", 200, [], [("ETag", '"a"')], None),
        ("GET", 200, [], [("Cache-Control", "no-cache"), ("ETag", '"a"')], None),
        ("GET", 200, [], [("Cache-Control", "no-cache, max-age=60")], "no validator"),
        ("GET", 200, [], [("Cache-Control", "no-store, must-understand, max-age=60")], None),
        (
            "GET",
            200,
            [],
            [("Cache-Control", "max-age=60"), ("Content-Length", "70000")],
            "exceeds max_object_size",
        ),
    ],
)
def test_storable(method: str, status: int, req: Headers, resp: Headers, reason: str | None):
    cache, _ = make_cache()
    ok, why = cache.storable(method, URL, req, status, [("Date", http_date(T0)), *resp])
    if reason is None:
        assert ok, why
    else:
        assert not ok
        assert why.startswith("uncacheable: ") and reason in why


def test_heuristic_statuses_are_rfc9110s_list_without_206() -> None:
    assert HEURISTIC_STATUSES == {200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501}


def test_store_refuses_a_body_over_max_object_size_and_counts_it() -> None:
    cache, _ = make_cache()
    res = put(cache, [("Cache-Control", "max-age=60")], body=b"x" * ((1 << 16) + 1))
    assert not res and "max_object_size" in res.reason
    assert cache.stats()["uncacheable"] == 1 and cache.stats()["entries"] == 0


# -- freshness lifetime (§4.2.1, §4.2.2) ----------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "lifetime", "source"),
    [
        (
            [("Cache-Control", "s-maxage=30, max-age=300"), ("Expires", http_date(T0 + 60))],
            30,
            "s-maxage",
        ),
        ([("Cache-Control", "max-age=300"), ("Expires", http_date(T0 + 60))], 300, "max-age"),
        ([("Expires", http_date(T0 + 60))], 60, "Expires"),
        ([("Expires", "0"), ("ETag", '"a"')], 0, "Expires"),
        ([("Cache-Control", "max-age=soon"), ("ETag", '"a"')], 0, "max-age"),
        ([("Last-Modified", http_date(T0 - 1000))], 100, "heuristic"),
        ([("Last-Modified", http_date(T0 - 100 * 86400))], 86400, "heuristic"),
        ([("Expires", http_date(T0 + 60)), ("Last-Modified", http_date(T0 - 1000))], 60, "Expires"),
    ],
)
def test_freshness_lifetime_precedence(headers: Headers, lifetime: float, source: str) -> None:
    cache, _ = make_cache()
    res = put(cache, headers)
    assert res.entry is not None
    assert (res.entry.lifetime, res.entry.source) == (lifetime, source)


def test_expires_is_measured_against_the_origins_date_not_our_clock() -> None:
    cache, _ = make_cache()
    # The origin's clock runs 100 s behind ours; Expires is 60 s after its Date.
    resp = [("Date", http_date(T0 - 100)), ("Expires", http_date(T0 - 40))]
    res = cache.store("GET", URL, [], 200, resp, b"b", T0, T0)
    assert res.entry is not None and res.entry.lifetime == 60


def test_heuristic_freshness_is_marked_in_the_reason() -> None:
    cache, _ = make_cache()
    put(cache, [("Last-Modified", http_date(T0 - 1000))])
    res = lookup(cache, T0 + 58)
    assert res.status == "hit"
    assert res.reason == "hit: heuristic freshness (10% of Last-Modified age), ttl 42s"
    assert res.entry is not None and res.entry.heuristic


@pytest.mark.parametrize(
    ("status", "cc", "stored"),
    [(302, None, False), (302, "public", True), (200, None, True), (410, None, True)],
)
def test_heuristic_only_for_heuristic_statuses_or_public(
    status: int, cc: str | None, stored: bool
) -> None:
    cache, _ = make_cache()
    headers = [("Last-Modified", http_date(T0 - 1000))]
    if cc:
        headers.append(("Cache-Control", cc))
    assert bool(put(cache, headers, status=status)) is stored


# -- Age (§4.2.3) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_time", "date", "age", "now", "expected_age"),
    [
        (T0 - 2, T0, None, T0 + 10, 12),  # response_delay counts: 2 s in flight
        (T0 - 1, T0 - 30, "5", T0 + 10, 40),  # apparent_age (30) beats age + delay (6)
        (T0 - 1, T0 - 3, "50", T0 + 10, 61),  # corrected age_value (51) beats apparent (3)
        (T0, T0 + 500, None, T0 + 10, 10),  # Date in the future: apparent_age clamps to 0
        (T0, None, None, T0 + 7, 7),  # no Date: the receipt time stands in
    ],
)
def test_age_arithmetic(
    request_time: float, date: float | None, age: str | None, now: float, expected_age: int
) -> None:
    cache, _ = make_cache()
    resp: Headers = [("Cache-Control", "max-age=1000")]
    if date is not None:
        resp.append(("Date", http_date(date)))
    if age is not None:
        resp.append(("Age", age))
    res = cache.store("GET", URL, [], 200, resp, b"b", request_time, T0)
    assert res.entry is not None
    headers = cache.response_headers(res.entry, now)
    assert [v for n, v in headers if n == "Age"] == [str(expected_age)]
    assert sum(1 for n, _ in headers if n.lower() == "age") == 1
    hit = lookup(cache, now)
    assert hit.status == "hit" and int(hit.ttl or 0) == 1000 - expected_age


def test_age_header_from_upstream_shortens_the_ttl() -> None:
    cache, _ = make_cache()
    put(cache, [("Cache-Control", "max-age=100"), ("Age", "30")])
    assert lookup(cache, T0).reason == "hit: fresh, ttl 70s"
    assert lookup(cache, T0 + 71).status == "stale"


# -- request directives (§5.2.1) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("resp_cc", "req", "at", "status", "usable", "fwd"),
    [
        ("max-age=100", [], 10, "hit", True, None),
        ("max-age=100", [("Cache-Control", "no-cache")], 10, "stale", False, "request"),
        ("max-age=100", [("Pragma", "no-cache")], 10, "stale", False, "request"),
        (
            "max-age=100",
            [("Pragma", "no-cache"), ("Cache-Control", "max-age=50")],
            10,
            "hit",
            True,
            None,
        ),
        ("max-age=100", [("Cache-Control", "max-age=5")], 10, "stale", False, "request"),
        ("max-age=100", [("Cache-Control", "max-age=20")], 10, "hit", True, None),
        ("max-age=100", [("Cache-Control", "min-fresh=95")], 10, "stale", False, "request"),
        ("max-age=100", [("Cache-Control", "min-fresh=80")], 10, "hit", True, None),
        ("max-age=100", [], 130, "stale", False, "stale"),
        ("max-age=100", [("Cache-Control", "max-stale=60")], 130, "stale", True, "stale"),
        ("max-age=100", [("Cache-Control", "max-stale=10")], 130, "stale", False, "stale"),
        ("max-age=100", [("Cache-Control", "max-stale")], 100_000, "stale", True, "stale"),
        (
            "max-age=100, must-revalidate",
            [("Cache-Control", "max-stale")],
            130,
            "stale",
            False,
            "stale",
        ),
        (
            "max-age=100, proxy-revalidate",
            [("Cache-Control", "max-stale")],
            130,
            "stale",
            False,
            "stale",
        ),
        ("s-maxage=100", [("Cache-Control", "max-stale")], 130, "stale", False, "stale"),
        ("max-age=100", [("Cache-Control", "only-if-cached")], 10, "hit", True, None),
    ],
)
def test_request_directives(
    resp_cc: str, req: Headers, at: float, status: str, usable: bool, fwd: str | None
) -> None:
    cache, _ = make_cache()
    put(cache, [("Cache-Control", resp_cc), ("ETag", '"v1"')])
    res = lookup(cache, T0 + at, req)
    assert (res.status, res.usable, res.fwd) == (status, usable, fwd), res.reason
    assert res.must_revalidate is (not usable)


@pytest.mark.parametrize(
    ("at", "stored", "reason"),
    [(10, False, "miss: no entry; only-if-cached (504)"), (130, True, "only-if-cached, but")],
)
def test_only_if_cached_answers_504_when_nothing_fits(at: float, stored: bool, reason: str):
    cache, _ = make_cache()
    if stored:
        put(cache, [("Cache-Control", "max-age=100"), ("ETag", '"v1"')])
    res = lookup(cache, T0 + at, [("Cache-Control", "only-if-cached")])
    assert res.only_if_cached_fail and not res.usable and not res.must_revalidate
    assert reason in res.reason


def test_stale_reason_names_the_expired_directive() -> None:
    cache, _ = make_cache()
    put(cache, [("Cache-Control", "max-age=100"), ("ETag", '"v1"')])
    assert lookup(cache, T0 + 103).reason == "stale: max-age expired 3s ago, revalidating"


# -- response directives ----------------------------------------------------------------------


def test_response_no_cache_always_revalidates_even_when_fresh() -> None:
    cache, _ = make_cache()
    put(cache, [("Cache-Control", "no-cache, max-age=600"), ("ETag", '"v1"')])
    res = lookup(cache, T0 + 1)
    assert res.must_revalidate and not res.usable
    assert "no-cache" in res.reason
    assert res.conditional_headers == [("If-None-Match", '"v1"')]


@pytest.mark.parametrize(
    "resp_cc",
    [
        "max-age=10, must-revalidate, stale-if-error=600, stale-while-revalidate=600",
        "max-age=10, proxy-revalidate, stale-if-error=600, stale-while-revalidate=600",
    ],
)
def test_must_revalidate_forbids_every_stale_use(resp_cc: str) -> None:
    cache, _ = make_cache()
    put(cache, [("Cache-Control", resp_cc), ("ETag", '"v1"')])
    res = lookup(cache, T0 + 20, [("Cache-Control", "max-stale, stale-if-error=600")])
    assert res.must_revalidate and not res.usable
    assert not res.can_serve_stale_on_error and not res.serve_while_revalidate


# -- stale-while-revalidate / stale-if-error (RFC 5861) -----------------------------------------


@pytest.mark.parametrize(
    ("resp_cc", "at", "usable", "background"),
    [
        ("max-age=10, stale-while-revalidate=30", 5, True, False),
        ("max-age=10, stale-while-revalidate=30", 20, True, True),
        ("max-age=10, stale-while-revalidate=30", 40, True, True),
        ("max-age=10, stale-while-revalidate=30", 41, False, False),
        # s-maxage carries proxy-revalidate's meaning for a shared cache (RFC 9111 §5.2.2.10),
        # which forbids serving stale (§4.2.4), even with an origin's own grant.
        ("s-maxage=10, stale-while-revalidate=30", 20, False, False),
    ],
)
def test_stale_while_revalidate_window(resp_cc: str, at: float, usable: bool, background: bool):
    cache, _ = make_cache()
    put(cache, [("Cache-Control", resp_cc), ("ETag", '"v1"')])
    res = lookup(cache, T0 + at)
    assert (res.usable, res.serve_while_revalidate) == (usable, background), res.reason
    if background:
        assert res.status == "stale" and "stale-while-revalidate=30" in res.reason
        assert res.conditional_headers == [("If-None-Match", '"v1"')]
        assert cache.stats()["stale"] == 1


@pytest.mark.parametrize(
    ("resp_cc", "req_cc", "at", "allowed"),
    [
        ("max-age=10, stale-if-error=60", None, 30, True),
        ("max-age=10, stale-if-error=60", None, 70, True),
        ("max-age=10, stale-if-error=60", None, 71, False),
        ("max-age=10", None, 30, False),
        ("max-age=10", "stale-if-error=100", 100, True),
        ("max-age=10", "stale-if-error=100", 111, False),
        ("max-age=100", "no-cache", 10, False),
        ("max-age=100", "no-cache, stale-if-error=5", 10, True),
        ("s-maxage=10, stale-if-error=60", None, 30, False),
        ("s-maxage=10", "stale-if-error=100", 30, False),
        ("max-age=10, proxy-revalidate, stale-if-error=60", None, 30, False),
        ("max-age=10, no-cache, stale-if-error=60", None, 30, False),
    ],
)
def test_stale_if_error_window(resp_cc: str, req_cc: str | None, at: float, allowed: bool):
    cache, _ = make_cache()
    put(cache, [("Cache-Control", resp_cc), ("ETag", '"v1"')])
    res = lookup(cache, T0 + at, [("Cache-Control", req_cc)] if req_cc else [])
    assert res.must_revalidate
    assert res.can_serve_stale_on_error is allowed


def test_serve_stale_on_error_counts_and_sends_age() -> None:
    cache, _ = make_cache()
    put(cache, [("Cache-Control", "max-age=10, stale-if-error=60"), ("ETag", '"v1"')])
    res = lookup(cache, T0 + 30)
    assert res.entry is not None
    headers = cache.serve_stale(res.entry, T0 + 30)
    assert ("Age", "30") in headers
    assert cache.stats(T0 + 30)["stale"] == 1


# -- validation (§4.3) ----------------------------------------------------------------------


def test_stale_entry_revalidates_with_both_validators() -> None:
    cache, _ = make_cache()
    lm = http_date(T0 - 5000)
    put(cache, [("Cache-Control", "max-age=10"), ("ETag", 'W/"v1"'), ("Last-Modified", lm)])
    res = lookup(cache, T0 + 20)
    assert res.must_revalidate
    assert res.conditional_headers == [("If-None-Match", 'W/"v1"'), ("If-Modified-Since", lm)]


def test_304_refreshes_stored_headers_but_not_the_body_framing() -> None:
    cache, _ = make_cache()
    put(
        cache,
        [
            ("Cache-Control", "max-age=10"),
            ("ETag", '"v1"'),
            ("Content-Length", "4"),
            ("Content-Encoding", "gzip"),
            ("X-Old", "kept"),
        ],
    )
    stale = lookup(cache, T0 + 20)
    assert stale.entry is not None
    t = T0 + 21
    fresh = cache.refresh(
        stale.entry,
        [
            ("Date", http_date(t)),
            ("Cache-Control", "max-age=300"),
            ("ETag", '"v1"'),
            ("Content-Length", "0"),
            ("Content-Encoding", "identity"),
            ("X-New", "1"),
            ("Connection", "close"),
        ],
        T0 + 20,
        t,
    )
    names = dict(fresh.headers)
    assert names["Cache-Control"] == "max-age=300" and names["X-New"] == "1"
    assert names["Content-Length"] == "4" and names["Content-Encoding"] == "gzip"
    assert names["X-Old"] == "kept" and "Connection" not in names
    assert fresh.body == b"body"
    after = lookup(cache, t + 100)
    assert after.status == "hit" and after.entry is fresh and int(after.ttl or 0) == 199
    s = cache.stats(t)
    assert (s["revalidated"], s["entries"]) == (1, 1)


def test_304_that_forbids_storing_removes_the_entry_but_still_answers() -> None:
    cache, _ = make_cache()
    put(cache, [("Cache-Control", "max-age=10"), ("ETag", '"v1"')])
    stale = lookup(cache, T0 + 20)
    assert stale.entry is not None
    fresh = cache.refresh(stale.entry, [("Cache-Control", "no-store")], T0 + 20, T0 + 20)
    assert fresh.body == b"body"
    assert cache.stats()["entries"] == 0


@pytest.mark.parametrize(
    ("stored", "req", "expected"),
    [
        ([("ETag", '"v1"')], [("If-None-Match", '"v1"')], True),
        ([("ETag", '"v1"')], [("If-None-Match", 'W/"v1"')], True),
        ([("ETag", 'W/"v1"')], [("If-None-Match", '"v1"')], True),
        ([("ETag", '"v1"')], [("If-None-Match", '"v0", "v1"')], True),
        ([("ETag", '"v1"')], [("If-None-Match", '"v2"')], False),
        ([("ETag", '"v1"')], [("If-None-Match", "*")], True),
        ([], [("If-None-Match", '"v1"')], False),
        (
            [("Last-Modified", http_date(T0 - 100))],
            [("If-Modified-Since", http_date(T0 - 50))],
            True,
        ),
        (
            [("Last-Modified", http_date(T0 - 100))],
            [("If-Modified-Since", http_date(T0 - 100))],
            True,
        ),
        (
            [("Last-Modified", http_date(T0 - 100))],
            [("If-Modified-Since", http_date(T0 - 150))],
            False,
        ),
        ([("Last-Modified", http_date(T0 - 100))], [("If-Modified-Since", "yesterday")], False),
        ([], [("If-Modified-Since", http_date(T0))], True),  # falls back to Date
        ([], [("If-Modified-Since", http_date(T0 - 1))], False),
        # If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
        (
            [("ETag", '"v1"'), ("Last-Modified", http_date(T0 - 100))],
            [("If-None-Match", '"v2"'), ("If-Modified-Since", http_date(T0))],
            False,
        ),
        ([("ETag", '"v1"')], [], False),
    ],
)
def test_clients_conditional_request_is_answered_304_from_a_fresh_entry(
    stored: Headers, req: Headers, expected: bool
) -> None:
    cache, _ = make_cache()
    put(cache, [("Cache-Control", "max-age=60"), *stored])
    res = lookup(cache, T0 + 1, req)
    assert res.status == "hit" and res.entry is not None
    assert cache.not_modified(res.entry, req) is expected


def test_not_modified_headers_carry_validators_and_age_but_no_body_fields() -> None:
    cache, _ = make_cache()
    entry = put(
        cache,
        [
            ("Cache-Control", "max-age=60"),
            ("ETag", '"v1"'),
            ("Content-Type", "text/html"),
            ("Content-Length", "4"),
        ],
    ).entry
    assert entry is not None
    headers = dict(cache.not_modified_headers(entry, T0 + 5))
    assert headers == {
        "Date": http_date(T0),
        "Cache-Control": "max-age=60",
        "ETag": '"v1"',
        "Age": "5",
    }


def test_not_modified_only_for_successful_entries() -> None:
    cache, _ = make_cache()
    entry = put(cache, [("Cache-Control", "max-age=60"), ("ETag", '"v1"')], status=404).entry
    assert entry is not None
    assert not cache.not_modified(entry, [("If-None-Match", '"v1"')])


# -- Vary (§4.1) ----------------------------------------------------------------------------

GZIP = [("Accept-Encoding", "gzip")]
BR = [("Accept-Encoding", "br")]


def test_vary_selects_the_matching_variant() -> None:
    cache, _ = make_cache()
    vary = [("Cache-Control", "max-age=60"), ("Vary", "Accept-Encoding")]
    put(cache, vary, req=GZIP, body=b"gz")
    miss = lookup(cache, T0 + 1, BR)
    assert (miss.status, miss.fwd) == ("miss", "vary-miss")
    assert "Vary: accept-encoding" in miss.reason
    put(cache, vary, req=BR, body=b"br")
    for req, body in ((GZIP, b"gz"), (BR, b"br")):
        hit = lookup(cache, T0 + 1, req)
        assert hit.status == "hit" and hit.entry is not None and hit.entry.body == body
    assert lookup(cache, T0 + 1, []).fwd == "vary-miss"
    assert cache.stats()["entries"] == 2


def test_vary_absent_header_matches_absent_header() -> None:
    cache, _ = make_cache()
    put(cache, [("Cache-Control", "max-age=60"), ("Vary", "Accept-Language")])
    assert lookup(cache, T0 + 1).status == "hit"
    assert lookup(cache, T0 + 1, [("Accept-Language", "de")]).status == "miss"


def test_vary_names_changing_drops_the_old_variants() -> None:
    cache, _ = make_cache()
    put(cache, [("Cache-Control", "max-age=60"), ("Vary", "Accept-Encoding")], req=GZIP)
    put(cache, [("Cache-Control", "max-age=60"), ("Vary", "Accept-Encoding")], req=BR)
    put(cache, [("Cache-Control", "max-age=60"), ("Vary", "Accept-Language")], req=GZIP)
    assert cache.stats()["entries"] == 1


# -- methods, Authorization, keys -----------------------------------------------------------


def test_head_is_served_from_the_get_entry_but_not_the_other_way_round() -> None:
    cache, _ = make_cache()
    put(cache, [("Cache-Control", "max-age=60")], url="http://example.test/a")
    assert lookup(cache, T0 + 1, method="HEAD", url="http://example.test/a").status == "hit"
    put(
        cache,
        [("Cache-Control", "max-age=60")],
        url="http://example.test/b",
        method="HEAD",
        body=b"",
    )
    assert lookup(cache, T0 + 1, method="HEAD", url="http://example.test/b").status == "hit"
    assert lookup(cache, T0 + 1, url="http://example.test/b").status == "miss"


@pytest.mark.parametrize(
    ("method", "req", "reason"),
    [
        ("POST", [], "bypass: method POST"),
        ("GET", [("authorization", "Basic eA==")], "bypass: Authorization"),
    ],
)
def test_bypass(method: str, req: Headers, reason: str) -> None:
    cache, _ = make_cache()
    put(cache, [("Cache-Control", "public, max-age=60")])
    res = lookup(cache, T0 + 1, req, method=method)
    assert (res.status, res.reason, res.entry) == ("bypass", reason, None)
    assert cache.stats()["bypass"] == 1


def test_url_normalisation_shares_one_entry() -> None:
    cache, _ = make_cache()
    put(cache, [("Cache-Control", "max-age=60")], url="HTTP://Example.TEST:80/Page?q=1#frag")
    assert lookup(cache, T0 + 1, url="http://example.test/Page?q=1").status == "hit"
    assert lookup(cache, T0 + 1, url="http://example.test/page?q=1").status == "miss"


def test_collapse_key_includes_the_varied_request_fields() -> None:
    cache, _ = make_cache()
    assert cache.collapse_key("POST", URL, []) is None
    assert cache.collapse_key("GET", URL, AUTH) is None
    assert cache.collapse_key("GET", URL, GZIP) == f"GET|{URL}"
    put(cache, [("Cache-Control", "max-age=60"), ("Vary", "Accept-Encoding")], req=GZIP)
    assert cache.collapse_key("GET", URL, GZIP) != cache.collapse_key("GET", URL, BR)


# -- invalidation (§4.4) ----------------------------------------------------------------------


def _fill(cache: HttpCache, *urls: str) -> None:
    for u in urls:
        put(cache, [("Cache-Control", "max-age=600")], url=u)


@pytest.mark.parametrize(
    ("method", "status", "headers", "gone"),
    [
        ("POST", 201, [], {"/page"}),
        ("PUT", 204, [("Location", "http://example.test/other")], {"/page", "/other"}),
        ("DELETE", 200, [("Content-Location", "/other")], {"/page", "/other"}),
        ("PATCH", 303, [("Location", "../other")], {"/page", "/other"}),
        ("POST", 201, [("Location", "http://evil.test/other")], {"/page"}),
        ("POST", 201, [("Location", "https://example.test/other")], {"/page"}),
        ("POST", 500, [("Location", "/other")], set()),
        ("POST", 404, [], set()),
        ("GET", 200, [("Location", "/other")], set()),
        ("OPTIONS", 200, [], set()),
    ],
)
def test_unsafe_methods_invalidate_target_and_same_origin_locations(
    method: str, status: int, headers: Headers, gone: set[str]
) -> None:
    cache, _ = make_cache()
    _fill(
        cache,
        URL,
        "http://example.test/other",
        "http://evil.test/other",
        "https://example.test/other",
    )
    n = cache.invalidate(method, URL, status, headers)
    assert n == len(gone)
    left = {e["url"] for e in cache.entries()}
    for path in gone:
        assert f"http://example.test{path}" not in left
    assert "http://evil.test/other" in left and "https://example.test/other" in left


def test_invalidation_removes_every_variant_and_the_head_entry() -> None:
    cache, _ = make_cache()
    vary = [("Cache-Control", "max-age=60"), ("Vary", "Accept-Encoding")]
    put(cache, vary, req=GZIP)
    put(cache, vary, req=BR)
    put(cache, [("Cache-Control", "max-age=60")], method="HEAD", body=b"")
    assert cache.invalidate("POST", URL, 200, []) == 3
    assert cache.stats()["entries"] == 0 and cache.stats()["invalidations"] == 3


# -- Cache-Status (RFC 9211) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "kwargs", "expected"),
    [
        (LookupResult("hit", "", fwd=None, ttl=42.7, usable=True), {}, "workbench; hit; ttl=42"),
        (
            LookupResult("stale", "", fwd="stale", ttl=-3.2, usable=True),
            {},
            "workbench; hit; ttl=-3",
        ),
        (
            LookupResult("miss", "", fwd="uri-miss"),
            {"stored": True, "fwd_status": 200},
            "workbench; fwd=uri-miss; fwd-status=200; stored",
        ),
        (LookupResult("miss", "", fwd="miss"), {"stored": True}, "workbench; fwd=miss; stored"),
        (
            LookupResult("stale", "", fwd="stale", must_revalidate=True),
            {"fwd_status": 304},
            "workbench; fwd=stale; fwd-status=304",
        ),
        (
            LookupResult("stale", "", fwd="request", must_revalidate=True),
            {"fwd_status": 200},
            "workbench; fwd=request; fwd-status=200",
        ),
        (LookupResult("bypass", "", fwd="bypass"), {}, "workbench; fwd=bypass"),
        (
            LookupResult("miss", "", fwd="vary-miss"),
            {"collapsed": True},
            "workbench; fwd=vary-miss; collapsed",
        ),
        (
            LookupResult("stale", "", fwd="stale", must_revalidate=True),
            {"fwd_status": 503, "detail": "stale-if-error"},
            "workbench; fwd=stale; fwd-status=503; detail=stale-if-error",
        ),
    ],
)
def test_cache_status_header(result: LookupResult, kwargs: dict, expected: str) -> None:
    assert cache_status(result, **kwargs) == expected


# -- visibility: stats and listing ----------------------------------------------------------


def test_counters_and_hit_ratio_windows() -> None:
    cache, _ = make_cache()
    put(cache, [("Cache-Control", "max-age=1000")])
    for _ in range(10):
        lookup(cache, T0 + 1)
    for _ in range(10):
        lookup(cache, T0 + 30, url="http://example.test/nothing")
    s = cache.stats(T0 + 31)
    assert (s["hits"], s["misses"], s["stores"], s["bytes_served"]) == (10, 10, 1, 40)
    assert s["hit_ratio_10s"] == 0.0
    assert s["hit_ratio_60s"] == 0.5
    assert s["hit_ratio"] == 0.5
    later = cache.stats(T0 + 200)
    assert later["hit_ratio_10s"] is None and later["hit_ratio_60s"] is None
    assert later["hit_ratio"] == 0.5


def test_revalidation_counts_as_served_from_cache() -> None:
    cache, _ = make_cache()
    put(cache, [("Cache-Control", "max-age=10"), ("ETag", '"v1"')])
    res = lookup(cache, T0 + 20)
    assert res.entry is not None
    cache.refresh(res.entry, [("Cache-Control", "max-age=10")], T0 + 20, T0 + 20)
    s = cache.stats(T0 + 20)
    assert (s["hits"], s["misses"], s["revalidated"], s["hit_ratio"]) == (0, 0, 1, 1.0)
    cache.count_miss(T0 + 20)
    assert cache.stats(T0 + 20)["hit_ratio"] == 0.5


def test_entries_listing_most_recent_first() -> None:
    cache, _ = make_cache()
    _fill(cache, "http://example.test/a", "http://example.test/b")
    lookup(cache, T0 + 5, url="http://example.test/a")
    rows = cache.entries(limit=10, now=T0 + 5)
    assert [r["url"] for r in rows] == ["http://example.test/a", "http://example.test/b"]
    assert rows[0]["hits"] == 1 and rows[0]["age"] == 5 and rows[0]["ttl"] == 595
    assert rows[0]["key"] == "GET|http://example.test/a" and rows[0]["size"] > 4
    assert len(cache.entries(limit=1)) == 1
