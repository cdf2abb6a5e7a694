"""Running a ``workbench bench`` scenario: child processes, load generators, measurements."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    """One scenario's medians over its rounds."""

    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    rss_mib: float
    errors: int


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin_to(core: int, pin: bool) -> list[str]:
    """The command prefix that pins a child process to ``core`` (empty when pinning is off)."""
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
    argv = pin_to(1, pin) + ["wrk", "-t1", f"-c{connections}", f"-d{max(1, int(duration))}s"]
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
    """Warm up, then ``args.rounds`` rounds of load on ``url``; CPU and RSS of ``proc``."""
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
