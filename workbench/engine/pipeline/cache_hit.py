"""Serving a stored response: what the cache stage puts on the exchange instead of going upstream.

A stored response's client-bound head is made once per entry and proxy (:class:`ClientHead`,
hop-by-hop removal, hidden fields and Via done and serialized once); each answer adds what
changes: ``Age`` and ``Cache-Status`` (RFC 9111 §5.1, RFC 9211), shared by the hits of one
second, so a fresh hit is put on the exchange without formatting anything and, unless a rule or
a hold edits it, goes out as the very bytes the hits of that second share. Conditions answered
from the entry (304), a single Range (206/416), HEAD from a stored GET and stale copies served
on an error go through the same head.
"""

from __future__ import annotations

import time
from sys import intern
from typing import TYPE_CHECKING

from workbench.engine.cache import LookupResult, cache_status
from workbench.engine.cache.lookup import PlainHit
from workbench.engine.cache.status import hit_result
from workbench.engine.http.response_writing import SEPARATE_BODY, response_head
from workbench.engine.observe.records import Headers, TraceStep
from workbench.engine.pipeline.exchange import Exchange

if TYPE_CHECKING:
    from workbench.engine.cache import HttpCache

__all__ = ["ClientHead", "client_head", "serve", "serve_hit", "serve_plain_hit", "serve_stale"]


def _stored_length(headers: Headers) -> int | None:
    """The Content-Length a stored response announced, if any."""
    for n, v in headers:
        if n.lower() == "content-length" and v.strip().isdigit():
            return int(v)
    return None


class ClientHead:
    """A stored response's header fields as clients get them, made once per entry and proxy.

    ``wire`` is their serialization, so that a hit writes the head without formatting it
    again; it is used only while the exchange's headers still begin with ``fields``. What
    changes from hit to hit changes once a second at most (``Age``, the ttl in the trace and
    in ``Cache-Status``): those fields, and the whole response made with them, are shared by
    the hits of one second.
    """

    __slots__ = (
        "source",
        "fields",
        "wire",
        "content_type",
        "_age",
        "_age_lo",
        "_age_hi",
        "_age_field",
        "_reason",
        "_step",
        "_status_field",
        "_whole_age",
        "_whole_status_field",
        "_whole_body",
        "_whole_status",
        "_whole_line",
        "_whole",
    )

    def __init__(self, source: Headers, fields: Headers) -> None:
        self.source = source
        """The stored headers these were made from (the entry's, until a refresh replaces them)."""
        self.fields = fields
        self.wire = "".join([f"{n}: {v}\r\n" for n, v in fields]).encode("latin-1")
        self.content_type: str | None = None
        for n, v in fields:
            if n.lower() == "content-type":
                self.content_type = v
                break
        self._age = -1
        self._age_lo = self._age_hi = 0.0
        """``_age`` as times: ``_age_lo <= age < _age_hi`` is ``int(age) == _age`` (age ≥ 0)."""
        self._age_field = ("Age", "-1")
        self._reason = ""
        self._step: TraceStep = ("cache", "HIT", "")
        self._status_field = ("Cache-Status", "")
        self._whole_age: tuple[str, str] | None = None
        self._whole_status_field: tuple[str, str] | None = None
        self._whole_body: bytes | None = None
        self._whole_status = 0
        self._whole_line = ""
        self._whole = b""

    def age_field(self, age: int) -> tuple[str, str]:
        """The ``Age`` field for ``age`` seconds (one tuple per second, shared by its hits)."""
        if age != self._age:
            self._age = age
            self._age_lo = float(age)
            self._age_hi = age + 1.0
            self._age_field = ("Age", str(age))
        return self._age_field

    def hit_marks(self, res: LookupResult) -> tuple[TraceStep, tuple[str, str]]:
        """The trace step and ``Cache-Status`` field of a fresh hit (shared within a second).

        Both depend only on the whole seconds of ttl left, as does ``res.reason`` (the lookup
        makes one string per second: a new string means a new second).
        """
        reason = res.reason
        if reason is not self._reason:
            self._reason = reason
            self._step = ("cache", "HIT", intern(reason))
            self._status_field = ("Cache-Status", cache_status(res))
        return self._step, self._status_field

    def whole(self, status: int, headers: Headers, body: bytes, line: str) -> bytes | None:
        """The complete response (head and body) for a hit answered with ``headers``.

        The caller checked that ``headers`` still begins with ``fields``. Made once and reused
        while the fields after those are the same ``Age`` and ``Cache-Status`` objects. None
        when this is not a response that goes out in one write with its body.
        """
        skip = len(self.fields)
        if len(headers) != skip + 2:
            return None
        age = headers[skip]
        status_field = headers[skip + 1]
        if (
            age is self._whole_age
            and status_field is self._whole_status_field
            and body is self._whole_body
            and status == self._whole_status
            and line == self._whole_line
        ):
            return self._whole
        if not body or len(body) > SEPARATE_BODY or status < 200 or status in (204, 304):
            return None
        self._whole_age = age
        self._whole_status_field = status_field
        self._whole_body = body
        self._whole_status = status
        self._whole_line = line
        self._whole = (
            response_head(status, headers, len(body), wire=self.wire, skip=skip, line=line) + body
        )
        return self._whole


def client_head(x: Exchange, entry) -> ClientHead:
    """``entry``'s headers as this proxy's clients get them (made once per entry).

    Hop-by-hop removal, hidden fields and Via depend only on the stored headers: they are
    done (and serialized) once per entry, and each hit adds the fields that change.
    """
    decorate = x.mode.decorate
    ready = entry.client_headers.get(decorate)
    if ready is None or ready.source is not entry.headers:
        ready = entry.client_headers[decorate] = ClientHead(entry.headers, decorate(entry.headers))
    return ready


def serve_plain_hit(x: Exchange, hit: PlainHit) -> None:
    """A fresh hit for a request without Range or validators: the entry as the response, with
    the fields and trace step its ClientHead shares between the hits of one second."""
    entry, reason, ttl, age, key = hit
    ready = entry.client_headers.get(x.mode.decorate)
    if ready is None or ready.source is not entry.headers:
        ready = client_head(x, entry)
    rec = x.rec
    if reason is ready._reason:  # the same second as the last hit: same marks
        rec.trace.append(ready._step)
        status_field = ready._status_field
    else:
        step, status_field = ready.hit_marks(hit_result(reason, entry, key, ttl, age))
        rec.trace.append(step)
    headers = x.out_headers = ready.fields.copy()
    if ready._age_lo <= age < ready._age_hi:  # the same whole second as the last hit
        headers.append(ready._age_field)
    else:
        headers.append(ready.age_field(int(age)))
    headers.append(status_field)
    x.status = rec.status = entry.status
    body = x.body = entry.body
    x.ready = ready
    rec.backend_response_headers = None
    if not body and x.req.method == "HEAD":
        x.length = _stored_length(entry.headers)


def serve_hit(x: Exchange, res: LookupResult, cache: HttpCache) -> None:
    """A fresh hit: trace it and put the entry on the exchange as its response.

    The common case (no Range, no satisfied condition) uses the fields and trace step its
    ClientHead shares between the hits of one second; the rest goes through :func:`serve`.
    """
    entry = res.entry
    rec = x.rec
    if res.range is None and not (res.conditional and cache.not_modified(entry, x.req.headers)):
        ready = entry.client_headers.get(x.mode.decorate)
        if ready is None or ready.source is not entry.headers:
            ready = client_head(x, entry)
        if res.reason is ready._reason:  # the same second as the last hit: same marks
            step = ready._step
            status_field = ready._status_field
        else:
            step, status_field = ready.hit_marks(res)
        rec.trace.append(step)
        headers = ready.fields.copy()
        age = int(res.age)
        headers.append(ready._age_field if age == ready._age else ready.age_field(age))
        headers.append(status_field)
        status = entry.status
        body = entry.body
        x.ready = ready
        rec.status = status
        rec.backend_response_headers = None
        x.status = status
        x.out_headers = headers
        x.body = body
        if not body and x.req.method == "HEAD":
            x.length = _stored_length(entry.headers)
        return
    rec.step("cache", "HIT", res.reason)
    serve(x, entry, cache_status(res), res, cache)


def serve(x: Exchange, entry, status_value: str, res: LookupResult, cache: HttpCache) -> None:
    """Put ``entry`` on the exchange as its response (headers decorated once per entry).

    A satisfied condition is answered 304; a GET's single Range is answered from the complete
    entry (206 or 416).
    """
    if cache.not_modified(entry, x.req.headers):
        headers = x.mode.decorate(cache.not_modified_headers(entry))
        status = 304
        body = b""
    else:
        ready = client_head(x, entry)
        headers = ready.fields.copy()
        headers.append(ready.age_field(int(entry.age(time.time()))))
        status = entry.status
        body = entry.body
        if res.range is not None:
            status, headers, body = cache.apply_range(res, entry, headers, body)
        else:
            x.ready = ready
    headers.append(("Cache-Status", status_value))
    rec = x.rec
    rec.status = status
    rec.backend_response_headers = None
    x.status = status
    x.out_headers = headers
    x.body = body
    if not body and x.req.method == "HEAD":
        # A stored HEAD answer has no body: announce the origin's Content-Length, not 0.
        x.length = _stored_length(entry.headers)


def serve_stale(x: Exchange, cache: HttpCache, why: str) -> None:
    """The stale copy the exchange's cache state holds, served because the origin failed."""
    st = x.cache
    entry = st.entry
    headers = x.mode.decorate(cache.serve_stale(entry, method=x.req.method))
    headers.append(("Cache-Status", cache_status(st.res, detail="stale-if-error")))
    rec = x.rec
    rec.cache = "stale"
    rec.error = None
    rec.step("cache", "STALE", f"{why}: served the stale copy (stale-if-error)")
    rec.status = entry.status
    x.status = entry.status
    x.out_headers = headers
    x.body = entry.body
