"""Reverse mode: match a route, choose the pool; pick a backend when the upstream stage asks."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.config.model import ReverseConfig, RouteConfig
from workbench.engine.balancing.pools import Backend, Pool
from workbench.engine.http.authority import (
    format_authority,
    host_of,
    split_absolute,
    split_authority,
)
from workbench.engine.http.client import UpstreamError
from workbench.engine.http.headers import RESPONSE_DROP, VIA_TOKEN, relay_headers, strip_hop_by_hop
from workbench.engine.http.server import HttpRequest, ServerConnection
from workbench.engine.observe.records import Headers, RequestRecord
from workbench.engine.pipeline.actions import answer
from workbench.engine.pipeline.exchange import Exchange, new_record
from workbench.engine.pipeline.forwarding import reverse_forwarding
from workbench.engine.pipeline.max_forwards import ALLOW as OPTIONS_ALLOW
from workbench.engine.pipeline.max_forwards import METHODS as MAX_FORWARDS_METHODS
from workbench.engine.pipeline.max_forwards import max_forwards
from workbench.engine.pipeline.stages import make_handler

if TYPE_CHECKING:
    from workbench.engine.engine import Engine

ALLOW = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"


@dataclass(slots=True, frozen=True)
class CompiledRoute:
    name: str
    pool: str
    prefix: str
    strip: bool
    host_re: re.Pattern[str] | None
    """None when the host glob is ``*`` (matches any host)."""
    trace: str
    """The route's line in a request's trace, made once instead of per request."""
    step: tuple[str, str, str]
    """The whole trace step (shared by the records of the requests this route takes)."""
    whole_segments: bool
    """The prefix ends with ``/``: any path it starts matches (else only at a segment end)."""


def compile_routes(routes: tuple[RouteConfig, ...]) -> tuple[CompiledRoute, ...]:
    """Routes ordered so that the first match is the longest prefix (host-specific first)."""
    out = []
    for r in routes:
        host_re = None
        if r.host not in ("*", ""):
            host_re = re.compile(fnmatch.translate(r.host.lower()))
        prefix = r.path_prefix or "/"
        trace = f"prefix {prefix} → pool {r.pool}"
        step = ("route", r.name, trace)
        out.append(
            CompiledRoute(
                r.name, r.pool, prefix, r.strip_prefix, host_re, trace, step, prefix.endswith("/")
            )
        )
    out.sort(key=lambda r: (-len(r.prefix), r.host_re is None))
    return tuple(out)


def match_route(routes: tuple[CompiledRoute, ...], host: str, path: str) -> CompiledRoute | None:
    for r in routes:
        if path.startswith(r.prefix) and (r.host_re is None or r.host_re.match(host)):
            if r.whole_segments or len(path) == len(r.prefix) or path[len(r.prefix)] in "/?":
                return r
    return None


def hash_key(pool: Pool, rec: RequestRecord) -> str:
    """The consistent-hash key of a request, as the pool's ``hash_key`` says."""
    key = pool.config.hash_key
    if key == "client_ip":
        return rec.client
    if key == "path":
        return rec.path.split("?", 1)[0]
    if key == "url":
        return rec.url
    if key.startswith("header:"):
        name = key[7:].lower()
        for n, v in rec.request_headers:
            if n.lower() == name:
                return v
        return ""
    return rec.client


class ReverseProxy:
    """Reverse mode: the destination is a pool chosen by route; backends by its balancer."""

    client_allowed = None
    """No client ACL: a reverse proxy serves everyone who reaches it."""
    auth = None
    """No proxy authentication."""
    passive = True
    """Failures feed the pool's passive health checks."""
    retry_elsewhere = True
    """A connect failure is retried on another backend of the pool."""

    def __init__(self, engine: Engine, config: ReverseConfig) -> None:
        self.engine = engine
        self.config = config
        self.routes = compile_routes(config.routes)
        self.hide = frozenset(h.lower() for h in config.hide_backend_headers)
        self._drop = RESPONSE_DROP | self.hide
        """Response fields the client never sees: hop-by-hop, the length, hidden ones."""
        self._hosts: dict[str, str] = {}
        """Host header → host (the same few values on every request; bounded)."""
        self.scheme = "https" if config.tls else "http"
        self.cache_enabled = config.cache
        self.forwarding = reverse_forwarding(config.forwarded_headers, self.scheme)
        self.decorate = self.client_headers
        self.handle = make_handler(self)

    def exchange(self, req: HttpRequest, conn: ServerConnection) -> Exchange:
        """The record and exchange of one request (the one record setup)."""
        host_header = req.host
        target = req.target
        if target[:1] != "/" and req.method != "CONNECT":
            # Absolute-form to an origin server is legal (RFC 9112 §3.2.2): keep only the path.
            parts = split_absolute(target)
            if parts is not None:
                host_header = parts[1]  # the target's authority, whatever Host says (§3.2.2)
                target = parts[2]
        if not host_header and req.version == "1.0":
            # No Host (HTTP/1.0): the authority the client reached (RFC 9112 §3.3), so that
            # the upstream request, which is HTTP/1.1, has one.
            sock = conn.transport.get_extra_info("sockname") if conn.transport else None
            if sock:
                host_header = format_authority(sock[0], sock[1], 443 if conn.tls else 80)
        host = self._hosts.get(host_header)
        if host is None:
            host = host_of(host_header) if host_header else ""
            if len(self._hosts) >= 256:
                self._hosts.clear()
            self._hosts[host_header] = host
        rec = new_record(
            self.engine,
            req,
            conn,
            "reverse",
            f"{self.scheme}://{host_header}{target}",
            host,
            target,
        )
        x = Exchange(req, conn, rec, self)
        x.authority = host_header
        x.target = target
        return x

    def destination(self, x: Exchange) -> Any:
        """Stage: route → pool (404 without a route, 405 for CONNECT)."""
        rec = x.rec
        if x.req.method == "CONNECT":
            rec.step("route", "405", "CONNECT is for forward proxies")
            return answer(
                x,
                405,
                "This is a reverse proxy: CONNECT is not supported here.\n",
                [("Allow", ALLOW)],
            )
        path = x.target
        route = match_route(self.routes, rec.host, path)
        if route is None:
            if path == "*" and x.req.method == "OPTIONS":
                rec.step("route", "*", "OPTIONS * asks about the server itself")
                return answer(x, 200, "", [("Allow", OPTIONS_ALLOW)])
            rec.step("route", "none", f"no route matches host {rec.host or '-'} path {path}")
            return answer(x, 404, f"No route for {rec.host or '(no host)'}{path}.\n")
        rec.pool = route.pool
        rec.trace.append(route.step)
        pool = self.engine.pools.get(route.pool)
        if pool is None:
            return answer(x, 503, f"Pool {route.pool} does not exist.\n")
        x.dest = pool
        if route.strip and route.prefix != "/":
            target = path[len(route.prefix.rstrip("/")) :] or "/"
            x.target = target if target.startswith("/") else "/" + target
        headers = strip_hop_by_hop(x.req.headers)
        req = x.req
        if req.target[:1] != "/" or req.version == "1.0":
            # Absolute-form or HTTP/1.0: the Host sent upstream is the authority found above.
            if req.target[:1] != "/" and split_authority(x.authority, 80) is None:
                rec.step("route", "400", f"bad authority in {req.target[:100]!r}")
                return answer(x, 400, "The request target's authority is not a valid host.\n")
            headers = [h for h in headers if h[0].lower() != "host"]
            if x.authority:
                headers.insert(0, ("Host", x.authority))
        x.headers = headers
        if req.method in MAX_FORWARDS_METHODS:
            return max_forwards(x)
        return None

    def retries(self, x: Exchange) -> int:
        return x.dest.config.retries

    def timeout(self, x: Exchange) -> float:
        return x.dest.config.timeouts.response

    def pick(self, x: Exchange, tried: AbstractSet[str]) -> Backend | None:
        """The balancer's choice among the pool's backends not yet ``tried``."""
        pool: Pool = x.dest
        rec = x.rec
        algorithm = pool.algorithm
        key = None
        if algorithm == "ip_hash":
            key = rec.client
        elif algorithm == "consistent_hash":
            key = hash_key(pool, rec)
        balancer = pool.balancer
        name = balancer.pick(key, tried)
        if name is None:
            if not tried:
                rec.step("balancer", "none", f"pool {pool.name}: no healthy backend")
                x.error = UpstreamError(
                    "unavailable", f"no healthy backend in pool {pool.name}", retryable=False
                )
            return None
        step = pool.pick_step(name)
        if step is not None:
            rec.trace.append(step)
        else:
            rec.step("balancer", f"→ {name}", balancer.explain(name))
        return pool.backends[name]

    def client_headers(self, headers: Headers) -> Headers:
        """Upstream response headers as the client gets them: no hop-by-hop, hidden, Via."""
        return relay_headers(headers, self._drop, VIA_TOKEN)
