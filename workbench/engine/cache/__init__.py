"""The shared HTTP cache (RFC 9111, RFC 9213 targeted fields, RFC 9211 Cache-Status).

- :mod:`.parse` — Cache-Control, HTTP-dates, Age, URLs, Vary'd values.
- :mod:`.policy` — pure decisions: storing, freshness, reuse, invalidation, stale use, ranges.
- :mod:`.store` — the stored response and the byte-bounded LRU.
- :mod:`.status` — lookup/store results, Cache-Status, the hit-ratio ring, the UI's listing.
- :mod:`.core` — :class:`HttpCache`, which the engine drives.
"""

from workbench.engine.cache.core import HttpCache, LookupResult, StoreResult
from workbench.engine.cache.parse import (
    MAX_DELTA,
    CacheControl,
    normalize_url,
    normalize_vary_value,
    parse_age,
    parse_cache_control,
    parse_http_date,
    parse_targeted,
)
from workbench.engine.cache.policy import (
    HEURISTIC_STATUSES,
    SAFE_METHODS,
    ByteRange,
    if_range_matches,
    invalidation_targets,
    is_unsafe,
    parse_range,
    partial_headers,
    select_cache_control,
    stale_on_error_allowed,
    unsatisfiable_headers,
)
from workbench.engine.cache.status import CACHE_NAME, cache_status
from workbench.engine.cache.store import (
    ENTRY_OVERHEAD,
    MAX_VARIANTS,
    CachedResponse,
    CacheKey,
    MemoryStore,
)

__all__ = [
    "CACHE_NAME",
    "ENTRY_OVERHEAD",
    "HEURISTIC_STATUSES",
    "MAX_DELTA",
    "MAX_VARIANTS",
    "SAFE_METHODS",
    "ByteRange",
    "CacheControl",
    "CacheKey",
    "CachedResponse",
    "HttpCache",
    "LookupResult",
    "MemoryStore",
    "StoreResult",
    "cache_status",
    "if_range_matches",
    "invalidation_targets",
    "is_unsafe",
    "normalize_url",
    "normalize_vary_value",
    "parse_age",
    "parse_cache_control",
    "parse_http_date",
    "parse_range",
    "parse_targeted",
    "partial_headers",
    "select_cache_control",
    "stale_on_error_allowed",
    "unsatisfiable_headers",
]
