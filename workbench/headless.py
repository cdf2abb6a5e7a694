"""Headless mode: run the engine, print listeners and an access log, stop cleanly on signals."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import TextIO

from workbench.config.model import Config
from workbench.engine.observe.accesslog import combined, json_line
from workbench.runtime import Runtime

DRAIN_INTERVAL = 0.1


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
    fmt = {"json": json_line, "combined": combined}.get(log_format)
    cursor = 0
    engine = runtime.engine
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), DRAIN_INTERVAL)
            except TimeoutError:
                pass
            cursor = _drain(engine, cursor, fmt, out)
    finally:
        print("stopping: finishing in-flight requests", file=sys.stderr, flush=True)
        await runtime.stop()
        _drain(engine, cursor, fmt, out)
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):
                pass
    return 0


def _drain(engine, cursor: int, fmt, out: TextIO) -> int:
    if fmt is None:
        return cursor
    records, cursor, skipped = engine.records_since(cursor, 5000)
    if skipped:
        print(f"# {skipped} requests not logged (record buffer overflowed)", file=out)
    if records:
        out.write("".join(fmt(r) + "\n" for r in records))
        out.flush()
    return cursor
