"""Forward mode: an absolute-form request names its origin; CONNECT names a tunnel's far end.

Who may use the proxy (``allow_clients``, optional Basic proxy auth) and what the origin learns
about the client (privacy modes) are decided here. Destinations are checked after name
resolution: ``deny_destinations``, the proxy itself and the workbench's admin API are refused,
and the connection goes to the very address that was checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections import OrderedDict
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any

from workbench.config.model import ForwardConfig
from workbench.engine.http.authority import connect_authority, split_absolute, split_authority
from workbench.engine.http.client import UpstreamError
from workbench.engine.http.headers import (
    HOP_BY_HOP,
    RESPONSE_DROP,
    VIA_TOKEN,
    relay_headers,
    strip_hop_by_hop,
)
from workbench.engine.http.server import HttpRequest, ServerConnection
from workbench.engine.http.upstream_pool import UpstreamPool
from workbench.engine.modes.tunnel import TUNNEL_STAGES, Tunnel
from workbench.engine.observe.records import Headers
from workbench.engine.pipeline.actions import answer
from workbench.engine.pipeline.auth import ProxyAuth
from workbench.engine.pipeline.exchange import Exchange, new_record
from workbench.engine.pipeline.forwarding import privacy_forwarding
from workbench.engine.pipeline.max_forwards import ALLOW, max_forwards
from workbench.engine.pipeline.max_forwards import METHODS as MAX_FORWARDS_METHODS
from workbench.engine.pipeline.stages import make_handler

if TYPE_CHECKING:
    from workbench.engine.engine import Engine

MAX_ORIGIN_POOLS = 256
RESOLVE_TTL = 30.0
"""Seconds a checked name resolution is reused before the name is resolved (and checked) again."""

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_HOP_AND_HOST = HOP_BY_HOP | {"host"}
"""Not passed on from a forward proxy's client: hop-by-hop fields, and Host (the target URI's
authority is the Host, RFC 9112 §3.2.2)."""
_UNSEEN = object()


def _ip(text: str) -> IpAddress | None:
    try:
        addr = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if addr.version == 6 and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _port_of(url: str | None) -> int | None:
    if not url:
        return None
    tail = url.rsplit(":", 1)[-1].rstrip("/")
    return int(tail) if tail.isdigit() else None


class Origin:
    """One origin server (host, port) at the address that was resolved and checked for it."""

    __slots__ = ("name", "upstream", "base_path", "inflight", "expires")

    def __init__(self, name: str, upstream: UpstreamPool, expires: float) -> None:
        self.name = name
        self.upstream = upstream
        self.base_path = ""
        self.inflight = 0
        self.expires = expires

    def release(self, up) -> None:
        """The request that took ``up`` is done with it."""
        self.inflight -= 1
        self.upstream.release(up)


class ForwardProxy:
    """Forward mode: ACL, auth, privacy, and the origin (or tunnel end) a request names."""

    passive = False
    retry_elsewhere = False
    """There is no other origin to try: only a dropped pooled connection is retried."""

    def __init__(self, engine: Engine, config: ForwardConfig) -> None:
        self.engine = engine
        self.config = config
        self.networks = tuple(ipaddress.ip_network(c, strict=False) for c in config.allow_clients)
        self.deny = tuple(ipaddress.ip_network(c, strict=False) for c in config.deny_destinations)
        self.connect_ports = frozenset(config.connect_ports)
        self._privacy = config.privacy
        self.cache_enabled = config.cache
        self.origins: OrderedDict[tuple[str, int], Origin] = OrderedDict()
        self.tunnels: set[Tunnel] = set()
        self._acl_cache: dict[str, bool] = {}
        self._dests: dict[str, tuple[str, int] | None] = {}
        """Authority of an absolute-form target → (host, port) (the same few on every request)."""
        self.own_addresses: set[tuple[str, int]] = set()
        self.own_port = 0
        self._local: frozenset[IpAddress] = frozenset()
        """This machine's addresses (besides loopback), learnt once at start."""
        self.listen_address: IpAddress | None = None
        self.via_token = "1.1 workbench"
        self.forwarding = privacy_forwarding(self._privacy, self.via_token)
        self.auth = ProxyAuth(config.auth) if config.auth is not None else None
        """The auth stage's verifier (None: no proxy authentication)."""
        self.decorate = self.client_headers
        self.intercept = None
        """HTTPS interception (:mod:`.intercept`); None while ``intercept.hosts`` is empty."""
        stages = TUNNEL_STAGES
        if config.intercept.hosts:
            from workbench.engine.modes.intercept import INTERCEPT_STAGES, InterceptMode

            self.intercept = InterceptMode.from_config(self, config.intercept)
            stages = INTERCEPT_STAGES
        self.handle = make_handler(self, stages)

    def set_own_address(self, host: str, port: int) -> None:
        """Remember where we listen so a request for ourselves is refused instead of looping."""
        self.own_addresses = {(host, port), ("localhost", port), ("127.0.0.1", port)}
        if host in ("0.0.0.0", "::"):
            self.own_addresses.add(("::1", port))
        self.own_port = port
        self.listen_address = _ip(host)
        self._local = frozenset({self.listen_address} if self.listen_address else ())
        self.via_token = f"1.1 workbench-{port}"
        self.forwarding = privacy_forwarding(self.privacy, self.via_token)

    @property
    def privacy(self) -> str:
        """The privacy mode (transparent, anonymous, elite); settable live."""
        return self._privacy

    @privacy.setter
    def privacy(self, mode: str) -> None:
        self._privacy = mode
        self.forwarding = privacy_forwarding(mode, self.via_token)

    # -- access control ------------------------------------------------------------
    def client_allowed(self, ip: str) -> bool:
        """Whether ``ip`` is in ``allow_clients`` (memoised per address)."""
        allowed = self._acl_cache.get(ip)
        if allowed is None:
            addr = _ip(ip)
            allowed = addr is not None and any(addr in net for net in self.networks)
            if len(self._acl_cache) > 4096:
                self._acl_cache.clear()
            self._acl_cache[ip] = allowed
        return allowed

    # -- destination ------------------------------------------------------------------------
    def exchange(self, req: HttpRequest, conn: ServerConnection) -> Exchange:
        """The record and exchange of one request: the target URI names the destination."""
        target = req.target
        dest: tuple[str, int] | None = None
        authority = ""
        path = ""
        if req.method == "CONNECT":
            dest = connect_authority(target)
            host = dest[0] if dest else target
            authority = target
        else:
            parts = split_absolute(target)
            if parts is not None and parts[0] in ("http", "ws"):
                authority = parts[1]
                path = parts[2]
                dest = self._dests.get(authority, _UNSEEN)
                if dest is _UNSEEN:
                    dest = split_authority(authority, 80)
                    if len(self._dests) >= 1024:
                        self._dests.clear()
                    self._dests[authority] = dest
                host = dest[0] if dest else authority
            else:
                host = ""
                path = target
        rec = new_record(self.engine, req, conn, "forward", target, host, path)
        x = Exchange(req, conn, rec, self)
        x.dest = dest
        x.authority = authority
        x.target = path
        return x

    def destination(self, x: Exchange) -> Any:
        """Stage: the origin of an absolute-form request, or the far end of a CONNECT."""
        req = x.req
        rec = x.rec
        if req.method == "CONNECT":
            return self._connect_target(x)
        if x.dest is None:
            if req.target == "*" and req.method == "OPTIONS":
                rec.step("parse", "200", "OPTIONS * asks about the proxy itself")
                return answer(x, 200, "", [("Allow", ALLOW)])
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
            return answer(x, 400, msg)
        if x.dest in self.own_addresses or self._via_loop(req):
            rec.step("loop", "508", "the request targets this proxy itself")
            return answer(x, 508, "Loop detected: this request is addressed to the proxy itself.\n")
        # RFC 9112 §3.2.2: the target URI's authority is the Host, whatever the client's says.
        headers = strip_hop_by_hop(req.headers, _HOP_AND_HOST)
        headers.insert(0, ("Host", x.authority))
        x.headers = headers
        if req.method in MAX_FORWARDS_METHODS:
            if req.method == "OPTIONS" and x.target == "/" and not req.target.endswith("/"):
                x.target = "*"  # OPTIONS http://host (no path) is asterisk-form (§3.2.4)
            return max_forwards(x)
        return None

    def _connect_target(self, x: Exchange) -> Any:
        rec = x.rec
        if x.dest is None:
            rec.step("connect", "400", f"bad CONNECT target {x.req.target!r}")
            return answer(x, 400, "CONNECT needs a target of the form host:port.\n")
        port = x.dest[1]
        if port not in self.connect_ports:
            allowed = ", ".join(str(p) for p in sorted(self.connect_ports))
            rec.step("connect", "deny", f"port {port} not in connect_ports ({allowed})")
            rec.error = "CONNECT port not allowed"
            return answer(x, 403, f"CONNECT to port {port} is not allowed (allowed: {allowed}).\n")
        if x.dest in self.own_addresses:
            rec.step("loop", "508", "CONNECT to the proxy itself")
            return answer(x, 508, "Loop detected: CONNECT to the proxy itself.\n")
        return None

    def _via_loop(self, req: HttpRequest) -> bool:
        token = self.via_token
        for n, v in req.headers:
            if n.lower() == "via" and token in v:
                return True
        return False

    # -- the upstream stage's questions -----------------------------------------------------
    def retries(self, x: Exchange) -> int:
        return 1

    def timeout(self, x: Exchange) -> float:
        return self.config.timeouts.response

    def pick(self, x: Exchange, tried: AbstractSet[str]) -> Any:
        """The origin's pool; a coroutine only when a name must be resolved (and checked)."""
        origin = self.origins.get(x.dest)
        if origin is not None and origin.expires > time.monotonic():
            self.origins.move_to_end(x.dest)
            return origin
        literal = _ip(x.dest[0])
        if literal is not None:
            address = self._check(x, [literal])
            return None if address is None else self._origin(x, address)
        return self._pick_resolved(x)

    async def _pick_resolved(self, x: Exchange) -> Origin | None:
        address = await self.resolve(x)
        return None if address is None else self._origin(x, address)

    def _origin(self, x: Exchange, address: str) -> Origin:
        """The origin pool for ``x.dest`` at the checked ``address`` (reused when unchanged)."""
        return origin_pool(self.origins, x.dest, address, self.config)

    async def resolve(self, x: Exchange) -> str | None:
        """Resolve the destination and check every address; the address to connect to.

        On refusal sets ``x.error`` (kind ``denied`` → 403, ``loop`` → 508, ``connect`` → 502),
        writes the trace step and returns None.
        """
        host, port = x.dest
        literal = _ip(host)
        if literal is not None:
            return self._check(x, [literal])
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            x.error = UpstreamError("connect", f"cannot resolve {host}: {reason}", retryable=False)
            x.rec.step("destination", "error", str(x.error))
            return None
        addresses: list[IpAddress] = []
        for info in infos:
            addr = _ip(info[4][0])
            if addr is not None and addr not in addresses:
                addresses.append(addr)
        return self._check(x, addresses)

    def _check(self, x: Exchange, addresses: list[IpAddress]) -> str | None:
        """The destination policy on resolved addresses: ourselves, the admin API, deny list."""
        host, port = x.dest
        rec = x.rec
        own = self._own_ports()
        allowed = []
        for addr in addresses:
            if port in own and (addr.is_loopback or addr.is_unspecified or addr in self._local):
                if port == self.own_port:
                    rec.step("loop", "508", f"{host}:{port} is this proxy ({addr})")
                    x.error = UpstreamError(
                        "loop", "this request is addressed to the proxy itself", retryable=False
                    )
                else:
                    rec.step("destination", "deny", f"{host}:{port} is the workbench's admin API")
                    x.error = UpstreamError(
                        "denied",
                        "the workbench's admin API is not reachable through its forward proxy",
                        retryable=False,
                    )
                return None
            net = next((n for n in self.deny if addr.version == n.version and addr in n), None)
            if net is None:
                allowed.append(addr)
                continue
            rec.step("destination", "deny", f"{host} → {addr} is in deny_destinations ({net})")
            x.error = UpstreamError(
                "denied",
                f"{host} resolves to {addr}, which forward.deny_destinations does not allow",
                retryable=False,
            )
        if not allowed:
            if x.error is None:
                x.error = UpstreamError("connect", f"cannot resolve {host}", retryable=False)
            return None
        x.error = None
        # Prefer IPv4: most local servers listen there. Connecting to the checked address (not
        # to the name again) is what makes the check hold.
        allowed.sort(key=lambda a: a.version)
        return str(allowed[0])

    def _own_ports(self) -> set[int]:
        ports = {self.own_port}
        admin = _port_of(self.engine.listeners.get("admin"))
        if admin is not None:
            ports.add(admin)
        return ports

    async def learn_local_addresses(self) -> None:
        """This machine's own addresses: a request to any of them reaches our listeners."""
        try:
            infos = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(socket.gethostname(), None), 2.0
            )
        except (OSError, TimeoutError):
            return
        found = {a for a in (_ip(i[4][0]) for i in infos) if a is not None}
        if self.listen_address is not None:
            found.add(self.listen_address)
        self._local = frozenset(found)

    def client_headers(self, headers: Headers) -> Headers:
        """Origin response headers as the client gets them: no hop-by-hop, Via unless elite."""
        return relay_headers(headers, RESPONSE_DROP, None if self.privacy == "elite" else VIA_TOKEN)

    # -- lifecycle --------------------------------------------------------------------------
    def sweep(self, now: float) -> None:
        """Close idle pooled origin connections and tunnels quiet for longer than ``idle``."""
        for origin in self.origins.values():
            origin.upstream.sweep(now)
        if self.intercept is not None:
            self.intercept.sweep(now)
        idle = self.config.timeouts.idle
        for tunnel in list(self.tunnels):
            if now - tunnel.last_active > idle:
                tunnel.close("idle timeout")

    def close(self) -> None:
        for tunnel in list(self.tunnels):
            tunnel.close("proxy stopping")
        for origin in self.origins.values():
            origin.upstream.close()
        if self.intercept is not None:
            self.intercept.close()


def origin_pool(
    origins: OrderedDict[tuple[str, int], Origin],
    dest: tuple[str, int],
    address: str,
    config: ForwardConfig,
    *,
    ssl: Any = None,
    server_hostname: str | None = None,
) -> Origin:
    """The pool for ``dest`` at the checked ``address``: reused while the address is unchanged,
    replaced when the name now resolves elsewhere; at most ``MAX_ORIGIN_POOLS`` kept (LRU)."""
    old = origins.pop(dest, None)
    if old is not None and old.upstream.host == address:
        old.expires = time.monotonic() + RESOLVE_TTL
        origins[dest] = old
        return old
    if old is not None:
        old.upstream.close()
    host, port = dest
    pool = UpstreamPool(
        address,
        port,
        max_connections=config.limits.max_connections_per_backend,
        connect_timeout=config.timeouts.connect,
        idle_timeout=config.timeouts.idle,
        max_header_size=config.limits.max_header_size,
        ssl=ssl,
        server_hostname=server_hostname,
    )
    origin = Origin(f"{host}:{port}", pool, time.monotonic() + RESOLVE_TTL)
    origins[dest] = origin
    if len(origins) > MAX_ORIGIN_POOLS:
        _, evicted = origins.popitem(last=False)
        evicted.upstream.close()
    return origin
