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

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

# The fairest aiohttp pass-through we know: the low-level web.Server (no Application, router or
# middleware machinery), one shared ClientSession without cookie handling or auto-added request
# headers, no decompression, uvloop.
BARE_PROXY = textwrap.dedent(
    """
    import asyncio, sys
    import aiohttp
    from aiohttp import web
    try:
        import uvloop; uvloop.install()
    except ImportError:
        pass
    UPSTREAM = sys.argv[1]
    PORT = int(sys.argv[2])
    HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
           "proxy-connection", "proxy-authorization", "proxy-authenticate", "content-length"}
    SKIP = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")

    async def main():
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=SKIP,
            auto_decompress=False,
        )

        async def handler(request):
            headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
            body = await request.read() if request.can_read_body else None
            async with session.request(request.method, UPSTREAM + request.path_qs,
                                       headers=headers, data=body or None,
                                       allow_redirects=False) as r:
                data = await r.read()
                out = {k: v for k, v in r.headers.items() if k.lower() not in HOP}
                return web.Response(status=r.status, body=data, headers=out)

        server = web.Server(handler, access_log=None)
        runner = web.ServerRunner(server)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", PORT, backlog=1024).start()
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)

# nginx as a reverse proxy: one worker, keep-alive to the origin, no cache, no access log. Without
# a master process the one process that serves is the one whose CPU time the bench reads.
NGINX_PROXY_CONF = """
worker_processes 1;
master_process off;
daemon off;
pid {dir}/nginx-proxy.pid;
error_log {dir}/proxy-error.log crit;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir};
  proxy_temp_path {dir};
  fastcgi_temp_path {dir};
  uwsgi_temp_path {dir};
  scgi_temp_path {dir};
  keepalive_requests 1000000;
  upstream origin {{
    server 127.0.0.1:{origin_port};
    keepalive 64;
    keepalive_requests 1000000;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_buffering on;
    }}
  }}
}}
"""

MEMORY_SERVER = textwrap.dedent(
    """
    import asyncio, sys
    from aiohttp import web
    try:
        import uvloop; uvloop.install()
    except ImportError:
        pass
    PORT = int(sys.argv[1]); SIZE = int(sys.argv[2])
    BODY = b"x" * SIZE
    async def handler(request):
        return web.Response(body=BODY, content_type="text/plain",
                            headers={"Cache-Control": "max-age=3600"})
    async def main():
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", PORT).start()
        print("ready", flush=True)
        await asyncio.Event().wait()
    asyncio.run(main())
    """
)

# A lean origin for when nginx is not installed: fixed response, httptools, keep-alive.
FAST_ORIGIN = textwrap.dedent(
    """
    import asyncio, sys
    import httptools
    try:
        import uvloop; uvloop.install()
    except ImportError:
        pass
    PORT = int(sys.argv[1]); SIZE = int(sys.argv[2])
    BODY = b"x" * SIZE
    RESP = (b"HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nCache-Control: %s\\r\\n"
            b"Content-Length: %d\\r\\n\\r\\n")
    class P(asyncio.Protocol):
        def connection_made(self, t):
            self.t = t; self.p = httptools.HttpRequestParser(self); self.url = b""
        def data_received(self, d):
            try:
                self.p.feed_data(d)
            except httptools.HttpParserError:
                self.t.close()
        def on_url(self, u):
            self.url = u
        def on_message_complete(self):
            cc = b"max-age=3600" if b"cache" in self.url else b"no-store"
            self.t.write(RESP % (cc, SIZE) + BODY)
    async def main():
        loop = asyncio.get_running_loop()
        await loop.create_server(P, "127.0.0.1", PORT, backlog=1024)
        print("ready", flush=True)
        await asyncio.Event().wait()
    asyncio.run(main())
    """
)

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log crit;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir};
  proxy_temp_path {dir};
  fastcgi_temp_path {dir};
  uwsgi_temp_path {dir};
  scgi_temp_path {dir};
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port};
    location /cache {{
      add_header Cache-Control "max-age=3600"; root {dir}; try_files /body =404;
      default_type text/plain;
    }}
    location / {{
      add_header Cache-Control "no-store"; root {dir}; try_files /body =404;
      default_type text/plain;
    }}
    location = /healthz {{ return 200 "ok"; }}
  }}
}}
"""


WORKBENCH_NAME = "workbench (rules, stats, health, log)"
NGINX_NAME = "nginx reverse proxy"
BEFORE_NAME = "workbench on the --before tree"
BEFORE_HIT_NAME = "cache hits on the --before tree"
FORWARD_NAME = "workbench forward proxy"


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    rss_mib: float
    errors: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pin(core: int, pin: bool) -> list[str]:
    if pin and shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(core)]
    return []


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port} after {timeout}s")


class Proc:
    """A child process started for the benchmark, killed on exit."""

    def __init__(
        self, argv: list[str], port: int, env: dict | None = None, cwd: str | None = None
    ) -> None:
        self.p = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
        try:
            _wait_port(port)
        except RuntimeError:
            self.stop()
            err = self.p.stderr.read().decode(errors="replace") if self.p.stderr else ""
            raise RuntimeError(f"{argv[-3:]} did not start: {err[-2000:]}") from None

    @property
    def pid(self) -> int:
        # taskset execs the real program, so the pid is the program's own.
        return self.p.pid

    def stop(self) -> None:
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
                self.p.wait(5)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()


def run_wrk(
    url: str, duration: float, connections: int, pin: bool, target: str | None = None
) -> tuple[float, float, float, int, int]:
    """(req/s, p50 ms, p99 ms, requests, errors) from wrk.

    ``target``: an absolute URL sent as the request target (absolute-form, for a forward proxy
    listening at ``url``).
    """
    argv = _pin(1, pin) + ["wrk", "-t1", f"-c{connections}", f"-d{max(1, int(duration))}s"]
    if target is not None:
        script = Path(tempfile.mkdtemp(prefix="wrk-")) / "target.lua"
        script.write_text(f'wrk.path = "{target}"\n')
        argv += ["-s", str(script)]
    argv += ["--latency", url]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))

    def pct(label: str) -> float:
        m = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out)
        if not m:
            return float("nan")
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    errs = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errs += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errs += sum(int(x) for x in m.groups())
    return rps, pct("50"), pct("99"), total, errs


async def _aio_load(
    url: str, duration: float, connections: int, target: str | None = None
) -> tuple[float, float, float, int, int]:
    import aiohttp

    lat: list[float] = []
    errors = 0
    stop_at = time.monotonic() + duration

    async def worker(session):
        nonlocal errors
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            try:
                get = session.get(target, proxy=url) if target else session.get(url)
                async with get as r:
                    await r.read()
                    if r.status >= 400:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
            lat.append(time.perf_counter() - t0)

    conn = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=conn) as s:
        t0 = time.monotonic()
        await asyncio.gather(*(worker(s) for _ in range(connections)))
        elapsed = time.monotonic() - t0
    lat.sort()
    n = len(lat)
    p = (lambda q: lat[min(n - 1, int(q * n))] * 1000) if n else (lambda q: float("nan"))
    return n / elapsed, p(0.5), p(0.99), n, errors


def measure(name: str, proc: Proc | None, url: str, args, target: str | None = None) -> Result:
    pin = not args.no_pin
    use_wrk = shutil.which("wrk") is not None
    load = (
        (lambda d: run_wrk(url, d, args.connections, pin, target))
        if use_wrk
        else (lambda d: asyncio.run(_aio_load(url, d, args.connections, target)))
    )
    load(1.0)  # warm-up: connections, caches, pools
    rounds = []
    for _ in range(args.rounds):
        cpu0 = _cpu_seconds(proc.pid) if proc else 0.0
        rps, p50, p99, total, errs = load(args.duration)
        cpu1 = _cpu_seconds(proc.pid) if proc else 0.0
        cpu_us = (cpu1 - cpu0) / total * 1e6 if (proc and total) else float("nan")
        rounds.append((rps, p50, p99, cpu_us, errs))
    rss = _rss_mib(proc.pid) if proc else float("nan")
    med = lambda i: statistics.median(r[i] for r in rounds)  # noqa: E731
    return Result(name, med(0), med(1), med(2), med(3), rss, sum(r[4] for r in rounds))


def forward_config(port: int, rules: int) -> str:
    """The forward proxy with the same 10 rules, stats and records, no cache, JSON access log."""
    rule_lines = "\n".join(
        f'  - {{ name: r{i}, when: "~d blocked{i}.test | ~u ^/never{i}/", action: block }}'
        for i in range(rules)
    )
    return (
        f"version: 1\nforward:\n  listen: 127.0.0.1:{port}\n  cache: false\nrules:\n"
        + (rule_lines or "  []")
        + "\n"
    )


def workbench_config(origin_port: int, port: int, cache: bool, rules: int) -> str:
    rule_lines = "\n".join(
        f'  - {{ name: r{i}, when: "~d blocked{i}.test | ~u ^/never{i}/", action: block }}'
        for i in range(rules)
    )
    return (
        textwrap.dedent(
            f"""\
        version: 1
        reverse:
          listen: 127.0.0.1:{port}
          cache: {str(cache).lower()}
          routes:
            - {{ name: all, path_prefix: /, pool: origin }}
          pools:
            origin:
              algorithm: weighted_round_robin
              backends:
                - {{ name: origin-1, url: "http://127.0.0.1:{origin_port}", weight: 1 }}
              health: {{ path: /healthz, interval: 1s, timeout: 1s }}
        cache:
          max_size: 64MiB
        rules:
        """
        )
        + (rule_lines or "  []")
        + "\n"
    )


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
            origin = Proc(_pin(1, pin) + ["nginx", "-c", str(tmp / "nginx.conf")], origin_port)
            origin_kind = "nginx"
        else:
            (tmp / "origin.py").write_text(FAST_ORIGIN)
            origin = Proc(
                _pin(1, pin) + [py, str(tmp / "origin.py"), str(origin_port), str(args.body_size)],
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
            + ("proxy on core 0, origin and load on core 1" if pin and _pin(0, pin) else "off")
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
            proc = Proc(_pin(0, pin) + argv, port, env, cwd)
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
    if args.__dict__.get("json"):
        print(json.dumps([r.__dict__ for r in results]))
    return 0
