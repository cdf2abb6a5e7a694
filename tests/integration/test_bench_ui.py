"""The UI benchmark as ``workbench bench`` runs it: real app, real traffic, report on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time

import aiohttp

from workbench.devtools.bench_programs import workbench_config
from workbench.devtools.bench_run import free_port


async def test_bench_ui_measures_under_traffic_and_reports_on_sigterm(origins, tmp_path):
    (web,) = await origins("web-1")
    port = free_port()
    cfg = tmp_path / "wb.yaml"
    cfg.write_text(workbench_config(web.port, port, cache=False, rules=2))
    report = tmp_path / "ui.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workbench.devtools.bench_ui",
        str(cfg),
        "--report",
        str(report),
        "--key-interval",
        "0.1",
        "--load-threshold",
        "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 90)
        if line.strip() != b"measuring":  # the child gave up: say why (it writes to stderr)
            await asyncio.wait_for(proc.wait(), 10)
            stderr = (await proc.stderr.read()).decode(errors="replace")
            code = proc.returncode
            raise AssertionError(f"bench_ui exited with {code} before measuring: {stderr}")
        sent = 0
        # Enough traffic to span several ticks and key presses (0.2 s and 0.1 s apart).
        ends = time.monotonic() + 1.5
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < ends or sent < 50:
                async with session.get(f"http://127.0.0.1:{port}/x") as r:
                    assert r.status == 200
                    await r.read()
                sent += 1
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert code == 0, (await proc.stderr.read()).decode()
    data = json.loads(report.read_text())
    assert data["records_total"] >= sent
    for section in ("tick_ms", "frame_ms", "redraw_ms", "key_ms"):
        figures = data[section]["all"]
        assert figures["n"] > 0, section
        assert 0 <= figures["p50"] <= figures["p95"] <= figures["max"], section
    assert set(data["key_ms_by_key"]) >= {"F"}
