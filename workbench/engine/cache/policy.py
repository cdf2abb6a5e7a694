"""RFC 9111 policy as pure functions: storing, freshness, age, reuse, invalidation, ranges.

Nothing here keeps state or reads a clock: every time is an argument (wall-clock seconds), so
each rule can be checked against the RFC's own examples in a table (tests/unit/test_cache_*.py).
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import urljoin

from workbench.engine.cache.parse import (
    EMPTY_CC,
    ETAG_RE,
    CacheControl,
    field_value,
    normalize_url,
    normalize_vary_value,
    opaque_tag,
    parse_cache_control,
    parse_http_date,
    parse_targeted,
    split_url,
)
from workbench.engine.http.headers import strip_hop_by_hop
from workbench.engine.observe.records import Headers

__all__ = [
    "HEURISTIC_STATUSES",
    "SAFE_METHODS",
    "UNDERSTOOD_STATUSES",
    "ByteRange",
    "ResponseMeta",
    "corrected_initial_age",
    "freshness_lifetime",
    "if_range_matches",
    "invalidation_targets",
    "is_unsafe",
    "merge_304_headers",
    "parse_range",
    "partial_headers",
    "post_reusable_for_get",
    "select_cache_control",
    "stale_on_error_allowed",
    "storable_reason",
    "stored_headers",
    "unsatisfiable_headers",
    "vary_key",
]

HEURISTIC_STATUSES = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501})
"""Heuristically cacheable statuses (RFC 9110 §15.1), minus 206: a range is never stored."""

UNDERSTOOD_STATUSES = frozenset(
    {200, 201, 202, 203, 204, 205}
    | set(range(300, 309)) - {306}
    | set(range(400, 418))
    | {421, 422, 426}
    | set(range(500, 506))
)
"""Final statuses whose caching rules this cache implements (for ``must-understand``, §5.2.2.3)."""

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
"""RFC 9110 §9.2.1. Every other method, known or not, is unsafe for invalidation (§4.4)."""

HEURISTIC_FRACTION = 0.1
HEURISTIC_MAX = 86400.0
"""Cap on a heuristic lifetime: one day, however old the Last-Modified."""

# Excluded from a 304's header update (RFC 9111 §3.2): they describe the stored body's framing
# and encoding, which a 304 cannot change.
_NOT_REFRESHED = frozenset(
    {"content-length", "content-encoding", "content-range", "transfer-encoding", "age"}
)


# -- what a response says ----------------------------------------------------------------------


def select_cache_control(
    headers: Headers, targeted: tuple[str, ...] = ()
) -> tuple[str | None, str | None]:
    """The directives this cache obeys: ``(Cache-Control text, targeted field used or None)``.

    ``targeted`` is the cache's target list (RFC 9213 §2.2), lower-case names in priority order;
    pass ``()`` where targeted fields do not apply (the forward proxy is not the CDN an origin
    addresses). The first listed field with a valid, non-empty value wins, and then the
    response's ``Cache-Control`` (and ``Expires``) are ignored by this cache.
    """
    if targeted:
        for name in targeted:
            raw = field_value(headers, name)
            if raw:
                text = parse_targeted(raw)
                if text is not None:
                    return text, name
    return field_value(headers, "cache-control"), None


class ResponseMeta:
    """What storing and freshness need from one response's header block, in one pass."""

    __slots__ = (
        "cc",
        "targeted",
        "date",
        "expires",
        "age",
        "last_modified",
        "etag",
        "vary",
        "set_cookie",
        "content_length",
        "content_location",
    )

    def __init__(self, headers: Headers, targeted: tuple[str, ...] = ()) -> None:
        vary: str | None = None
        age: str | None = None
        self.date = self.expires = self.last_modified = self.etag = None
        self.content_location: str | None = None
        self.content_length: int | None = None
        self.set_cookie = False
        for n, v in headers:
            ln = n.lower()
            if ln == "vary":
                vary = v if vary is None else f"{vary}, {v}"
            elif ln == "date" and self.date is None:
                self.date = v
            elif ln == "expires" and self.expires is None:
                self.expires = v
            elif ln == "age":
                age = v if age is None else f"{age}, {v}"
            elif ln == "last-modified" and self.last_modified is None:
                self.last_modified = v
            elif ln == "etag" and self.etag is None:
                self.etag = v.strip()
            elif ln == "set-cookie":
                self.set_cookie = True
            elif ln == "content-length" and v.strip().isdigit():
                self.content_length = int(v)
            elif ln == "content-location" and self.content_location is None:
                self.content_location = v.strip()
        self.age: str | None = age
        cc_raw, self.targeted = select_cache_control(headers, targeted)
        if self.targeted is not None:
            self.expires = None  # RFC 9213 §2.2: ignored along with Cache-Control
        self.cc: CacheControl = parse_cache_control(cc_raw) if cc_raw else EMPTY_CC
        self.vary: tuple[str, ...] = (
            tuple(sorted({t.strip().lower() for t in vary.split(",") if t.strip()})) if vary else ()
        )

    def has_explicit_freshness(self) -> bool:
        cc = self.cc
        return cc.s_maxage is not None or cc.max_age is not None or self.expires is not None


def freshness_lifetime(meta: ResponseMeta, status: int, date_value: float) -> tuple[float, str]:
    """(freshness lifetime, where it came from) for a shared cache (RFC 9111 §4.2.1).

    s-maxage, then max-age, then Expires − Date (an invalid Expires is already expired, §5.3),
    then — only without any of those, and only for a heuristically cacheable status or a
    ``public`` response — 10 % of the time since Last-Modified, at most a day (§4.2.2).
    """
    cc = meta.cc
    if cc.s_maxage is not None:
        return float(cc.s_maxage), "s-maxage"
    if cc.max_age is not None:
        return float(cc.max_age), "max-age"
    if meta.expires is not None:
        exp = parse_http_date(meta.expires)
        return (0.0 if exp is None else max(0.0, exp - date_value)), "Expires"
    if meta.last_modified is not None and (status in HEURISTIC_STATUSES or cc.public):
        lm = parse_http_date(meta.last_modified)
        if lm is not None:
            return min(HEURISTIC_MAX, HEURISTIC_FRACTION * max(0.0, date_value - lm)), "heuristic"
    return 0.0, "none"


def corrected_initial_age(
    age_value: float, date_value: float, request_time: float, response_time: float
) -> float:
    """RFC 9111 §4.2.3: max(apparent_age, age_value + response_delay)."""
    apparent_age = max(0.0, response_time - date_value)
    response_delay = response_time - request_time
    return max(apparent_age, age_value + response_delay)


def storable_reason(
    method: str,
    status: int,
    req_headers: Headers,
    meta: ResponseMeta,
    *,
    url: str = "",
    body_size: int | None = None,
    max_object_size: int | None = None,
    store_set_cookie: bool = True,
) -> str | None:
    """None when a shared cache may store this response (RFC 9111 §3), else why not."""
    cc = meta.cc
    if method == "POST":
        if not post_reusable_for_get(url, status, meta):
            return "POST without explicit freshness and Content-Location equal to its URI"
    elif method not in ("GET", "HEAD"):
        return f"method {method}"
    if status == 206:
        return "partial content (206) is not cached"
    if status == 304:
        return "304 only refreshes a stored response"
    if not 200 <= status < 600:
        return f"status {status}"
    rcc_raw = field_value(req_headers, "cache-control")
    rcc = parse_cache_control(rcc_raw) if rcc_raw else EMPTY_CC
    if rcc.no_store:
        return "request no-store"
    if cc.must_understand:
        # §5.2.2.3: store only statuses we understand, and then no-store is overridden.
        if status not in UNDERSTOOD_STATUSES:
            return f"must-understand: status {status} is not understood"
    elif cc.no_store:
        return "no-store"
    if cc.private:
        return "private"
    if field_value(req_headers, "authorization") is not None and not (
        cc.public or cc.s_maxage is not None or cc.must_revalidate
    ):
        return "Authorization without public, s-maxage or must-revalidate"
    if "*" in meta.vary:
        return "Vary: *"
    if meta.set_cookie and not store_set_cookie and "set-cookie" not in _stripped(cc):
        return "Set-Cookie (cache.store_set_cookie is off)"
    if not (meta.has_explicit_freshness() or cc.public or status in HEURISTIC_STATUSES):
        return f"status {status} without explicit freshness"
    size = body_size if body_size is not None else meta.content_length
    if max_object_size is not None and size is not None and size > max_object_size:
        return f"{size} bytes exceeds max_object_size {max_object_size}"
    return None


def _stripped(cc: CacheControl) -> frozenset[str]:
    return frozenset(cc.no_cache_fields) | frozenset(cc.private_fields)


def stored_headers(headers: Headers, cc: CacheControl) -> Headers:
    """The fields a shared cache keeps: no hop-by-hop fields, no Age (recomputed on use), and
    none named by a qualified ``private="…"`` or ``no-cache="…"`` (RFC 9111 §5.2.2.4, §5.2.2.7).
    """
    drop = _stripped(cc)
    return [
        (n, v)
        for n, v in strip_hop_by_hop(headers)
        if (ln := n.lower()) != "age" and ln not in drop
    ]


def merge_304_headers(stored: Headers, update: Headers) -> Headers:
    """Stored fields updated by a 304 (RFC 9111 §3.2, §4.3.4).

    Each field in the 304 replaces the stored ones of that name, except those describing the
    stored body's framing and encoding (Content-Length, Content-Encoding, Content-Range,
    Transfer-Encoding) and Age.
    """
    fresh = [(n, v) for n, v in strip_hop_by_hop(update) if n.lower() not in _NOT_REFRESHED]
    names = {n.lower() for n, _ in fresh}
    return [(n, v) for n, v in stored if n.lower() not in names] + fresh


# -- reuse -------------------------------------------------------------------------------------


def vary_key(names: tuple[str, ...], req_headers: Headers) -> tuple[tuple[str, str | None], ...]:
    """The secondary key: each varied field with the request's normalised value (None: absent)."""
    return tuple((n, normalize_vary_value(n, field_value(req_headers, n))) for n in names)


def post_reusable_for_get(url: str, status: int, meta: ResponseMeta) -> bool:
    """A POST response may answer a later GET/HEAD (RFC 9110 §9.3.3, RFC 9111 §4) when it has
    explicit freshness and a Content-Location that is the POST's own target URI."""
    if not meta.has_explicit_freshness() or not meta.content_location or not url:
        return False
    if status not in UNDERSTOOD_STATUSES:
        return False
    target = normalize_url(url)
    return normalize_url(urljoin(target, meta.content_location)) == target


def stale_on_error_allowed(
    forbid_stale: bool,
    stale_for: float,
    response_sie: int | None,
    request_sie: int | None,
    window: float = 0.0,
) -> bool:
    """May a stale response stand in for an origin that failed (RFC 9111 §4.2.4, RFC 5861 §4)?

    Only with a grant — ``stale-if-error`` in the response or the request, or the configured
    ``cache.serve_stale_on_error`` window — covering ``stale_for`` seconds of staleness, and
    never when must-revalidate, proxy-revalidate, s-maxage or no-cache forbid stale use.
    """
    if forbid_stale:
        return False
    for grant in (response_sie, request_sie):
        if grant is not None and stale_for <= grant:
            return True
    return window > 0.0 and stale_for <= window


# -- invalidation ------------------------------------------------------------------------------


def is_unsafe(method: str) -> bool:
    """Unsafe for the cache: anything but GET, HEAD, OPTIONS, TRACE (methods are case-sensitive)."""
    return method not in SAFE_METHODS


def invalidation_targets(
    method: str, url: str, status: int, resp_headers: Headers
) -> tuple[str, ...]:
    """Normalised URLs a response to ``method`` invalidates (RFC 9111 §4.4).

    A non-error (2xx/3xx) response to an unsafe method — including one whose safety is unknown,
    such as ``M-SEARCH`` or ``PURGE`` — invalidates the target URI, and the Location and
    Content-Location URIs when they are on the same origin (another origin's entries are not
    one site's to evict).
    """
    if not is_unsafe(method) or not 200 <= status < 400:
        return ()
    target = normalize_url(url)
    origin = split_url(target)[0]
    out = [target]
    for n, v in resp_headers:
        if n.lower() in ("location", "content-location") and v.strip():
            other = normalize_url(urljoin(target, v.strip()))
            if split_url(other)[0] == origin and other not in out:
                out.append(other)
    return tuple(out)


# -- conditional requests ----------------------------------------------------------------------


def etag_matches_weak(if_none_match: str, etag: str | None) -> bool:
    """If-None-Match against a stored ETag, weak comparison (RFC 9110 §13.1.2)."""
    if if_none_match.strip() == "*":
        return True
    if etag is None:
        return False
    mine = opaque_tag(etag)
    return any(opaque_tag(t) == mine for t in ETAG_RE.findall(if_none_match))


# -- ranges (RFC 9110 §14) ---------------------------------------------------------------------


class ByteRange(NamedTuple):
    """What to do with a Range header against a representation of ``length`` bytes.

    ``kind``: ``"full"`` (no usable Range: answer 200 with everything), ``"partial"`` (206 with
    bytes ``start``…``end`` inclusive) or ``"unsatisfiable"`` (416).
    """

    kind: str
    start: int = 0
    end: int = -1


FULL = ByteRange("full")


def parse_range(value: str | None, length: int) -> ByteRange:
    """Evaluate a ``Range`` header (RFC 9110 §14.2) for a GET of ``length`` bytes.

    One ``first-last`` / ``first-`` / ``-suffix`` range gives a 206 (``last`` past the end is
    clipped). A range starting at or past the end, or a zero suffix, is unsatisfiable (416).
    A Range that is invalid, in another unit, or asks for several ranges is answered with the
    full 200 — a server may always ignore Range, and one range is all this cache slices.
    """
    if not value:
        return FULL
    unit, eq, spec = value.partition("=")
    if not eq or unit.strip(" \t").lower() != "bytes":
        return FULL
    parts = [p.strip(" \t") for p in spec.split(",")]
    if len(parts) != 1 or not parts[0]:
        return FULL
    first, dash, last = parts[0].partition("-")
    if not dash:
        return FULL
    if not first:
        if not (last.isascii() and last.isdigit()):
            return FULL
        suffix = int(last)
        if suffix == 0 or length == 0:
            return ByteRange("unsatisfiable")
        return ByteRange("partial", max(0, length - suffix), length - 1)
    if not (first.isascii() and first.isdigit()) or (
        last and not (last.isascii() and last.isdigit())
    ):
        return FULL
    start = int(first)
    end = int(last) if last else length - 1
    if last and end < start:
        return FULL  # invalid range-spec: the whole Range is ignored (§14.1.1)
    if start >= length:
        return ByteRange("unsatisfiable")
    return ByteRange("partial", start, min(end, length - 1))


def if_range_matches(
    value: str, etag: str | None, last_modified: str | None, date_value: float | None
) -> bool:
    """``If-Range`` (RFC 9110 §13.1.5): True when the range may be served from this response.

    An entity-tag must match the stored one by strong comparison (a weak tag never does). A date
    must equal Last-Modified exactly, and Last-Modified must be strong: at least a second
    before the response's Date (§8.8.2.2). Anything else means "send the whole thing".
    """
    v = value.strip(" \t")
    if v.startswith(('"', "W/")):
        return (
            etag is not None
            and not v.startswith("W/")
            and not etag.startswith("W/")
            and v == etag.strip()
        )
    since = parse_http_date(v)
    if since is None or last_modified is None:
        return False
    lm = parse_http_date(last_modified)
    if lm is None or lm != since:
        return False
    return date_value is not None and date_value - lm >= 1.0


def partial_headers(headers: Headers, start: int, end: int, length: int) -> Headers:
    """Headers for a 206 of bytes ``start``–``end`` of a ``length``-byte representation."""
    out = [(n, v) for n, v in headers if n.lower() not in ("content-length", "content-range")]
    out.append(("Content-Range", f"bytes {start}-{end}/{length}"))
    return out


def unsatisfiable_headers(length: int) -> Headers:
    """Headers for a 416 (RFC 9110 §15.5.17): ``Content-Range: bytes */LENGTH``."""
    return [("Content-Range", f"bytes */{length}"), ("Content-Type", "text/plain; charset=utf-8")]
