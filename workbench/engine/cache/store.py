"""The byte-bounded in-memory LRU of stored responses, and the stored response itself."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from workbench.engine.cache.parse import normalize_url
from workbench.engine.observe.records import Headers

__all__ = ["ENTRY_OVERHEAD", "MAX_VARIANTS", "CacheKey", "CachedResponse", "MemoryStore"]

CacheKey = str
"""``"GET|https://example.test/path?q"``: method (GET or HEAD), then the normalised URL."""

MAX_VARIANTS = 16
"""Stored Vary variants per URL; beyond this the oldest one goes."""
ENTRY_OVERHEAD = 256
"""Bytes charged per entry on top of body and headers: the objects around them aren't free."""


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
    """Secondary key: (lower-case field name, the request's normalised value or None)."""
    etag: str | None
    last_modified: str | None
    last_modified_value: float | None
    no_cache: bool
    forbid_stale: bool
    """must-revalidate, proxy-revalidate, s-maxage or no-cache: never served stale."""
    swr: int | None
    sie: int | None
    conditional: Headers
    """If-None-Match / If-Modified-Since to send when revalidating."""
    size: int
    stored_at: float
    hits: int = 0
    set_cookie: bool = False
    """The stored fields include Set-Cookie (the Cache view marks such entries)."""
    targeted: str | None = None
    """The targeted field (RFC 9213) whose directives decided this entry, if any."""
    heuristic: bool = field(init=False)
    hit_reason: tuple[float, float, str] = field(init=False, default=(0.0, 0.0, ""))
    """The trace reason of a fresh hit for one whole second of ttl left (made once per second)."""
    client_headers: dict[Any, Any] = field(init=False, default_factory=dict)
    """Memo for the engine: per proxy, the client-ready fields made from the stored headers."""

    def __post_init__(self) -> None:
        self.heuristic = self.source == "heuristic"

    @property
    def names(self) -> tuple[str, ...]:
        """The field names this entry varies on."""
        return tuple(n for n, _ in self.vary)

    def age(self, now: float) -> float:
        """current_age (RFC 9111 §4.2.3): corrected_initial_age + resident_time."""
        age = self.corrected_initial_age + (now - self.response_time)
        return age if age > 0.0 else 0.0


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
