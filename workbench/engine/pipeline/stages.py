"""The fixed, named sequence of stages every request goes through, and the loop that runs it.

A stage is a plain function ``stage(x: Exchange) -> None | DONE | Awaitable``: ``None`` passes
on, :data:`DONE` means the client has been answered, and an awaitable (only when the stage must
wait: a delay, an upstream exchange, a streamed body) is awaited for one of those two. A cache
hit therefore runs every stage as a plain call, with no coroutine at all; its lookup returns
:data:`SERVED`, and the stages that only act on an upstream response are skipped. A stage may also
return a bare future and set ``x.then``: the loop goes on from the future's callback with what
``then(x, future)`` returns, so a miss on a pooled upstream connection runs no coroutine either.

Modes (reverse, forward, tunnel) only decide the destination, in the ``destination`` stage.
"""

from __future__ import annotations

import asyncio
from asyncio import Future
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from workbench.engine.http.client import UpstreamError
from workbench.engine.http.headers import get_header
from workbench.engine.http.server import HttpRequest, ServerConnection
from workbench.engine.pipeline.actions import act, answer, answer_internal
from workbench.engine.pipeline.auth import AuthDecision
from workbench.engine.pipeline.exchange import DONE, SERVED, Exchange
from workbench.engine.pipeline.hold_stage import hold_request, hold_response
from workbench.engine.pipeline.respond import respond, send_stored
from workbench.engine.pipeline.upstream import upstream
from workbench.engine.rules.ruleset import NO_VERDICT

Stage = Callable[[Exchange], Any]
"""``(x) -> None | DONE | Awaitable[None | DONE]``."""


_ALLOWED: dict[str, tuple[str, str, str]] = {}
"""Client address → its ``acl allow`` trace step (shared by its records; bounded)."""


def access_control(x: Exchange) -> Any:
    """Who may use this proxy (forward: ``allow_clients``); reverse proxies serve everyone."""
    allowed = x.mode.client_allowed
    if allowed is None:
        return None
    ip = x.rec.client
    if allowed(ip):
        step = _ALLOWED.get(ip)
        if step is None:
            if len(_ALLOWED) >= 4096:
                _ALLOWED.clear()
            step = _ALLOWED[ip] = ("acl", "allow", f"{ip} in allow_clients")
        x.rec.trace.append(step)
        return None
    x.rec.step("acl", "deny", f"{ip} is not in allow_clients")
    x.rec.error = "client not allowed"
    return answer(x, 403, f"The forward proxy does not serve {ip}: it is not in allow_clients.\n")


def auth(x: Exchange) -> Any:
    """Proxy authentication, when the mode has a verifier (a cached verdict costs no await)."""
    checker = x.mode.auth
    if checker is None:
        return None
    value = get_header(x.req.headers, "proxy-authorization")
    verdict = checker.check_cached(value, x.rec.client)
    if verdict is None:
        return _auth_later(x, checker.verify(value or "", x.rec.client))
    return _auth_verdict(x, verdict)


async def _auth_later(x: Exchange, pending: Awaitable[AuthDecision]) -> Any:
    return _auth_verdict(x, await pending)


def _auth_verdict(x: Exchange, verdict: AuthDecision) -> Any:
    if verdict.ok:
        x.rec.step("auth", "ok", verdict.reason)
        return None
    x.rec.step("auth", str(verdict.status), verdict.reason)
    text = "Too many attempts" if verdict.status == 429 else "Proxy authentication required"
    return answer(
        x, verdict.status, f"{text}: {verdict.reason}.\n", verdict.headers(x.mode.auth.realm)
    )


def destination(x: Exchange) -> Any:
    """The mode decides where the request goes (route → pool, absolute-form → origin, tunnel)."""
    return x.mode.destination(x)


def request_rules(x: Exchange) -> Any:
    """Request-phase rules on the upstream headers: block, redirect, edit, delay."""
    v = x.mode.engine.ruleset.evaluate("request", x.rec)
    if v is NO_VERDICT:  # no rule, or nothing matched (most requests): nothing to act out
        return None
    if act(v, x, x.headers):
        return DONE
    if v.delay:
        return asyncio.sleep(v.delay)
    return None


def cache_lookup(x: Exchange) -> Any:
    """A usable stored response answers now; a miss is prepared (and collapsed)."""
    return x.mode.engine.cache_layer.lookup(x)


def response_rules(x: Exchange) -> Any:
    """Client-bound headers made from the response, then response-phase rules on them."""
    rec = x.rec
    resp = x.resp
    if resp is not None and x.out_headers is None:
        x.status = rec.status = resp.status
        rec.backend_response_headers = resp.headers
        x.out_headers = x.mode.decorate(resp.headers)
    headers = x.out_headers
    ruleset = x.mode.engine.ruleset
    if "response" in ruleset.phases:
        for n, v in headers:
            if n.lower() == "content-type":
                rec.content_type = v
                break
        v = ruleset.evaluate("response", rec)
        if v is NO_VERDICT:
            rec.response_headers = headers
            return None
        if act(v, x, headers):
            x.release()  # a rule answered instead; the unread body is dropped
            return DONE
        if v.delay:
            rec.response_headers = headers
            return _hold(x, v.delay)
    rec.response_headers = headers
    return None


async def _hold(x: Exchange, delay: float) -> None:
    """Hold the response back for ``delay`` seconds without buffering its body.

    The upstream body switches to streaming first, so its back-pressure stops the upstream:
    at most a window of bytes waits here, however large the body.
    """
    resp = x.resp
    if resp is not None:
        resp.hold()
    await asyncio.sleep(delay)
    return None


def cache_store(x: Exchange) -> Any:
    """Invalidate after unsafe methods; decide what the respond stage collects for the cache."""
    st = x.cache
    if st is None:
        return None
    return st.layer.store(x)


STAGES: tuple[Stage, ...] = (
    access_control,
    auth,
    destination,
    request_rules,
    hold_request,
    cache_lookup,
    upstream,
    response_rules,
    cache_store,
    hold_response,
    respond,
)
"""Every HTTP request, whatever the mode."""


def make_handler(
    mode, tunnel_stages: tuple[Stage, ...] | None = None
) -> Callable[[HttpRequest, ServerConnection], Awaitable[None] | None]:
    """The listener's request handler for ``mode``.

    The stages run as plain calls until one has to wait. A stage that waits for a future (the
    upstream stage sending on a pooled connection) returns the future itself and sets
    ``x.then``: the handler returns that future to the server and, once it is done, goes on
    from a callback (``then`` first, then the remaining stages), telling the server with
    :meth:`~ServerConnection.continue_request`. No coroutine and no task. Any other awaitable
    (a delay, a streamed body, a new connection) makes the rest a coroutine that the server
    runs as a task. A request answered without waiting (a cache hit, a block) returns None.
    """
    engine = mode.engine
    finish = engine.recorder.finish
    internal_error = engine.recorder.internal_error
    begin = mode.exchange
    tunnel = tunnel_stages or STAGES
    # A mode without a client ACL or proxy authentication has none for its whole life (both
    # are set when the mode is made): those two stages would only return None for it.
    # The destination stage only asks the mode: the mode's own method takes its place.
    static_noops = {access_control: mode.client_allowed is None, auth: mode.auth is None}
    http_stages = tuple(
        mode.destination if s is destination else s
        for s in STAGES
        if not static_noops.get(s, False)
    )
    # After the lookup put a stored response on the exchange (it returns SERVED): the stages
    # that act on an upstream response only would pass (upstream, cache store), so they go,
    # and responding is sending the stored response.
    served = tuple(
        send_stored if s is respond else s
        for s in http_stages[http_stages.index(cache_lookup) + 1 :]
        if s not in (upstream, cache_store)
    )
    # The lookup stage only asks the engine's cache layer (made once with the engine).
    http_stages = tuple(engine.cache_layer.lookup if s is cache_lookup else s for s in http_stages)
    # With no intercept filter set, the hold stages pass. The filter can change only between
    # callbacks, so a run of stages that starts without one skips them; once a stage has to
    # wait, the rest runs from the full tuple (the filter may have been set meanwhile).
    holds = (hold_request, hold_response)
    unheld = tuple(s for s in http_stages if s not in holds)
    unheld_served = tuple(s for s in served if s not in holds)
    hold = engine.hold

    def failed(x: Exchange, exc: Exception) -> None:
        if isinstance(exc, (ConnectionError, UpstreamError)):
            rec = x.rec
            rec.error = rec.error or str(exc)
            rec.status = rec.status or getattr(exc, "status", None)  # 408 from the server
            x.conn.close()
        else:  # a bug: the client gets a sentence, the record the detail
            internal_error(exc)
            answer_internal(x, exc)

    def end(x: Exchange) -> None:
        # handle() does the same inline for an exchange that holds nothing (a hit, a block).
        if x.up is not None:
            x.release()
        if x.cache is not None:
            x.cache.layer.release(x)
        req = x.req
        if req.stream is not None:
            x.rec.bytes_in = req.body_received  # a streamed body is counted as it arrives
        if not x.keep_open:
            finish(x.rec, req.start_mono)

    def handle(req: HttpRequest, conn: ServerConnection) -> Awaitable[None] | None:
        x = begin(req, conn)
        if req.method == "CONNECT":
            stages = tunnel
        elif hold.request is None and hold.response is None:
            stages = unheld
        else:
            stages = http_stages
        try:
            while True:
                for stage in stages:
                    r = stage(x)
                    if r is not None:
                        break
                else:
                    break  # every stage passed
                if r is DONE:
                    break
                if r is SERVED:
                    # A stored response: on with the stages after the lookup.
                    if stages is not unheld:
                        stages = served
                        continue
                    if "response" in engine.ruleset.phases:
                        stages = unheld_served
                        continue
                    # No response rule and no hold: the response rules stage would only note
                    # the headers sent, as sending does. Send.
                    send_stored(x)
                    break
                # Waiting: the rest runs from the full tuple (it may be held).
                if stages is unheld:
                    stages = http_stages
                elif stages is unheld_served:
                    stages = served
                i = stages.index(stage) + 1
                if type(r) is Future:
                    r.add_done_callback(partial(resume, x, stages, i))
                    return r
                return _wait(x, r, stages, i)
        except Exception as exc:
            failed(x, exc)
        if x.up is None and x.cache is None and req.stream is None and not x.keep_open:
            finish(x.rec, req.start_mono)  # end(x), for an exchange that holds nothing
        else:
            end(x)
        return None

    def resume(x: Exchange, stages: tuple[Stage, ...], i: int, fut: Future) -> None:
        """The future a stage returned is done: its ``then``, then the stages after it."""
        conn = x.conn
        req = x.req
        then = x.then
        x.then = None
        try:
            try:
                r = then(x, fut)
                n = len(stages)
                while True:
                    if r is not None and r is not SERVED:
                        if r is DONE:
                            break
                        if type(r) is Future:
                            r.add_done_callback(partial(resume, x, stages, i))
                        else:
                            r = _wait(x, r, stages, i)
                        conn.continue_request(req, r)
                        return
                    if i == n:
                        break
                    r = stages[i](x)
                    i += 1
            except Exception as exc:
                failed(x, exc)
            end(x)
        except asyncio.CancelledError:  # the server stopped and gave up on this request
            end(x)
            conn.abandon_request(req)
            return
        except Exception as exc:  # a bug in failed() or end()
            conn._handler_failed(req, exc)
            return
        conn.continue_request(req, None)

    async def _wait(x: Exchange, pending: Awaitable[Any], stages: tuple[Stage, ...], i: int):
        """The rest of the stages, from the first one that had to wait."""
        try:
            r = await (_settle(x, pending) if type(pending) is Future else pending)
            if r is not DONE:
                for stage in stages[i:]:
                    r = stage(x)
                    if r is not None and r is not DONE and r is not SERVED:
                        r = await (_settle(x, r) if type(r) is Future else r)
                    if r is DONE:
                        break
        except Exception as exc:
            failed(x, exc)
        finally:
            end(x)

    return handle


async def _settle(x: Exchange, pending: Future) -> Any:
    """What a bare future a stage returned comes to: what ``x.then`` makes of it, awaited."""
    while True:
        try:
            await pending
        except Exception:
            pass  # ``then`` reads the outcome
        then = x.then
        x.then = None
        result = then(x, pending)
        if type(result) is not Future:
            return result if result is None or result is DONE else await result
        pending = result
