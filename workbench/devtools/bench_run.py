"""Running ``workbench bench``: child processes, load generators, one measurement, round order."""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Round:
    """One measurement of one scenario: ``args.duration`` seconds of load."""

    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    """CPU time of the measured process per request (NaN when there is no process to read)."""
    errors: int
    idle_cpu: float
    """Share of a core the other (idle) scenario processes used meanwhile, together."""


@dataclass
class Result:
    """One scenario's medians over its rounds, and the rounds themselves."""

    key: str
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    rss_mib: float
    errors: int
    rounds: list[Round] = field(default_factory=list)

    @classmethod
    def of(cls, key: str, name: str, rounds: list[Round], rss_mib: float) -> Result:
        """The medians of ``rounds`` (errors summed)."""

        def med(attr: str) -> float:
            values = [v for r in rounds if not math.isnan(v := getattr(r, attr))]
            return statistics.median(values) if values else math.nan

        errors = sum(r.errors for r in rounds)
        return cls(
            key,
            name,
            med("rps"),
            med("p50_ms"),
            med("p99_ms"),
            med("cpu_us"),
            rss_mib,
            errors,
            list(rounds),
        )


def round_order(n: int, r: int) -> list[int]:
    """The order in which round ``r`` (from 0) measures ``n`` scenarios.

    Even rounds run forwards, each starting one scenario further on than the even round before;
    every odd round is the round before it backwards. Over such a pair of rounds each scenario's two
    measurements average to the same moment, so a steady drift of the machine's speed favours
    neither side of a ratio, and the scenario measured just before a given one keeps changing.
    """
    if n <= 0:
        return []
    start = (r // 2) % n
    order = [(start + k) % n for k in range(n)]
    return order[::-1] if r % 2 else order


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


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Proc:
    """A child process started for the benchmark, in its own session; stopped on exit.

    Starting does not wait: start every process first, then :meth:`wait_ready` each, so they come
    up side by side. Its stderr goes to an unnamed temporary file (a pipe nobody reads would fill
    up and block a process that lives for minutes); its tail is quoted when the process fails.
    """

    def __init__(
        self,
        argv: list[str],
        port: int,
        env: dict | None = None,
        cwd: str | None = None,
        *,
        name: str = "",
        ready_text: bytes = b"",
    ) -> None:
        self.argv = argv
        self.port = port
        self.name = name or " ".join(argv[-3:])
        self.ready_text = ready_text
        """When set, ready also means this on stdout (stdout is kept only then)."""
        self._err = tempfile.TemporaryFile()
        self._out = tempfile.TemporaryFile() if ready_text else None
        self.p = subprocess.Popen(
            argv,
            stdout=self._out or subprocess.DEVNULL,
            stderr=self._err,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        # taskset execs the real program, so the pid is the program's own.
        return self.p.pid

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the process accepts connections on its port (and has printed ``ready_text``);
        RuntimeError if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if _port_open(self.port) and self._said_ready():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"{self.name}: nothing listening on port {self.port} after {timeout:g}s{self._tail()}"
        )

    def _said_ready(self) -> bool:
        if self._out is None:
            return True
        self._out.seek(0)
        return self.ready_text in self._out.read()

    def check_alive(self) -> None:
        """RuntimeError (with the end of its stderr) if the process has exited."""
        code = self.p.poll()
        if code is not None:
            raise RuntimeError(f"{self.name} exited with status {code}{self._tail()}")

    def cpu_seconds(self) -> float:
        """User + system CPU time so far (NaN once the process is gone)."""
        try:
            return _cpu_seconds(self.pid)
        except (OSError, IndexError, ValueError):
            return math.nan

    def rss_mib(self) -> float:
        """Resident memory now (NaN once the process is gone)."""
        try:
            return _rss_mib(self.pid)
        except OSError:
            return math.nan

    def _tail(self) -> str:
        self._err.seek(0)
        err = self._err.read().decode(errors="replace").strip()
        return f":\n{err[-2000:]}" if err else ""

    def stop(self) -> None:
        """SIGTERM to its process group, SIGKILL after 5 s."""
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
                self.p.wait(5)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait()


def run_wrk(
    url: str, duration: float, connections: int, pin: bool, target: str | None = None
) -> tuple[float, float, float, int, int]:
    """(req/s, p50 ms, p99 ms, requests, errors) from wrk.

    ``target``: an absolute URL sent as the request target (absolute-form, for a forward proxy
    listening at ``url``).
    """
    argv = pin_to(1, pin) + ["wrk", "-t1", f"-c{connections}", f"-d{max(1, int(duration))}s"]
    with tempfile.TemporaryDirectory(prefix="wrk-") as tmp:
        if target is not None:
            script = Path(tmp) / "target.lua"
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


def run_load(
    url: str, duration: float, args, target: str | None = None
) -> tuple[float, float, float, int, int]:
    """``duration`` seconds of load on ``url`` with wrk (on core 1) or, without wrk, the built-in
    aiohttp load generator: (req/s, p50 ms, p99 ms, requests, errors)."""
    if shutil.which("wrk"):
        return run_wrk(url, duration, args.connections, not args.no_pin, target)
    return asyncio.run(_aio_load(url, duration, args.connections, target))


def measure_round(
    url: str,
    proc: Proc | None,
    idle: list[Proc],
    args,
    target: str | None = None,
) -> Round:
    """One round of load on ``url``: figures, CPU per request of ``proc`` over the window, and the
    CPU the ``idle`` processes used meanwhile."""
    cpu0 = proc.cpu_seconds() if proc else math.nan
    idle0 = [p.cpu_seconds() for p in idle]
    t0 = time.monotonic()
    rps, p50, p99, total, errs = run_load(url, args.duration, args, target)
    wall = time.monotonic() - t0
    cpu1 = proc.cpu_seconds() if proc else math.nan
    idle_cpu = sum(b - a for a, b in zip(idle0, (p.cpu_seconds() for p in idle), strict=True))
    cpu_us = (cpu1 - cpu0) / total * 1e6 if total else math.nan
    return Round(rps, p50, p99, cpu_us, errs, idle_cpu / wall if wall > 0 else math.nan)
