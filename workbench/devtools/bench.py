"""``workbench bench``: throughput, latency, CPU per request and RSS against a same-run baseline.

Every scenario runs the proxy under test in its own process pinned to core 0, with the origin and
the load generator on core 1 (when there are two cores and ``taskset`` exists). Scenarios:

- ``origin``: the origin alone (what the load generator can reach without a proxy)
- ``bare``: the fairest aiohttp pass-through (the baseline): low-level ``web.Server``, one shared
  ``ClientSession`` with ``DummyCookieJar`` and ``skip_auto_headers``, uvloop
- ``nginx``: nginx as a reverse proxy (1 worker, keep-alive upstream, no cache), when installed
- ``workbench``: ``workbench run --headless`` with records, stats, 10 rules, health checks and the
  JSON access log (to /dev/null) on
- ``memory``: an aiohttp server answering the same body from memory (the cache-hit yardstick)
- ``cache-hit``: the workbench serving the body from its cache
- ``ui``: the ``workbench`` scenario with the TUI attached
  (``workbench.devtools.bench_ui``: the real app
  under ``App.run_test``, headless, 160×45, Traffic view following); also reports redraw and
  key-press latency from inside the app. Runs ``workbench`` too, for the throughput ratio.

Figures drift between runs on a shared machine; ratios within one run are what to compare.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from workbench.devtools.bench_programs import (
    BARE_PROXY,
    FAST_ORIGIN,
    MEMORY_SERVER,
    NGINX_CONF,
    NGINX_PROXY_CONF,
    forward_config,
    workbench_config,
)
from workbench.devtools.bench_run import Proc, Result, free_port, measure, pin_to

WORKBENCH_NAME = "workbench (rules, stats, health, log)"
NGINX_NAME = "nginx reverse proxy"
BEFORE_NAME = "workbench on the --before tree"
BEFORE_HIT_NAME = "cache hits on the --before tree"
FORWARD_NAME = "workbench forward proxy"


def _ui_summary(ui: Result, wb: Result | None, report: dict | None) -> str:
    """The ``ui`` scenario's line: throughput kept with the TUI attached, redraw and key latency."""
    ratio = f"{ui.rps / wb.rps:.2f}×" if wb and wb.rps else "n/a"
    head = f"ui: proxy with the TUI attached keeps {ratio} of headless throughput (target ≥ 0.8×)"
    if report is None:
        return head + "; no report from the app (did it exit cleanly?)"

    def ms(section: str, q: str) -> str:
        value = report[section]["under_load"][q]
        return "n/a" if value is None else f"{value:.0f} ms"

    keys = report["key_ms"]["under_load"]
    return (
        f"{head}; redraw p95 {ms('redraw_ms', 'p95')}, max {ms('redraw_ms', 'max')} "
        f"(target < 50 ms); key press p95 {ms('key_ms', 'p95')}, max {ms('key_ms', 'max')} "
        f"(target < 100 ms)\n"
        f"    under load: tick p95 {ms('tick_ms', 'p95')} (drain p95 {ms('drain_ms', 'p95')}), "
        f"frame p95 {ms('frame_ms', 'p95')}; {report['redraw_ms']['under_load']['n']} ticks, "
        f"{keys['n']} key presses ({report['key_timeouts']} timed out), "
        f"{report.get('traffic_dropped') or 0:,} records not shown"
    )


def run_bench(args) -> int:
    """Run the scenarios ``args.only`` names (all by default) and print the report."""
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    if "ui" in only:
        only.add("workbench")  # the ui figures are relative to the headless workbench
    want = lambda s: not only or s in only  # noqa: E731
    pin = not args.no_pin
    tmp = Path(tempfile.mkdtemp(prefix="workbench-bench-"))
    procs: list[Proc] = []
    results: list[Result] = []
    ui_report: dict | None = None
    py = sys.executable
    try:
        origin_port = free_port()
        body = b"x" * args.body_size
        (tmp / "body").write_bytes(body)
        if shutil.which("nginx"):
            (tmp / "nginx.conf").write_text(NGINX_CONF.format(dir=tmp, port=origin_port))
            origin = Proc(pin_to(1, pin) + ["nginx", "-c", str(tmp / "nginx.conf")], origin_port)
            origin_kind = "nginx"
        else:
            (tmp / "origin.py").write_text(FAST_ORIGIN)
            origin = Proc(
                pin_to(1, pin)
                + [py, str(tmp / "origin.py"), str(origin_port), str(args.body_size)],
                origin_port,
            )
            origin_kind = "built-in httptools origin"
        procs.append(origin)
        load_kind = "wrk" if shutil.which("wrk") else "built-in aiohttp load generator"
        print(
            f"origin: {origin_kind}; load: {load_kind}, {args.connections} connections; "
            f"{args.rounds}×{args.duration:g}s per scenario, median shown; body {args.body_size} B"
        )
        print(
            "pinning: "
            + ("proxy on core 0, origin and load on core 1" if pin and pin_to(0, pin) else "off")
        )
        if want("origin"):
            results.append(measure("origin alone", None, f"http://127.0.0.1:{origin_port}/", args))

        def scenario(
            name: str,
            argv: list[str],
            port: int,
            path: str = "/",
            env: dict | None = None,
            target: str | None = None,
        ) -> Result:
            # ``python -m`` puts the working directory first on sys.path: run a --before tree
            # from inside it, or a bench started in this checkout would measure this one twice.
            cwd = env.get("PYTHONPATH") if env else None
            proc = Proc(pin_to(0, pin) + argv, port, env, cwd)
            procs.append(proc)
            try:
                url = f"http://127.0.0.1:{port}{'/' if target else path}"
                return measure(name, proc, url, args, target)
            finally:
                proc.stop()

        if want("bare"):
            (tmp / "bare.py").write_text(BARE_PROXY)
            port = free_port()
            results.append(
                scenario(
                    "bare aiohttp proxy",
                    [py, str(tmp / "bare.py"), f"http://127.0.0.1:{origin_port}", str(port)],
                    port,
                )
            )
        if want("nginx") and shutil.which("nginx"):
            port = free_port()
            conf = tmp / "nginx-proxy.conf"
            conf.write_text(NGINX_PROXY_CONF.format(dir=tmp, port=port, origin_port=origin_port))
            results.append(scenario(NGINX_NAME, ["nginx", "-c", str(conf)], port))
        if want("workbench"):
            port = free_port()
            cfg = tmp / "wb.yaml"
            cfg.write_text(workbench_config(origin_port, port, cache=False, rules=10))
            results.append(
                scenario(
                    WORKBENCH_NAME,
                    [py, "-m", "workbench", "run", str(cfg), "--headless", "--log-format", "json"],
                    port,
                )
            )
        if args.before and want("workbench"):
            # The same scenario on another source tree (e.g. a checkout before a change), so a
            # change's cost is measured in the same run as the change.
            before = str(Path(args.before).resolve())
            port = free_port()
            cfg = tmp / "wb-before.yaml"
            cfg.write_text(workbench_config(origin_port, port, cache=False, rules=10))
            results.append(
                scenario(
                    BEFORE_NAME,
                    [py, "-m", "workbench", "run", str(cfg), "--headless", "--log-format", "json"],
                    port,
                    env={"PYTHONPATH": before},
                )
            )
        if want("forward"):
            port = free_port()
            cfg = tmp / "wb-forward.yaml"
            cfg.write_text(forward_config(port, rules=10))
            results.append(
                scenario(
                    FORWARD_NAME,
                    [py, "-m", "workbench", "run", str(cfg), "--headless", "--log-format", "json"],
                    port,
                    target=f"http://127.0.0.1:{origin_port}/",
                )
            )
        if want("ui"):
            port = free_port()
            cfg = tmp / "wb-ui.yaml"
            cfg.write_text(workbench_config(origin_port, port, cache=False, rules=10))
            report = tmp / "ui-report.json"
            results.append(
                scenario(
                    "workbench + TUI (headless app)",
                    [py, "-m", "workbench.devtools.bench_ui", str(cfg), "--report", str(report)],
                    port,
                )
            )
            # scenario() has stopped the process: SIGTERM makes it write the report.
            ui_report = json.loads(report.read_text()) if report.exists() else None
        if want("memory"):
            (tmp / "mem.py").write_text(MEMORY_SERVER)
            port = free_port()
            results.append(
                scenario(
                    "aiohttp answering from memory",
                    [py, str(tmp / "mem.py"), str(port), str(args.body_size)],
                    port,
                )
            )
        if want("cache-hit"):
            port = free_port()
            cfg = tmp / "wb-cache.yaml"
            cfg.write_text(workbench_config(origin_port, port, cache=True, rules=10))
            results.append(
                scenario(
                    "workbench cache hits",
                    [py, "-m", "workbench", "run", str(cfg), "--headless", "--log-format", "none"],
                    port,
                    "/cache/item",
                )
            )
        if args.before and want("cache-hit"):
            port = free_port()
            cfg = tmp / "wb-cache-before.yaml"
            cfg.write_text(workbench_config(origin_port, port, cache=True, rules=10))
            results.append(
                scenario(
                    BEFORE_HIT_NAME,
                    [py, "-m", "workbench", "run", str(cfg), "--headless", "--log-format", "none"],
                    port,
                    "/cache/item",
                    env={"PYTHONPATH": str(Path(args.before).resolve())},
                )
            )
    finally:
        for p in procs:
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print_report(results, ui_report, as_json=bool(args.__dict__.get("json")))
    return 0


def print_report(results: list[Result], ui_report: dict | None, *, as_json: bool) -> None:
    """The table of results, then the ratios that have targets (same-run figures only)."""
    print()
    print(
        f"{'scenario':36} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'CPU µs/req':>11} {'RSS MiB':>8} {'errors':>7}"
    )
    for r in results:
        print(
            f"{r.name:36} {r.rps:9.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} "
            f"{r.cpu_us:11.1f} {r.rss_mib:8.1f} {r.errors:7d}"
        )
    by = {r.name: r for r in results}
    bare = by.get("bare aiohttp proxy")
    wb = by.get(WORKBENCH_NAME)
    hit = by.get("workbench cache hits")
    mem = by.get("aiohttp answering from memory")
    nginx = by.get(NGINX_NAME)
    print()
    if bare and wb:
        print(f"workbench / bare proxy throughput: {wb.rps / bare.rps:.2f}×  (target ≥ 2×)")
    before = by.get(BEFORE_NAME)
    if before and wb:
        print(f"workbench / same on --before tree:  {wb.rps / before.rps:.2f}×  (target ≥ 0.95×)")
    before_hit = by.get(BEFORE_HIT_NAME)
    if before_hit and hit:
        print(f"cache hits / same on --before tree: {hit.rps / before_hit.rps:.2f}×")
    fwd = by.get(FORWARD_NAME)
    if fwd and wb:
        print(f"forward / reverse proxy:            {fwd.rps / wb.rps:.2f}×  (target ≥ 0.9×)")
    if hit and wb:
        print(f"cache hits / workbench misses:      {hit.rps / wb.rps:.2f}×  (target ≥ 2×)")
    if hit and mem:
        print(f"cache hits / aiohttp from memory:   {hit.rps / mem.rps:.2f}×  (target ≥ 0.8×)")
    if nginx and wb:
        print(f"workbench / nginx reverse proxy:    {wb.rps / nginx.rps:.2f}×")
    if nginx and hit:
        print(f"cache hits / nginx reverse proxy:   {hit.rps / nginx.rps:.2f}×")
    ui = by.get("workbench + TUI (headless app)")
    if ui:
        print(_ui_summary(ui, wb, ui_report))
    if as_json:
        print(json.dumps([r.__dict__ for r in results]))
