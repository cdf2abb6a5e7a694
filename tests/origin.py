"""Real origin servers for tests: small aiohttp apps on 127.0.0.1, ephemeral ports."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

STATE = web.AppKey("state", dict)


def make_origin_app(name: str) -> web.Application:
    """An origin that says who it is, echoes what it received and misbehaves on request."""
    state = {"hits": 0, "health_status": 200}

    async def index(request: web.Request) -> web.Response:
        state["hits"] += 1
        return web.Response(
            text=f"hello from {name}\n",
            headers={"X-Backend": name, "Server": "origin/1.0", "X-Powered-By": "tests"},
        )

    async def echo(request: web.Request) -> web.Response:
        state["hits"] += 1
        body = await request.read()
        data = {
            "backend": name,
            "method": request.method,
            "path": request.path_qs,
            "client": request.remote,
            "headers": [[k, v] for k, v in request.headers.items()],
            "body_len": len(body),
        }
        return web.Response(
            text=json.dumps(data), content_type="application/json", headers={"X-Backend": name}
        )

    async def big(request: web.Request) -> web.StreamResponse:
        size = int(request.query.get("size", "1048576"))
        chunk = b"x" * 65536
        resp = web.StreamResponse(headers={"Content-Length": str(size)})
        await resp.prepare(request)
        left = size
        while left > 0:
            n = min(left, len(chunk))
            await resp.write(chunk[:n])
            left -= n
        await resp.write_eof()
        return resp

    async def chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(5):
            await resp.write(f"part{i};".encode())
        await resp.write_eof()
        return resp

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("delay", "1")))
        return web.Response(text="slow\n")

    async def status(request: web.Request) -> web.Response:
        state["hits"] += 1
        return web.Response(status=int(request.match_info["code"]), text="status\n")

    async def upload(request: web.Request) -> web.Response:
        total = 0
        async for chunk in request.content.iter_chunked(65536):
            total += len(chunk)
        return web.json_response({"received": total, "backend": name})

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(status=state["health_status"], text="ok\n")

    async def encoded(request: web.Request) -> web.Response:
        """A JSON body sent with ``Content-Encoding: CODING`` (br or zstd), whatever was asked."""
        import brotli
        import zstandard

        coding = request.match_info["coding"]
        data = json.dumps({"encoded": coding, "from": name}).encode()
        body = (
            brotli.compress(data) if coding == "br" else zstandard.ZstdCompressor().compress(data)
        )
        return web.Response(
            body=body, content_type="application/json", headers={"Content-Encoding": coding}
        )

    app = web.Application(client_max_size=2**31)
    app[STATE] = state
    app.router.add_get("/", index)
    app.router.add_route("*", "/echo", echo)
    app.router.add_route("*", "/api/echo", echo)
    app.router.add_get("/big", big)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/slow", slow)
    app.router.add_route("*", "/status/{code}", status)
    app.router.add_post("/upload", upload)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/encoded/{coding:br|zstd}", encoded)
    app.router.add_route("*", "/{tail:.*}", index)
    return app


class Origin:
    """A running origin server."""

    def __init__(self, name: str, app: web.Application | None = None) -> None:
        self.name = name
        self.app = app or make_origin_app(name)
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hits(self) -> int:
        return self.app[STATE]["hits"]

    async def start(self, port: int = 0) -> Origin:
        self.runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port or self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


async def wait_for(predicate, timeout: float = 5.0, interval: float = 0.01) -> None:
    """Wait until ``predicate()`` is true, failing after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
