"""The bench's round order and per-round ratios (pure functions; no processes)."""

from __future__ import annotations

import itertools
import json
import math

from workbench.devtools.bench_report import RatioSpec, ratio_lines, ratio_of, ratios, report_json
from workbench.devtools.bench_run import Result, Round, round_order


def rnd(rps: float, cpu_us: float = math.nan) -> Round:
    return Round(rps, 1.0, 2.0, cpu_us, 0, 0.0)


def test_each_round_measures_every_scenario_once():
    for n, r in itertools.product(range(1, 9), range(6)):
        assert sorted(round_order(n, r)) == list(range(n))
    assert round_order(0, 3) == []


def test_odd_rounds_reverse_the_round_before_and_even_rounds_move_the_start():
    assert [round_order(3, r) for r in range(4)] == [[0, 1, 2], [2, 1, 0], [1, 2, 0], [0, 2, 1]]
    for r in range(0, 10, 2):
        assert round_order(5, r + 1) == round_order(5, r)[::-1]
    assert [round_order(5, r)[0] for r in range(0, 10, 2)] == [0, 1, 2, 3, 4]


def test_over_a_pair_of_rounds_every_scenario_averages_to_the_same_moment():
    n = 6
    for r in (0, 2, 4):
        slots = [round_order(n, r).index(i) + round_order(n, r + 1).index(i) for i in range(n)]
        assert set(slots) == {n - 1}


def test_ratios_are_taken_within_each_round_then_the_median():
    spec = RatioSpec("a / b", "a", "b", 2.0)
    ratio = ratio_of(
        spec, [rnd(300, 10), rnd(100, 20), rnd(90, 30)], [rnd(100, 30), rnd(100, 20), rnd(60, 60)]
    )
    assert ratio.rounds == [3.0, 1.0, 1.5]
    assert ratio.median == 1.5
    assert ratio.cpu_rounds == [3.0, 1.0, 2.0]
    assert ratio.cpu_median == 2.0
    assert ratio_lines(ratio) == [
        f"{'a / b:':36}  1.50× (rounds 3.00 1.00 1.50; target ≥ 2×)",
        f"{'    by CPU per request:':36}  2.00× (rounds 3.00 1.00 2.00)",
    ]


def test_a_round_without_figures_is_left_out_of_the_median():
    spec = RatioSpec("a / origin", "a", "o")
    ratio = ratio_of(spec, [rnd(100), rnd(0), rnd(120)], [rnd(50), rnd(50), rnd(0)])
    assert ratio.rounds[0] == 2.0 and ratio.rounds[1] == 0.0 and math.isnan(ratio.rounds[2])
    assert ratio.median == 1.0
    # No CPU figures (the origin has no process of ours to read): no by-CPU line.
    assert ratio_lines(ratio) == [f"{'a / origin:':36}  1.00× (rounds 2.00 0.00 n/a)"]


def test_only_ratios_whose_two_scenarios_ran_are_reported():
    results = [Result.of(k, k, [rnd(100, 10)], 40.0) for k in ("workbench", "bare", "memory")]
    assert [r.spec.label for r in ratios(results)] == ["workbench / bare proxy throughput"]


def test_issue_11_cost_ratios_pair_capture_on_with_off_and_idle_intercept_with_forward():
    keys = ("workbench", "capture-off", "forward", "intercept-idle")
    results = [Result.of(k, k, [rnd(100, 10), rnd(90, 12)], 40.0) for k in keys]
    found = {r.spec.label: r for r in ratios(results)}
    capture = found["body capture on / off"]
    assert (capture.spec.num, capture.spec.den, capture.spec.target) == (
        "workbench",
        "capture-off",
        0.9,
    )
    idle = found["intercept set, no match / forward"]
    assert (idle.spec.num, idle.spec.den, idle.spec.target) == ("intercept-idle", "forward", 0.95)
    assert idle.rounds == [1.0, 1.0]
    assert ratio_lines(capture) == [
        f"{'body capture on / off:':36}  1.00× (rounds 1.00 1.00; target ≥ 0.9×)",
        f"{'    by CPU per request:':36}  1.00× (rounds 1.00 1.00)",
    ]


def test_the_json_report_is_strict_json_with_rounds():
    res = Result.of("bare", "bare", [rnd(100, 10), rnd(300, math.nan), rnd(200, 30)], math.nan)
    assert (res.rps, res.cpu_us) == (200, 20)
    found = [ratio_of(RatioSpec("x", "bare", "bare"), res.rounds, res.rounds)]
    text = report_json([res], [], found, None, {"rounds": 3})
    data = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert data["scenarios"][0]["rss_mib"] is None
    assert data["scenarios"][0]["rounds"][1]["cpu_us"] is None
    assert data["ratios"][0]["rounds"] == [1.0, 1.0, 1.0]
