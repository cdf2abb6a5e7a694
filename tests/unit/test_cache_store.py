"""The cache's byte-bounded LRU store: bounds, eviction order, replacement, purge, resize."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest

from workbench.engine.cache import (
    ENTRY_OVERHEAD,
    MAX_VARIANTS,
    CachedResponse,
    HttpCache,
    MemoryStore,
    normalize_url,
)

T0 = 1_700_000_000.0
FRESH = [("Date", formatdate(T0, usegmt=True)), ("Cache-Control", "max-age=600")]


def make(max_size: int = 10_000, max_object_size: int = 4_000) -> HttpCache:
    return HttpCache(max_size, max_object_size, clock=lambda: T0)


def store(cache: HttpCache, url: str, size: int = 100, req=None, headers=None) -> CachedResponse:
    res = cache.store("GET", url, req or [], 200, headers or FRESH, b"x" * size, T0, T0)
    assert res.entry is not None, res.reason
    return res.entry


def urls(cache: HttpCache) -> list[str]:
    return sorted(e["url"] for e in cache.entries(limit=10_000))


def test_bytes_never_exceed_max_size_under_random_inserts() -> None:
    rng = random.Random(9111)
    cache = make(max_size=50_000, max_object_size=8_000)
    stored = 0
    for i in range(3_000):
        url = f"http://h{rng.randrange(4)}.test/{rng.randrange(400)}"
        res = cache.store("GET", url, [], 200, FRESH, b"x" * rng.randrange(9_000), T0, T0)
        stored += bool(res)
        assert cache.memory.bytes <= cache.memory.max_size
        if i % 97 == 0:
            cache.lookup("GET", url, [], now=T0 + 1)
    s = cache.stats()
    assert s["stores"] == stored and s["evictions"] > 0 and s["uncacheable"] > 0
    # The running byte count is the sum of what is really held.
    assert s["bytes"] == sum(e.size for e in cache.memory)
    assert s["entries"] == len(list(cache.memory))


def test_entry_size_counts_body_headers_and_overhead() -> None:
    cache = make()
    e = store(cache, "http://a.test/x", size=100)
    header_bytes = sum(len(n) + len(v) + 4 for n, v in FRESH)
    assert e.size == ENTRY_OVERHEAD + 100 + header_bytes + len("http://a.test/x")
    assert cache.memory.bytes == e.size


def test_least_recently_used_goes_first_and_a_hit_protects_an_entry() -> None:
    cache = make(max_size=3 * 700)
    for name in "abc":
        store(cache, f"http://a.test/{name}", size=300)
    assert cache.lookup("GET", "http://a.test/a", [], now=T0 + 1).status == "hit"
    store(cache, "http://a.test/d", size=300)
    assert urls(cache) == ["http://a.test/a", "http://a.test/c", "http://a.test/d"]
    assert cache.stats()["evictions"] == 1


def test_replacing_a_url_does_not_double_count() -> None:
    cache = make()
    store(cache, "http://a.test/x", size=100)
    e = store(cache, "http://a.test/x", size=200)
    assert cache.memory.bytes == e.size and len(cache.memory) == 1


@pytest.mark.parametrize(("body", "stored"), [(3_000, True), (4_001, False), (20_000, False)])
def test_objects_over_max_object_size_are_not_stored(body: int, stored: bool) -> None:
    cache = make(max_size=10_000, max_object_size=4_000)
    res = cache.store("GET", "http://a.test/big", [], 200, FRESH, b"x" * body, T0, T0)
    assert bool(res) is stored
    assert len(cache.memory) == int(stored)


def test_a_too_large_new_response_still_removes_the_outdated_one() -> None:
    store_ = MemoryStore(10_000, 4_000)
    cache = make()
    small = store(cache, "http://a.test/x", size=100)
    store_.put(small)
    big = store(make(max_size=100_000, max_object_size=100_000), "http://a.test/x", size=5_000)
    assert not store_.put(big)
    assert len(store_) == 0 and store_.bytes == 0


def test_variants_per_url_are_bounded() -> None:
    cache = make(max_size=1_000_000)
    vary = [*FRESH, ("Vary", "X-Variant")]
    for i in range(MAX_VARIANTS + 5):
        store(cache, "http://a.test/v", size=10, req=[("X-Variant", str(i))], headers=vary)
    assert len(cache.memory) == MAX_VARIANTS
    # The newest variants survive.
    hit = cache.lookup("GET", "http://a.test/v", [("X-Variant", str(MAX_VARIANTS + 4))], now=T0)
    old = cache.lookup("GET", "http://a.test/v", [("X-Variant", "0")], now=T0)
    assert (hit.status, old.status) == ("hit", "miss")


@pytest.mark.parametrize(
    ("prefix", "left"),
    [
        (None, []),
        ("/static", ["http://a.test/api/x", "http://b.test/api/y"]),
        (
            "/api",
            ["http://a.test/static/1.css", "http://a.test/static/2.js", "http://b.test/static/3"],
        ),
        (
            "http://a.test/static",
            ["http://a.test/api/x", "http://b.test/api/y", "http://b.test/static/3"],
        ),
        (
            "http://B.TEST",
            ["http://a.test/api/x", "http://a.test/static/1.css", "http://a.test/static/2.js"],
        ),
        (
            "/static/2",
            [
                "http://a.test/api/x",
                "http://a.test/static/1.css",
                "http://b.test/api/y",
                "http://b.test/static/3",
            ],
        ),
        ("/nothing", None),
    ],
)
def test_purge_all_or_by_path_or_url_prefix(prefix: str | None, left: list[str] | None) -> None:
    cache = make(max_size=100_000)
    everything = [
        "http://a.test/static/1.css",
        "http://a.test/static/2.js",
        "http://a.test/api/x",
        "http://b.test/static/3",
        "http://b.test/api/y",
    ]
    for u in everything:
        store(cache, u, size=10)
    expected = sorted(everything if left is None else left)
    n = cache.purge(prefix)
    assert urls(cache) == expected
    assert n == len(everything) - len(expected)
    assert cache.memory.bytes == sum(e.size for e in cache.memory)


def test_shrinking_the_limits_evicts_at_once() -> None:
    cache = make(max_size=100_000, max_object_size=10_000)
    store(cache, "http://a.test/big", size=5_000)
    for i in range(10):
        store(cache, f"http://a.test/{i}", size=100)
    cache.configure(max_size=2_000, max_object_size=4_000)
    assert "http://a.test/big" not in urls(cache)
    assert cache.memory.bytes <= 2_000 and len(cache.memory) > 0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://Example.TEST/A?b=C", "http://example.test/A?b=C"),
        ("HTTP://example.test:80/x", "http://example.test/x"),
        ("https://example.test:443/x", "https://example.test/x"),
        ("https://example.test:8443/x", "https://example.test:8443/x"),
        ("http://example.test", "http://example.test/"),
        ("http://example.test?q=1", "http://example.test/?q=1"),
        ("http://user:pw@example.test/x#top", "http://example.test/x"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected
