"""``workbench serve``: the same TUI in a web page, for projectors and students' own screens.

Built on textual-serve: each browser tab that opens the page starts its own ``workbench``
process (the classroom, or ``workbench run CONFIG``) and talks to it over a websocket. The server
listens on loopback by default. Bound to any other address it prints a warning and requires a
token: the page and its websocket answer 403 unless the URL carries ``?token=...`` (one is
generated when ``--token`` is not given, and the full URL is printed).
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import shlex
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

import aiohttp_jinja2
from aiohttp import web
from textual_serve.server import Server

__all__ = ["WorkbenchServer", "is_loopback", "run_serve"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def needs_token(path: str) -> bool:
    """The page, its websocket and downloads need the token; its static scripts don't."""
    return path == "/" or path == "/ws" or path.startswith("/download/")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class WorkbenchServer(Server):
    """textual-serve's server with a token check, an ephemeral port and plain start-up lines."""

    def __init__(self, command: str, host: str, port: int, token: str | None, title: str) -> None:
        super().__init__(command, host=host, port=port, title=title)
        self.token = token

    @web.middleware
    async def _check_token(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.token is not None and needs_token(request.path):
            given = request.query.get("token", "")
            if not secrets.compare_digest(given.encode(), self.token.encode()):
                return web.Response(
                    status=403,
                    text="This workbench needs its token: open the URL printed by "
                    "`workbench serve` (it ends in ?token=...).\n",
                )
        return await handler(request)

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._check_token)
        # The page's script appends "?width=..&height=.." to the websocket URL, so the token
        # travels in the path there.
        app.router.add_get("/ws/{token}", self._websocket_with_token, name="websocket-token")
        return app

    async def _websocket_with_token(self, request: web.Request) -> web.StreamResponse:
        given = request.match_info["token"]
        if self.token is None or not secrets.compare_digest(given.encode(), self.token.encode()):
            return web.Response(status=403, text="wrong token\n")
        return await self.handle_websocket(request)

    async def on_startup(self, app: web.Application) -> None:
        """Say nothing here: :func:`run_serve` prints the real address once it is bound."""

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        """The page, with URLs built from the address the browser used (and the token)."""
        base = f"{request.scheme}://{request.host}"
        ws = ("wss:" if request.scheme == "https" else "ws:") + base.split(":", 1)[1]
        if self.token is not None:
            ws += str(request.app.router["websocket-token"].url_for(token=self.token))
        else:
            ws += str(request.app.router["websocket"].url_for())
        static = base + str(request.app.router["static"].url_for(filename="/")).rstrip("/") + "/"
        try:
            font_size = int(request.query.get("fontsize", "16"))
        except ValueError:
            font_size = 16
        return {
            "font_size": font_size,
            "app_websocket_url": ws,
            "config": {"static": {"url": static}},
            "application": {"name": self.title},
        }


def serve_command(config: str | None) -> str:
    """The command each browser tab runs: this Python, this workbench, the same config."""
    parts = [sys.executable, "-m", "workbench"]
    if config:
        parts += ["run", config]
    return shlex.join(parts)


async def run_serve(
    config: str | None,
    host: str,
    port: int,
    token: str | None,
    *,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    stop_event: asyncio.Event | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM (or ``stop_event``); prints the URL to open."""
    if not is_loopback(host):
        print(
            f"warning: serving on {host}, which other machines can reach. Anyone with the URL "
            "below controls the proxies; share it only with your class.",
            file=err,
            flush=True,
        )
        if token is None:
            token = secrets.token_urlsafe(16)
    server = WorkbenchServer(
        serve_command(config), host, port, token, title=f"Proxy Workbench {config or ''}".strip()
    )
    app = await server._make_app()
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        print(f"workbench serve: cannot listen on {host}:{port}: {exc.strerror or exc}", file=err)
        return 1
    sockets = getattr(site._server, "sockets", None) or ()  # noqa: SLF001 - the bound port
    bound = sockets[0].getsockname()[1] if sockets else port
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}/" + (f"?token={token}" if token else "")
    print(f"workbench served on {url}", file=out, flush=True)
    print("each browser tab runs its own workbench; Ctrl+C stops serving", file=out, flush=True)
    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0
