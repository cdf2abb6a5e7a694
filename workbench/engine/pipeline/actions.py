"""Answers the workbench makes itself (errors, blocks, redirects) and rule verdicts acted out."""

from __future__ import annotations

from workbench.engine.http.client import UpstreamError
from workbench.engine.observe.records import Headers
from workbench.engine.pipeline.exchange import DONE, Exchange
from workbench.engine.rules.ruleset import Verdict, block_page

TEXT = "text/plain; charset=utf-8"

ERROR_STATUS = {"timeout": 504, "unavailable": 503, "denied": 403, "loop": 508}
"""Status of an upstream failure by :attr:`UpstreamError.kind`; anything else is 502."""
ERROR_TITLE = {
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
    403: "Forbidden",
    508: "Loop detected",
}


def answer(
    x: Exchange,
    status: int,
    text: str,
    extra: Headers | None = None,
    *,
    content_type: str = TEXT,
    body: bytes | None = None,
) -> object:
    """A response produced by the workbench itself; returns :data:`DONE`.

    A CONNECT that is not tunnelled leaves the byte stream unusable, and an unread request
    body cannot be skipped: both close the connection after the answer.
    """
    req = x.req
    rec = x.rec
    headers: Headers = [("Content-Type", content_type), ("Server", "workbench")]
    if extra:
        headers.extend(extra)
    data = body if body is not None else text.encode()
    rec.status = status
    rec.content_type = content_type
    rec.response_headers = headers
    rec.bytes_out = len(data) if req.method != "HEAD" else 0
    if rec.body_cap and rec.bytes_out:
        rec.keep_response(data)
    if status >= 500 and rec.error is None:
        rec.error = text.strip()
    close = req.method == "CONNECT" or (req.stream is not None and not req.stream.done)
    if close:
        req.keep_alive = False
    if x.conn is not None:
        x.conn.respond(status, headers, data, head=req.method == "HEAD", close=close)
    return DONE


def answer_error(x: Exchange, exc: UpstreamError) -> object:
    """Answer an upstream failure with a short sentence; the record keeps the detail."""
    status = ERROR_STATUS.get(exc.kind, 502)
    text = str(exc)
    x.rec.error = text
    if status == 503:  # "No healthy backend in pool web." says it all
        return answer(x, status, f"{text[:1].upper()}{text[1:]}.\n")
    return answer(x, status, f"{ERROR_TITLE[status]}: {text}.\n")


def answer_internal(x: Exchange, exc: BaseException) -> None:
    """A bug in the workbench: the client gets a sentence, the record the exception."""
    x.rec.error = f"{type(exc).__name__}: {exc}"
    conn = x.conn
    if conn is None or conn.closed:
        return
    if conn.response_started:
        conn.close()
        return
    x.req.keep_alive = False
    answer(x, 500, "Internal error in the workbench; the request's record has the details.\n")


def act(v: Verdict, x: Exchange, headers: Headers) -> bool:
    """Carry out a verdict: answer for block/redirect (True), or edit ``headers`` in place."""
    if v.action == "block":
        status = v.status or 403
        page = block_page(v.rule.config.name, status, x.rec)
        answer(x, status, "", content_type="text/html; charset=utf-8", body=page)
        return True
    if v.action == "redirect":
        location = v.location or "/"
        answer(x, v.status or 302, f"Redirected to {location}\n", [("Location", location)])
        return True
    if v.remove_headers:
        drop = {h.lower() for h in v.remove_headers}
        headers[:] = [(n, val) for n, val in headers if n.lower() not in drop]
    for name, value in v.set_headers:
        lname = name.lower()
        headers[:] = [(n, val) for n, val in headers if n.lower() != lname]
        headers.append((name, value))
    return False
