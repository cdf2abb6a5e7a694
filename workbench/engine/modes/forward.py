"""The forward proxy: absolute-form HTTP requests and CONNECT tunnels, on the client's behalf.

Who may use it (``allow_clients``, optional Basic proxy auth), what the origin learns about the
client (privacy modes), and what the proxy can see of HTTPS (only the CONNECT target and the SNI
name of the TLS ClientHello) are all decided and recorded here.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from workbench.config.model import ForwardConfig
from workbench.engine.http.client import UpstreamError, UpstreamPool
from workbench.engine.http.headers import (
    FORWARDING_HEADERS,
    RESPONSE_DROP,
    REVEALING_HEADERS,
    append_via,
    get_header,
    remove_names,
    strip_hop_by_hop,
)
from workbench.engine.http.server import HttpRequest, ServerConnection
from workbench.engine.http.tlsinfo import looks_like_tls, parse_sni
from workbench.engine.modes.reverse import IDEMPOTENT
from workbench.engine.observe.records import RequestRecord
from workbench.engine.pipeline.respond import finish_response, send_upstream
from workbench.engine.replay import claim

if TYPE_CHECKING:
    from workbench.engine.engine import Engine

MAX_ORIGIN_POOLS = 256
AUTH_CACHE_SIZE = 64


def _split_authority(authority: str, default_port: int) -> tuple[str, int] | None:
    """``host[:port]`` or ``[v6][:port]`` → (host, port); None when malformed."""
    authority = authority.strip()
    if not authority:
        return None
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            return None
        host = authority[1:end]
        rest = authority[end + 1 :]
        port_s = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_s = authority.partition(":")
    if not host:
        return None
    if port_s:
        if not port_s.isdigit() or not 0 < int(port_s) < 65536:
            return None
        return host.lower(), int(port_s)
    return host.lower(), default_port


class ForwardProxy:
    """Request handler of the forward-proxy listener."""

    def __init__(self, engine: Engine, config: ForwardConfig) -> None:
        self.engine = engine
        self.config = config
        self.networks = tuple(ipaddress.ip_network(c, strict=False) for c in config.allow_clients)
        self.connect_ports = frozenset(config.connect_ports)
        self.privacy = config.privacy
        self.cache_enabled = config.cache
        self.origins: OrderedDict[tuple[str, int], UpstreamPool] = OrderedDict()
        self.tunnels: set[Tunnel] = set()
        self._acl_cache: dict[str, bool] = {}
        self._auth_ok: OrderedDict[str, str] = OrderedDict()
        self.own_addresses: set[tuple[str, int]] = set()
        self.via_token = "1.1 workbench"
        from workbench.engine.modes.intercept import InterceptMode

        self.intercept = InterceptMode.from_config(self, config.intercept)
        """HTTPS interception; None when ``intercept.hosts`` is empty (CONNECTs stay tunnels)."""

    def set_own_address(self, host: str, port: int) -> None:
        """Remember where we listen so a request for ourselves is refused instead of looping."""
        self.own_addresses = {(host, port), ("localhost", port), ("127.0.0.1", port)}
        if host in ("0.0.0.0", "::"):
            self.own_addresses.add(("::1", port))
        self.via_token = f"1.1 workbench-{port}"

    # -- access control ---------------------------------------------------------------------
    def client_allowed(self, ip: str) -> bool:
        allowed = self._acl_cache.get(ip)
        if allowed is None:
            try:
                addr = ipaddress.ip_address(ip.split("%", 1)[0])
            except ValueError:
                addr = None
            if addr is not None and addr.version == 6 and addr.ipv4_mapped is not None:
                addr = addr.ipv4_mapped
            allowed = addr is not None and any(addr in net for net in self.networks)
            if len(self._acl_cache) > 4096:
                self._acl_cache.clear()
            self._acl_cache[ip] = allowed
        return allowed

    def _authenticate(self, req: HttpRequest) -> tuple[bool, str]:
        from workbench.config.passwords import verify_password

        auth = self.config.auth
        value = get_header(req.headers, "proxy-authorization")
        if not value:
            return False, "no Proxy-Authorization header"
        if value in self._auth_ok:
            self._auth_ok.move_to_end(value)
            return True, f"user {self._auth_ok[value]}"
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "basic":
            return False, f"unsupported auth scheme {scheme!r}"
        try:
            user, _, password = base64.b64decode(token.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False, "malformed Basic credentials"
        stored = auth.users.get(user)
        # Hash checks are slow on purpose; remember good header values so only the first costs.
        if stored is None or not verify_password(password, stored):
            return False, f"wrong user or password for {user!r}"
        self._auth_ok[value] = user
        if len(self._auth_ok) > AUTH_CACHE_SIZE:
            self._auth_ok.popitem(last=False)
        return True, f"user {user}"

    # -- entry point ------------------------------------------------------------------------
    async def handle(self, req: HttpRequest, conn: ServerConnection) -> None:
        eng = self.engine
        target = req.target
        if req.method == "CONNECT":
            host_port = _split_authority(target, 443)
            host = host_port[0] if host_port else target
            url = target
            path = ""
        else:
            lower = target[:8].lower()
            if lower.startswith("http://"):
                rest = target[7:]
                slash = rest.find("/")
                authority = rest if slash < 0 else rest[:slash]
                path = "/" if slash < 0 else rest[slash:]
                host_port = _split_authority(authority, 80)
                host = host_port[0] if host_port else authority
            else:
                host_port = None
                host = ""
                path = target
            url = target
        rec = RequestRecord(
            eng.next_id(),
            req.start,
            conn.client_ip,
            "forward",
            req.method,
            url,
            host,
            path,
            req.headers,
        )
        rec.bytes_in = len(req.body)
        if eng.replays:
            claim(eng, req, rec)
        try:
            await self._pipeline(req, conn, rec, host_port)
        except (ConnectionError, UpstreamError) as exc:
            rec.error = rec.error or str(exc)
            rec.status = rec.status or getattr(exc, "status", None)  # 408 from the server
            conn.close()
        finally:
            if rec.method != "CONNECT" or rec.status != 200:
                eng.finish(rec, req.start_mono)

    async def _pipeline(self, req, conn, rec: RequestRecord, host_port, pool=None) -> None:
        # pool: a decrypted request's TLS origin; its CONNECT already passed ACL and auth.
        eng = self.engine
        if not self.client_allowed(conn.client_ip):
            rec.step("acl", "deny", f"{conn.client_ip} is not in allow_clients")
            rec.error = "client not allowed"
            eng.answer(
                conn,
                req,
                rec,
                403,
                f"The forward proxy does not serve {conn.client_ip}: it is not in allow_clients.\n",
            )
            return
        rec.step("acl", "allow", f"{conn.client_ip} in allow_clients")
        if self.config.auth is not None and pool is None:
            ok, why = self._authenticate(req)
            if not ok:
                rec.step("auth", "407", why)
                eng.answer(
                    conn,
                    req,
                    rec,
                    407,
                    f"Proxy authentication required: {why}.\n",
                    [("Proxy-Authenticate", f'Basic realm="{self.config.auth.realm}"')],
                )
                return
            rec.step("auth", "ok", why)
        if req.method == "CONNECT":
            await self._connect(req, conn, rec, host_port)
            return
        if host_port is None:
            if req.target.lower().startswith("https://"):
                msg = (
                    "This proxy does not originate TLS: send HTTPS through a CONNECT tunnel "
                    "(curl does that with -x for https:// URLs).\n"
                )
            else:
                msg = (
                    "This is a forward proxy: requests need an absolute URL such as "
                    "'GET http://example.test/ HTTP/1.1' (configure it as your client's proxy).\n"
                )
            rec.step("parse", "400", "not an absolute http:// URL")
            eng.answer(conn, req, rec, 400, msg)
            return
        if host_port in self.own_addresses or self._via_loop(req):
            rec.step("loop", "508", "the request targets this proxy itself")
            eng.answer(
                conn,
                req,
                rec,
                508,
                "Loop detected: this request is addressed to the proxy itself.\n",
            )
            return

        headers = strip_hop_by_hop(req.headers)
        delay = eng.apply_request_rules(req, conn, rec, headers)
        if delay is None:
            return
        if delay:
            await asyncio.sleep(delay)
        self._apply_privacy(headers, rec)

        origin = pool or self._origin_pool(host_port)

        async def fetch(extra_headers=None, answer_errors=True, record=rec):
            send = headers if not extra_headers else headers + extra_headers
            record.backend = f"{host_port[0]}:{host_port[1]}"
            timeout = self.config.timeouts.response
            try:
                try:
                    resp, up = await send_upstream(
                        origin, req, record, record.path, send, timeout, conn
                    )
                except UpstreamError as exc:
                    # A pooled connection the origin closed as we reused it: one fresh try.
                    if not (exc.stale and req.method in IDEMPOTENT and req.stream is None):
                        raise
                    record.step("upstream", "retry", "pooled connection was closed; retrying")
                    resp, up = await send_upstream(
                        origin, req, record, record.path, send, timeout, conn
                    )
            except UpstreamError as exc:
                record.step("upstream", exc.kind, str(exc))
                if not answer_errors:
                    return exc
                eng.answer_upstream_error(conn, req, record, exc)
                return None
            record.step(
                "upstream",
                str(resp.status),
                f"origin {record.backend} answered"
                + (" (new connection)" if record.t_connect else " (pooled connection)"),
            )
            return resp, origin, up

        if self.cache_enabled and eng.cache_layer is not None:
            await eng.cache_layer.handle(
                req, conn, rec, rec.url, fetch, self._finish_response, self.client_headers
            )
            return
        result = await fetch()
        if result is not None:
            await self._finish_response(req, conn, rec, *result, 0, None)

    def client_headers(self, headers):
        """Origin response headers as the client gets them: no hop-by-hop, Via unless elite."""
        out = strip_hop_by_hop(headers, RESPONSE_DROP)
        if self.privacy != "elite":
            append_via(out)
        return out

    async def _finish_response(self, req, conn, rec, resp, origin, up, collect=0, extra=None):
        return await finish_response(
            self.engine, req, conn, rec, resp, origin, up, self.client_headers, collect, extra
        )

    def _via_loop(self, req: HttpRequest) -> bool:
        token = self.via_token
        for n, v in req.headers:
            if n.lower() == "via" and token in v:
                return True
        return False

    def _apply_privacy(self, headers, rec: RequestRecord) -> None:
        mode = self.privacy
        if mode == "elite":
            headers[:] = remove_names(headers, REVEALING_HEADERS)
            rec.step("privacy", "elite", "removed every header naming the client or a proxy")
            return
        if mode == "anonymous":
            headers[:] = remove_names(headers, FORWARDING_HEADERS)
            headers.append(("Via", self.via_token))
            rec.step("privacy", "anonymous", "client address hidden; Via says a proxy is here")
            return
        for i, (n, v) in enumerate(headers):
            if n.lower() == "x-forwarded-for":
                headers[i] = (n, f"{v}, {rec.client}")
                break
        else:
            headers.append(("X-Forwarded-For", rec.client))
        via = next((i for i, (n, _) in enumerate(headers) if n.lower() == "via"), None)
        if via is None:
            headers.append(("Via", self.via_token))
        else:
            n, v = headers[via]
            headers[via] = (n, f"{v}, {self.via_token}")
        rec.step(
            "privacy", "transparent", f"X-Forwarded-For: {rec.client} and Via sent to the origin"
        )

    def _origin_pool(self, host_port: tuple[str, int]) -> UpstreamPool:
        pool = self.origins.get(host_port)
        if pool is None:
            t = self.config.timeouts
            pool = UpstreamPool(
                host_port[0],
                host_port[1],
                max_connections=self.config.limits.max_connections_per_backend,
                connect_timeout=t.connect,
                idle_timeout=t.idle,
            )
            self.origins[host_port] = pool
            if len(self.origins) > MAX_ORIGIN_POOLS:
                _, old = self.origins.popitem(last=False)
                old.close()
        else:
            self.origins.move_to_end(host_port)
        return pool

    # -- CONNECT ----------------------------------------------------------------------------
    async def _connect(self, req, conn, rec: RequestRecord, host_port) -> None:
        eng = self.engine
        if host_port is None:
            rec.step("connect", "400", f"bad CONNECT target {req.target!r}")
            eng.answer(conn, req, rec, 400, "CONNECT needs a target of the form host:port.\n")
            return
        host, port = host_port
        if port not in self.connect_ports:
            allowed = ", ".join(str(p) for p in sorted(self.connect_ports))
            rec.step("connect", "deny", f"port {port} not in connect_ports ({allowed})")
            rec.error = "CONNECT port not allowed"
            eng.answer(
                conn,
                req,
                rec,
                403,
                f"CONNECT to port {port} is not allowed (allowed: {allowed}).\n",
            )
            return
        if (host, port) in self.own_addresses:
            rec.step("loop", "508", "CONNECT to the proxy itself")
            eng.answer(conn, req, rec, 508, "Loop detected: CONNECT to the proxy itself.\n")
            return
        delay = eng.apply_request_rules(req, conn, rec, [])
        if delay is None:
            return
        if delay:
            await asyncio.sleep(delay)
        if self.intercept is not None and self.intercept.matches(host):
            if await self.intercept.take_over_connect(conn, req, rec, host, port):
                return
        loop = asyncio.get_running_loop()
        tunnel = Tunnel(self, conn, rec, req.start_mono)
        t0 = time.monotonic()
        try:
            await asyncio.wait_for(
                loop.create_connection(lambda: tunnel.upstream, host, port),
                self.config.timeouts.connect,
            )
        except (OSError, TimeoutError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or "timed out"
            err = UpstreamError(
                "connect", f"cannot connect to {host}:{port}: {reason}", retryable=False
            )
            rec.step("connect", "502", str(err))
            eng.answer_upstream_error(conn, req, rec, err)
            return
        rec.t_connect = time.monotonic() - t0
        rec.backend = f"{host}:{port}"
        rec.status = 200
        rec.step("connect", "tunnel", f"opened to {host}:{port}; bytes are relayed unread")
        conn.write_head(200, [], "Connection established")
        self.tunnels.add(tunnel)
        tunnel.start(req.tunnel_data)
        await tunnel.closed
        req.keep_alive = False

    def sweep(self, now: float) -> None:
        """Close idle pooled origin connections and tunnels quiet for longer than ``idle``."""
        for pool in self.origins.values():
            pool.sweep(now)
        if self.intercept is not None:
            self.intercept.sweep(now)
        idle = self.config.timeouts.idle
        for tunnel in list(self.tunnels):
            if now - tunnel.last_active > idle:
                tunnel.close("idle timeout")

    def close(self) -> None:
        for tunnel in list(self.tunnels):
            tunnel.close("proxy stopping")
        for pool in self.origins.values():
            pool.close()
        if self.intercept is not None:
            self.intercept.close()


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

    def __init__(self, proxy: ForwardProxy, client: ServerConnection, rec, start_mono: float):
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
        self.proxy.engine.finish(rec, self.start_mono)
