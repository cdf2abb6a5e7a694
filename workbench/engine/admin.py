"""The admin HTTP API (JSON) and ``/metrics``, calling the same control methods as the UI.

Every answer to bad input is a 4xx with ``{"error": …, "field": …}`` (unknown routes, wrong
methods, oversized or malformed bodies included); an internal error is a 500 whose text names no
internal detail (the engine's event log and the server log have it). Loopback clients only,
unless a bearer token is configured.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import ipaddress
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from workbench.engine.control import RULE_FIELDS, Result, fields_error

if TYPE_CHECKING:
    from workbench.engine.engine import Engine


MAX_BODY = 1024 * 1024
"""Largest request body the API reads (bytes)."""
PAGE_SLICE = 25
"""Records serialised between two yields to the event loop when answering a page of requests."""


def _dumps(data: Any) -> str:
    return json.dumps(data, default=str)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


class _BadInput(Exception):
    """Raised by a handler's input parsing; answered as a 4xx JSON error."""

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


def _error(message: str, status: int = 400, field: str | None = None) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if field:
        body["field"] = field
    return _json(body, status)


def _result(res: Result, ok_body: Any = None) -> web.Response:
    if res.ok:
        return _json(ok_body if ok_body is not None else {"ok": True, "value": res.value})
    status = res.value if isinstance(res.value, int) else 400
    return _error(res.error or "rejected", status, res.field)


async def _stream_json(
    request: web.Request,
    head: str,
    items: list[Any],
    to_data: Callable[[Any], Any],
    tail: str,
) -> web.StreamResponse:
    """Answer ``head`` + the items as comma-separated JSON + ``tail``, a slice at a time.

    Ten thousand records take about a second to serialise and tens of megabytes: written in
    slices, with the transport's back-pressure between them, neither the proxies sharing this
    loop nor memory feel it as one block.
    """
    resp = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    await resp.prepare(request)
    await resp.write(head.encode())
    for i in range(0, len(items), PAGE_SLICE):
        text = ",".join(_dumps(to_data(x)) for x in items[i : i + PAGE_SLICE])
        await resp.write((b"," if i else b"") + text.encode())
        await asyncio.sleep(0)  # write() only yields when the buffer is full
    await resp.write(tail.encode())
    await resp.write_eof()
    return resp


def _http_error_text(exc: web.HTTPException, request: web.Request) -> str:
    if exc.status == 404:
        return f"no such API route: {request.method} {request.path}"
    if exc.status == 405:
        return f"method {request.method} not allowed on {request.path}"
    if exc.status == 413:
        return f"body: larger than {MAX_BODY} bytes"
    return exc.reason or "bad request"


def _is_loopback(addr: str | None) -> bool:
    if not addr:
        return False
    try:
        return ipaddress.ip_address(addr.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class AdminApi:
    """Routes of the admin API bound to one engine."""

    def __init__(self, engine: Engine, token: str | None = None) -> None:
        self.engine = engine
        self.token = token
        self.app = web.Application(middlewares=[self._guard], client_max_size=MAX_BODY)
        r = self.app.router
        r.add_get("/api/state", self.state)
        r.add_get("/api/requests", self.requests)
        r.add_get("/api/requests/{id}", self.request_detail)
        r.add_patch("/api/pools/{pool}", self.patch_pool)
        r.add_patch("/api/pools/{pool}/backends/{name}", self.patch_backend)
        r.add_get("/api/rules", self.list_rules)
        r.add_post("/api/rules", self.add_rule)
        r.add_patch("/api/rules/{name}", self.patch_rule)
        r.add_delete("/api/rules/{name}", self.delete_rule)
        r.add_post("/api/cache/purge", self.purge)
        r.add_patch("/api/forward", self.patch_forward)
        r.add_post("/api/demo/faults", self.demo_fault)
        r.add_patch("/api/demo/traffic", self.demo_traffic)
        r.add_get("/metrics", self.metrics)
        r.add_get("/api/har", self.har)
        r.add_post("/api/requests/{id}/replay", self.replay)
        r.add_get("/api/held", self.list_held)
        r.add_patch("/api/hold", self.patch_hold)
        r.add_patch("/api/held/{id}", self.patch_held)
        r.add_post("/api/held/resume", self.resume_all_held)
        r.add_post("/api/held/{id}/resume", self.resume_held)
        r.add_post("/api/held/{id}/kill", self.kill_held)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def _authorized(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        try:
            # Header bytes that are not UTF-8 arrive as surrogates: compare bytes, never crash.
            given = auth.encode("utf-8", "surrogateescape")
        except UnicodeError:
            return False
        return hmac.compare_digest(given, f"Bearer {self.token}".encode())

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        if self.token:
            if not self._authorized(request):
                return _error("missing or wrong bearer token", 401)
        elif not _is_loopback(request.remote):
            return _error("the admin API answers loopback clients only (set admin.token)", 403)
        try:
            return await handler(request)
        except _BadInput as exc:
            return _error(exc.message, exc.status, exc.field)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _error(_http_error_text(exc, request), exc.status)
        except Exception as exc:  # an API bug must answer, not crash the engine
            self.engine.recorder.internal_error(exc)
            # The details (type, text, traceback) go to the event and server logs, not to the
            # client: they can name files, hosts or internals.
            return _error("internal error; details are in the workbench's event log", 500)

    async def start(self, host: str, port: int) -> str:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sock = site._server.sockets[0].getsockname()  # type: ignore[union-attr]
        h = f"[{sock[0]}]" if ":" in sock[0] else sock[0]
        self.url = f"http://{h}:{sock[1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()  # bounded by MAX_BODY: aiohttp answers 413 beyond it
        try:
            return json.loads(raw)
        except RecursionError:
            raise _BadInput("body: JSON nested too deeply", "body") from None
        except (UnicodeDecodeError, ValueError):  # JSONDecodeError is a ValueError
            raise _BadInput("body: expected valid JSON", "body") from None

    # -- handlers ---------------------------------------------------------------------------
    async def state(self, request: web.Request) -> web.Response:
        return _json(self.engine.snapshot_data())

    async def requests(self, request: web.Request) -> web.Response:
        try:
            since = int(request.query.get("since", "0"))
        except ValueError:
            return _error("since: expected an integer", 400, "since")
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            return _error("limit: expected an integer", 400, "limit")
        if limit < 1 or limit > 10_000:
            return _error("limit: expected 1 to 10000", 400, "limit")
        records, cursor, skipped = self.engine.records_since(since, limit)
        return await _stream_json(
            request,
            '{"requests":[',
            records,
            lambda r: r.to_dict(),
            f'],"cursor":{int(cursor)},"skipped":{int(skipped)}}}',
        )

    async def request_detail(self, request: web.Request) -> web.Response:
        try:
            rid = int(request.match_info["id"])
        except ValueError:
            return _error("id must be an integer", 400, "id")
        rec = self.engine.records.find(rid)
        if rec is None:
            return _error(f"request {rid} is not in the record buffer", 404, "id")
        return _json({**rec.to_dict(), **_bodies(rec)})

    async def patch_pool(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        pool = request.match_info["pool"]
        bad = fields_error(body, ("algorithm",), required=("algorithm",))
        if bad is not None:
            return _result(bad)
        res = self.engine.control.set_algorithm(pool, body["algorithm"], who="api")
        return _result(res, self.engine.snapshot_data()["pools"].get(pool) if res.ok else None)

    async def patch_backend(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        res = self.engine.control.patch_backend(
            request.match_info["pool"], request.match_info["name"], body, who="api"
        )
        return _result(res, res.value if res.ok else None)

    async def list_rules(self, request: web.Request) -> web.Response:
        return _json({"rules": self.engine.snapshot_data()["rules"]})

    async def add_rule(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        bad = fields_error(body, (*RULE_FIELDS, "index"), required=("name", "when", "action"))
        if bad is not None:
            return _result(bad)
        index = None
        if "index" in body:
            index = body.pop("index")
            if not isinstance(index, int) or isinstance(index, bool):
                return _error("index: expected an integer", 400, "index")
        res = self.engine.control.add_rule(body, index, who="api")
        if not res.ok:
            return _result(res)
        return _json({"rules": self.engine.snapshot_data()["rules"]}, 201)

    async def patch_rule(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        name = request.match_info["name"]
        bad = fields_error(body, (*RULE_FIELDS, "move"))
        if bad is not None:
            return _result(bad)
        if "move" in body and len(body) > 1:
            return _error("move: send it alone (a move changes no other field)", 400, "move")
        control = self.engine.control
        if set(body) == {"enabled"}:
            res = control.set_rule_enabled(name, body["enabled"], who="api")
        elif set(body) == {"move"}:
            move = body["move"]
            if isinstance(move, bool) or not isinstance(move, int):
                return _error("move: expected an integer offset", 400, "move")
            res = control.move_rule(name, move, who="api")
        else:
            res = control.update_rule(name, body, who="api")
        if not res.ok:
            return _result(res)
        return _json({"rules": self.engine.snapshot_data()["rules"]})

    async def delete_rule(self, request: web.Request) -> web.Response:
        res = self.engine.control.delete_rule(request.match_info["name"], who="api")
        if not res.ok:
            return _result(res)
        return _json({"rules": self.engine.snapshot_data()["rules"]})

    async def purge(self, request: web.Request) -> web.Response:
        body = await self._body(request) if request.can_read_body else {}
        if body != {}:  # {} (or no body) purges everything
            bad = fields_error(body, ("prefix",))
            if bad is not None:
                return _result(bad)
        res = self.engine.control.purge_cache(body.get("prefix"), who="api")
        return _result(res, {"purged": res.value} if res.ok else None)

    async def patch_forward(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        bad = fields_error(body, ("privacy",), required=("privacy",))
        if bad is not None:
            return _result(bad)
        res = self.engine.control.set_privacy(body["privacy"], who="api")
        return _result(res, {"privacy": res.value} if res.ok else None)

    async def demo_fault(self, request: web.Request) -> web.Response:
        """``{"backend": "web-2", "kind": "kill" | "revive" | "latency" | "error_rate" |
        "health_fail" | "flap", "value": ...}`` — classroom fault injection."""
        body = await self._body(request)
        bad = fields_error(body, ("backend", "kind", "value"), required=("backend", "kind"))
        if bad is not None:
            return _result(bad)
        res = self.engine.control.fault(
            body["backend"], body["kind"], body.get("value", True), who="api"
        )
        return _result(res)

    async def demo_traffic(self, request: web.Request) -> web.Response:
        """``{"running": true}`` and/or ``{"rate": 50}`` for the built-in traffic generator."""
        body = await self._body(request)
        bad = fields_error(body, ("running", "rate"))
        if bad is not None:
            return _result(bad)
        control = self.engine.control
        if "rate" in body:
            res = control.set_traffic_rate(body["rate"], who="api")
            if not res.ok:
                return _result(res)
        if "running" in body:
            res = control.set_traffic(body["running"], who="api")
            if not res.ok:
                return _result(res)
        return _json({"ok": True})

    async def metrics(self, request: web.Request) -> web.Response:
        from workbench.engine.observe.metrics import CONTENT_TYPE, render_metrics

        text = render_metrics(self.engine.metrics_state())
        return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})

    async def har(self, request: web.Request) -> web.Response:
        """``GET /api/har?filter=EXPR``: the recorded requests (matching EXPR) as HAR 1.2."""
        from workbench.engine.observe.har import entry, to_har
        from workbench.engine.rules.filters import FilterSyntaxError, parse_filter

        expr = request.query.get("filter", "")
        try:
            flt = parse_filter(expr) if expr.strip() else None
        except FilterSyntaxError as exc:
            return _error(f"filter: {exc}", 400, "filter")
        records = self.engine.records.all_records()
        if flt is not None:
            records = [r for r in records if flt(r)]  # about 1 µs a record: no slicing needed
        # The document around the entries, then the entries streamed in slices.
        shell = _dumps(to_har([], comment=f"filter: {expr}" if flt is not None else ""))
        before, after = shell.split('"entries": []', 1)
        return await _stream_json(request, before + '"entries": [', records, entry, "]" + after)

    async def replay(self, request: web.Request) -> web.Response:
        """``POST /api/requests/{id}/replay`` with optional overrides → ``{"id": NEW}``."""
        try:
            rid = int(request.match_info["id"])
        except ValueError:
            return _error("id must be an integer", 400, "id")
        overrides = await self._body(request) if await request.read() else None
        res = self.engine.control.replay(rid, overrides, who="api")
        return _result(res, {"id": res.value, "replay_of": rid} if res.ok else None)

    async def list_held(self, request: web.Request) -> web.Response:
        """The intercept settings and every held exchange."""
        return _json({**self.engine.hold.summary(), "held": self.engine.control.held()})

    async def patch_hold(self, request: web.Request) -> web.Response:
        """``{"filter": EXPR | null, "phase": "request" | "response", "timeout": S,
        "on_timeout": "resume" | "fail"}`` (all optional but one)."""
        body = await self._body(request)
        bad = fields_error(body, ("filter", "phase", "timeout", "on_timeout"))
        if bad is not None:
            return _result(bad)
        hold = self.engine.hold
        res = self.engine.control.set_hold(
            body.get("filter", hold.expression),
            body.get("phase"),
            body.get("timeout"),
            body.get("on_timeout"),
            who="api",
        )
        return _result(res, res.value if res.ok else None)

    def _held_id(self, request: web.Request) -> int | None:
        try:
            return int(request.match_info["id"])
        except ValueError:
            return None

    async def patch_held(self, request: web.Request) -> web.Response:
        hid = self._held_id(request)
        if hid is None:
            return _error("id must be an integer", 400, "id")
        res = self.engine.control.edit_held(hid, await self._body(request), who="api")
        return _result(res, res.value if res.ok else None)

    async def resume_held(self, request: web.Request) -> web.Response:
        hid = self._held_id(request)
        if hid is None:
            return _error("id must be an integer", 400, "id")
        return _result(self.engine.control.resume_held(hid, who="api"), {"resumed": hid})

    async def resume_all_held(self, request: web.Request) -> web.Response:
        """Resume every held exchange: ``{"resumed": [ID, …]}``."""
        res = self.engine.control.resume_all_held(who="api")
        return _result(res, {"resumed": res.value})

    async def kill_held(self, request: web.Request) -> web.Response:
        hid = self._held_id(request)
        if hid is None:
            return _error("id must be an integer", 400, "id")
        return _result(self.engine.control.kill_held(hid, who="api"), {"killed": hid})


def _bodies(rec: Any) -> dict[str, Any]:
    """The kept bodies of one record: text when UTF-8, else base64 (``*_encoding``); whether
    each is whole (``*_body_complete``), the cap, and why they were let go when they were."""
    out: dict[str, Any] = {"body_cap": rec.body_cap, "bodies_dropped": rec.bodies_dropped}
    if not rec.body_cap:
        out["bodies_dropped"] = "body capture is off (records.body_cap: 0)"
    sides = (
        ("request", rec.request_bytes(), rec.request_body_size),
        ("response", rec.response_bytes(), rec.response_body_size),
    )
    for side, data, size in sides:
        out[f"{side}_body_complete"] = size == 0 or (data is not None and len(data) >= size)
        if data is None:
            out[f"{side}_body"] = None
            continue
        try:
            out[f"{side}_body"] = data.decode("utf-8")
            out[f"{side}_body_encoding"] = "utf-8"
        except UnicodeDecodeError:
            out[f"{side}_body"] = base64.b64encode(data).decode("ascii")
            out[f"{side}_body_encoding"] = "base64"
    return out
