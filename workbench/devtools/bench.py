"""``workbench bench``: throughput, latency, CPU per request and RSS against same-run baselines.

Every proxy under test runs in its own process pinned to core 0, with the origin and the load
generator on core 1 (when there are two cores and ``taskset`` exists). Scenarios (``--only`` names):

- ``origin``: the origin alone (what the load generator can reach without a proxy)
- ``bare``: the fairest aiohttp pass-through (the baseline): low-level ``web.Server``, one shared
  ``ClientSession`` with ``DummyCookieJar`` and ``skip_auto_headers``, uvloop
- ``nginx``: nginx as a reverse proxy (1 worker, keep-alive upstream, no cache), when installed
- ``workbench``: ``workbench run --headless`` with records, stats, 10 rules, health checks and the
  JSON access log (to /dev/null) on; with ``--before TREE`` the same again from that source tree
- ``capture-off``: the ``workbench`` scenario with body capture off (``records.body_cap: 0``);
  ``workbench`` runs with the default capture (1 MiB per body), so their ratio is capture's cost
- ``forward``: the workbench forward proxy, same rules and log, absolute-form requests
- ``intercept-idle``: the ``forward`` scenario with HTTPS interception (``forward.intercept.hosts``,
  a CA in the run's temporary folder) and an intercept (hold) filter both set, matching nothing
- ``memory``: an aiohttp server answering the same body from memory (the cache-hit yardstick)
- ``cache-hit``: the workbench serving the body from its cache (and from ``--before TREE``)
- ``ui``: the ``workbench`` scenario with the TUI attached (``workbench.devtools.bench_ui``: the
  real app under ``App.run_test``, headless, 160×45, Traffic view following); also reports redraw
  and key-press latency from inside the app

The machine's speed drifts (±20 % over minutes on a shared VM), so scenarios are not measured one
after another. Every process is started up front and left running; once all listen, each gets a
1 s warm-up, then the rounds go round the scenarios: each round measures every scenario once, in
the order :func:`~workbench.devtools.bench_run.round_order` gives (the start moves on, every other
round runs backwards). Between its turns a process sits idle; the workbench's health checks (one
a second) and timers cost next to nothing, and the report says how much CPU the idle processes
used while another was measured. A ratio between two scenarios is computed within each round and
its median over the rounds is reported, with every round's value. The ``ui`` process would keep
redrawing while idle, so it is started only after those rounds and measured in rounds of its own,
alternating with the headless workbench (still running), for its ratio.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
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
from workbench.devtools.bench_report import print_report
from workbench.devtools.bench_run import (
    Proc,
    Result,
    Round,
    free_port,
    measure_round,
    pin_to,
    round_order,
    run_load,
)

SCENARIOS = (
    "origin",
    "bare",
    "nginx",
    "workbench",
    "capture-off",
    "forward",
    "intercept-idle",
    "ui",
    "memory",
    "cache-hit",
)
"""The names ``--only`` takes (``before`` and ``before-hit`` come with ``--before``)."""

WORKBENCH_NAME = "workbench (rules, stats, health, log)"


@dataclass
class Scenario:
    """One thing measured: a URL (and request target) served by ``proc`` (None: the origin)."""

    key: str
    name: str
    url: str
    proc: Proc | None
    target: str | None = None
    rounds: list[Round] = field(default_factory=list)

    def result(self) -> Result:
        """Medians over the rounds so far; RSS now."""
        rss = self.proc.rss_mib() if self.proc else float("nan")
        return Result.of(self.key, self.name, self.rounds, rss)


class Bench:
    """The processes of one ``workbench bench`` run, and how to start and measure them."""

    def __init__(self, args, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.pin = not args.no_pin
        self.procs: list[Proc] = []
        """The scenarios' processes (all on core 0 when pinned)."""
        self.origin: Proc | None = None
        self.py = sys.executable
        self.before = str(Path(args.before).resolve()) if args.before else ""

    def start(
        self,
        key: str,
        name: str,
        argv: list[str],
        port: int,
        path: str = "/",
        env: dict | None = None,
        target: str | None = None,
        ready_text: bytes = b"",
    ) -> Scenario:
        """Start a proxy (on core 0) without waiting for it to listen."""
        # ``python -m`` puts the working directory first on sys.path: run a --before tree from
        # inside it, or a bench started in this checkout would measure this one twice.
        cwd = env.get("PYTHONPATH") if env else None
        proc = Proc(pin_to(0, self.pin) + argv, port, env, cwd, name=name, ready_text=ready_text)
        self.procs.append(proc)
        url = f"http://127.0.0.1:{port}{'/' if target else path}"
        return Scenario(key, name, url, proc, target)

    def workbench(
        self,
        key: str,
        name: str,
        config: Callable[[int], str],
        *,
        log: str = "json",
        path: str = "/",
        before: bool = False,
        target: str | None = None,
    ) -> Scenario:
        """``workbench run CONFIG --headless``; ``config(port)`` gives the YAML."""
        port = free_port()
        cfg = self.tmp / f"{key}.yaml"
        cfg.write_text(config(port))
        argv = [self.py, "-m", "workbench", "run", str(cfg), "--headless", "--log-format", log]
        env = {"PYTHONPATH": self.before} if before else None
        return self.start(key, name, argv, port, path, env, target)

    def interleave(self, scenarios: list[Scenario], phase: str) -> None:
        """``args.rounds`` rounds, each measuring every scenario once (see ``round_order``);
        progress on stderr, each line starting with ``phase``."""
        for r in range(self.args.rounds):
            order = [scenarios[i] for i in round_order(len(scenarios), r)]
            print(
                f"{phase}round {r + 1}/{self.args.rounds}: " + ", ".join(s.key for s in order),
                file=sys.stderr,
                flush=True,
            )
            for sc in order:
                self.measure(sc)

    def measure(self, sc: Scenario) -> None:
        """One turn of ``sc``, the others idle; RuntimeError if any process has died."""
        for p in [*self.procs, *([self.origin] if self.origin else [])]:
            p.check_alive()
        idle = [p for p in self.procs if p is not sc.proc]
        sc.rounds.append(measure_round(sc.url, sc.proc, idle, self.args, sc.target))

    def warm_up(self, scenarios: list[Scenario]) -> None:
        """Wait until every process listens, then 1 s of load on each (connections, caches)."""
        for sc in scenarios:
            if sc.proc:
                sc.proc.wait_ready()
        for sc in scenarios:
            run_load(sc.url, 1.0, self.args, sc.target)

    def stop(self) -> None:
        """Stop every process this run started."""
        for p in [*self.procs, *([self.origin] if self.origin else [])]:
            p.stop()


def _start_scenarios(bench: Bench, want, origin_port: int) -> list[Scenario]:
    """Start every wanted scenario but ``ui`` (not waiting); partners in a ratio sit close."""
    args, tmp, py = bench.args, bench.tmp, bench.py
    origin_url = f"http://127.0.0.1:{origin_port}"
    out: list[Scenario] = []
    if want("origin"):
        out.append(Scenario("origin", "origin alone", origin_url + "/", None))
    if want("bare"):
        (tmp / "bare.py").write_text(BARE_PROXY)
        port = free_port()
        argv = [py, str(tmp / "bare.py"), origin_url, str(port)]
        out.append(bench.start("bare", "bare aiohttp proxy", argv, port))

    def reverse(port: int) -> str:
        return workbench_config(origin_port, port, cache=False, rules=10)

    def cached(port: int) -> str:
        return workbench_config(origin_port, port, cache=True, rules=10)

    def no_capture(port: int) -> str:
        return workbench_config(origin_port, port, cache=False, rules=10, body_cap=0)

    if want("workbench"):
        out.append(bench.workbench("workbench", WORKBENCH_NAME, reverse))
        if args.before:
            # The same scenario on another source tree (e.g. a checkout before a change), so a
            # change's cost is measured in the same run as the change.
            name = "workbench on the --before tree"
            out.append(bench.workbench("before", name, reverse, before=True))
    if want("capture-off"):
        out.append(bench.workbench("capture-off", "workbench, body capture off", no_capture))
    if want("forward"):
        out.append(
            bench.workbench(
                "forward",
                "workbench forward proxy",
                lambda port: forward_config(port, rules=10),
                target=origin_url + "/",
            )
        )
    if want("intercept-idle"):
        ca = str(tmp / "ca")  # the CA is created at start; never the user's own
        out.append(
            bench.workbench(
                "intercept-idle",
                "forward, intercept set, no match",
                lambda port: forward_config(port, rules=10, idle_intercept_ca=ca),
                target=origin_url + "/",
            )
        )
    if want("nginx") and shutil.which("nginx"):
        port = free_port()
        conf = tmp / "nginx-proxy.conf"
        conf.write_text(NGINX_PROXY_CONF.format(dir=tmp, port=port, origin_port=origin_port))
        out.append(bench.start("nginx", "nginx reverse proxy", ["nginx", "-c", str(conf)], port))
    if want("cache-hit"):
        hits = "workbench cache hits"
        out.append(bench.workbench("cache-hit", hits, cached, log="none", path="/cache/item"))
        if args.before:
            name = "cache hits on the --before tree"
            out.append(
                bench.workbench(
                    "before-hit", name, cached, log="none", path="/cache/item", before=True
                )
            )
    if want("memory"):
        (tmp / "mem.py").write_text(MEMORY_SERVER)
        port = free_port()
        argv = [py, str(tmp / "mem.py"), str(port), str(args.body_size)]
        out.append(bench.start("memory", "aiohttp answering from memory", argv, port))
    return out


def _start_origin(bench: Bench, port: int) -> str:
    """Start the origin on core 1 (nginx when installed); what it is."""
    args, tmp = bench.args, bench.tmp
    (tmp / "body").write_bytes(b"x" * args.body_size)
    if shutil.which("nginx"):
        (tmp / "nginx.conf").write_text(NGINX_CONF.format(dir=tmp, port=port))
        argv = ["nginx", "-c", str(tmp / "nginx.conf")]
        kind = "nginx"
    else:
        (tmp / "origin.py").write_text(FAST_ORIGIN)
        argv = [bench.py, str(tmp / "origin.py"), str(port), str(args.body_size)]
        kind = "built-in httptools origin"
    bench.origin = Proc(pin_to(1, bench.pin) + argv, port, name="origin")
    return kind


def _ui_rounds(bench: Bench, main: list[Scenario], origin_port: int):
    """The ui phase: the TUI-attached proxy alternating with the headless workbench (still
    running); its results and the app's report (written on SIGTERM)."""
    wb = next(sc for sc in main if sc.key == "workbench")
    port = free_port()
    cfg = bench.tmp / "ui.yaml"
    cfg.write_text(workbench_config(origin_port, port, cache=False, rules=10))
    report = bench.tmp / "ui-report.json"
    argv = [bench.py, "-m", "workbench.devtools.bench_ui", str(cfg), "--report", str(report)]
    argv.append("--keys-under-load-only")
    # The app prints "measuring" once its Traffic view is up; the port opens before that.
    ui = bench.start("ui", "workbench + TUI (headless app)", argv, port, ready_text=b"measuring")
    pair = [Scenario("workbench@ui", "workbench, in the ui rounds", wb.url, wb.proc), ui]
    bench.warm_up([ui])
    bench.interleave(pair, "ui ")
    results = [sc.result() for sc in pair]
    assert ui.proc is not None
    ui.proc.stop()  # SIGTERM: the app writes its report
    return results, (json.loads(report.read_text()) if report.exists() else None)


def _refusal(args) -> str | None:
    """Why these arguments cannot run, or None."""
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = sorted(only - set(SCENARIOS))
    if unknown:
        return f"--only: unknown scenario {', '.join(unknown)} (known: {', '.join(SCENARIOS)})"
    if args.before and not (Path(args.before) / "workbench" / "__init__.py").is_file():
        return f"--before {args.before}: not a source tree (no workbench/__init__.py in it)"
    if args.rounds < 1 or args.duration <= 0 or args.connections < 1:
        return "--rounds and --connections must be at least 1, --duration more than 0"
    return None


def run_bench(args) -> int:
    """Run the scenarios ``args.only`` names (all by default), interleaved; print the report."""
    refusal = _refusal(args)
    if refusal:
        print(f"workbench bench: {refusal}", file=sys.stderr)
        return 2
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    if "ui" in only:
        only.add("workbench")  # the ui figures are relative to the headless workbench
    want = lambda s: not only or s in only  # noqa: E731
    tmp = Path(tempfile.mkdtemp(prefix="workbench-bench-"))
    bench = Bench(args, tmp)
    results: list[Result] = []
    ui_results: list[Result] = []
    ui_report: dict | None = None
    origin_port = free_port()
    wrk = shutil.which("wrk") is not None
    load_kind = "wrk" if wrk else "built-in aiohttp load generator"
    turn = max(1, int(args.duration)) if wrk else args.duration  # wrk takes whole seconds
    pinning = "proxy on core 0, origin and load on core 1" if pin_to(0, bench.pin) else "off"
    try:
        origin_kind = _start_origin(bench, origin_port)
        print(
            f"origin: {origin_kind}; load: {load_kind}, {args.connections} connections; "
            f"{args.rounds} rounds of {turn:g} s per scenario, interleaved; "
            f"body {args.body_size} B"
        )
        print(f"pinning: {pinning}")
        main = _start_scenarios(bench, want, origin_port)
        assert bench.origin is not None
        bench.origin.wait_ready()
        bench.warm_up(main)
        bench.interleave(main, "")
        results = [sc.result() for sc in main]
        if want("ui"):
            try:
                ui_results, ui_report = _ui_rounds(bench, main, origin_port)
            except (RuntimeError, subprocess.CalledProcessError) as e:
                print(f"workbench bench: the ui scenario failed: {e}", file=sys.stderr)
    except (RuntimeError, subprocess.CalledProcessError) as e:
        print(f"workbench bench: {e}", file=sys.stderr)
        return 1
    finally:
        bench.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    setup = {
        "origin": origin_kind,
        "load": load_kind,
        "connections": args.connections,
        "rounds": args.rounds,
        "duration_s": turn,
        "body_size": args.body_size,
        "pinning": pinning,
        "before": bench.before or None,
    }
    as_json = bool(getattr(args, "json", False))
    print_report(results, ui_results, ui_report, setup=setup, as_json=as_json)
    return 0
