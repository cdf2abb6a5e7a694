"""Rolling stats: window rollover, rates, error rates, status classes, percentiles, shares."""

from __future__ import annotations

import pytest

from workbench.engine.observe.stats import (
    LATENCY_BUCKETS,
    OTHER_ORIGINS,
    STATUS_CLASSES,
    Histogram,
    Stats,
    Window,
    status_class,
)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def hist(*values: float) -> Histogram:
    h = Histogram()
    for v in values:
        h.observe(v)
    return h


# -- histogram ------------------------------------------------------------------------------


def test_buckets_are_ascending_and_end_with_inf() -> None:
    assert list(LATENCY_BUCKETS) == sorted(LATENCY_BUCKETS)
    assert LATENCY_BUCKETS[-1] == float("inf")


@pytest.mark.parametrize(
    ("value", "bucket"),
    [
        (0.0, 0),
        (0.0005, 0),  # upper bounds are inclusive (Prometheus "le")
        (0.00051, 1),
        (0.003, 3),
        (1.0, 10),
        (10.0, 13),
        (11.0, 14),
        (1e9, 14),
    ],
)
def test_histogram_bucket_edges(value: float, bucket: int) -> None:
    h = hist(value)
    assert h.counts[bucket] == 1
    assert h.total == 1
    assert h.sum == value


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        # 100 observations all in (0.002, 0.005]: interpolate linearly inside the bucket.
        ([0.003] * 100, 0.5, 0.0035),
        ([0.003] * 100, 0.99, 0.002 + 0.003 * 0.99),
        ([0.003] * 100, 1.0, 0.005),
        # 0 returns the lower edge of the first non-empty bucket.
        ([0.003] * 100, 0.0, 0.002),
        # 90 fast, 10 slow: p50 among the fast, p95 half-way into the slow bucket (0.25, 0.5].
        ([0.0004] * 90 + [0.3] * 10, 0.5, 0.0005 * 50 / 90),
        ([0.0004] * 90 + [0.3] * 10, 0.95, 0.25 + 0.25 * 0.5),
        # Beyond the last finite bound there is no edge to interpolate to: report that bound.
        ([20.0] * 10, 0.5, 10.0),
        ([], 0.99, 0.0),
    ],
)
def test_histogram_percentile(values: list[float], q: float, expected: float) -> None:
    assert hist(*values).percentile(q) == pytest.approx(expected)


@pytest.mark.parametrize("q", [-0.1, 1.5, 99])
def test_histogram_percentile_rejects_out_of_range(q: float) -> None:
    with pytest.raises(ValueError, match="quantile"):
        hist(0.1).percentile(q)


def test_histogram_merge_and_copy_are_independent() -> None:
    a = hist(0.001, 0.2)
    b = hist(0.2, 3.0)
    c = a.copy()
    c.merge(b)
    assert (c.total, c.sum) == (4, pytest.approx(3.401))
    assert c.counts[LATENCY_BUCKETS.index(0.25)] == 2
    # The original is untouched by merging into its copy.
    assert (a.total, a.counts[LATENCY_BUCKETS.index(0.25)]) == (2, 1)
    assert Histogram.from_counts(c.counts, c.sum).percentile(0.5) == c.percentile(0.5)


def test_histogram_from_counts_checks_length() -> None:
    with pytest.raises(ValueError, match="bucket counts"):
        Histogram.from_counts([1, 2, 3])


# -- status classes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (101, "1xx"),
        (200, "2xx"),
        (204, "2xx"),
        (304, "3xx"),
        (404, "4xx"),
        (503, "5xx"),
        (599, "5xx"),
        (None, "err"),
        (0, "err"),
        (99, "err"),
        (600, "err"),
    ],
)
def test_status_class(status: int | None, name: str) -> None:
    assert STATUS_CLASSES[status_class(status)] == name
    w = Window(clock=FakeClock(5.0))
    w.observe(status, 0.01, False)
    assert w.summary(1).status_classes[name] == 1


# -- window ---------------------------------------------------------------------------------


def one_per_second_window(until: int) -> Window:
    """One request at t+0.5 for t in 0..until; the first ten answer 500, the rest 200."""
    w = Window(60, clock=FakeClock())
    for t in range(until + 1):
        w.observe(500 if t < 10 else 200, 0.01, t < 10, 100, now=t + 0.5)
    return w


@pytest.mark.parametrize(
    ("until", "now", "requests", "errors"),
    [
        # The 60 s window at t=70 covers seconds 11..70: everything before t=10 is forgotten.
        (70, 70.5, 60, 0),
        (70, 70.0, 60, 0),
        # At t=68 it covers seconds 9..68: one of the early errors is still in view.
        (68, 68.5, 60, 1),
        (60, 60.5, 60, 9),
        (30, 30.5, 31, 10),
        # Long after the last request nothing is left, whatever the ring held.
        (70, 200.0, 0, 0),
        (70, 10_000.0, 0, 0),
    ],
)
def test_window_rollover_forgets_old_seconds(
    until: int, now: float, requests: int, errors: int
) -> None:
    w = one_per_second_window(until)
    s = w.summary(60, now=now)
    assert (s.requests, s.errors) == (requests, errors)
    assert s.status_classes["5xx"] == errors
    assert s.bytes_out == 100 * requests


@pytest.mark.parametrize(("over", "requests"), [(1, 1), (10, 10), (60, 60)])
def test_window_summary_spans(over: int, requests: int) -> None:
    s = one_per_second_window(70).summary(over, now=70.5)
    assert s.over == over
    assert s.requests == requests


def test_window_recycles_slots_after_a_long_gap() -> None:
    clock = FakeClock(3.2)
    w = Window(60, clock=clock)
    w.observe(200, 0.01, False)
    clock.t = 3.2 + 60 * 37  # lands on the same ring slot many laps later
    w.observe(200, 0.01, False)
    assert w.summary(60).requests == 1
    assert w.series(60)[-1] == 1


def test_window_counts_a_late_observation_in_the_current_second() -> None:
    w = Window(60, clock=FakeClock())
    w.observe(200, 0.01, False, now=100.5)
    w.observe(200, 0.01, False, now=99.9)  # e.g. a timestamp taken before the previous one
    assert w.series(3, now=100.9) == [0, 0, 2]


@pytest.mark.parametrize("now", [29.0, 29.25, 29.5, 29.999])
def test_window_rate_is_steady_under_steady_load(now: float) -> None:
    # 20 req/s spread evenly over each second up to ``now``.
    w = Window(60, clock=FakeClock())
    t = 0.0
    while t < now:
        w.observe(200, 0.01, False, now=t)
        t += 0.05
    for over in (1, 10, 60 if now >= 60 else 10):
        assert w.summary(over, now=now).rate == pytest.approx(20.0, abs=1.0)


def test_window_rate_over_a_quiet_start() -> None:
    # 30 requests in the first second, then silence: the 10 s rate is 3 req/s while the
    # burst is inside the window, and 0 once it has left.
    w = Window(60, clock=FakeClock())
    for i in range(30):
        w.observe(200, 0.01, False, now=i / 30)
    assert w.summary(10, now=5.0).rate == pytest.approx(3.0)
    assert w.summary(10, now=11.0).rate == 0.0


@pytest.mark.parametrize(
    ("outcomes", "errors", "error_rate"),
    [
        ([False] * 10, 0, 0.0),
        ([True] + [False] * 3, 1, 0.25),
        ([True] * 5, 5, 1.0),
        ([], 0, 0.0),
    ],
)
def test_window_error_rate(outcomes: list[bool], errors: int, error_rate: float) -> None:
    w = Window(60, clock=FakeClock(10.0))
    for failed in outcomes:
        w.observe(502 if failed else 200, 0.01, failed)
    s = w.summary(10)
    assert (s.requests, s.errors, s.error_rate) == (len(outcomes), errors, error_rate)


def test_window_percentiles_merge_the_covered_seconds() -> None:
    w = Window(60, clock=FakeClock())
    for t in range(10):
        for _ in range(9):
            w.observe(200, 0.0004, False, now=t + 0.5)
        w.observe(200, 0.3, False, now=t + 0.5)  # one slow request per second
    s = w.summary(10, now=9.9)
    assert s.p50 == pytest.approx(0.0005 * 50 / 90)
    assert s.p95 == pytest.approx(0.375)
    assert 0.25 < s.p99 <= 0.5
    # The 1 s window holds only second 9, with the same 9:1 mix.
    assert w.summary(1, now=9.9).p95 == pytest.approx(0.375)


def test_window_series_is_oldest_first_and_covers_the_span() -> None:
    w = Window(60, clock=FakeClock())
    for t in range(20):
        for _ in range(t):
            w.observe(200, 0.01, False, now=t + 0.1)
    series = w.series(10, now=19.5)
    assert series == list(range(10, 20))
    assert len(w.series(60, now=19.5)) == 60
    assert w.series(60, now=19.5)[-20:] == list(range(20))


@pytest.mark.parametrize("over", [0, 61, -1])
def test_window_rejects_spans_it_cannot_answer(over: int) -> None:
    w = Window(60, clock=FakeClock())
    with pytest.raises(ValueError, match="over"):
        w.summary(over)
    with pytest.raises(ValueError, match="over"):
        w.series(over)


# -- Stats ----------------------------------------------------------------------------------


def test_stats_snapshot_per_proxy_and_engine_wide() -> None:
    clock = FakeClock(100.5)
    st = Stats(clock)
    for _ in range(6):
        st.observe("reverse", "web-1", 200, 0.003, False, 10)
    st.observe("reverse", "web-2", 503, 0.2, True, 5)
    st.observe("forward", None, None, 1.5, True, 0)
    snap = st.snapshot()
    rev = snap["proxies"]["reverse"]
    assert sorted(rev) == [1, 10, 60]
    assert rev[60]["requests"] == 7
    assert rev[60]["status_classes"]["5xx"] == 1
    assert snap["proxies"]["forward"][1]["status_classes"]["err"] == 1
    # Engine-wide windows add up the proxies.
    assert snap["windows"][60]["requests"] == 8
    assert snap["windows"][60]["errors"] == 2
    assert snap["windows"][60]["bytes_out"] == 65
    total = snap["total"]
    assert (total["requests"], total["errors"], total["bytes_out"]) == (8, 2, 65)
    assert total["proxies"]["forward"]["requests"] == 1
    # Requests that never reached a backend have no backend row.
    assert sorted(snap["backends"]) == ["web-1", "web-2"]


def test_stats_all_time_counters_outlive_the_window() -> None:
    clock = FakeClock(0.0)
    st = Stats(clock)
    st.observe("reverse", "web-1", 200, 0.01, False, 1)
    clock.t = 500.0
    st.observe("reverse", "web-1", 404, 0.01, False, 1)
    snap = st.snapshot()
    b = snap["backends"]["web-1"]
    assert (b["requests"], b["requests_60s"]) == (2, 1)
    assert snap["total"]["status_classes"]["2xx"] == 1
    assert snap["proxies"]["reverse"][60]["status_classes"]["2xx"] == 0


def test_stats_backend_row() -> None:
    clock = FakeClock(50.5)
    st = Stats(clock)
    for _ in range(9):
        st.observe("reverse", "web-1", 200, 0.0004, False, 1)
    st.observe("reverse", "web-1", 502, 0.3, True, 1)
    b = st.snapshot()["backends"]["web-1"]
    assert (b["requests_60s"], b["errors_60s"], b["error_rate_60s"]) == (10, 1, 0.1)
    assert b["rate_10s"] == pytest.approx(1.0)
    assert b["p50"] == pytest.approx(0.0005 * 5 / 9)
    assert b["p95"] == pytest.approx(0.375)
    assert b["series_60s"][-1] == 10
    assert len(b["series_60s"]) == 60


def test_stats_inflight_per_backend() -> None:
    st = Stats(FakeClock(1.0))
    st.inflight_inc("web-1")
    st.inflight_inc("web-1")
    st.inflight_inc("web-2")
    st.inflight_dec("web-1")
    assert (st.inflight("web-1"), st.inflight("web-2"), st.inflight("web-3")) == (1, 1, 0)
    # A backend with work in flight but nothing finished yet already has a row.
    assert st.snapshot()["backends"]["web-1"]["inflight"] == 1
    st.inflight_dec("web-2")
    st.inflight_dec("web-2")  # an extra decrement must not go negative
    assert st.inflight("web-2") == 0


def test_stats_forget_backend() -> None:
    st = Stats(FakeClock(1.0))
    st.observe("reverse", "old", 200, 0.01, False, 0)
    st.inflight_inc("old")
    st.forget_backend("old")
    st.forget_backend("never-seen")
    assert st.inflight("old") == 0
    assert "old" not in st.snapshot()["backends"]
    # Proxy-wide counters keep the request: it did happen.
    assert st.all_time()["requests"] == 1


@pytest.mark.parametrize(
    ("requests", "pools", "shares"),
    [
        ({"a": 3, "b": 1}, None, {"a": 0.75, "b": 0.25}),
        ({"a": 0, "b": 0}, None, {}),
        # Shares are computed inside each pool when pools are given.
        (
            {"a": 3, "b": 1, "x": 5},
            {"web": ["a", "b"], "api": ["x", "y"]},
            {"a": 0.75, "b": 0.25, "x": 1.0},
        ),
        # Across all backends without pools.
        ({"a": 3, "b": 1, "x": 4}, None, {"a": 0.375, "b": 0.125, "x": 0.5}),
    ],
)
def test_stats_share_60s(
    requests: dict[str, int], pools: dict[str, list[str]] | None, shares: dict[str, float]
) -> None:
    st = Stats(FakeClock(10.5))
    for name, n in requests.items():
        for _ in range(n):
            st.observe("reverse", name, 200, 0.01, False, 0)
    backends = st.snapshot(pools=pools)["backends"]
    got = {name: b["share_60s"] for name, b in backends.items() if b["share_60s"]}
    assert got == pytest.approx(shares)


def test_stats_share_ignores_requests_older_than_60s() -> None:
    clock = FakeClock(0.5)
    st = Stats(clock)
    for _ in range(100):
        st.observe("reverse", "a", 200, 0.01, False, 0)
    clock.t = 100.5
    st.observe("reverse", "b", 200, 0.01, False, 0)
    backends = st.snapshot()["backends"]
    assert (backends["a"]["share_60s"], backends["b"]["share_60s"]) == (0.0, 1.0)


def test_stats_prometheus_state() -> None:
    st = Stats(FakeClock(1.0))
    st.observe("reverse", "web-1", 200, 0.003, False, 0)
    st.observe("reverse", "web-1", 500, 0.3, True, 0)
    st.inflight_inc("web-1")
    state = st.prometheus_state()
    rev = state["proxies"]["reverse"]
    assert rev["status_classes"]["2xx"] == 1
    assert rev["errors"] == 1
    assert rev["duration"]["count"] == 2
    assert rev["duration"]["sum"] == pytest.approx(0.303)
    assert rev["duration"]["bounds"] == list(LATENCY_BUCKETS)
    assert state["backend_counters"]["web-1"] == {"requests": 2, "errors": 1, "inflight": 1}


# -- forward-proxy origins: bounded ----------------------------------------------------------


def test_origins_are_bounded_and_the_busiest_are_kept() -> None:
    clock = FakeClock(1000.0)
    stats = Stats(clock, max_origins=32)
    hot = [f"hot{i}.test:80" for i in range(4)]
    for i in range(10_000):
        clock.t += 0.005
        stats.observe("forward", f"o{i}.test:80", 200, 0.01, False, 10)
        if i % 10 == 0:  # four origins each ten times busier than the others
            for h in hot:
                stats.observe("forward", h, 200, 0.01, False, 10)
    origins = stats._origins
    # Memory: at most N tracks, the aggregate, and a bounded candidate table.
    assert len(origins.tracks) <= 32 and len(origins.candidates) <= 2 * 32
    snap = stats.snapshot()
    rows = snap["backends"]
    # Snapshot work is per row, and there are at most N + 1 rows however many origins were seen.
    assert len(rows) <= 33 and OTHER_ORIGINS in rows
    assert set(hot) <= set(rows)
    # Nothing is lost: tracked origins plus the aggregate hold every request.
    assert sum(r["requests"] for r in rows.values()) == 14_000
    assert snap["total"]["proxies"]["forward"]["requests"] == 14_000
    assert sum(r["requests_60s"] for r in rows.values()) == snap["windows"][60]["requests"]


def test_a_displaced_origin_moves_into_the_aggregate() -> None:
    clock = FakeClock(50.0)
    stats = Stats(clock, max_origins=2)
    for name, n in (("a:80", 1), ("b:80", 5)):
        for _ in range(n):
            stats.observe("forward", name, 200, 0.01, False, 1)
    clock.t += 1
    for _ in range(3):  # c becomes busier than a within one ranking period
        stats.observe("forward", "c:80", 500, 0.01, True, 1)
    rows = stats.snapshot()["backends"]
    assert set(rows) == {"b:80", "c:80", OTHER_ORIGINS}
    other = rows[OTHER_ORIGINS]
    # a's one request plus c's requests before c was tracked
    assert other["requests"] == 1 + 2 and other["requests_60s"] == 3 and other["errors"] == 2


def test_reverse_backends_are_not_origins() -> None:
    stats = Stats(FakeClock(5.0), max_origins=1)
    for name in ("web-1", "web-2", "web-3"):
        stats.observe("reverse", name, 200, 0.01, False, 1)
    assert set(stats.snapshot()["backends"]) == {"web-1", "web-2", "web-3"}


def test_lowering_the_origin_limit_keeps_totals() -> None:
    stats = Stats(FakeClock(5.0), max_origins=8)
    for i in range(8):
        for _ in range(i + 1):
            stats.observe("forward", f"o{i}:80", 200, 0.01, False, 1)
    stats.max_origins = 3
    rows = stats.snapshot()["backends"]
    assert set(rows) == {"o5:80", "o6:80", "o7:80", OTHER_ORIGINS}
    assert sum(r["requests"] for r in rows.values()) == 36
    with pytest.raises(ValueError):
        stats.max_origins = 0
