"""The interception lesson on the real classroom: its HTTPS origin, its CA, a real client.

The check passes only on the student's own decrypted request; a client that does not trust the
CA is refused (and the lesson says so), and nobody else's traffic counts.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest

from workbench.config.model import DemoConfig, TrafficConfig
from workbench.demo.classroom import classroom_config
from workbench.demo.lessons import LessonTracker, addresses, fill, lesson_by_id, unmet_needs


def quiet_classroom():
    """The classroom on free ports, without the demo traffic (only our requests)."""
    from workbench.runtime import _ephemeral

    config = _ephemeral(classroom_config())
    return replace(config, demo=DemoConfig(backends=5, traffic=TrafficConfig(enabled=False)))


async def until_done(tracker: LessonTracker, engine, timeout: float = 5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = tracker.update(engine.snapshot(), engine)
        if result.done or loop.time() > deadline:
            return result
        await asyncio.sleep(0.02)


async def test_the_check_needs_the_students_own_decrypted_request(engine_factory):
    engine = await engine_factory(quiet_classroom())
    snapshot = engine.snapshot()
    lesson = lesson_by_id("intercept")
    assert unmet_needs(lesson, snapshot) is None
    values = addresses(snapshot)
    secure, forward = values["secure_origin"], values["forward"]
    assert secure.startswith("https://localhost:") and secure.endswith(values["secure_port"])
    step = fill(lesson.steps[1], values)
    assert f"-x {forward}" in step and f'"{secure}/echo?student=me"' in step

    tracker = LessonTracker()
    tracker.start(lesson, snapshot)
    url = f"{secure}/echo?student=me"
    async with aiohttp.ClientSession() as s:
        # Not trusting the CA: the client refuses, sends nothing, and the lesson says so.
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await s.get(url, proxy=forward)
        result = await until_done(tracker, engine, timeout=1.0)
        assert not result.done and "refused the certificate" in result.progress
        # Someone else's decrypted request (no marker) does not count.
        ca_file = engine.snapshot()["proxies"]["forward"]["intercept"]["ca_cert"]
        trusted = ssl.create_default_context(cafile=ca_file)
        async with s.get(f"{secure}/echo", proxy=forward, ssl=trusted) as r:
            assert r.status == 200
        assert not (await until_done(tracker, engine, timeout=0.5)).done
        # The student's own, trusting the CA (as --cacert "$(workbench ca --path)" does).
        async with s.post(url, proxy=forward, ssl=trusted, json={"card": "4111"}) as r:
            assert r.status == 200 and (await r.json())["body_bytes"] == len('{"card": "4111"}')
    result = await until_done(tracker, engine)
    assert result.done, result.progress
    assert result.progress.startswith("decrypted: POST /echo?student=me → 200")
    assert "16-byte body" in result.progress
    assert any("refused the workbench's certificate" in line for line in result.evidence)
    # The CA the lesson names with `workbench ca --path` is the one the proxy signs with.
    from workbench.engine.http.ca import CERT_FILE, default_ca_dir

    assert Path(ca_file) == default_ca_dir() / CERT_FILE


async def test_the_classroom_keeps_other_hosts_sealed(engine_factory):
    """127.0.0.1 is not in intercept.hosts: the same origin through it is a plain tunnel."""
    engine = await engine_factory(quiet_classroom())
    values = addresses(engine.snapshot())
    port = values["secure_port"]
    origin_ca = engine.forward.intercept.config.upstream_ca_file  # the origin's own certificate
    ctx = ssl.create_default_context(cafile=origin_ca)
    async with aiohttp.ClientSession() as s:
        async with s.get(
            f"https://127.0.0.1:{port}/echo?student=me", proxy=values["forward"], ssl=ctx
        ) as r:
            assert r.status == 200
    records, _cursor, _skipped = engine.records_since(0, 100)
    assert [(r.method, r.status) for r in records if r.proxy == "forward"] == [("CONNECT", 200)]
    (tunnel,) = records
    assert any(step[:2] == ("connect", "tunnel") for step in tunnel.trace)


async def test_a_busy_8443_moves_the_https_origin_and_connect_ports_follow(monkeypatch):
    from workbench.demo import world as world_module
    from workbench.demo.classroom import SECURE_PORT

    blocker = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    taken = blocker.sockets[0].getsockname()[1]
    monkeypatch.setattr(world_module, "SECURE_PORT", taken)  # as if 8443 were this busy port
    world = world_module.DemoWorld()
    try:
        config = await world.start(quiet_classroom())
        port = world.secure.port
        assert port != taken
        assert world.secure.url == f"https://localhost:{port}"
        assert port in config.forward.connect_ports and 443 in config.forward.connect_ports
        assert SECURE_PORT not in config.forward.connect_ports or SECURE_PORT == port
        assert Path(config.forward.intercept.upstream_ca_file).is_file()
    finally:
        await world.stop()
        blocker.close()
        await blocker.wait_closed()


async def test_another_demo_file_is_a_clear_error():
    from workbench.config.model import InterceptConfig
    from workbench.demo.world import DemoWorld

    config = quiet_classroom()
    config = replace(
        config,
        forward=replace(
            config.forward, intercept=InterceptConfig(hosts=("a",), upstream_ca_file="demo://x")
        ),
    )
    with pytest.raises(ValueError, match="the demo makes no file 'demo://x'"):
        await DemoWorld().start(config)


async def test_a_broken_ca_leaves_the_classroom_open_without_interception(engine_factory, tmp_path):
    import os

    from workbench.engine.http.ca import CERT_FILE, default_ca_dir
    from workbench.runtime import Runtime

    ca_dir = default_ca_dir()
    ca_dir.mkdir(parents=True, exist_ok=True)
    (ca_dir / CERT_FILE).write_text("junk")  # a certificate without its key
    assert os.environ["XDG_DATA_HOME"] in str(ca_dir), "the test's own data folder"
    runtime = Runtime(quiet_classroom())
    try:
        await runtime.start()
        assert any(n.startswith("HTTPS interception is off: ") for n in runtime.notes)
        snapshot = runtime.engine.snapshot()
        assert snapshot["proxies"]["forward"]["intercept"] is None
        why = unmet_needs(lesson_by_id("intercept"), snapshot)
        assert why is not None and "HTTPS interception" in why
    finally:
        await runtime.stop(1)
