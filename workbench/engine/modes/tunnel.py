"""Tunnel mode: CONNECT opens a byte relay to a checked address; the proxy sees only the SNI."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from workbench.engine.http.client import UpstreamError
from workbench.engine.http.server import ServerConnection
from workbench.engine.http.tlsinfo import looks_like_tls, parse_sni
from workbench.engine.observe.records import RequestRecord
from workbench.engine.pipeline.actions import answer_error
from workbench.engine.pipeline.exchange import DONE, Exchange
from workbench.engine.pipeline.stages import access_control, auth, destination, request_rules

if TYPE_CHECKING:
    from workbench.engine.modes.forward import ForwardProxy


def tunnel(x: Exchange) -> Any:
    """Stage: resolve and check the CONNECT target, connect, answer 200, relay until closed."""
    return _tunnel(x)


async def _tunnel(x: Exchange) -> Any:
    proxy: ForwardProxy = x.mode
    req = x.req
    rec = x.rec
    conn = x.conn
    host, port = x.dest
    address = await proxy.resolve(x)
    if address is None:
        return answer_error(x, x.error)
    loop = asyncio.get_running_loop()
    t = Tunnel(proxy, conn, rec, req.start_mono)
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(
            loop.create_connection(lambda: t.upstream, address, port), proxy.config.timeouts.connect
        )
    except (OSError, TimeoutError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or "timed out"
        err = UpstreamError(
            "connect", f"cannot connect to {host}:{port}: {reason}", retryable=False
        )
        rec.step("connect", "502", str(err))
        return answer_error(x, err)
    rec.t_connect = time.monotonic() - t0
    rec.backend = f"{host}:{port}"
    rec.status = 200
    rec.step("connect", "tunnel", f"opened to {host}:{port}; bytes are relayed unread")
    conn.write_head(200, [], "Connection established")
    x.keep_open = True  # the tunnel finishes the record when it closes
    proxy.tunnels.add(t)
    t.start(req.tunnel_data)
    await t.closed
    req.keep_alive = False
    return DONE


TUNNEL_STAGES = (access_control, auth, destination, request_rules, tunnel)
"""CONNECT: the request half of the stages, then the tunnel instead of HTTP upstream."""


class _TunnelUpstream(asyncio.Protocol):
    def __init__(self, tunnel: Tunnel) -> None:
        self.tunnel = tunnel
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.tunnel.from_server(data)

    def eof_received(self) -> bool:
        self.tunnel.close("server closed")
        return False

    def connection_lost(self, exc) -> None:
        self.tunnel.close("server closed")

    def pause_writing(self) -> None:
        self.tunnel.client.transport.pause_reading()

    def resume_writing(self) -> None:
        self.tunnel.client.transport.resume_reading()


class Tunnel:
    """Bytes relayed both ways between a client and a CONNECT target, counted, never decoded."""

    def __init__(
        self, proxy: ForwardProxy, client: ServerConnection, rec: RequestRecord, start_mono: float
    ) -> None:
        self.proxy = proxy
        self.client = client
        self.rec = rec
        self.start_mono = start_mono
        self.upstream = _TunnelUpstream(self)
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.last_active = time.monotonic()
        self._first = b""
        self._sni_done = False

    def start(self, early: bytes) -> None:
        self.client.start_tunnel(self.from_client, lambda: self.close("client closed"))
        self.client.on_pause_writing = self._pause_server
        if early:
            self.from_client(early)

    def _pause_server(self, paused: bool) -> None:
        t = self.upstream.transport
        if t is not None and not t.is_closing():
            (t.pause_reading if paused else t.resume_reading)()

    def from_client(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        self.rec.bytes_in += len(data)
        if not self._sni_done:
            self._inspect(data)
        t = self.upstream.transport
        if t is not None and not t.is_closing():
            t.write(data)

    def from_server(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        self.rec.bytes_out += len(data)
        self.client.write(data)

    def _inspect(self, data: bytes) -> None:
        self._first += data
        sni = parse_sni(self._first)
        rec = self.rec
        if sni is not None:
            rec.sni = sni
            rec.step("tls", "sni", f"ClientHello names {sni}; the rest is encrypted")
            self._sni_done = True
        elif not looks_like_tls(self._first) or len(self._first) > 16384:
            rec.step("tls", "opaque", "first bytes are not a TLS ClientHello with a server name")
            self._sni_done = True
        if self._sni_done:
            self._first = b""

    def close(self, why: str) -> None:
        if self.closed.done():
            return
        rec = self.rec
        rec.step("tunnel", "closed", f"{why}: {rec.bytes_in} B up, {rec.bytes_out} B down")
        self.proxy.tunnels.discard(self)
        t = self.upstream.transport
        if t is not None:
            t.close()
        self.client.close()
        self.closed.set_result(None)
        self.proxy.engine.recorder.finish(rec, self.start_mono)
