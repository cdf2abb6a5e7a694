"""The per-second history behind the charts: bounded, gap-free, sampled from the stats' slots."""

from __future__ import annotations

import pytest

from workbench.engine.observe.history import SECONDS, History
from workbench.engine.observe.stats import Stats


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_each_complete_second_is_one_sample():
    clock = Clock(1000.2)
    stats = Stats(clock=clock)
    history = History()
    for latency in (0.001, 0.002, 0.2):
        stats.observe("reverse", "web-1", 200, latency, False, 10)
    stats.observe("reverse", "web-2", 502, 0.01, True, 0)
    stats.observe("forward", None, 200, 0.001, False, 0)
    clock.t = 1001.1
    cache = {"hits": 3, "misses": 1}
    assert history.sample(stats, ["web-1", "web-2", "web-3"], cache, clock.t, 5000.0) == 1
    (s,) = history.samples
    assert s.second == 1000 and s.time == pytest.approx(5000.0 - 0.1)
    req, err, p95 = s.proxies["reverse"]
    assert (req, err) == (4, 1) and 0.1 < p95 <= 0.25
    assert s.proxies["forward"][:2] == (1, 0)
    assert s.backends["web-1"][:2] == (3, 0) and s.backends["web-2"][:2] == (1, 1)
    assert s.backends["web-3"] == (0, 0, 0.0)
    assert s.hit_ratio is None  # the first sample has no earlier counters to compare with

    # A late timer: the seconds it missed are filled in, none twice.
    stats.observe("reverse", "web-1", 200, 0.001, False, 0)
    clock.t = 1004.5
    assert history.sample(stats, ["web-1"], {"hits": 6, "misses": 2}, clock.t, 5003.4) == 3
    assert [x.second for x in history.samples] == [1000, 1001, 1002, 1003]
    assert history.samples[1].proxies["reverse"][0] == 1
    assert history.samples[-1].hit_ratio == pytest.approx(3 / 4)
    assert history.sample(stats, ["web-1"], None, clock.t, 5003.4) == 0


def test_memory_is_bounded_to_five_minutes():
    clock = Clock(10.0)
    stats = Stats(clock=clock)
    history = History()
    for t in range(11, 1000, 7):
        stats.observe("reverse", None, 200, 0.001, False, 0)
        clock.t = float(t)
        history.sample(stats, [], None, clock.t, float(t))
    assert len(history.samples) == SECONDS
    seconds = [s.second for s in history.samples]
    assert seconds == list(range(seconds[0], seconds[0] + SECONDS))


def test_series_for_the_charts():
    clock = Clock(101.5)
    stats = Stats(clock=clock)
    history = History()
    stats.observe("reverse", "web-1", 500, 0.01, True, 0)
    stats.observe("reverse", "web-1", 200, 0.01, False, 0)
    clock.t = 102.0
    history.sample(stats, ["web-1"], {"hits": 0, "misses": 0}, clock.t, 200.0)
    clock.t = 103.0
    history.sample(stats, ["web-1"], {"hits": 1, "misses": 3}, clock.t, 201.0)
    data = history.to_dict()
    assert data["time"] == [200.0, 201.0]
    rev = data["proxies"]["reverse"]
    assert rev["rate"] == [2.0, 0.0] and rev["error_rate"] == [0.5, None]
    assert rev["p95"][0] == pytest.approx(0.01, rel=0.5) and rev["p95"][1] is None
    assert data["backends"]["web-1"]["rate"] == [2.0, 0.0]
    assert data["hit_ratio"] == [None, 0.25]
