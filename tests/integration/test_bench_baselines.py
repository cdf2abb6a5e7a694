"""The bench's comparison proxies work: the aiohttp baseline and the nginx reverse proxy."""

from __future__ import annotations

import asyncio
import shutil
import socket
import sys

import aiohttp
import pytest

from workbench.devtools.bench_programs import BARE_PROXY, NGINX_PROXY_CONF


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_port(port: int) -> None:
    async with asyncio.timeout(15):
        while True:
            try:
                _, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                return
            except OSError:
                await asyncio.sleep(0.05)


async def fetch_through(proxy_port: int) -> tuple[int, str, str]:
    url = f"http://127.0.0.1:{proxy_port}/echo?x=1"
    async with aiohttp.ClientSession() as s, s.get(url, headers={"X-Probe": "1"}) as r:
        return r.status, r.headers.get("X-Backend", ""), await r.text()


def test_the_baseline_is_the_fairest_aiohttp_pass_through() -> None:
    for piece in ("web.Server(", "DummyCookieJar()", "skip_auto_headers=", "uvloop.install()"):
        assert piece in BARE_PROXY
    assert "web.Application(" not in BARE_PROXY  # no router or middleware machinery


@pytest.mark.parametrize("kind", ["bare", "nginx"])
async def test_comparison_proxy_passes_requests_through(kind, origins, tmp_path):
    if kind == "nginx" and not shutil.which("nginx"):
        pytest.skip("nginx is not installed")
    (origin,) = await origins("origin")
    port = free_port()
    origin_port = int(origin.url.rsplit(":", 1)[1])
    if kind == "bare":
        script = tmp_path / "bare.py"
        script.write_text(BARE_PROXY)
        argv = [sys.executable, str(script), origin.url, str(port)]
    else:
        conf = tmp_path / "proxy.conf"
        conf.write_text(NGINX_PROXY_CONF.format(dir=tmp_path, port=port, origin_port=origin_port))
        argv = ["nginx", "-c", str(conf)]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        await wait_port(port)
        status, backend, text = await fetch_through(port)
        assert status == 200 and backend == "origin"
        assert '"path": "/echo?x=1"' in text and "X-Probe" in text
    finally:
        proc.terminate()
        await proc.wait()
