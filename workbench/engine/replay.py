"""Replay: send a recorded request again, as a real client of the proxy that handled it.

The engine connects to its own listener and writes the recorded request (method, target,
headers, body; optionally edited), so the replay takes exactly the path a client's request
takes: rules, cache, balancer, interception. A one-off marker header, known only to this
engine and removed before anything reads the request, links the new record to the original:
it gets the id reserved when the replay was asked for, ``replay_of`` and a "replay of #N"
trace step. While no replay is in flight the request path pays one dict truthiness check.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from workbench.engine.engine import Engine
    from workbench.engine.observe.records import Headers, RequestRecord

MARKER = "x-workbench-replay"
REPLAY_TIMEOUT = 60.0
MAX_PENDING = 64
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", MARKER})


class ReplayError(ValueError):
    """A replay that cannot be made; ``field`` names the override at fault, if any."""

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


@dataclass(slots=True)
class ReplayRequest:
    """What will be sent: to which listener, and the request itself."""

    listener: str
    """``forward`` or ``reverse``."""
    method: str
    url: str
    """Absolute ``http://`` or ``https://`` URL (forward) or a path (reverse)."""
    headers: Headers
    body: bytes


def claim(engine: Engine, req, rec: RequestRecord) -> None:
    """If ``req`` carries a pending replay marker: link ``rec`` and drop the marker header."""
    headers = req.headers
    for i, (name, value) in enumerate(headers):
        if name.lower() == MARKER:
            del headers[i]
            linked = engine.replays.pop(value, None)
            if linked is not None:
                original, new_id = linked
                rec.id = new_id
                rec.replay_of = original
                rec.step("replay", f"#{original}", f"replay of #{original}")
            return


def recorded_body(rec: RequestRecord) -> bytes | None:
    """The recorded request body (``RequestRecord.request_body``), or None if not kept whole."""
    size = max(rec.bytes_in, getattr(rec, "request_body_size", 0))
    if size == 0:
        return b""
    body = getattr(rec, "request_body", None)
    if body is None:
        return None
    if isinstance(body, list):
        body = b"".join(body)
    if len(body) < size:
        return None
    return bytes(body)


def build(rec: RequestRecord, overrides: Any) -> ReplayRequest:
    """The request to send for ``rec`` with ``overrides`` applied (all validated first)."""
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, dict):
        raise ReplayError("overrides: expected a JSON object", "overrides")
    unknown = sorted(set(overrides) - {"method", "url", "headers", "body", "body_base64"})
    if unknown:
        raise ReplayError(
            f"unknown field {unknown[0]!r} (allowed: method, url, headers, body, body_base64)",
            unknown[0],
        )
    if rec.method == "CONNECT" or rec.method == "-":
        raise ReplayError(
            f"#{rec.id} is a {'CONNECT tunnel' if rec.method == 'CONNECT' else 'bad request'}: "
            "only HTTP requests can be replayed",
            "id",
        )
    method = overrides.get("method", rec.method)
    if not isinstance(method, str) or not _METHOD.fullmatch(method) or method == "CONNECT":
        raise ReplayError(f"method: expected an HTTP method, got {method!r}", "method")
    if "headers" in overrides:
        headers = _headers(overrides["headers"])
        if not any(n.lower() == "host" for n, _ in headers):
            # The edit left Host out: it belongs to the target, like the URL, so it stays.
            kept = next((v for n, v in rec.request_headers if n.lower() == "host"), None)
            netloc = urlsplit(rec.url).netloc if "://" in rec.url else None
            if kept or netloc:
                headers = _set_host(headers, kept or netloc)
    else:
        if not rec.request_headers:
            raise ReplayError(f"the headers of #{rec.id} are no longer kept", "id", 409)
        headers = list(rec.request_headers)
    if "body" in overrides and "body_base64" in overrides:
        raise ReplayError("give body or body_base64, not both", "body")
    if "body" in overrides:
        if not isinstance(overrides["body"], str):
            raise ReplayError("body: expected a string (UTF-8 text)", "body")
        body = overrides["body"].encode()
    elif "body_base64" in overrides:
        try:
            body = base64.b64decode(overrides["body_base64"], validate=True)
        except (ValueError, TypeError):
            raise ReplayError("body_base64: expected base64 text", "body_base64") from None
    else:
        kept = recorded_body(rec)
        if kept is None:
            raise ReplayError(
                f"the request body of #{rec.id} ({rec.bytes_in} B) was not kept whole; "
                "give one in the overrides",
                "body",
                409,
            )
        body = kept
    url = overrides.get("url", rec.url if rec.proxy == "forward" else rec.path)
    if not isinstance(url, str) or not url:
        raise ReplayError(f"url: expected a URL, got {url!r}", "url")
    if _UNSENDABLE.search(url):
        raise ReplayError(
            f"url: spaces and control characters must be percent-encoded, got {url!r}", "url"
        )
    if rec.proxy == "forward":
        if url.startswith("/") and "url" in overrides:
            # A path: the same scheme and host as the original (as a held request's edit).
            base = urlsplit(rec.url)
            url = f"{base.scheme}://{base.netloc}{url}"
        parts = _split(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ReplayError(f"url: expected an absolute http(s):// URL, got {url!r}", "url")
        if "url" in overrides:
            headers = _set_host(headers, parts.netloc)
    elif url.startswith(("http://", "https://")):
        parts = _split(url)
        if not parts.hostname:
            raise ReplayError(f"url: no host in {url!r}", "url")
        headers = _set_host(headers, parts.netloc)
        url = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    elif not url.startswith("/"):
        raise ReplayError(f"url: expected a path starting with '/' or a URL, got {url!r}", "url")
    return ReplayRequest(rec.proxy, method, url, headers, body)


_UNSENDABLE = re.compile(r"[\x00-\x20\x7f]")


def _split(url: str):
    """``urlsplit`` with the port checked: a ReplayError naming ``url`` instead of ValueError."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port out of range or not a number
    except ValueError as exc:
        raise ReplayError(f"url: {exc} in {url!r}", "url") from None
    return parts


def _why(exc: BaseException) -> str:
    """One sentence for a replay that failed before the proxy read it."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {REPLAY_TIMEOUT:g}s"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"TLS to the host failed ({exc.verify_message}): it is not in "
            "forward.intercept.hosts, so the proxy tunnelled it to the real server"
        )
    return str(exc) or type(exc).__name__


def _unhandled(answer: bytes) -> str:
    """Why a replay the proxy answered never reached its pipeline: its own 4xx says."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode("latin-1").strip()
    first = body.decode("utf-8", "replace").strip().split("\n", 1)[0][:200]
    return f"the proxy refused the request before its pipeline: {status}" + (
        f" ({first})" if first else ""
    )


def _headers(value: Any) -> Headers:
    from workbench.engine.hold import parse_headers

    try:
        return parse_headers(value)
    except ValueError as exc:
        raise ReplayError(str(exc), "headers") from None


def _set_host(headers: Headers, netloc: str) -> Headers:
    out = [(n, v) for n, v in headers if n.lower() != "host"]
    out.insert(0, ("Host", netloc))
    return out


def head_bytes(method: str, target: str, headers: Headers, body: bytes, token: str) -> bytes:
    """The request head as written: recorded headers minus framing, plus ours."""
    lines = [f"{method} {target} HTTP/1.1"]
    lines.extend(f"{n}: {v}" for n, v in headers if n.lower() not in _FRAMING)
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    lines.append(f"X-Workbench-Replay: {token}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Replayer:
    """Starts replays on an engine and keeps the markers of those in flight."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def start(self, rec: RequestRecord, overrides: Any = None) -> int:
        """Validate, reserve the new record's id, send in the background. Raises ReplayError."""
        eng = self.engine
        plan = build(rec, overrides)
        listener = eng.listeners.get(plan.listener)
        if listener is None:
            raise ReplayError(f"the {plan.listener} proxy is not running", "id", 409)
        if plan.url.startswith("https://") and (
            eng.forward is None or getattr(eng.forward, "intercept", None) is None
        ):
            raise ReplayError("HTTPS can be replayed only with forward.intercept on", "url", 409)
        if len(eng.replays) >= MAX_PENDING:
            raise ReplayError("too many replays in flight; try again shortly", "id", 429)
        token = secrets.token_hex(12)
        new_id = eng.recorder.next_id()
        eng.replays[token] = (rec.id, new_id)
        eng.spawn(self._send(plan, listener, token, rec.id))
        return new_id

    async def _send(self, plan: ReplayRequest, listener: str, token: str, original: int) -> None:
        started = time.monotonic()
        why = "the proxy closed the connection before reading the request"
        try:
            answer = await asyncio.wait_for(self._exchange(plan, listener, token), REPLAY_TIMEOUT)
            if answer:
                why = _unhandled(answer)
        except (OSError, EOFError, TimeoutError, ssl.SSLError, ValueError) as exc:
            why = _why(exc)
            self.engine.events.add("error", f"replay of #{original} failed: {why}")
        finally:
            unclaimed = self.engine.replays.pop(token, None)
        if unclaimed is not None:
            # The request never reached the proxy (a refused CONNECT, a failed TLS handshake):
            # the id promised to the caller still gets its record, saying why.
            self._record_failure(plan, unclaimed, why, started)

    def _record_failure(
        self, plan: ReplayRequest, linked: tuple[int, int], why: str, started: float
    ) -> None:
        from workbench.engine.observe.records import RequestRecord

        original, new_id = linked
        parts = urlsplit(plan.url)
        host_header = next((v for n, v in plan.headers if n.lower() == "host"), "")
        host = (parts.hostname or host_header.rsplit(":", 1)[0]).lower()
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if not parts.scheme:
            path = plan.url
        url = plan.url if parts.scheme else f"http://{host_header}{plan.url}"
        rec = RequestRecord(
            new_id, time.time(), "127.0.0.1", plan.listener, plan.method, url, host, path
        )
        rec.request_headers = list(plan.headers)
        rec.replay_of = original
        rec.target = path if plan.url.startswith("https://") or not parts.scheme else plan.url
        rec.step("replay", f"#{original}", f"replay of #{original}")
        rec.step("replay", "failed", f"the replay never reached the proxy's pipeline: {why}")
        rec.error = f"replay failed: {why}"
        self.engine.recorder.finish(rec, started)

    async def _exchange(self, plan: ReplayRequest, listener: str, token: str) -> bytes:
        """Send the request; returns the start of the proxy's answer (up to 4 KiB)."""
        lp = urlsplit(listener)
        host, port = lp.hostname or "127.0.0.1", lp.port or 80
        own_tls = None
        if lp.scheme == "https":
            own_tls = ssl.create_default_context()
            own_tls.check_hostname = False
            own_tls.verify_mode = ssl.CERT_NONE  # our own listener, reached on loopback
        reader, writer = await asyncio.open_connection(host, port, ssl=own_tls)
        try:
            target = plan.url
            if plan.url.startswith("https://"):
                target = await self._connect_through(plan, reader, writer)
            writer.write(head_bytes(plan.method, target, plan.headers, plan.body, token))
            if plan.body:
                writer.write(plan.body)
            await writer.drain()
            answer = b""
            while data := await reader.read(65536):  # the proxy records the response itself
                if len(answer) < 4096:
                    answer += data[: 4096 - len(answer)]
            return answer
        finally:
            writer.close()

    async def _connect_through(self, plan: ReplayRequest, reader, writer) -> str:
        """CONNECT to the intercepted host, then TLS trusting our own CA; the origin-form target."""
        parts = urlsplit(plan.url)
        authority = f"{parts.hostname}:{parts.port or 443}"
        if ":" in (parts.hostname or ""):
            authority = f"[{parts.hostname}]:{parts.port or 443}"
        writer.write(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1] if head.count(b" ") >= 1 else b""
        if status != b"200":
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            raise ReplayError(f"the forward proxy refused the CONNECT: {line}")
        ca = self.engine.forward.intercept.ca
        ctx = ssl.create_default_context(cafile=str(ca.cert_path))
        await writer.start_tls(ctx, server_hostname=parts.hostname)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
