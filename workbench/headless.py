"""Headless mode: run the engine, print listeners and an access log, stop cleanly on signals."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import TextIO

from workbench.config.model import Config
from workbench.engine.observe.accesslog import FORMATS, AccessLogWriter
from workbench.runtime import Runtime

DRAIN_INTERVAL = 0.02
"""Seconds between access-log drains while requests finish. Each drain formats, on the proxies'
loop, the records finished since the last one, a batch at a time with the loop running in
between; short turns keep each batch small. An idle writer's turns grow apart (see
:class:`~workbench.engine.observe.accesslog.AccessLogWriter`)."""


async def run_headless(
    config: Config,
    *,
    log_format: str = "combined",
    out: TextIO = sys.stdout,
    stop_event: asyncio.Event | None = None,
) -> int:
    """Run until SIGINT/SIGTERM (or ``stop_event``), then finish in-flight requests and exit."""
    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    runtime = Runtime(config)
    await runtime.start()
    for line in runtime.listener_lines():
        print(line, file=out, flush=True)
    fmt = FORMATS.get(log_format)
    log = AccessLogWriter(runtime.engine, out, fmt, interval=DRAIN_INTERVAL) if fmt else None
    try:
        if log is not None:
            await log.run(stop)
        else:
            await stop.wait()
    finally:
        print("stopping: finishing in-flight requests", file=sys.stderr, flush=True)
        await runtime.stop()
        if log is not None:
            await log.flush()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):
                pass
    return 0
