"""Issue 10's range checks with the real curl client through the reverse proxy's cache.

curl runs as a subprocess (asyncio, so the engine on this loop keeps serving); the tests are
skipped when curl is not installed (CI installs it).
"""

from __future__ import annotations

import asyncio
import collections
import shutil

import pytest
from aiohttp import web
from origin import Origin

from workbench.config.model import (
    Address,
    BackendConfig,
    Config,
    PoolConfig,
    ReverseConfig,
    RouteConfig,
)

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")

MIB = 1 << 20
BIG = bytes(range(256)) * (MIB // 256)
ETAG = '"big-1"'


async def curl(*args: str) -> tuple[int, dict[str, str], bytes]:
    """Run curl; returns the final status, its header fields (lower-case names) and the body."""
    proc = await asyncio.create_subprocess_exec(
        "curl",
        "-sS",
        "-i",
        "--noproxy",
        "*",
        "--max-time",
        "20",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), fields, body


@pytest.fixture
async def cached_big(engine_factory):
    """The reverse proxy's URL of a 1 MiB object already in its cache, and the origin's count."""
    hits: collections.Counter = collections.Counter()

    async def big(request: web.Request) -> web.Response:
        hits[request.headers.get("Range", "full")] += 1
        return web.Response(
            body=BIG, headers={"Cache-Control": "max-age=600", "ETag": ETAG}, content_type="app/x"
        )

    app = web.Application()
    app.router.add_get("/big", big)
    origin = await Origin("big", app).start()
    cfg = Config(
        reverse=ReverseConfig(
            listen=Address("127.0.0.1", 0),
            routes=(RouteConfig(name="all", pool="o"),),
            pools={
                "o": PoolConfig(name="o", backends=(BackendConfig(name="o-1", url=origin.url),))
            },
        )
    )
    eng = await engine_factory(cfg)
    url = eng.listeners["reverse"] + "/big"
    status, fields, body = await curl(url)
    assert (status, len(body)) == (200, MIB)
    assert "stored" in fields["cache-status"]
    yield url, hits
    await origin.stop()


async def test_curl_range_0_99_is_a_206_of_100_bytes_from_the_cache(cached_big):
    url, hits = cached_big
    status, fields, body = await curl("-r", "0-99", url)
    assert status == 206
    assert fields["content-range"] == f"bytes 0-99/{MIB}"
    assert fields["content-length"] == "100"
    assert body == BIG[:100]
    assert fields["cache-status"].startswith("workbench; hit")
    assert hits == {"full": 1}


async def test_curl_suffix_range(cached_big):
    url, hits = cached_big
    status, fields, body = await curl("-r", "-100", url)
    assert status == 206
    assert fields["content-range"] == f"bytes {MIB - 100}-{MIB - 1}/{MIB}"
    assert body == BIG[-100:]
    status, fields, body = await curl("-r", "1048000-", url)
    assert status == 206 and body == BIG[1048000:]
    assert fields["content-range"] == f"bytes 1048000-{MIB - 1}/{MIB}"
    assert hits == {"full": 1}


async def test_curl_if_range_matching_and_not(cached_big):
    url, hits = cached_big
    status, fields, body = await curl("-r", "10-19", "-H", f"If-Range: {ETAG}", url)
    assert (status, body) == (206, BIG[10:20])
    status, fields, body = await curl("-r", "10-19", "-H", 'If-Range: "big-0"', url)
    assert status == 200 and body == BIG and "content-range" not in fields
    # A date validator never matches a weak or absent Last-Modified: the full entity.
    status, _, body = await curl(
        "-r", "10-19", "-H", "If-Range: Sun, 06 Nov 1994 08:49:37 GMT", url
    )
    assert status == 200 and len(body) == MIB
    assert hits == {"full": 1}


async def test_curl_unsatisfiable_range_is_416(cached_big):
    url, hits = cached_big
    status, fields, body = await curl("-r", f"{MIB}-", url)
    assert status == 416
    assert fields["content-range"] == f"bytes */{MIB}"
    assert body == b""
    status, fields, _ = await curl("-r", "2000000-3000000", url)
    assert status == 416 and fields["content-range"] == f"bytes */{MIB}"
    assert hits == {"full": 1}


async def test_curl_multiple_ranges_get_the_whole_object(cached_big):
    url, hits = cached_big
    status, fields, body = await curl("-r", "0-1,5-6", url)
    assert status == 200 and body == BIG  # allowed by RFC 9110 §14.2
    assert fields["content-length"] == str(MIB)
    assert hits == {"full": 1}
