"""``workbench bench`` end to end, kept short: interleaved rounds and per-round ratios.

Figures are not checked (a loaded host makes them anything); the shape of the report is.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import workbench

TREE = Path(workbench.__file__).resolve().parents[1]
RATIO = r"{label}: +\d+\.\d\d× \(rounds \d+\.\d\d \d+\.\d\d{target}\)"


def bench(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbench", "bench", "--connections", "4", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=TREE,
    )


def test_rounds_interleave_and_each_ratio_is_shown_round_by_round():
    done = bench(
        "--duration", "0.3", "--rounds", "2", "--only", "bare,workbench",
        "--before", str(TREE), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # Round 2 runs round 1 backwards: every pair is measured both ways round.
    assert "round 1/2: bare, workbench, before\n" in done.stderr
    assert "round 2/2: before, workbench, bare\n" in done.stderr
    out = done.stdout
    assert re.search(
        RATIO.format(label="workbench / bare proxy throughput", target="; target ≥ 2×"), out
    ), out
    assert re.search(
        RATIO.format(
            label=re.escape("workbench / same on --before tree"), target="; target ≥ 0.95×"
        ),
        out,
    ), out
    assert re.search(RATIO.format(label="    by CPU per request", target=""), out), out
    assert "CPU the idle processes took during a measurement, at most: " in out
    report = json.loads(out.splitlines()[-1])
    assert [s["key"] for s in report["scenarios"]] == ["bare", "workbench", "before"]
    assert all(len(s["rounds"]) == 2 for s in report["scenarios"])
    ratios = {r["label"]: r for r in report["ratios"]}
    vs_bare = ratios["workbench / bare proxy throughput"]
    assert (vs_bare["numerator"], vs_bare["denominator"], vs_bare["target"]) == (
        "workbench",
        "bare",
        2.0,
    )
    assert len(vs_bare["rounds"]) == len(vs_bare["cpu_rounds"]) == 2
    # The ratio of each round is that round's two throughputs.
    by = {s["key"]: s for s in report["scenarios"]}
    for i, value in enumerate(vs_bare["rounds"]):
        expected = by["workbench"]["rounds"][i]["rps"] / by["bare"]["rounds"][i]["rps"]
        assert abs(value - expected) < 1e-9
    assert report["setup"]["before"] == str(TREE)


def test_without_wrk_nginx_or_taskset_the_built_in_tools_run_the_rounds(tmp_path):
    # An empty PATH hides wrk, nginx and taskset: built-in origin and load generator, no pinning.
    env = {**os.environ, "PATH": str(tmp_path)}
    only = "workbench,capture-off,forward,intercept-idle,ui"
    done = bench("--duration", "0.3", "--rounds", "2", "--only", only, env=env)
    assert done.returncode == 0, done.stderr
    assert "round 1/2: workbench, capture-off, forward, intercept-idle\n" in done.stderr
    out = done.stdout
    assert "origin: built-in httptools origin; load: built-in aiohttp load generator" in out
    assert "pinning: off" in out
    assert re.search(
        RATIO.format(label="forward / reverse proxy", target="; target ≥ 0.9×"), out
    ), out
    # Issue 11's constraints: body capture (on by default) against off; interception and the
    # intercept filter set up but matching nothing against the plain forward proxy.
    capture = RATIO.format(label="body capture on / off", target="; target ≥ 0.9×")
    assert re.search(capture, out), out
    assert re.search(
        RATIO.format(label="intercept set, no match / forward", target="; target ≥ 0.95×"), out
    ), out
    assert "workbench, body capture off" in out and "forward, intercept set, no match" in out
    # The TUI-attached proxy is measured in rounds of its own, alternating with the headless one.
    assert "ui round 1/2: workbench@ui, ui\n" in done.stderr
    assert "ui round 2/2: ui, workbench@ui\n" in done.stderr
    assert re.search(
        RATIO.format(label="ui: TUI attached / headless", target="; target ≥ 0.8×"), out
    ), out
    assert "ui: redraw p95" in out, out


def test_bad_arguments_are_refused_with_a_message():
    done = bench("--only", "bare,nope")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "workbench bench: --only: unknown scenario nope (known: origin, bare, nginx, workbench, "
        "capture-off, forward, intercept-idle, ui, memory, cache-hit)"
    )
    done = bench("--before", str(TREE / "tests"))
    assert done.returncode == 2
    assert "not a source tree" in done.stderr and "Traceback" not in done.stderr
