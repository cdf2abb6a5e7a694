"""The shared HTTP cache core: RFC 9111 semantics over a byte-bounded in-memory LRU store.

Pure, synchronous and free of networking: the engine asks questions and acts on the answers.
Headers are ``list[tuple[str, str]]`` in wire order, names in their original case. Every time
argument is wall-clock seconds (``time.time()``); ``now=None`` means "ask the injected clock".

How the engine drives it::

    res = cache.lookup(method, url, req_headers)            # → LookupResult, reason for the trace
    if res.only_if_cached_fail:   answer 504
    elif res.usable:              # fresh hit, or stale that may be served (max-stale, s-w-r)
        if cache.not_modified(res.entry, req_headers): answer 304 with
            cache.not_modified_headers(res.entry)
        else: answer res.entry.status, cache.response_headers(res.entry), res.entry.body
        if res.serve_while_revalidate: revalidate in the background (res.conditional_headers),
            then cache.refresh(res.entry, h304, t0, t1, served=False) or cache.store(...)
    elif res.must_revalidate:     # stale or the client insists: forward with the validators
        send upstream with res.conditional_headers set (replacing the client's own)
        304                         → entry = cache.refresh(res.entry, h304, t0, t1)
        5xx / no answer and res.can_serve_stale_on_error → cache.serve_stale(res.entry)
        a full response             → cache.count_miss(); cache.store(...)
    else:                         # miss or bypass
        forward; then cache.store(method, url, req_headers, status, headers, body, t0, t1)
    for every unsafe request: cache.invalidate(method, url, status, resp_headers)
    Cache-Status header: cache_status(res, stored=..., fwd_status=...)

Public API:

- :func:`parse_cache_control` (memoised per raw value), :func:`parse_http_date`,
  :func:`normalize_url`, :func:`cache_status`.
- :class:`HttpCache` — ``lookup``, ``storable``, ``store``, ``refresh``, ``serve_stale``,
  ``response_headers``, ``not_modified``, ``not_modified_headers``, ``invalidate``, ``purge``,
  ``configure``, ``collapse_key``, ``count_miss``, ``stats``, ``entries``.
- :class:`MemoryStore` — the byte-bounded LRU (``bytes <= max_size`` after every call).
- :class:`CachedResponse`, :class:`LookupResult`, :class:`StoreResult`, :class:`CacheControl`.

Policy choices worth knowing (each is allowed by RFC 9111, and each is the cautious one):

- Keys are ``"GET|" + normalised URL``; a HEAD request may be served from the GET entry, and a
  HEAD response is stored under ``"HEAD|…"`` for HEAD requests only. 206 and 304 are never stored.
- Requests carrying ``Authorization`` bypass the lookup (their answer may be per user); their
  responses are stored only when marked public, s-maxage or must-revalidate (§3.5).
- Responses with ``Set-Cookie`` are not stored: replaying one client's cookie to others is the
  classic shared-cache leak. Qualified ``private="…"``/``no-cache="…"`` count as unqualified.
- A response that is stale on arrival and carries no validator is not stored (it could never be
  used). Vary ``*`` is never stored. Invalid ``max-age``/``Expires`` values mean "already stale".
- Client ``max-stale`` never overrides must-revalidate, proxy-revalidate, s-maxage or no-cache.
  The origin's own ``stale-while-revalidate``/``stale-if-error`` grants are honoured alongside
  s-maxage (the common CDN pattern) but not with must-revalidate, proxy-revalidate or no-cache.

Counting: ``lookup`` counts hits, misses, bypasses and stale responses it lets through;
``refresh`` counts revalidations, ``serve_stale`` stale responses; when a revalidation ends in a
full response the engine calls ``count_miss``. The hit ratio counts hits, stale served and
revalidations as served-from-cache, misses as not.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import mktime_tz, parsedate_tz
from functools import lru_cache
from typing import Any
from urllib.parse import urljoin

from workbench.engine.http.headers import strip_hop_by_hop
from workbench.engine.observe.records import Headers

__all__ = [
    "CACHE_NAME",
    "HEURISTIC_STATUSES",
    "CacheControl",
    "CacheKey",
    "CachedResponse",
    "HttpCache",
    "LookupResult",
    "MemoryStore",
    "StoreResult",
    "cache_status",
    "normalize_url",
    "parse_cache_control",
    "parse_http_date",
]

CacheKey = str
"""``"GET|https://example.test/path?q"``: method (GET or HEAD), then the normalised URL."""

CACHE_NAME = "workbench"
"""Our name in ``Cache-Status`` (RFC 9211)."""

HEURISTIC_STATUSES = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501})
"""Heuristically cacheable statuses (RFC 9110 §15.1), minus 206: we do not store ranges."""

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
HEURISTIC_FRACTION = 0.1
HEURISTIC_MAX = 86400.0
MAX_DELTA = 2**31
"""Delta-seconds cap (RFC 9111 §1.2.2); also "any staleness" for a bare ``max-stale``."""
MAX_VARIANTS = 16
"""Stored Vary variants per URL; beyond this the oldest one goes."""
ENTRY_OVERHEAD = 256
"""Bytes charged per entry on top of body and headers: the objects around them aren't free."""

# Excluded from a 304's header update (RFC 9111 §3.2): they describe the stored body's framing
# and encoding, which a 304 cannot change.
_NOT_REFRESHED = frozenset(
    {"content-length", "content-encoding", "content-range", "transfer-encoding", "age"}
)
_NOT_MODIFIED_FIELDS = frozenset(
    {"cache-control", "content-location", "date", "etag", "expires", "vary", "last-modified"}
)
_ETAG_RE = re.compile(r'(?:W/)?"[^"]*"')
_DIRECTIVE_RE = re.compile(r'([^\s,=]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*))?')


# -- parsing ---------------------------------------------------------------------------------


class CacheControl:
    """Parsed ``Cache-Control`` (request or response). Shared between callers: never mutate.

    Delta-seconds fields are ``None`` when absent; a malformed or missing argument reads as 0,
    which for ``max-age`` means "stale" (RFC 9111 §4.2.1). A bare ``max-stale`` is
    :data:`MAX_DELTA`. When a directive repeats, the first occurrence wins.
    """

    __slots__ = (
        "max_age",
        "s_maxage",
        "max_stale",
        "min_fresh",
        "stale_while_revalidate",
        "stale_if_error",
        "no_cache",
        "no_store",
        "private",
        "public",
        "must_revalidate",
        "proxy_revalidate",
        "must_understand",
        "only_if_cached",
        "immutable",
        "no_transform",
    )

    def __init__(self) -> None:
        self.max_age: int | None = None
        self.s_maxage: int | None = None
        self.max_stale: int | None = None
        self.min_fresh: int | None = None
        self.stale_while_revalidate: int | None = None
        self.stale_if_error: int | None = None
        self.no_cache = False
        self.no_store = False
        self.private = False
        self.public = False
        self.must_revalidate = False
        self.proxy_revalidate = False
        self.must_understand = False
        self.only_if_cached = False
        self.immutable = False
        self.no_transform = False

    def __repr__(self) -> str:
        set_ = {
            k: getattr(self, k) for k in self.__slots__ if getattr(self, k) not in (None, False)
        }
        return f"CacheControl({set_})"


_EMPTY_CC = CacheControl()

_FLAGS = {
    "no-cache": "no_cache",
    "no-store": "no_store",
    "private": "private",
    "public": "public",
    "must-revalidate": "must_revalidate",
    "proxy-revalidate": "proxy_revalidate",
    "must-understand": "must_understand",
    "only-if-cached": "only_if_cached",
    "immutable": "immutable",
    "no-transform": "no_transform",
}
_DELTAS = {
    "max-age": "max_age",
    "s-maxage": "s_maxage",
    "max-stale": "max_stale",
    "min-fresh": "min_fresh",
    "stale-while-revalidate": "stale_while_revalidate",
    "stale-if-error": "stale_if_error",
}


def _delta(arg: str | None) -> int:
    if arg is None:
        return 0
    if arg[:1] == '"':
        # Senders must use the token form, but RFC 9111 §5.2 asks recipients to take both.
        arg = arg[1:-1]
    if arg.isascii() and arg.isdigit():
        return min(int(arg), MAX_DELTA)
    return 0


@lru_cache(maxsize=2048)
def parse_cache_control(value: str) -> CacheControl:
    """Parse a (comma-joined) ``Cache-Control`` value; memoised, so a hit costs a dict lookup."""
    cc = CacheControl()
    for m in _DIRECTIVE_RE.finditer(value):
        name = m.group(1).lower()
        attr = _FLAGS.get(name)
        if attr is not None:
            setattr(cc, attr, True)
            continue
        attr = _DELTAS.get(name)
        if attr is not None and getattr(cc, attr) is None:
            arg = m.group(2)
            setattr(cc, attr, MAX_DELTA if arg is None and name == "max-stale" else _delta(arg))
    return cc


@lru_cache(maxsize=1024)
def parse_http_date(value: str) -> float | None:
    """An HTTP-date (IMF-fixdate, RFC 850 or asctime) as a timestamp; None when invalid."""
    try:
        t = parsedate_tz(value.strip())
        return None if t is None else float(mktime_tz(t))
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


@lru_cache(maxsize=4096)
def normalize_url(url: str) -> str:
    """Lower-case scheme and host, drop userinfo, default port and fragment; empty path → ``/``."""
    i = url.find("://")
    if i < 0:
        return url
    scheme = url[:i].lower()
    rest = url[i + 3 :]
    k = len(rest)
    for ch in "/?#":
        j = rest.find(ch)
        if 0 <= j < k:
            k = j
    authority, tail = rest[:k].lower(), rest[k:]
    if "@" in authority:
        authority = authority.rsplit("@", 1)[1]
    if (scheme == "http" and authority.endswith(":80")) or (
        scheme == "https" and authority.endswith(":443")
    ):
        authority = authority.rsplit(":", 1)[0]
    h = tail.find("#")
    if h >= 0:
        tail = tail[:h]
    if not tail.startswith("/"):
        tail = "/" + tail
    return f"{scheme}://{authority}{tail}"


def _split_url(url: str) -> tuple[str, str]:
    """(origin, path-and-query) of a normalised absolute URL."""
    i = url.find("://")
    if i < 0:
        return "", url
    j = url.find("/", i + 3)
    return (url, "/") if j < 0 else (url[:j], url[j:])


def _request_value(headers: Headers, lname: str) -> str | None:
    """All ``lname`` fields joined the way Vary matching compares them (None: absent)."""
    found: list[str] | None = None
    for n, v in headers:
        if n.lower() == lname:
            if found is None:
                found = [v.strip()]
            else:
                found.append(v.strip())
    return None if found is None else ", ".join(found)


def _opaque(tag: str) -> str:
    """The opaque part of an entity tag, for weak comparison (RFC 9110 §8.8.3.2)."""
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


# -- response metadata ------------------------------------------------------------------------


class _Meta:
    """What storing and freshness need from one response's header block, in one pass."""

    __slots__ = (
        "cc",
        "date",
        "expires",
        "age",
        "last_modified",
        "etag",
        "vary",
        "set_cookie",
        "content_length",
    )

    def __init__(self, headers: Headers) -> None:
        cc_raw: str | None = None
        vary: str | None = None
        self.date = self.expires = self.age = self.last_modified = self.etag = None
        self.content_length: int | None = None
        self.set_cookie = False
        for n, v in headers:
            ln = n.lower()
            if ln == "cache-control":
                cc_raw = v if cc_raw is None else f"{cc_raw}, {v}"
            elif ln == "vary":
                vary = v if vary is None else f"{vary}, {v}"
            elif ln == "date" and self.date is None:
                self.date = v
            elif ln == "expires" and self.expires is None:
                self.expires = v
            elif ln == "age" and self.age is None:
                self.age = v
            elif ln == "last-modified" and self.last_modified is None:
                self.last_modified = v
            elif ln == "etag" and self.etag is None:
                self.etag = v.strip()
            elif ln == "set-cookie":
                self.set_cookie = True
            elif ln == "content-length" and v.strip().isdigit():
                self.content_length = int(v)
        self.cc: CacheControl = parse_cache_control(cc_raw) if cc_raw else _EMPTY_CC
        self.vary: tuple[str, ...] = (
            tuple(sorted({t.strip().lower() for t in vary.split(",") if t.strip()})) if vary else ()
        )

    def freshness(self, status: int, date_value: float) -> tuple[float, str]:
        """(freshness lifetime, where it came from) for a shared cache (RFC 9111 §4.2.1)."""
        cc = self.cc
        if cc.s_maxage is not None:
            return float(cc.s_maxage), "s-maxage"
        if cc.max_age is not None:
            return float(cc.max_age), "max-age"
        if self.expires is not None:
            exp = parse_http_date(self.expires)
            # An invalid Expires (the classic "0") means "already expired" (§5.3).
            return (0.0 if exp is None else max(0.0, exp - date_value)), "Expires"
        if self.last_modified is not None and (status in HEURISTIC_STATUSES or cc.public):
            lm = parse_http_date(self.last_modified)
            if lm is not None:
                guess = HEURISTIC_FRACTION * max(0.0, date_value - lm)
                return min(HEURISTIC_MAX, guess), "heuristic"
        return 0.0, "none"

    def has_explicit_freshness(self) -> bool:
        cc = self.cc
        return cc.s_maxage is not None or cc.max_age is not None or self.expires is not None


# -- entries and results ----------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class CachedResponse:
    """One stored response. Identity-hashed: the store's LRU keys on the object itself."""

    key: CacheKey
    url: str
    """Normalised absolute URL."""
    path: str
    """Path and query, for purging by path prefix."""
    status: int
    headers: Headers
    """Stored fields: hop-by-hop fields and Age removed (Age is recomputed on every use)."""
    body: bytes
    request_time: float
    response_time: float
    date_value: float
    age_value: float
    corrected_initial_age: float
    """RFC 9111 §4.2.3: max(apparent_age, age_value + response_delay)."""
    lifetime: float
    source: str
    """Where the lifetime came from: s-maxage, max-age, Expires, heuristic or none."""
    vary: tuple[tuple[str, str | None], ...]
    """Secondary key: (lower-case field name, the request's value or None when absent)."""
    etag: str | None
    last_modified: str | None
    last_modified_value: float | None
    no_cache: bool
    forbid_stale: bool
    """must-revalidate, proxy-revalidate or no-cache: never served stale."""
    strict: bool
    """forbid_stale or s-maxage: a client's max-stale is not honoured."""
    swr: int | None
    sie: int | None
    conditional: Headers
    """If-None-Match / If-Modified-Since to send when revalidating."""
    size: int
    stored_at: float
    hits: int = 0
    heuristic: bool = field(init=False)
    client_headers: dict[Any, tuple[Headers, Headers]] = field(init=False, default_factory=dict)
    """Memo for the engine: per proxy, (stored headers, the client-ready copy made from them)."""

    def __post_init__(self) -> None:
        self.heuristic = self.source == "heuristic"

    def age(self, now: float) -> float:
        """current_age (RFC 9111 §4.2.3): corrected_initial_age + resident_time."""
        age = self.corrected_initial_age + (now - self.response_time)
        return age if age > 0.0 else 0.0


class LookupResult:
    """What :meth:`HttpCache.lookup` decided, and why (``reason`` goes into the trace).

    ``status`` is one of hit, miss, stale, bypass. A must-revalidate lookup reports ``stale``;
    the engine's final word for the record is ``revalidated`` (304), ``stale`` (served on error)
    or ``miss`` (replaced). ``fwd`` is the RFC 9211 forward reason (None on a hit).
    """

    __slots__ = (
        "status",
        "reason",
        "entry",
        "key",
        "fwd",
        "ttl",
        "usable",
        "must_revalidate",
        "conditional_headers",
        "can_serve_stale_on_error",
        "serve_while_revalidate",
        "only_if_cached_fail",
    )

    def __init__(
        self,
        status: str,
        reason: str,
        entry: CachedResponse | None = None,
        key: CacheKey | None = None,
        fwd: str | None = None,
        ttl: float | None = None,
        usable: bool = False,
        must_revalidate: bool = False,
        conditional_headers: Headers | None = None,
        can_serve_stale_on_error: bool = False,
        serve_while_revalidate: bool = False,
        only_if_cached_fail: bool = False,
    ) -> None:
        self.status = status
        self.reason = reason
        self.entry = entry
        self.key = key
        self.fwd = fwd
        self.ttl = ttl
        """Seconds of freshness left (negative: stale by that much); None without an entry."""
        self.usable = usable
        """The entry may be sent to the client now (fresh, or stale by permission)."""
        self.must_revalidate = must_revalidate
        self.conditional_headers: Headers = conditional_headers or []
        self.can_serve_stale_on_error = can_serve_stale_on_error
        self.serve_while_revalidate = serve_while_revalidate
        self.only_if_cached_fail = only_if_cached_fail

    def __repr__(self) -> str:
        return f"LookupResult({self.status!r}, {self.reason!r})"


class StoreResult:
    """Outcome of :meth:`HttpCache.store`; truthy when stored. ``reason`` goes into the trace."""

    __slots__ = ("stored", "reason", "entry")

    def __init__(self, stored: bool, reason: str, entry: CachedResponse | None = None) -> None:
        self.stored = stored
        self.reason = reason
        self.entry = entry

    def __bool__(self) -> bool:
        return self.stored

    def __repr__(self) -> str:
        return f"StoreResult({self.stored}, {self.reason!r})"


def cache_status(
    result: LookupResult,
    stored: bool = False,
    fwd_status: int | None = None,
    *,
    collapsed: bool = False,
    detail: str | None = None,
    name: str = CACHE_NAME,
) -> str:
    """A ``Cache-Status`` member (RFC 9211) for what happened to one request.

    ``workbench; hit; ttl=42`` · ``workbench; fwd=uri-miss; stored`` ·
    ``workbench; fwd=stale; fwd-status=304`` · ``workbench; fwd=bypass``.
    """
    parts = [name]
    if result.usable and fwd_status is None:
        parts.append("hit")
        if result.ttl is not None:
            parts.append(f"ttl={int(result.ttl)}")
    else:
        parts.append(f"fwd={result.fwd or 'miss'}")
        if fwd_status is not None:
            parts.append(f"fwd-status={fwd_status}")
    if stored:
        parts.append("stored")
    if collapsed:
        parts.append("collapsed")
    if detail:
        parts.append(f"detail={detail}")
    return "; ".join(parts)


# -- the store --------------------------------------------------------------------------------


class MemoryStore:
    """In-memory LRU of :class:`CachedResponse`, bounded in bytes.

    ``_index`` maps a primary key to its Vary variants (newest first); ``_lru`` orders every
    stored response from least to most recently used. After every call ``bytes <= max_size``.
    """

    __slots__ = ("max_size", "max_object_size", "bytes", "evictions", "_index", "_lru")

    def __init__(self, max_size: int, max_object_size: int) -> None:
        self.max_size = max_size
        self.max_object_size = max_object_size
        self.bytes = 0
        self.evictions = 0
        self._index: dict[CacheKey, list[CachedResponse]] = {}
        self._lru: OrderedDict[CachedResponse, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._lru)

    def __iter__(self) -> Iterator[CachedResponse]:
        """Most recently used first."""
        return reversed(self._lru)

    def variants(self, key: CacheKey) -> list[CachedResponse] | None:
        return self._index.get(key)

    def touch(self, entry: CachedResponse) -> None:
        if entry in self._lru:
            self._lru.move_to_end(entry)

    def fits(self, size: int) -> bool:
        return size <= self.max_object_size and size <= self.max_size

    def put(self, entry: CachedResponse) -> bool:
        """Store ``entry``, replacing the variant it supersedes; evict until within bounds.

        A stored variant goes when it has the same secondary key, or when its Vary names differ
        (the resource changed what it varies on, so the old variants describe an older state).
        Too large an entry is refused, and still removes what it supersedes: that is outdated.
        """
        names = tuple(n for n, _ in entry.vary)
        old = self._index.get(entry.key)
        if old:
            for v in [
                v for v in old if v.vary == entry.vary or tuple(n for n, _ in v.vary) != names
            ]:
                self.remove(v)
        if not self.fits(entry.size):
            return False
        variants = self._index.setdefault(entry.key, [])
        variants.insert(0, entry)
        self._lru[entry] = None
        self.bytes += entry.size
        if len(variants) > MAX_VARIANTS:
            self.remove(variants[-1])
            self.evictions += 1
        self._shrink()
        return True

    def _shrink(self) -> None:
        while self.bytes > self.max_size and self._lru:
            victim = next(iter(self._lru))
            self.remove(victim)
            self.evictions += 1

    def remove(self, entry: CachedResponse) -> bool:
        if entry not in self._lru:
            return False
        del self._lru[entry]
        self.bytes -= entry.size
        variants = self._index[entry.key]
        variants.remove(entry)
        if not variants:
            del self._index[entry.key]
        return True

    def remove_key(self, key: CacheKey) -> int:
        variants = self._index.get(key)
        if not variants:
            return 0
        n = 0
        for v in list(variants):
            n += self.remove(v)
        return n

    def purge(self, prefix: str | None = None) -> int:
        """Drop everything, or entries whose path or full URL starts with ``prefix``."""
        if prefix is None:
            n = len(self._lru)
            self._index.clear()
            self._lru.clear()
            self.bytes = 0
            return n
        if prefix.startswith("/"):
            victims = [e for e in self._lru if e.path.startswith(prefix)]
        else:
            norm = normalize_url(prefix) if "://" in prefix else prefix
            # normalize_url adds "/" to a bare origin; "http://h" should still match "http://h:8".
            victims = [e for e in self._lru if e.url.startswith((prefix, norm))]
        for e in victims:
            self.remove(e)
        return len(victims)

    def resize(self, max_size: int, max_object_size: int) -> None:
        self.max_size = max_size
        self.max_object_size = max_object_size
        for e in [e for e in self._lru if e.size > max_object_size]:
            self.remove(e)
        self._shrink()


# -- statistics -------------------------------------------------------------------------------


class _RatioRing:
    """Per-second (served from cache, total) counts in a fixed ring; O(1) to update.

    The current second counts into two plain integers and is written to its slot only when the
    second changes, so the hot path does no list indexing.
    """

    __slots__ = ("_sec", "_hit", "_all", "_cur", "_cur_hit", "_cur_all")
    SIZE = 64  # ≥ 60 s window + the current second; a power of two so the index is a mask

    def __init__(self) -> None:
        self._sec = [-1] * self.SIZE
        self._hit = [0] * self.SIZE
        self._all = [0] * self.SIZE
        self._cur = -1
        self._cur_hit = 0
        self._cur_all = 0

    def add(self, now: float, hit: bool) -> None:
        s = int(now)
        if s != self._cur:
            self._flush(s)
        self._cur_all += 1
        if hit:
            self._cur_hit += 1

    def _flush(self, s: int) -> None:
        if self._cur >= 0:
            i = self._cur & (self.SIZE - 1)
            self._sec[i] = self._cur
            self._hit[i] = self._cur_hit
            self._all[i] = self._cur_all
        self._cur = s
        self._cur_hit = self._cur_all = 0

    def ratio(self, now: float, seconds: int) -> float | None:
        s = int(now)
        hits = total = 0
        if s - seconds < self._cur <= s:
            hits, total = self._cur_hit, self._cur_all
        for sec in range(s - seconds + 1, s + 1):
            i = sec & (self.SIZE - 1)
            if self._sec[i] == sec and sec != self._cur:
                hits += self._hit[i]
                total += self._all[i]
        return hits / total if total else None


# -- the cache --------------------------------------------------------------------------------


class HttpCache:
    """A shared (proxy) cache: storage decisions, freshness, validation and invalidation."""

    def __init__(
        self, max_size: int, max_object_size: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.memory = MemoryStore(max_size, max_object_size)
        self._clock = clock
        self._ring = _RatioRing()
        self.hits = 0
        self.misses = 0
        self.stale = 0
        self.revalidated = 0
        self.bypass = 0
        self.uncacheable = 0
        self.stores = 0
        self.invalidations = 0
        self.bytes_served = 0

    # -- keys ----------------------------------------------------------------------------------
    @staticmethod
    def key(method: str, url: str) -> CacheKey:
        """Primary key: HEAD keeps its own key; everything else is looked up as GET."""
        return f"{'HEAD' if method == 'HEAD' else 'GET'}|{normalize_url(url)}"

    def collapse_key(self, method: str, url: str, req_headers: Headers) -> str | None:
        """Key under which concurrent misses may share one upstream fetch (None: don't).

        Includes the request's values for the fields the stored variants vary on, so requests
        that would select different variants are not collapsed onto each other.
        """
        if method not in ("GET", "HEAD") or _request_value(req_headers, "authorization"):
            return None
        key = self.key(method, url)
        variants = self.memory.variants(key)
        if variants and variants[0].vary:
            vals = "|".join(f"{n}={_request_value(req_headers, n)}" for n, _ in variants[0].vary)
            return f"{key}|{vals}"
        return key

    # -- lookup --------------------------------------------------------------------------------
    def lookup(
        self, method: str, url: str, req_headers: Headers, now: float | None = None
    ) -> LookupResult:
        """Find a stored response for this request and decide how it may be used."""
        if now is None:
            now = self._clock()
        if method != "GET" and method != "HEAD":
            self.bypass += 1
            return LookupResult("bypass", f"bypass: method {method}", fwd="bypass")
        cc_raw: str | None = None
        pragma_no_cache = False
        for name, value in req_headers:
            ln = name.lower()
            if ln == "cache-control":
                cc_raw = value if cc_raw is None else f"{cc_raw}, {value}"
            elif ln == "authorization":
                self.bypass += 1
                return LookupResult("bypass", "bypass: Authorization", fwd="bypass")
            elif ln == "pragma" and "no-cache" in value.lower():
                pragma_no_cache = True
        rcc = parse_cache_control(cc_raw) if cc_raw else _EMPTY_CC
        nurl = normalize_url(url)
        key = "GET|" + nurl
        variants = self.memory._index.get(key)
        if variants is None and method == "HEAD":
            key = "HEAD|" + nurl
            variants = self.memory._index.get(key)
        if variants is None:
            return self._miss(key, rcc, now, "miss: no entry", "uri-miss")
        entry = None
        for v in variants:
            if not v.vary or all(_request_value(req_headers, n) == val for n, val in v.vary):
                entry = v
                break
        if entry is None:
            names = ", ".join(n for n, _ in variants[0].vary)
            return self._miss(
                key, rcc, now, f"miss: no stored variant for Vary: {names}", "vary-miss"
            )

        age = entry.corrected_initial_age + (now - entry.response_time)
        if age < 0.0:
            age = 0.0
        remaining = entry.lifetime - age
        fwd = "stale"
        why: str
        if entry.no_cache:
            why = "response says no-cache"
        elif rcc.no_cache or (pragma_no_cache and cc_raw is None):
            why, fwd = "client sent no-cache", "request"
        elif rcc.max_age is not None and age > rcc.max_age:
            why = f"age {age:.0f}s exceeds client max-age={rcc.max_age}"
            if remaining > 0:
                fwd = "request"
        elif remaining > 0.0:
            if rcc.min_fresh is None or remaining >= rcc.min_fresh:
                return self._hit(entry, key, method, remaining, now)
            why, fwd = f"ttl {remaining:.0f}s is under client min-fresh={rcc.min_fresh}", "request"
        else:
            stale_for = -remaining
            if rcc.max_stale is not None and not entry.strict and stale_for <= rcc.max_stale:
                return self._serve_stale_now(
                    entry,
                    key,
                    method,
                    remaining,
                    now,
                    f"stale: {stale_for:.0f}s stale, within client max-stale",
                    False,
                )
            if entry.swr is not None and not entry.forbid_stale and stale_for <= entry.swr:
                return self._serve_stale_now(
                    entry,
                    key,
                    method,
                    remaining,
                    now,
                    f"stale: {_expired(entry, stale_for)}, served while revalidating "
                    f"(stale-while-revalidate={entry.swr})",
                    True,
                )
            why = _expired(entry, stale_for)

        if rcc.only_if_cached:
            self._count_miss(now)
            return LookupResult(
                "miss",
                f"miss: only-if-cached, but {why} (504)",
                entry,
                key,
                "miss",
                ttl=remaining,
                only_if_cached_fail=True,
            )
        stale_for = -remaining if remaining < 0.0 else 0.0
        if entry.forbid_stale:
            on_error = False
        elif remaining <= 0.0:
            window = max(entry.sie or 0, rcc.stale_if_error or 0)
            on_error = (entry.sie is not None or rcc.stale_if_error is not None) and (
                stale_for <= window
            )
        else:
            # Fresh, but the client asked for more: only the client itself can waive that.
            on_error = rcc.stale_if_error is not None
        return LookupResult(
            "stale",
            f"stale: {why}, revalidating",
            entry,
            key,
            fwd,
            ttl=remaining,
            must_revalidate=True,
            conditional_headers=list(entry.conditional),
            can_serve_stale_on_error=on_error,
        )

    def _hit(
        self, entry: CachedResponse, key: CacheKey, method: str, remaining: float, now: float
    ) -> LookupResult:
        entry.hits += 1
        self.memory._lru.move_to_end(entry)
        self.hits += 1
        if method == "GET":
            self.bytes_served += len(entry.body)
        self._ring.add(now, True)
        if entry.heuristic:
            reason = f"hit: heuristic freshness (10% of Last-Modified age), ttl {int(remaining)}s"
        else:
            reason = f"hit: fresh, ttl {int(remaining)}s"
        return LookupResult("hit", reason, entry, key, None, remaining, True)

    def _serve_stale_now(
        self,
        entry: CachedResponse,
        key: CacheKey,
        method: str,
        remaining: float,
        now: float,
        reason: str,
        revalidate: bool,
    ) -> LookupResult:
        entry.hits += 1
        self.memory.touch(entry)
        self.stale += 1
        if method == "GET":
            self.bytes_served += len(entry.body)
        self._ring.add(now, True)
        return LookupResult(
            "stale",
            reason,
            entry,
            key,
            "stale",
            remaining,
            True,
            conditional_headers=list(entry.conditional) if revalidate else None,
            serve_while_revalidate=revalidate,
        )

    def _miss(
        self, key: CacheKey, rcc: CacheControl, now: float, reason: str, fwd: str
    ) -> LookupResult:
        self._count_miss(now)
        if rcc.only_if_cached:
            return LookupResult(
                "miss", f"{reason}; only-if-cached (504)", None, key, fwd, only_if_cached_fail=True
            )
        return LookupResult("miss", reason, None, key, fwd)

    def _count_miss(self, now: float) -> None:
        self.misses += 1
        self._ring.add(now, False)

    def count_miss(self, now: float | None = None) -> None:
        """Count a revalidation that ended in a full response as a miss."""
        self._count_miss(self._clock() if now is None else now)

    # -- storing -------------------------------------------------------------------------------
    def storable(
        self,
        method: str,
        url: str,
        req_headers: Headers,
        status: int,
        resp_headers: Headers,
        body_size: int | None = None,
    ) -> tuple[bool, str]:
        """May a shared cache store this response (RFC 9111 §3)? And the reason, for the trace.

        ``body_size`` defaults to the response's Content-Length, if any; pass it when known.
        """
        meta = _Meta(resp_headers)
        ok, reason, _, _ = self._check(method, req_headers, status, meta, body_size, None)
        return ok, reason

    def _check(
        self,
        method: str,
        req_headers: Headers,
        status: int,
        meta: _Meta,
        body_size: int | None,
        date_value: float | None,
    ) -> tuple[bool, str, float, str]:
        cc = meta.cc

        def no(why: str) -> tuple[bool, str, float, str]:
            return False, f"uncacheable: {why}", 0.0, "none"

        if method not in ("GET", "HEAD"):
            return no(f"method {method}")
        if status == 206:
            return no("partial content (206) is not cached")
        if status == 304:
            return no("304 only refreshes a stored response")
        if not 200 <= status < 600:
            return no(f"status {status}")
        rcc_raw = _request_value(req_headers, "cache-control")
        rcc = parse_cache_control(rcc_raw) if rcc_raw else _EMPTY_CC
        if rcc.no_store:
            return no("request no-store")
        # must-understand overrides no-store for statuses whose caching rules we implement.
        if cc.no_store and not (cc.must_understand and status in HEURISTIC_STATUSES):
            return no("no-store")
        if cc.private:
            return no("private")
        if _request_value(req_headers, "authorization") is not None and not (
            cc.public or cc.s_maxage is not None or cc.must_revalidate
        ):
            return no("Authorization without public, s-maxage or must-revalidate")
        if "*" in meta.vary:
            return no("Vary: *")
        if meta.set_cookie:
            return no("Set-Cookie (would be replayed to other clients)")
        if not (meta.has_explicit_freshness() or cc.public or status in HEURISTIC_STATUSES):
            return no(f"status {status} without explicit freshness")
        size = body_size if body_size is not None else meta.content_length
        if size is not None and size > self.memory.max_object_size:
            return no(f"{size} bytes exceeds max_object_size {self.memory.max_object_size}")
        if date_value is None:
            parsed = parse_http_date(meta.date) if meta.date else None
            date_value = parsed if parsed is not None else self._clock()
        lifetime, source = meta.freshness(status, date_value)
        has_validator = meta.etag is not None or meta.last_modified is not None
        if not has_validator and (lifetime <= 0.0 or cc.no_cache):
            if cc.stale_while_revalidate is None and cc.stale_if_error is None:
                return no("stale on arrival and no validator to revalidate with")
        return True, f"storable ({source})", lifetime, source

    def store(
        self,
        method: str,
        url: str,
        req_headers: Headers,
        status: int,
        resp_headers: Headers,
        body: bytes,
        request_time: float,
        response_time: float,
    ) -> StoreResult:
        """Store a response from upstream if policy allows; truthy when stored."""
        entry, reason = self._build(
            method, url, req_headers, status, resp_headers, body, request_time, response_time
        )
        if entry is None:
            self.uncacheable += 1
            return StoreResult(False, reason)
        if not self.memory.put(entry):
            self.uncacheable += 1
            return StoreResult(False, f"uncacheable: {entry.size} bytes do not fit the cache")
        self.stores += 1
        return StoreResult(True, f"stored, ttl {entry.lifetime:.0f}s ({entry.source})", entry)

    def _build(
        self,
        method: str,
        url: str,
        req_headers: Headers,
        status: int,
        resp_headers: Headers,
        body: bytes,
        request_time: float,
        response_time: float,
        hits: int = 0,
        vary: tuple[tuple[str, str | None], ...] | None = None,
        check: bool = True,
    ) -> tuple[CachedResponse | None, str]:
        meta = _Meta(resp_headers)
        parsed_date = parse_http_date(meta.date) if meta.date else None
        # No Date: the receipt time stands in for it (RFC 9110 §6.6.1).
        date_value = parsed_date if parsed_date is not None else response_time
        if check:
            ok, reason, lifetime, source = self._check(
                method, req_headers, status, meta, len(body), date_value
            )
            if not ok:
                return None, reason
        else:
            reason = "not stored"
            lifetime, source = meta.freshness(status, date_value)
        cc = meta.cc
        age_value = float(_delta(meta.age)) if meta.age is not None else 0.0
        apparent_age = max(0.0, response_time - date_value)
        response_delay = response_time - request_time
        corrected_initial_age = max(apparent_age, age_value + response_delay)
        headers = [(n, v) for n, v in strip_hop_by_hop(resp_headers) if n.lower() != "age"]
        if vary is None:
            vary = tuple((n, _request_value(req_headers, n)) for n in meta.vary)
        conditional: Headers = []
        if meta.etag is not None:
            conditional.append(("If-None-Match", meta.etag))
        if meta.last_modified is not None:
            conditional.append(("If-Modified-Since", meta.last_modified))
        nurl = normalize_url(url)
        size = ENTRY_OVERHEAD + len(body) + len(nurl)
        for n, v in headers:
            size += len(n) + len(v) + 4
        forbid_stale = cc.must_revalidate or cc.proxy_revalidate or cc.no_cache
        entry = CachedResponse(
            key=self.key(method, nurl),
            url=nurl,
            path=_split_url(nurl)[1],
            status=status,
            headers=headers,
            body=body,
            request_time=request_time,
            response_time=response_time,
            date_value=date_value,
            age_value=age_value,
            corrected_initial_age=corrected_initial_age,
            lifetime=lifetime,
            source=source,
            vary=vary,
            etag=meta.etag,
            last_modified=meta.last_modified,
            last_modified_value=(
                parse_http_date(meta.last_modified) if meta.last_modified else None
            ),
            no_cache=cc.no_cache,
            forbid_stale=forbid_stale,
            strict=forbid_stale or cc.s_maxage is not None,
            swr=cc.stale_while_revalidate,
            sie=cc.stale_if_error,
            conditional=conditional,
            size=size,
            stored_at=response_time,
            hits=hits,
        )
        return entry, reason

    def refresh(
        self,
        entry: CachedResponse,
        resp_304_headers: Headers,
        request_time: float,
        response_time: float,
        served: bool = True,
    ) -> CachedResponse:
        """Apply a 304 to ``entry`` (RFC 9111 §4.3.4) and return the updated response to serve.

        Fields in the 304 replace the stored ones of the same name, except the body's framing
        and encoding. Freshness and age restart from this exchange. If the merged response is no
        longer storable (the 304 said no-store, say) it leaves the store but is still returned:
        the origin just confirmed it for this request. ``served=False`` for a background
        (stale-while-revalidate) refresh, which sends nothing to a client.
        """
        update = [
            (n, v) for n, v in strip_hop_by_hop(resp_304_headers) if n.lower() not in _NOT_REFRESHED
        ]
        names = {n.lower() for n, _ in update}
        merged = [(n, v) for n, v in entry.headers if n.lower() not in names] + update
        method = "HEAD" if entry.key.startswith("HEAD|") else "GET"
        new, _ = self._build(
            method,
            entry.url,
            [],
            entry.status,
            merged,
            entry.body,
            request_time,
            response_time,
            hits=entry.hits + (1 if served else 0),
            vary=entry.vary,
        )
        self.revalidated += 1
        if served:
            if method == "GET":
                self.bytes_served += len(entry.body)
            self._ring.add(response_time, True)
        self.memory.remove(entry)
        if new is not None:
            self.memory.put(new)
            return new
        # No longer storable, but the origin just confirmed it for this one response.
        new, _ = self._build(
            method,
            entry.url,
            [],
            entry.status,
            merged,
            entry.body,
            request_time,
            response_time,
            hits=entry.hits,
            vary=entry.vary,
            check=False,
        )
        assert new is not None
        return new

    def serve_stale(self, entry: CachedResponse, now: float | None = None) -> Headers:
        """Count a stale response served because upstream failed; returns its headers."""
        if now is None:
            now = self._clock()
        entry.hits += 1
        self.memory.touch(entry)
        self.stale += 1
        self.bytes_served += len(entry.body)
        self._ring.add(now, True)
        return self.response_headers(entry, now)

    # -- answering -----------------------------------------------------------------------------
    def response_headers(self, entry: CachedResponse, now: float | None = None) -> Headers:
        """The stored fields plus a fresh ``Age`` (the caller adds ``Cache-Status``)."""
        if now is None:
            now = self._clock()
        age = entry.corrected_initial_age + (now - entry.response_time)
        headers = entry.headers.copy()
        headers.append(("Age", str(int(age)) if age > 0.0 else "0"))
        return headers

    def not_modified_headers(self, entry: CachedResponse, now: float | None = None) -> Headers:
        """Fields for a 304 answered from ``entry`` (RFC 9110 §15.4.5), plus ``Age``."""
        headers = [(n, v) for n, v in entry.headers if n.lower() in _NOT_MODIFIED_FIELDS]
        age = entry.age(self._clock() if now is None else now)
        headers.append(("Age", str(int(age))))
        return headers

    def not_modified(self, entry: CachedResponse, req_headers: Headers) -> bool:
        """True when the client's own conditional GET/HEAD is satisfied by ``entry`` (→ 304).

        If-None-Match (weak comparison) takes precedence; otherwise If-Modified-Since against
        Last-Modified, or Date when there is none (RFC 9111 §4.3.2).
        """
        if not 200 <= entry.status < 300:
            return False
        inm: str | None = None
        ims: str | None = None
        for n, v in req_headers:
            ln = n.lower()
            if ln == "if-none-match":
                inm = v if inm is None else f"{inm}, {v}"
            elif ln == "if-modified-since":
                ims = v
        if inm is not None:
            if inm.strip() == "*":
                return True
            if entry.etag is None:
                return False
            mine = _opaque(entry.etag)
            return any(_opaque(t) == mine for t in _ETAG_RE.findall(inm))
        if ims is not None:
            since = parse_http_date(ims)
            if since is None:
                return False
            modified = entry.last_modified_value
            if modified is None:
                modified = entry.date_value
            return modified <= since
        return False

    # -- invalidation and purging --------------------------------------------------------------
    def invalidate(self, method: str, url: str, status: int, resp_headers: Headers) -> int:
        """After an unsafe request that succeeded, drop what it may have changed (§4.4).

        The target URI always; Location and Content-Location only on the same origin, so one
        site cannot evict another's entries. Returns how many stored responses were dropped.
        """
        if method in SAFE_METHODS or not 200 <= status < 400:
            return 0
        target = normalize_url(url)
        origin = _split_url(target)[0]
        urls = {target}
        for n, v in resp_headers:
            if n.lower() in ("location", "content-location") and v.strip():
                other = normalize_url(urljoin(target, v.strip()))
                if _split_url(other)[0] == origin:
                    urls.add(other)
        n = 0
        for u in urls:
            n += self.memory.remove_key("GET|" + u) + self.memory.remove_key("HEAD|" + u)
        self.invalidations += n
        return n

    def purge(self, prefix: str | None = None) -> int:
        """Drop all entries, or those whose path (``/static``) or URL (``http://h/x``) matches."""
        return self.memory.purge(prefix)

    def configure(self, max_size: int, max_object_size: int) -> None:
        """Apply new size limits, evicting at once if the cache shrank."""
        self.memory.resize(max_size, max_object_size)

    # -- reading -------------------------------------------------------------------------------
    def stats(self, now: float | None = None) -> dict[str, Any]:
        """Counters, sizes and hit ratios (None when no cacheable request in the window)."""
        if now is None:
            now = self._clock()
        served = self.hits + self.stale + self.revalidated
        total = served + self.misses
        return {
            "hits": self.hits,
            "misses": self.misses,
            "stale": self.stale,
            "revalidated": self.revalidated,
            "bypass": self.bypass,
            "uncacheable": self.uncacheable,
            "stores": self.stores,
            "evictions": self.memory.evictions,
            "invalidations": self.invalidations,
            "bytes_served": self.bytes_served,
            "entries": len(self.memory),
            "bytes": self.memory.bytes,
            "max_size": self.memory.max_size,
            "max_object_size": self.memory.max_object_size,
            "hit_ratio_10s": self._ring.ratio(now, 10),
            "hit_ratio_60s": self._ring.ratio(now, 60),
            "hit_ratio": served / total if total else None,
        }

    def entries(self, limit: int = 200, now: float | None = None) -> list[dict[str, Any]]:
        """The most recently used entries, for the UI's cache table."""
        if now is None:
            now = self._clock()
        out: list[dict[str, Any]] = []
        for e in self.memory:
            if len(out) >= limit:
                break
            age = e.age(now)
            out.append(
                {
                    "key": e.key,
                    "url": e.url,
                    "status": e.status,
                    "size": e.size,
                    "age": int(age),
                    "ttl": int(e.lifetime - age),
                    "hits": e.hits,
                    "source": e.source,
                    "vary": {n: v for n, v in e.vary},
                }
            )
        return out


def _expired(entry: CachedResponse, stale_for: float) -> str:
    if entry.source == "none":
        return "no freshness information"
    label = "heuristic freshness" if entry.heuristic else entry.source
    return f"{label} expired {stale_for:.0f}s ago"
