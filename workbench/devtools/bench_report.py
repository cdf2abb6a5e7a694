"""What ``workbench bench`` prints: the table, the target ratios round by round, and JSON.

A ratio is computed within each round (both scenarios measured in the same round, a few seconds
apart) and the median of those per-round ratios is shown, never a ratio of two medians taken
minutes apart. Next to the throughput ratio comes the same ratio by CPU per request (the
denominator's CPU µs/req over the numerator's): it is what the throughput ratio would be if
both sides had a whole core to themselves, and it moves less with the machine's speed.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any

from workbench.devtools.bench_run import Result, Round


@dataclass(frozen=True)
class RatioSpec:
    """A ratio of two scenarios' throughput (keys as in ``Result.key``), with its target."""

    label: str
    num: str
    den: str
    target: float | None = None


RATIOS: tuple[RatioSpec, ...] = (
    RatioSpec("workbench / bare proxy throughput", "workbench", "bare", 2.0),
    RatioSpec("workbench / same on --before tree", "workbench", "before", 0.95),
    RatioSpec("cache hits / same on --before tree", "cache-hit", "before-hit"),
    RatioSpec("body capture on / off", "workbench", "capture-off", 0.9),
    RatioSpec("forward / reverse proxy", "forward", "workbench", 0.9),
    RatioSpec("intercept set, no match / forward", "intercept-idle", "forward", 0.95),
    RatioSpec("cache hits / workbench misses", "cache-hit", "workbench", 2.0),
    RatioSpec("cache hits / aiohttp from memory", "cache-hit", "memory", 0.8),
    RatioSpec("workbench / nginx reverse proxy", "workbench", "nginx"),
    RatioSpec("cache hits / nginx reverse proxy", "cache-hit", "nginx", 1.0),
)
UI_RATIO = RatioSpec("ui / headless workbench", "ui", "workbench@ui", 0.8)
"""The ui scenario against the headless workbench measured in the same (ui) rounds."""

LABEL_WIDTH = 36


@dataclass
class Ratio:
    """One ratio's per-round values, by throughput and by CPU per request."""

    spec: RatioSpec
    rounds: list[float]
    cpu_rounds: list[float]

    @property
    def median(self) -> float:
        return median_finite(self.rounds)

    @property
    def cpu_median(self) -> float:
        return median_finite(self.cpu_rounds)


def median_finite(values: list[float]) -> float:
    """The median of the finite values (NaN when there are none)."""
    finite = [v for v in values if math.isfinite(v)]
    return statistics.median(finite) if finite else math.nan


def _div(a: float, b: float) -> float:
    return a / b if b and math.isfinite(a) and math.isfinite(b) else math.nan


def ratio_of(spec: RatioSpec, num: list[Round], den: list[Round]) -> Ratio:
    """``spec`` round by round: round i of the numerator against round i of the denominator."""
    pairs = list(zip(num, den, strict=False))
    return Ratio(
        spec,
        [_div(n.rps, d.rps) for n, d in pairs],
        [_div(d.cpu_us, n.cpu_us) for n, d in pairs],
    )


def ratios(results: list[Result], specs: tuple[RatioSpec, ...] = RATIOS) -> list[Ratio]:
    """The ``specs`` whose two scenarios both ran."""
    by = {r.key: r for r in results}
    return [
        ratio_of(s, by[s.num].rounds, by[s.den].rounds)
        for s in specs
        if {s.num, s.den} <= by.keys()
    ]


def _x(value: float) -> str:
    return f"{value:.2f}×" if math.isfinite(value) else "n/a"


def _values(values: list[float]) -> str:
    return " ".join(f"{v:.2f}" if math.isfinite(v) else "n/a" for v in values)


def ratio_lines(ratio: Ratio, label: str | None = None) -> list[str]:
    """``label: 0.97× (rounds 0.95 1.01 0.97; target ≥ 0.9×)`` and its by-CPU line."""
    spec = ratio.spec
    target = f"; target ≥ {spec.target:g}×" if spec.target is not None else ""
    head = f"{(label or spec.label) + ':':{LABEL_WIDTH}} {_x(ratio.median):>6} "
    lines = [f"{head}(rounds {_values(ratio.rounds)}{target})"]
    if any(math.isfinite(v) for v in ratio.cpu_rounds):
        cpu_head = f"{'    by CPU per request:':{LABEL_WIDTH}} {_x(ratio.cpu_median):>6} "
        lines.append(f"{cpu_head}(rounds {_values(ratio.cpu_rounds)})")
    return lines


def _ui_summary(ratio: Ratio | None, report: dict | None) -> list[str]:
    """The ``ui`` scenario's lines: throughput kept with the TUI attached, redraw, key latency."""
    lines = ratio_lines(ratio, "ui: TUI attached / headless") if ratio else []
    if report is None:
        return [*lines, "ui: no report from the app (did it exit cleanly?)"]

    def ms(section: str, q: str) -> str:
        value = report[section]["under_load"][q]
        return "n/a" if value is None else f"{value:.0f} ms"

    keys = report["key_ms"]["under_load"]
    return [
        *lines,
        f"ui: redraw p95 {ms('redraw_ms', 'p95')}, max {ms('redraw_ms', 'max')} (target < 50 ms); "
        f"key press p95 {ms('key_ms', 'p95')}, max {ms('key_ms', 'max')} (target < 100 ms)",
        f"    under load: tick p95 {ms('tick_ms', 'p95')} (drain p95 {ms('drain_ms', 'p95')}), "
        f"frame p95 {ms('frame_ms', 'p95')}; {report['redraw_ms']['under_load']['n']} ticks, "
        f"{keys['n']} key presses ({report['key_timeouts']} timed out), "
        f"{report.get('traffic_dropped') or 0:,} records not shown",
    ]


def _spread(r: Result) -> float:
    """Max minus min of the rounds' req/s, as a share of the median."""
    values = [x.rps for x in r.rounds if math.isfinite(x.rps)]
    return (max(values) - min(values)) / r.rps * 100 if len(values) > 1 and r.rps else math.nan


def _cell(value: float, width: int, spec: str) -> str:
    """``value`` right-aligned in ``width``; a dash when there is no figure (NaN)."""
    return f"{value:{width}{spec}}" if math.isfinite(value) else f"{'–':>{width}}"


def _idle_most(results: list[Result]) -> float:
    """The most CPU (share of a core) the idle processes used during any one measurement."""
    values = [x.idle_cpu for r in results for x in r.rounds if math.isfinite(x.idle_cpu)]
    return max(values) if values else math.nan


def print_report(
    results: list[Result],
    ui_results: list[Result],
    ui_report: dict | None,
    *,
    setup: dict[str, Any],
    as_json: bool,
) -> None:
    """The table, then each target ratio as the median of its per-round values; JSON last."""
    print()
    print(
        f"{'scenario':40} {'req/s':>9} {'spread':>7} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'CPU µs/req':>11} {'RSS MiB':>8} {'errors':>7}"
    )
    for r in [*results, *ui_results]:
        print(
            f"{r.name:40} {_cell(r.rps, 9, '.0f')} {_cell(_spread(r), 6, '.0f')}% "
            f"{_cell(r.p50_ms, 8, '.2f')} {_cell(r.p99_ms, 8, '.2f')} "
            f"{_cell(r.cpu_us, 11, '.1f')} {_cell(r.rss_mib, 8, '.1f')} {r.errors:7d}"
        )
    idle = [_idle_most(results), _idle_most(ui_results)]
    if any(math.isfinite(v) for v in idle):
        shares = [
            f"{v * 100:.1f}% of a core ({phase} rounds)"
            for v, phase in zip(idle, ("main", "ui"), strict=True)
            if math.isfinite(v)
        ]
        print("CPU the idle processes took during a measurement, at most: " + ", ".join(shares))
    found = ratios(results)
    ui_ratio = next(iter(ratios(ui_results, (UI_RATIO,))), None)
    print()
    if found or ui_ratio:
        print("ratios: median of per-round ratios (each round measures both sides)")
    for ratio in found:
        print("\n".join(ratio_lines(ratio)))
    if any(r.key == "ui" for r in ui_results):
        print("\n".join(_ui_summary(ui_ratio, ui_report)))
    if as_json:
        print(
            report_json(
                results, ui_results, [*found, *([ui_ratio] if ui_ratio else [])], ui_report, setup
            )
        )


def _plain(value: Any) -> Any:
    """``value`` with NaN and infinities as None (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def report_json(
    results: list[Result],
    ui_results: list[Result],
    found: list[Ratio],
    ui_report: dict | None,
    setup: dict[str, Any],
) -> str:
    """Everything in one line of JSON: setup, scenarios (with rounds), ratios (with rounds)."""
    data = {
        "setup": setup,
        "scenarios": [asdict(r) for r in [*results, *ui_results]],
        "ratios": [
            {
                "label": r.spec.label,
                "numerator": r.spec.num,
                "denominator": r.spec.den,
                "target": r.spec.target,
                "median": r.median,
                "rounds": r.rounds,
                "cpu_median": r.cpu_median,
                "cpu_rounds": r.cpu_rounds,
            }
            for r in found
        ],
        "ui_report": ui_report,
    }
    return json.dumps(_plain(data), ensure_ascii=False)
