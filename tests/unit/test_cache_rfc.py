"""RFC 9111 / 9110 / 9213 policy, clause by clause: pure functions first, then HttpCache."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from workbench.engine.cache import (
    ByteRange,
    HttpCache,
    if_range_matches,
    invalidation_targets,
    is_unsafe,
    parse_range,
    partial_headers,
    stale_on_error_allowed,
    unsatisfiable_headers,
)
from workbench.engine.cache.policy import (
    HEURISTIC_MAX,
    ResponseMeta,
    corrected_initial_age,
    freshness_lifetime,
    merge_304_headers,
    post_reusable_for_get,
    storable_reason,
)
from workbench.engine.observe.records import Headers

T0 = 1_700_000_000.0
URL = "http://example.test/page"


def http_date(t: float) -> str:
    return formatdate(t, usegmt=True)


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_cache(**kw) -> tuple[HttpCache, Clock]:
    clock = Clock()
    return HttpCache(1 << 20, 1 << 16, clock=clock, **kw), clock


def put(
    cache: HttpCache,
    headers: Headers,
    *,
    status=200,
    body=b"body",
    req=None,
    url=URL,
    method="GET",
    t=T0,
    targeted=False,
):
    resp = [("Date", http_date(t)), *headers]
    return cache.store(method, url, req or [], status, resp, body, t, t, targeted=targeted)


# -- freshness lifetime (§4.2.1, §4.2.2, §5.3) -------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "lifetime", "source"),
    [
        (200, [("Cache-Control", "s-maxage=30, max-age=300")], 30.0, "s-maxage"),
        (
            200,
            [("Cache-Control", "max-age=300"), ("Expires", http_date(T0 + 60))],
            300.0,
            "max-age",
        ),
        (200, [("Expires", http_date(T0 + 60))], 60.0, "Expires"),
        (200, [("Expires", http_date(T0 - 60))], 0.0, "Expires"),
        # §5.3: an invalid Expires (here: lenient-parser bait) means "already expired".
        (200, [("Expires", "0")], 0.0, "Expires"),
        (200, [("Expires", "Sun, 06 Nov 2094 08:49:37")], 0.0, "Expires"),
        (200, [("Expires", "Sunn, 06 Nov 2094 08:49:37 GMT")], 0.0, "Expires"),
        (200, [("Expires", "Sun, 06 Nov 2094 08:49:37 GMT junk")], 0.0, "Expires"),
        # Explicit freshness wins over the heuristic, even when it is shorter.
        (
            200,
            [("Expires", http_date(T0 + 5)), ("Last-Modified", http_date(T0 - 10**6))],
            5.0,
            "Expires",
        ),
        # Heuristic: 10 % of the time since Last-Modified (§4.2.2), capped at one day.
        (200, [("Last-Modified", http_date(T0 - 1000))], 100.0, "heuristic"),
        (404, [("Last-Modified", http_date(T0 - 1000))], 100.0, "heuristic"),
        (200, [("Last-Modified", http_date(T0 - 10**8))], HEURISTIC_MAX, "heuristic"),
        (302, [("Last-Modified", http_date(T0 - 1000))], 0.0, "none"),
        (500, [("Last-Modified", http_date(T0 - 1000))], 0.0, "none"),
        (
            302,
            [("Cache-Control", "public"), ("Last-Modified", http_date(T0 - 1000))],
            100.0,
            "heuristic",
        ),
        (200, [("Last-Modified", "yesterday")], 0.0, "none"),
        (200, [], 0.0, "none"),
    ],
)
def test_freshness_lifetime(status: int, headers: Headers, lifetime: float, source: str) -> None:
    assert freshness_lifetime(ResponseMeta(headers), status, T0) == (lifetime, source)


def test_targeted_field_replaces_cache_control_and_expires() -> None:
    headers = [("Cache-Control", "no-store"), ("Expires", "0"), ("CDN-Cache-Control", "max-age=60")]
    meta = ResponseMeta(headers, ("cdn-cache-control",))
    assert freshness_lifetime(meta, 200, T0) == (60.0, "max-age")
    assert storable_reason("GET", 200, [], meta) is None
    forward = ResponseMeta(headers)
    assert storable_reason("GET", 200, [], forward) == "no-store"


# -- age (§4.2.3) --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age_value", "date", "sent", "received", "expected"),
    [
        (0, T0, T0, T0, 0.0),
        (0, T0 - 10, T0, T0, 10.0),  # apparent age from Date
        (30, T0, T0, T0, 30.0),  # Age from upstream caches
        (30, T0, T0 - 4, T0, 34.0),  # plus response_delay: the time the request was in flight
        (0, T0, T0 - 4, T0, 4.0),  # response_delay counts even without Age
        (5, T0 - 20, T0 - 1, T0, 20.0),  # apparent age is larger
        (0, T0 + 100, T0, T0, 0.0),  # origin clock ahead: apparent age never negative
    ],
)
def test_corrected_initial_age(age_value, date, sent, received, expected) -> None:
    assert corrected_initial_age(age_value, date, sent, received) == expected


def test_age_with_response_delay_through_the_cache() -> None:
    cache, _ = make_cache()
    resp = [("Date", http_date(T0)), ("Cache-Control", "max-age=100"), ("Age", "10")]
    stored = cache.store("GET", URL, [], 200, resp, b"x", T0 - 5, T0)
    assert stored.entry is not None and stored.entry.corrected_initial_age == 15.0
    assert ("Age", "25") in cache.response_headers(stored.entry, T0 + 10)
    assert cache.lookup("GET", URL, [], now=T0 + 84).status == "hit"
    assert cache.lookup("GET", URL, [], now=T0 + 86).status == "stale"


@pytest.mark.parametrize(
    ("age", "fresh_at_10"),
    [("7200, 0", False), ("0, 7200", True), ("abc", False), ("-1", False), ("10", True)],
)
def test_age_lists_and_invalid_ages(age: str, fresh_at_10: bool) -> None:
    cache, _ = make_cache()
    put(cache, [("Cache-Control", "max-age=3600"), ("Age", age), ("ETag", '"e"')])
    assert (cache.lookup("GET", URL, [], now=T0 + 10).status == "hit") is fresh_at_10


# -- storing (§3) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cc", "reason"),
    [
        # must-understand: understood statuses are stored, and no-store is then overridden.
        (200, "must-understand, no-store, max-age=60", None),
        (404, "must-understand, no-store, max-age=60", None),
        (299, "must-understand, max-age=60", "must-understand"),
        (599, "must-understand, no-store, max-age=60", "must-understand"),
        (200, "no-store, max-age=60", "no-store"),
    ],
)
def test_must_understand(status: int, cc: str, reason: str | None) -> None:
    why = storable_reason("GET", status, [], ResponseMeta([("Cache-Control", cc)]))
    assert why == reason if reason is None else reason in (why or "")


def test_set_cookie_is_stored_and_marked_by_default() -> None:
    cache, clock = make_cache()
    res = put(cache, [("Cache-Control", "max-age=60"), ("Set-Cookie", "id=1")])
    assert res and res.entry is not None and res.entry.set_cookie
    assert cache.entries()[0]["set_cookie"] is True
    clock.now = T0 + 1
    hit = cache.lookup("GET", URL, [])
    assert hit.status == "hit" and ("Set-Cookie", "id=1") in hit.entry.headers


def test_set_cookie_storage_can_be_turned_off() -> None:
    cache, _ = make_cache(store_set_cookie=False)
    res = put(cache, [("Cache-Control", "max-age=60"), ("Set-Cookie", "id=1")])
    assert not res and "Set-Cookie" in res.reason
    # ...unless the origin itself withholds the cookie from the stored copy.
    res = put(cache, [("Cache-Control", 'max-age=60, no-cache="Set-Cookie"'), ("Set-Cookie", "a")])
    assert res and res.entry is not None and not res.entry.set_cookie


@pytest.mark.parametrize(
    "directive", ['no-cache="Set-Cookie, X-User"', 'private="Set-Cookie, X-User"']
)
def test_qualified_no_cache_and_private_withhold_only_the_named_fields(directive: str) -> None:
    cache, _ = make_cache()
    res = put(
        cache,
        [
            ("Cache-Control", f"max-age=60, {directive}"),
            ("Set-Cookie", "s=1"),
            ("X-User", "ann"),
            ("X-Other", "kept"),
        ],
    )
    assert res and res.entry is not None
    names = {n.lower() for n, _ in res.entry.headers}
    assert "set-cookie" not in names and "x-user" not in names and "x-other" in names
    # The rest is served without revalidation (§5.2.2.4: "MAY use a stored response").
    assert cache.lookup("GET", URL, [], now=T0 + 1).status == "hit"


def test_no_transform_response_is_stored_byte_for_byte() -> None:
    cache, _ = make_cache()
    headers = [
        ("Cache-Control", "max-age=60, no-transform"),
        ("Content-Type", "image/png"),
        ("Content-Encoding", "gzip"),
    ]
    body = bytes(range(256))
    res = put(cache, headers, body=body)
    assert res.entry is not None and res.entry.body == body
    assert [h for h in res.entry.headers if h[0] != "Date"] == headers


# -- 304 updates (§3.2, §4.3.4) -------------------------------------------------------------------


def test_merge_304_replaces_fields_but_never_content_length() -> None:
    stored = [("Content-Length", "4"), ("ETag", '"a"'), ("X-Old", "1"), ("Content-Type", "t/a")]
    update = [
        ("Content-Length", "0"),
        ("X-Old", "2"),
        ("X-New", "3"),
        ("Content-Encoding", "br"),
        ("Connection", "close"),
        ("Age", "9"),
    ]
    merged = merge_304_headers(stored, update)
    assert ("Content-Length", "4") in merged and ("Content-Length", "0") not in merged
    assert ("X-Old", "2") in merged and ("X-Old", "1") not in merged
    assert ("X-New", "3") in merged and ("Content-Type", "t/a") in merged
    names = {n.lower() for n, _ in merged}
    assert not names & {"content-encoding", "connection", "age"}


# -- invalidation (§4.4) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "unsafe"),
    [
        ("GET", False),
        ("HEAD", False),
        ("OPTIONS", False),
        ("TRACE", False),
        ("POST", True),
        ("PUT", True),
        ("DELETE", True),
        ("PATCH", True),
        ("M-SEARCH", True),
        ("PURGE", True),
        ("FOO", True),
        ("get", True),
    ],
)
def test_unsafe_methods(method: str, unsafe: bool) -> None:
    assert is_unsafe(method) is unsafe


@pytest.mark.parametrize(
    ("method", "status", "headers", "expected"),
    [
        ("POST", 200, [], (URL,)),
        ("M-SEARCH", 200, [], (URL,)),
        ("PURGE", 204, [], (URL,)),
        ("FOO", 302, [], (URL,)),
        ("GET", 200, [], ()),
        ("OPTIONS", 200, [], ()),
        ("DELETE", 404, [], ()),  # an error response changes nothing
        ("PUT", 500, [], ()),
        ("PUT", 100, [], ()),
        ("POST", 201, [("Location", "/new")], (URL, "http://example.test/new")),
        ("POST", 200, [("Content-Location", "other?x=1")], (URL, "http://example.test/other?x=1")),
        ("POST", 200, [("Location", "http://EXAMPLE.test:80/a")], (URL, "http://example.test/a")),
        ("POST", 201, [("Location", "http://elsewhere.test/a")], (URL,)),  # other origin
        ("POST", 201, [("Location", "https://example.test/a")], (URL,)),  # other scheme
        ("POST", 201, [("Location", "/page")], (URL,)),
    ],
)
def test_invalidation_targets(method, status, headers, expected) -> None:
    assert invalidation_targets(method, URL, status, headers) == expected


def test_unknown_method_invalidates_the_stored_get() -> None:
    cache, _ = make_cache()
    put(cache, [("Cache-Control", "max-age=60")])
    assert cache.invalidate("M-SEARCH", URL, 200, []) == 1
    assert cache.lookup("GET", URL, [], now=T0 + 1).status == "miss"


# -- stale on error (§4.2.4, RFC 5861) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("forbid", "stale_for", "resp", "req", "window", "allowed"),
    [
        (False, 10, None, None, 0.0, False),  # no grant: never
        (False, 10, 60, None, 0.0, True),
        (False, 61, 60, None, 0.0, False),
        (False, 10, None, 30, 0.0, True),
        (False, 31, None, 30, 0.0, False),
        (False, 31, 10, 40, 0.0, True),  # either grant suffices
        (False, 10, None, None, 300.0, True),  # the configured window
        (False, 301, None, None, 300.0, False),
        (True, 1, 60, 60, 300.0, False),  # must-revalidate / proxy-revalidate / s-maxage / no-cache
    ],
)
def test_stale_on_error_allowed(forbid, stale_for, resp, req, window, allowed) -> None:
    assert stale_on_error_allowed(forbid, stale_for, resp, req, window) is allowed


@pytest.mark.parametrize(
    ("cc", "allowed"),
    [
        ("max-age=10", True),
        ("max-age=10, must-revalidate", False),
        ("max-age=10, proxy-revalidate", False),
        ("s-maxage=10", False),
        ("max-age=10, no-cache", False),
    ],
)
def test_configured_stale_window(cc: str, allowed: bool) -> None:
    cache, _ = make_cache(serve_stale_on_error=60.0)
    put(cache, [("Cache-Control", cc), ("ETag", '"e"')])
    res = cache.lookup("GET", URL, [], now=T0 + 30)
    assert res.must_revalidate and res.can_serve_stale_on_error is allowed
    late = cache.lookup("GET", URL, [], now=T0 + 71)
    assert not late.can_serve_stale_on_error


# -- POST → GET reuse (RFC 9110 §9.3.3, RFC 9111 §4) ---------------------------------------------


@pytest.mark.parametrize(
    ("headers", "reusable"),
    [
        ([("Cache-Control", "max-age=60"), ("Content-Location", URL)], True),
        ([("Cache-Control", "max-age=60"), ("Content-Location", "/page")], True),
        ([("Expires", http_date(T0 + 60)), ("Content-Location", "/page")], True),
        ([("Cache-Control", "max-age=60"), ("Content-Location", "/other")], False),
        ([("Cache-Control", "max-age=60")], False),
        ([("Content-Location", "/page"), ("Last-Modified", http_date(T0 - 999))], False),
    ],
)
def test_post_reusable_for_get(headers: Headers, reusable: bool) -> None:
    assert post_reusable_for_get(URL, 200, ResponseMeta(headers)) is reusable


def test_post_response_answers_a_later_get() -> None:
    cache, _ = make_cache()
    res = put(
        cache,
        [("Cache-Control", "max-age=60"), ("Content-Location", "/page")],
        method="POST",
        body=b"created",
    )
    assert res, res.reason
    hit = cache.lookup("GET", URL, [], now=T0 + 1)
    assert hit.status == "hit" and hit.entry.body == b"created"
    assert cache.lookup("HEAD", URL, [], now=T0 + 1).status == "hit"


# -- targeted fields in HttpCache (RFC 9213) ---------------------------------------------------


def test_cdn_cache_control_in_reverse_mode_only() -> None:
    cache, _ = make_cache()
    headers = [("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=60")]
    assert not put(cache, headers)  # forward proxy: the CDN field is not for us
    res = put(cache, headers, targeted=True)
    assert res and res.entry is not None and res.entry.targeted == "cdn-cache-control"
    assert "CDN-Cache-Control" in [n for n, _ in res.entry.headers]  # passed on unchanged
    assert cache.lookup("GET", URL, [], now=T0 + 59).status == "hit"
    assert cache.lookup("GET", URL, [], now=T0 + 61).status != "hit"


def test_cdn_no_store_beats_a_cacheable_cache_control() -> None:
    cache, _ = make_cache()
    res = put(
        cache, [("Cache-Control", "max-age=60"), ("CDN-Cache-Control", "no-store")], targeted=True
    )
    assert not res and "no-store" in res.reason


def test_configured_target_list() -> None:
    cache, _ = make_cache(targeted_fields=["Acme-Cache-Control"])
    headers = [("CDN-Cache-Control", "no-store"), ("Acme-Cache-Control", "max-age=5")]
    res = put(cache, headers, targeted=True)
    assert res and res.entry is not None and res.entry.lifetime == 5.0


def test_refresh_keeps_the_targeted_policy() -> None:
    cache, _ = make_cache()
    put(
        cache,
        [("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=10"), ("ETag", '"e"')],
        targeted=True,
    )
    stale = cache.lookup("GET", URL, [], now=T0 + 20)
    assert stale.must_revalidate
    fresh = cache.refresh(stale.entry, [("CDN-Cache-Control", "max-age=100")], T0 + 20, T0 + 20)
    assert fresh.lifetime == 100.0
    assert cache.lookup("GET", URL, [], now=T0 + 60).status == "hit"


# -- Vary normalisation in lookups -----------------------------------------------------------


def test_equivalent_accept_encoding_shares_one_variant() -> None:
    cache, _ = make_cache()
    put(
        cache,
        [("Cache-Control", "max-age=60"), ("Vary", "Accept-Encoding")],
        req=[("Accept-Encoding", "gzip, br")],
    )
    for value in ("br,gzip", "GZIP,  BR", "br;q=1.0, gzip"):
        assert cache.lookup("GET", URL, [("Accept-Encoding", value)], now=T0 + 1).status == "hit"
    assert cache.lookup("GET", URL, [("Accept-Encoding", "gzip")], now=T0 + 1).status == "miss"


# -- HEAD (§4.3.5) ----------------------------------------------------------------------------


def test_head_200_freshens_the_matching_stored_get() -> None:
    cache, _ = make_cache()
    put(cache, [("Cache-Control", "max-age=10"), ("ETag", '"v1"'), ("X-Rev", "1")], body=b"abcd")
    head = [
        ("Date", http_date(T0 + 20)),
        ("Cache-Control", "max-age=100"),
        ("ETag", '"v1"'),
        ("X-Rev", "2"),
        ("Content-Length", "4"),
    ]
    entry = cache.freshen_from_head(URL, [], 200, head, T0 + 20, T0 + 20)
    assert entry is not None and ("X-Rev", "2") in entry.headers and entry.body == b"abcd"
    assert cache.lookup("GET", URL, [], now=T0 + 60).status == "hit"


@pytest.mark.parametrize(
    "head",
    [
        [("ETag", '"v2"'), ("Cache-Control", "max-age=100")],
        [("ETag", '"v1"'), ("Content-Length", "5"), ("Cache-Control", "max-age=100")],
        [("Cache-Control", "max-age=100")],  # no validator: can't tell it is the same
    ],
)
def test_head_200_that_does_not_match_changes_nothing(head: Headers) -> None:
    cache, _ = make_cache()
    put(cache, [("Cache-Control", "max-age=10"), ("ETag", '"v1"')], body=b"abcd")
    assert cache.freshen_from_head(URL, [], 200, head, T0 + 20, T0 + 20) is None
    assert cache.lookup("GET", URL, [], now=T0 + 60).status == "stale"


# -- ranges (RFC 9110 §14) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "length", "expected"),
    [
        # RFC 9110 §14.1.2's examples on a 10000-byte representation.
        ("bytes=0-499", 10000, ByteRange("partial", 0, 499)),
        ("bytes=500-999", 10000, ByteRange("partial", 500, 999)),
        ("bytes=-500", 10000, ByteRange("partial", 9500, 9999)),
        ("bytes=9500-", 10000, ByteRange("partial", 9500, 9999)),
        ("bytes=0-0,-1", 10000, ByteRange("full")),  # several ranges: a full 200 is allowed
        ("bytes= 0-999, 4500-5499, -1000", 10000, ByteRange("full")),
        ("bytes=500-600,601-999", 10000, ByteRange("full")),
        # Clipping, suffixes longer than the representation, case of the unit.
        ("bytes=0-99", 50, ByteRange("partial", 0, 49)),
        ("bytes=-100", 50, ByteRange("partial", 0, 49)),
        ("Bytes=1-1", 50, ByteRange("partial", 1, 1)),
        ("bytes=49-", 50, ByteRange("partial", 49, 49)),
        # Unsatisfiable (416).
        ("bytes=50-", 50, ByteRange("unsatisfiable")),
        ("bytes=50-60", 50, ByteRange("unsatisfiable")),
        ("bytes=-0", 50, ByteRange("unsatisfiable")),
        ("bytes=0-", 0, ByteRange("unsatisfiable")),
        # Invalid or not ours: ignored (a full 200).
        ("bytes=5-1", 50, ByteRange("full")),
        ("bytes=a-b", 50, ByteRange("full")),
        ("bytes=-", 50, ByteRange("full")),
        ("bytes=", 50, ByteRange("full")),
        ("bytes 0-1", 50, ByteRange("full")),
        ("items=0-1", 50, ByteRange("full")),
        ("bytes=1", 50, ByteRange("full")),
        ("", 50, ByteRange("full")),
        (None, 50, ByteRange("full")),
    ],
)
def test_parse_range(value: str | None, length: int, expected: ByteRange) -> None:
    assert parse_range(value, length) == expected


LM = http_date(T0 - 100)


@pytest.mark.parametrize(
    ("value", "etag", "last_modified", "date", "matches"),
    [
        ('"v1"', '"v1"', None, T0, True),
        ('"v1"', '"v2"', None, T0, False),
        ('W/"v1"', 'W/"v1"', None, T0, False),  # weak tags never match (strong comparison)
        ('"v1"', 'W/"v1"', None, T0, False),
        ('"v1"', None, LM, T0, False),
        (LM, None, LM, T0, True),
        (LM, None, LM, T0 - 100.5, False),  # Last-Modified too close to Date: weak
        (http_date(T0 - 99), None, LM, T0, False),  # must be an exact match
        (LM, '"v1"', None, T0, False),
        ("not a date", '"v1"', LM, T0, False),
    ],
)
def test_if_range(value, etag, last_modified, date, matches) -> None:
    assert if_range_matches(value, etag, last_modified, date) is matches


def test_partial_and_unsatisfiable_headers() -> None:
    stored = [("Content-Type", "text/plain"), ("Content-Length", "1234"), ("ETag", '"a"')]
    # RFC 9110 §14.4's examples.
    assert partial_headers(stored, 42, 1233, 1234) == [
        ("Content-Type", "text/plain"),
        ("ETag", '"a"'),
        ("Content-Range", "bytes 42-1233/1234"),
    ]
    assert ("Content-Range", "bytes */1234") in unsatisfiable_headers(1234)


def test_206_is_never_stored_as_the_full_entity() -> None:
    cache, _ = make_cache()
    res = put(
        cache, [("Cache-Control", "max-age=60"), ("Content-Range", "bytes 0-3/10")], status=206
    )
    assert not res and "206" in res.reason
    assert cache.lookup("GET", URL, [], now=T0 + 1).status == "miss"


# -- serving ranges and single-flight revalidation through HttpCache -----------------------------


def _hit_with(cache: HttpCache, headers: Headers, method: str = "GET"):
    res = cache.lookup(method, URL, headers, now=T0 + 1)
    assert res.usable, res.reason
    return res, cache.apply_range(res, res.entry, list(res.entry.headers), res.entry.body)


@pytest.mark.parametrize(
    ("req", "status", "body", "content_range"),
    [
        ([], 200, b"0123456789", None),
        ([("Range", "bytes=0-3")], 206, b"0123", "bytes 0-3/10"),
        ([("range", "bytes=-2")], 206, b"89", "bytes 8-9/10"),
        ([("Range", "bytes=10-")], 416, b"", "bytes */10"),
        ([("Range", "bytes=0-1,4-5")], 200, b"0123456789", None),
        ([("Range", "bytes=2-3"), ("If-Range", '"r1"')], 206, b"23", "bytes 2-3/10"),
        ([("Range", "bytes=2-3"), ("If-Range", '"r0"')], 200, b"0123456789", None),
    ],
)
def test_apply_range(req: Headers, status: int, body: bytes, content_range: str | None) -> None:
    cache, _ = make_cache()
    put(cache, [("Cache-Control", "max-age=60"), ("ETag", '"r1"')], body=b"0123456789")
    _, (got_status, headers, got_body) = _hit_with(cache, req)
    assert (got_status, got_body) == (status, body)
    assert dict(headers).get("Content-Range") == content_range


def test_range_is_ignored_for_head_and_for_non_200_entries() -> None:
    cache, _ = make_cache()
    put(cache, [("Cache-Control", "max-age=60")], body=b"0123456789")
    _, (status, _, body) = _hit_with(cache, [("Range", "bytes=0-3")], "HEAD")
    assert (status, body) == (200, b"0123456789")
    put(cache, [("Cache-Control", "max-age=60")], status=404, body=b"missing", url=URL)
    _, (status, _, body) = _hit_with(cache, [("Range", "bytes=0-3")])
    assert (status, body) == (404, b"missing")


def test_stale_while_revalidate_lookups_are_pure() -> None:
    """Every stale hit inside the window may revalidate; the engine keeps one in flight."""
    cache, _ = make_cache()
    put(cache, [("Cache-Control", "max-age=10, stale-while-revalidate=60"), ("ETag", '"e"')])
    hits = [cache.lookup("GET", URL, [], now=T0 + 20 + i / 10) for i in range(50)]
    assert all(r.usable and r.serve_while_revalidate for r in hits)
    assert all(r.conditional_headers == [("If-None-Match", '"e"')] for r in hits)
    late = cache.lookup("GET", URL, [], now=T0 + 71)
    assert late.must_revalidate and not late.usable


def test_a_response_without_date_is_stored_with_one() -> None:
    """RFC 9110 §6.6.1: a recipient with a clock that caches a Date-less response adds Date."""
    cache, _ = make_cache()
    stored = cache.store("GET", URL, [], 200, [("Cache-Control", "max-age=60")], b"b", T0, T0 + 2)
    headers = cache.response_headers(stored.entry, T0 + 10)
    assert [v for n, v in headers if n == "Date"] == [formatdate(T0 + 2, usegmt=True)]
    assert ("Age", "10") in headers  # 2 s response delay + 8 s resident
    # A response with its own Date keeps it, once.
    dated = put(cache, [("Cache-Control", "max-age=60")], url=URL + "2")
    assert [n for n, _ in dated.entry.headers].count("Date") == 1


def test_a_dateless_304_is_dated_when_it_arrives() -> None:
    cache, _ = make_cache()
    stale = put(cache, [("Cache-Control", "max-age=10"), ("ETag", '"e"')])
    fresh = cache.refresh(stale.entry, [("Cache-Control", "max-age=10")], T0 + 20, T0 + 20)
    assert fresh.date_value == T0 + 20
    assert cache.lookup("GET", URL, [], now=T0 + 25).status == "hit"


def test_hit_reasons_and_the_ratio_ring_follow_whole_seconds_of_the_clock() -> None:
    """The per-second memos are checked against float bounds: every reading, at and around
    each second boundary, gets the ttl of ``int(remaining)`` and counts in its own second."""
    cache, clock = make_cache()
    put(cache, [("Cache-Control", "max-age=10")])
    seen = []
    for offset in (0.0, 0.25, 0.999999, 1.0, 1.000001, 1.5, 2.0, 2.0, 9.5):
        clock.now = T0 + offset
        plain = cache.lookup_or_hit("GET", URL, [])
        full = cache.lookup("GET", URL, [])
        assert type(plain) is tuple and full.status == "hit"
        remaining = 10 - offset
        assert plain[1] == full.reason == f"hit: fresh, ttl {int(remaining)}s", offset
        seen.append(int(remaining))
    assert seen == [10, 9, 9, 9, 8, 8, 8, 8, 0]
    clock.now = T0 + 10.5
    assert cache.lookup("GET", URL, []).status != "hit"
