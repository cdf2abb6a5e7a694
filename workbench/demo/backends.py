"""Built-in demo backends: small aiohttp apps on 127.0.0.1 with knobs for injecting faults.

Each backend serves a handful of routes chosen to show one proxy idea each: balancing (the HTML
page names the backend), caching (static assets, ``/etag`` revalidation, ``/lang`` with ``Vary``,
``/private``), slow upstreams (``/slow``), and what a proxy hides or reveals (``/echo`` returns
exactly what the backend received). Every response carries ``X-Backend: NAME``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import random
import signal
import ssl
import sys
import time

from aiohttp import web

# Latency profiles (base ms, jitter ms) handed out in turn, so the backends of a pool differ a
# little, as real servers do, and least-connections has something to notice.
LATENCY_PROFILES: tuple[tuple[float, float], ...] = (
    (2.0, 3.0),
    (8.0, 8.0),
    (20.0, 20.0),
    (5.0, 10.0),
    (12.0, 12.0),
)

DEFAULT_FLAP_PERIOD = 5.0
"""Seconds per health phase when flapping: long enough for rise/fall counters to react."""

_ITEMS = tuple(
    {"id": i, "name": name, "price": price}
    for i, (name, price) in enumerate(
        [
            ("keyboard", 49.0),
            ("mouse", 19.5),
            ("monitor", 189.0),
            ("cable", 4.99),
            ("headset", 59.0),
            ("webcam", 39.0),
            ("dock", 129.0),
            ("lamp", 24.0),
        ],
        start=1,
    )
)
_ITEMS_BY_ID = {item["id"]: item for item in _ITEMS}

# A 1×1 transparent PNG: a real image, so browsers and tools treat it as one.
_LOGO_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
_APP_CSS = (
    b"body { font-family: system-ui, sans-serif; margin: 2rem; }\n"
    b"h1 { color: #4a7bd0; }\n"
    b".backend { font-family: monospace; background: #eef; padding: 0 .3em; }\n"
)
_APP_JS = b"document.title += ' (' + document.querySelector('.backend').textContent + ')';\n"

# name → (body, content type, ETag). The bytes are the same on every backend, so a cached copy
# from one backend revalidates against any other, as with a real deployment.
_STATIC: dict[str, tuple[bytes, str, str]] = {
    name: (body, ctype, '"' + hashlib.sha1(body).hexdigest()[:16] + '"')
    for name, body, ctype in (
        ("app.css", _APP_CSS, "text/css"),
        ("app.js", _APP_JS, "application/javascript"),
        ("logo.png", _LOGO_PNG, "image/png"),
    )
}

_ETAG_BODY = b"This document changes rarely; ask with If-None-Match and get 304.\n"
_ETAG_TAG = '"' + hashlib.sha1(_ETAG_BODY).hexdigest()[:16] + '"'

_GREETINGS = {
    "en": "Hello! This page is in English.",
    "fr": "Bonjour ! Cette page est en français.",
    "de": "Hallo! Diese Seite ist auf Deutsch.",
}


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison as RFC 9110 asks for If-None-Match (``W/`` prefixes are ignored)."""
    if not if_none_match:
        return False
    bare = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == bare:
            return True
    return False


def pick_language(accept_language: str | None) -> str:
    """The best of en/fr/de for an ``Accept-Language`` header (q-values honoured; en default)."""
    if not accept_language:
        return "en"
    best, best_q = "en", 0.0
    for part in accept_language.split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-", 1)[0]
        if primary not in _GREETINGS:
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        if q > best_q:
            best, best_q = primary, q
    return best


class DemoBackend:
    """One built-in backend with fault knobs the classroom can turn while traffic flows.

    ``killed`` is read-only here: use :meth:`kill` and :meth:`revive`, which really close and
    reopen the listening socket (on the same port), so a proxy sees refused connections.
    """

    def __init__(
        self,
        name: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        base_ms: float = 5.0,
        jitter_ms: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        """Serve HTTPS with this context (the classroom's TLS origin); None: plain HTTP."""
        """The bound port once started (the requested one before)."""
        self.base_ms = base_ms
        self.jitter_ms = jitter_ms
        self.extra_latency = 0.0
        """Seconds added to every response (a struggling backend)."""
        self.error_rate = 0.0
        """Share (0..1) of requests answered with 500; /healthz is not affected."""
        self.health_fail = False
        """When true, /healthz answers 503."""
        self.flap = 0.0
        """Flap period in seconds (0: off): /healthz alternates failing and passing each period."""
        self.requests = 0
        self.errors = 0
        self._flap_since = 0.0
        self._killed = False
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._rng = random.Random()

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self.ssl_context is not None:
            # By name: the certificate is for localhost, and interception matches host names.
            return f"https://localhost:{self.port}"
        return f"http://{self.host}:{self.port}"

    @property
    def killed(self) -> bool:
        return self._killed

    @property
    def running(self) -> bool:
        return self._site is not None

    async def start(self) -> DemoBackend:
        """Listen on ``host:port`` (port 0 picks a free one); returns self."""
        if self._runner is not None:
            raise RuntimeError(f"{self.name} is already started")
        runner = web.AppRunner(self._make_app(), access_log=None, handle_signals=False)
        await runner.setup()
        self._runner = runner
        try:
            await self._open()
        except BaseException:
            self._runner = None
            await runner.cleanup()
            raise
        return self

    async def _open(self) -> None:
        assert self._runner is not None
        site = web.TCPSite(
            self._runner, self.host, self.port, reuse_address=True, ssl_context=self.ssl_context
        )
        await site.start()
        self._site = site
        self.port = site.port
        self._killed = False

    async def kill(self) -> None:
        """Stop listening and drop open connections, as a crashed server would."""
        if self._runner is None or self._site is None:
            return
        site, self._site = self._site, None
        self._killed = True
        await site.stop()
        # Closing only the listener would leave a proxy's pooled keep-alive connections working.
        server = self._runner.server
        if server is not None:
            for handler in server.connections:
                if handler.transport is not None:
                    handler.transport.close()

    async def revive(self) -> None:
        """Listen again on the same port after :meth:`kill`."""
        if self._runner is None:
            raise RuntimeError(f"{self.name} was never started")
        if self._site is None:
            await self._open()

    async def stop(self) -> None:
        """Close everything; the backend cannot be revived afterwards."""
        runner, self._runner, self._site = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    # -- behaviour --------------------------------------------------------------------------
    def set_flap(self, period: float) -> None:
        """Flap with ``period`` seconds per phase (0 stops), starting in the failing phase."""
        self.flap = period
        self._flap_since = time.monotonic()

    def healthy(self) -> bool:
        """What /healthz would answer right now (ignoring ``killed``)."""
        if self.health_fail:
            return False
        if self.flap > 0:
            phase = int((time.monotonic() - self._flap_since) / self.flap)
            return phase % 2 == 1
        return True

    def _make_app(self) -> web.Application:
        name = self.name

        @web.middleware
        async def faults(request: web.Request, handler):
            self.requests += 1
            delay = self.extra_latency
            if self.base_ms or self.jitter_ms:
                delay += (self.base_ms + self._rng.random() * self.jitter_ms) / 1000.0
            if delay > 0:
                await asyncio.sleep(delay)
            if (
                self.error_rate > 0
                and request.path != "/healthz"
                and self._rng.random() < self.error_rate
            ):
                self.errors += 1
                return web.Response(
                    status=500,
                    text=f"{name}: injected error (error rate {self.error_rate:.0%})\n",
                    headers={"Cache-Control": "no-store"},
                )
            return await handler(request)

        async def stamp(request: web.Request, response: web.StreamResponse) -> None:
            # A signal rather than middleware: it also covers aiohttp's own 404/405/500 answers.
            response.headers["X-Backend"] = name

        app = web.Application(middlewares=[faults])
        app.on_response_prepare.append(stamp)
        r = app.router
        r.add_get("/", self._index)
        r.add_get("/api/items", self._items)
        r.add_get("/api/items/{id}", self._item)
        r.add_get("/static/{name}", self._static)
        r.add_get("/etag", self._etag)
        r.add_get("/lang", self._lang)
        r.add_get("/private", self._private)
        r.add_get("/slow", self._slow)
        r.add_route("*", "/echo", self._echo)
        r.add_get("/healthz", self._healthz)
        return app

    async def _index(self, request: web.Request) -> web.Response:
        html = (
            "<!doctype html>\n<html><head><title>Workbench demo</title>"
            '<link rel="stylesheet" href="/static/app.css"></head>\n'
            f'<body><h1>Served by <span class="backend">{self.name}</span></h1>\n'
            '<img src="/static/logo.png" alt="logo">\n'
            "<p>Reload: a balancer picks a backend for every request.</p>\n"
            '<script src="/static/app.js"></script></body></html>\n'
        )
        # no-store: the page exists to show which backend answered, so caching would hide that.
        return web.Response(
            text=html, content_type="text/html", headers={"Cache-Control": "no-store"}
        )

    async def _items(self, request: web.Request) -> web.Response:
        body = json.dumps({"backend": self.name, "items": _ITEMS})
        return web.Response(
            text=body,
            content_type="application/json",
            headers={"Cache-Control": "public, max-age=2"},
        )

    async def _item(self, request: web.Request) -> web.Response:
        raw = request.match_info["id"]
        item = _ITEMS_BY_ID.get(int(raw)) if raw.isdigit() else None
        if item is None:
            return web.json_response(
                {"error": f"no item {raw}"}, status=404, headers={"Cache-Control": "no-store"}
            )
        return web.Response(
            text=json.dumps({"backend": self.name, "item": item}),
            content_type="application/json",
            headers={"Cache-Control": "no-cache"},
        )

    async def _static(self, request: web.Request) -> web.Response:
        asset = _STATIC.get(request.match_info["name"])
        if asset is None:
            raise web.HTTPNotFound(text="no such asset\n")
        body, ctype, etag = asset
        headers = {"Cache-Control": "public, max-age=60", "ETag": etag}
        if _etag_matches(request.headers.get("If-None-Match"), etag):
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, content_type=ctype, headers=headers)

    async def _etag(self, request: web.Request) -> web.Response:
        headers = {"Cache-Control": "no-cache", "ETag": _ETAG_TAG}
        if _etag_matches(request.headers.get("If-None-Match"), _ETAG_TAG):
            return web.Response(status=304, headers=headers)
        return web.Response(body=_ETAG_BODY, content_type="text/plain", headers=headers)

    async def _lang(self, request: web.Request) -> web.Response:
        lang = pick_language(request.headers.get("Accept-Language"))
        return web.Response(
            text=_GREETINGS[lang] + "\n",
            content_type="text/plain",
            headers={
                "Vary": "Accept-Language",
                "Content-Language": lang,
                "Cache-Control": "public, max-age=30",
            },
        )

    async def _private(self, request: web.Request) -> web.Response:
        # max-age too, to show that "private" alone keeps a shared cache from storing it.
        return web.Response(
            text=f"Your account page (rendered by {self.name}). Only your browser may keep it.\n",
            content_type="text/plain",
            headers={"Cache-Control": "private, max-age=60"},
        )

    async def _slow(self, request: web.Request) -> web.Response:
        try:
            ms = float(request.query.get("ms", "1000"))
        except ValueError:
            raise web.HTTPBadRequest(text="ms: expected a number of milliseconds\n") from None
        if not math.isfinite(ms) or not 0 <= ms <= 60_000:
            raise web.HTTPBadRequest(text="ms: expected 0 to 60000\n")
        await asyncio.sleep(ms / 1000.0)
        return web.Response(
            text=f"{self.name} took {ms:.0f} ms\n",
            content_type="text/plain",
            headers={"Cache-Control": "no-store"},
        )

    async def _echo(self, request: web.Request) -> web.Response:
        body = await request.read()
        data = {
            "backend": self.name,
            "client": request.remote,
            "method": request.method,
            "path": request.path_qs,
            # Raw headers keep the wire order and spelling, which is what the lesson is about.
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.raw_headers],
            "body_bytes": len(body),
        }
        return web.Response(
            text=json.dumps(data, indent=2),
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    async def _healthz(self, request: web.Request) -> web.Response:
        ok = self.healthy()
        return web.Response(
            status=200 if ok else 503,
            text="ok\n" if ok else "unhealthy\n",
            content_type="text/plain",
            headers={"Cache-Control": "no-store"},
        )


def default_names(count: int, prefix: str = "web") -> list[str]:
    return [f"{prefix}-{i}" for i in range(1, count + 1)]


async def start_demo_backends(
    count: int, base_port: int = 0, names: list[str] | None = None
) -> list[DemoBackend]:
    """Start ``count`` backends (named ``web-1..N`` unless ``names`` is given).

    With ``base_port`` the backends listen on consecutive ports from it; with 0 each gets a free
    ephemeral port. If one fails to start, the ones already started are stopped again.
    """
    if names is None:
        names = default_names(count)
    if len(names) != count:
        raise ValueError(f"expected {count} names, got {len(names)}")
    if len(set(names)) != len(names):
        raise ValueError("demo backend names must be unique")
    started: list[DemoBackend] = []
    try:
        for i, name in enumerate(names):
            base, jitter = LATENCY_PROFILES[i % len(LATENCY_PROFILES)]
            port = base_port + i if base_port else 0
            backend = DemoBackend(name, port=port, base_ms=base, jitter_ms=jitter)
            await backend.start()
            started.append(backend)
    except BaseException:
        for b in started:
            await b.stop()
        raise
    return started


async def run_demo_backends(count: int, base_port: int) -> int:
    """``workbench demo-backends``: run until SIGINT/SIGTERM; exit status."""
    if count < 1:
        print("--count: expected at least 1", file=sys.stderr)
        return 2
    try:
        backends = await start_demo_backends(count, base_port)
    except OSError as exc:
        print(f"cannot start demo backends: {exc}", file=sys.stderr)
        return 1
    for b in backends:
        print(f"{b.name} listening on {b.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    try:
        await stop.wait()
    finally:
        for b in backends:
            await b.stop()
    return 0
