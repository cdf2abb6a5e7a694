"""The hold stages: where an exchange matching the intercept filter waits for the user.

``hold_request`` runs after the request rules (the user sees and edits what would go upstream);
``hold_response`` after the response rules and the cache decision (the user sees and edits what
the client would get). Each waits on its own future (:mod:`workbench.engine.hold`), so a held
exchange never delays another. With no intercept filter each is one attribute check, and the
handler skips both for a run of stages that starts while none is set (see ``make_handler``).
"""

from __future__ import annotations

from typing import Any

from workbench.engine.hold import MAX_EDIT_BODY, Held, HoldPoint
from workbench.engine.pipeline.actions import answer
from workbench.engine.pipeline.exchange import DONE, Exchange


def hold_request(x: Exchange) -> Any:
    """Stage: hold a matching request before it goes upstream (or to the cache)."""
    hp: HoldPoint = x.mode.engine.hold
    match = hp.request
    if match is None or x.conn is None or not match(x.rec):
        return None
    if hp.full():
        x.rec.step("hold", "full", f"{len(hp.held)} exchanges held already; passed")
        return None
    return _hold_request(x, hp)


async def _hold_request(x: Exchange, hp: HoldPoint) -> Any:
    req = x.req
    body = req.body if req.stream is None else None
    h = await hp.wait(x.rec, "request", x.headers, body, target=x.target)
    if h.decision != "resume" and h.decision != "timeout-resume":
        return _stop(x, h, hp)
    if h.body is not None and h.body is not body:
        req.body = h.body
    if h.method != req.method:
        req.method = h.method
    if h.target != x.target:
        x.target = h.target
    return None


def hold_response(x: Exchange) -> Any:
    """Stage: hold a matching response before the client gets it."""
    hp: HoldPoint = x.mode.engine.hold
    match = hp.response
    if match is None or x.conn is None or not match(x.rec):
        return None
    if hp.full():
        x.rec.step("hold", "full", f"{len(hp.held)} exchanges held already; passed")
        return None
    return _hold_response(x, hp)


async def _hold_response(x: Exchange, hp: HoldPoint) -> Any:
    resp = x.resp
    if resp is not None and (
        resp.complete or (resp.content_length is not None and resp.content_length <= MAX_EDIT_BODY)
    ):
        # Small enough to edit: read it all and answer from memory, like a stored response.
        parts = []
        while True:
            data = await resp.read()
            if not data:
                break
            parts.append(data)
        x.status = resp.status
        x.body = b"".join(parts)
        x.release()
        x.resp = None
    status = x.status or (resp.status if resp is not None else None)
    h = await hp.wait(x.rec, "response", x.out_headers, x.body, status)
    if h.decision != "resume" and h.decision != "timeout-resume":
        return _stop(x, h, hp)
    if h.body is not None:
        x.body = h.body
    if h.status is not None and h.status != status:
        x.status = x.rec.status = h.status
    return None


def _stop(x: Exchange, h: Held, hp: HoldPoint) -> Any:
    """Killed (close without an answer) or timed out with ``on_timeout: fail`` (504)."""
    x.release()
    x.resp = None
    if h.decision == "kill":
        x.rec.error = "killed while held by the intercept filter"
        x.rec.status = None
        x.req.keep_alive = False
        x.conn.close()
        return DONE
    return answer(
        x,
        504,
        f"Gateway timeout: held by the intercept filter for {hp.timeout:g}s without a decision "
        "(hold.on_timeout: fail).\n",
    )
