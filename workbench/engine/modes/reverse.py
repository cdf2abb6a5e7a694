"""The reverse proxy: match a route, apply rules, consult the cache, balance across a pool."""

from __future__ import annotations

import asyncio
import fnmatch
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workbench.config.model import ReverseConfig, RouteConfig
from workbench.engine.balancing.health import passive_failure, passive_success
from workbench.engine.http.client import UpstreamError
from workbench.engine.http.headers import (
    RESPONSE_DROP,
    add_forwarded,
    append_via,
    remove_names,
    strip_hop_by_hop,
)
from workbench.engine.http.server import HttpRequest, ServerConnection
from workbench.engine.observe.records import Headers, RequestRecord
from workbench.engine.pipeline.cache_stage import DONE
from workbench.engine.pipeline.respond import finish_response, relay_complete, send_upstream
from workbench.engine.replay import claim

if TYPE_CHECKING:
    from workbench.engine.engine import Engine

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


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


def compile_routes(routes: tuple[RouteConfig, ...]) -> tuple[CompiledRoute, ...]:
    """Routes ordered so that the first match is the longest prefix (host-specific first)."""
    out = []
    for r in routes:
        host_re = None
        if r.host not in ("*", ""):
            host_re = re.compile(fnmatch.translate(r.host.lower()))
        prefix = r.path_prefix or "/"
        trace = f"prefix {prefix} → pool {r.pool}"
        out.append(CompiledRoute(r.name, r.pool, prefix, r.strip_prefix, host_re, trace))
    out.sort(key=lambda r: (-len(r.prefix), r.host_re is None))
    return tuple(out)


def match_route(routes: tuple[CompiledRoute, ...], host: str, path: str) -> CompiledRoute | None:
    for r in routes:
        if path.startswith(r.prefix) and (r.host_re is None or r.host_re.match(host)):
            if len(path) == len(r.prefix) or r.prefix.endswith("/") or path[len(r.prefix)] in "/?":
                return r
    return None


def split_host(host_header: str) -> str:
    """Host name without port, lower-cased (handles ``[v6]:port``)."""
    h = host_header.strip().lower()
    if h.startswith("["):
        end = h.find("]")
        return h[1:end] if end > 0 else h
    colon = h.rfind(":")
    return h[:colon] if colon >= 0 else h


class ReverseProxy:
    """Request handler of the reverse-proxy listener."""

    def __init__(self, engine: Engine, config: ReverseConfig) -> None:
        self.engine = engine
        self.config = config
        self.routes = compile_routes(config.routes)
        self.hide = frozenset(h.lower() for h in config.hide_backend_headers)
        self.scheme = "https" if config.tls else "http"
        self.cache_enabled = config.cache

    async def handle(self, req: HttpRequest, conn: ServerConnection) -> None:
        eng = self.engine
        host_header = ""
        for n, v in req.headers:
            if len(n) == 4 and n.lower() == "host":
                host_header = v
                break
        target = req.target
        if not target.startswith("/"):
            # Absolute-form to an origin server is legal (RFC 9112 §3.2.2): keep only the path.
            rest = target.split("://", 1)[-1]
            slash = rest.find("/")
            host_header = host_header or (rest[:slash] if slash >= 0 else rest)
            target = rest[slash:] if slash >= 0 else "/"
        host = split_host(host_header) if host_header else ""
        rec = RequestRecord(
            eng.next_id(),
            req.start,
            conn.client_ip,
            "reverse",
            req.method,
            f"{self.scheme}://{host_header}{target}",
            host,
            target,
            req.headers,
        )
        rec.bytes_in = len(req.body)
        if eng.replays:
            claim(eng, req, rec)
        # The whole pipeline runs in this one coroutine: every extra frame costs on each resume.
        try:
            eng = self.engine
            path = target
            if req.method == "CONNECT":
                rec.step("parse", "405", "CONNECT is for forward proxies")
                eng.answer(
                    conn,
                    req,
                    rec,
                    405,
                    "This is a reverse proxy: CONNECT is not supported.\n",
                    [("Allow", "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS")],
                )
                return
            route = match_route(self.routes, host, path)
            if route is None:
                rec.step("route", "none", f"no route matches host {host or '-'} path {path}")
                eng.answer(conn, req, rec, 404, f"No route for {host or '(no host)'}{path}.\n")
                return
            pool = eng.pools.get(route.pool)
            rec.pool = route.pool
            rec.step("route", route.name, route.trace)

            headers = strip_hop_by_hop(req.headers)
            if eng.ruleset.has_phase("request"):
                delay = eng.apply_request_rules(req, conn, rec, headers)
                if delay is None:
                    return  # the rules answered
                if delay:
                    await asyncio.sleep(delay)

            upstream_target = target
            if route.strip and route.prefix != "/":
                upstream_target = target[len(route.prefix.rstrip("/")) :] or "/"
                if not upstream_target.startswith("/"):
                    upstream_target = "/" + upstream_target
            if pool is None:
                eng.answer(conn, req, rec, 503, f"Pool {route.pool} does not exist.\n")
                return

            if self.cache_enabled and eng.cache_layer is not None:
                # Forwarding headers are added only if the request really goes upstream:
                # a cache hit should not pay for them.
                forwarded = False

                async def fetch(extra_headers=None, answer_errors=True, record=rec):
                    nonlocal forwarded
                    if not forwarded:
                        self._add_forwarding(headers, rec.client, host_header)
                        forwarded = True
                    return await self._to_pool(
                        req,
                        conn,
                        record,
                        pool,
                        headers,
                        upstream_target,
                        extra_headers,
                        answer_errors,
                    )

                layer = eng.cache_layer
                # Hits are answered synchronously: no coroutine for the cache stage.
                first = layer.begin(req, conn, rec, rec.url, fetch, self.client_headers)
                if first is not DONE:
                    await layer.handle(
                        req,
                        conn,
                        rec,
                        rec.url,
                        fetch,
                        self._finish_response,
                        self.client_headers,
                        first,
                    )
                return
            # No cache: call the stages directly (fewer coroutine frames on the hot path).
            self._add_forwarding(headers, rec.client, host_header)
            result = await self._to_pool(req, conn, rec, pool, headers, upstream_target, None)
            if result is None:
                return
            resp, backend, up = result
            if resp.complete and not eng.ruleset.has_phase("response"):
                try:
                    rec.status = resp.status
                    rec.backend_response_headers = resp.headers
                    out = self.client_headers(resp.headers)
                    rec.response_headers = out
                    relay_complete(conn, req, rec, resp, out)
                finally:
                    backend.release(up)
                return
            await self._finish_response(req, conn, rec, resp, backend, up, 0, None)
        except (ConnectionError, UpstreamError) as exc:
            rec.error = rec.error or str(exc)
            rec.status = rec.status or getattr(exc, "status", None)  # 408 from the server
            conn.close()
        finally:
            eng.finish(rec, req.start_mono)

    def _add_forwarding(self, headers: Headers, client: str, host_header: str) -> None:
        if self.config.forwarded_headers:
            add_forwarded(headers, client, self.scheme, host_header or None)
        append_via(headers)

    def client_headers(self, headers: Headers) -> Headers:
        """Upstream response headers as the client gets them: no hop-by-hop, hidden, Via."""
        out = strip_hop_by_hop(headers, RESPONSE_DROP)
        if self.hide:
            out = remove_names(out, self.hide)
        append_via(out)
        return out

    async def _to_pool(
        self, req, conn, rec, pool, headers, upstream_target, extra_headers, answer_errors=True
    ):
        """Pick a backend and send; retries idempotent requests elsewhere on connect failures.

        Returns ``(response, backend, upstream_connection)``. On failure: answers the client and
        returns None, or (``answer_errors=False``) returns the :class:`UpstreamError`.
        """
        eng = self.engine
        retries = pool.config.retries
        can_retry = req.method in IDEMPOTENT and req.stream is None
        tried: set[str] = set()
        last_error: UpstreamError | None = None
        key = None
        algorithm = pool.algorithm
        if algorithm == "ip_hash":
            key = rec.client
        elif algorithm == "consistent_hash":
            key = eng.hash_key(pool, rec)
        send_headers = headers if not extra_headers else headers + extra_headers
        stale_retried = False
        for attempt in range(retries + 1):
            balancer = pool.balancer
            name = balancer.pick(key, tried)
            if name is None:
                if last_error is None:
                    rec.step("balancer", "none", f"pool {pool.name}: no healthy backend")
                    last_error = UpstreamError(
                        "unavailable", f"no healthy backend in pool {pool.name}", retryable=False
                    )
                if not answer_errors:
                    return last_error
                if last_error.kind == "unavailable":
                    rec.error = "no healthy backend"
                    eng.answer(conn, req, rec, 503, f"No healthy backend in pool {pool.name}.\n")
                else:
                    eng.answer_upstream_error(conn, req, rec, last_error)
                return None
            backend = pool.backends[name]
            rec.backend = name
            rec.step("balancer", f"→ {name}", balancer.explain(name))
            backend.inflight += 1
            try:
                target = (
                    backend.base_path + upstream_target if backend.base_path else upstream_target
                )
                resp, up = await send_upstream(
                    backend.upstream,
                    req,
                    rec,
                    target,
                    send_headers,
                    pool.config.timeouts.response,
                    conn,
                )
            except UpstreamError as exc:
                backend.inflight -= 1
                if exc.stale and can_retry and not stale_retried:
                    # The backend closed an idle pooled connection as we reused it: not a
                    # failure of the backend; try once more on a fresh connection.
                    stale_retried = True
                    rec.step("upstream", "retry", f"{name}: pooled connection was closed; retrying")
                    try:
                        resp, up = await send_upstream(
                            backend.upstream,
                            req,
                            rec,
                            target,
                            send_headers,
                            pool.config.timeouts.response,
                            conn,
                        )
                    except UpstreamError as again:
                        exc = again
                    else:
                        backend.inflight += 1
                        passive_success(backend)
                        rec.step(
                            "upstream", str(resp.status), f"{name} answered on a new connection"
                        )
                        return resp, backend, up
                last_error = exc
                passive_failure(pool, backend, str(exc))
                rec.step("upstream", exc.kind, f"{name}: {exc}")
                if exc.retryable and can_retry and attempt < retries:
                    tried.add(name)
                    continue
                if not answer_errors:
                    return exc
                eng.answer_upstream_error(conn, req, rec, exc)
                return None
            except BaseException:
                backend.inflight -= 1
                raise
            if resp.status >= 500:
                passive_failure(pool, backend, f"status {resp.status}")
            else:
                passive_success(backend)
            rec.step(
                "upstream",
                str(resp.status),
                f"{name} answered on a new connection"
                if rec.t_connect
                else f"{name} answered on a pooled connection",
            )
            return resp, backend, up
        return None

    async def _finish_response(self, req, conn, rec, resp, backend, up, collect=0, extra=None):
        """Response rules, header filtering, relay to the client; returns the body if collected."""
        return await finish_response(
            self.engine, req, conn, rec, resp, backend, up, self.client_headers, collect, extra
        )
