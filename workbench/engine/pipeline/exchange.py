"""The :class:`Exchange`: one request and everything the stages learn about it on the way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench.engine.http.server import HttpRequest, ServerConnection
from workbench.engine.observe.records import Headers, RequestRecord
from workbench.engine.replay import claim

if TYPE_CHECKING:
    from workbench.engine.http.client import UpstreamConnection, UpstreamError, UpstreamResponse

DONE: Any = object()
"""What a stage returns when the client has its answer: the exchange goes no further."""
SERVED: Any = object()
"""What the cache lookup returns when it put a stored response on the exchange: the stages that
only act on an upstream response (upstream, cache store) are skipped; the rest run as usual.
Elsewhere it means the same as None (those stages would pass anyway)."""


class Exchange:
    """One request as it flows through the stages (a plain, slotted object: one per request).

    The mode fills the request side (``dest``, ``target``, ``authority``); the stages fill the
    rest. The response is either an upstream response (``resp`` from ``peer`` on ``up``) or a
    complete ``body`` (a cache entry), with ``status`` and the client-bound ``out_headers``.
    """

    __slots__ = (
        "req",
        "conn",
        "rec",
        "mode",
        "dest",
        "target",
        "authority",
        "headers",
        "extra",
        "forwarded",
        "error",
        "resp",
        "peer",
        "up",
        "status",
        "out_headers",
        "body",
        "length",
        "cache",
        "collect",
        "keep_open",
        "ready",
        "then",
    )

    def __init__(self, req: HttpRequest, conn: ServerConnection | None, rec: RequestRecord, mode):
        self.req = req
        self.conn = conn
        """The client connection; None for a background fetch (nobody to answer)."""
        self.rec = rec
        self.mode = mode
        """The mode that decided the destination (reverse, forward, tunnel)."""
        self.dest: Any = None
        """Where the request goes: a pool (reverse) or an origin (forward); set by the mode."""
        self.target = rec.path
        """Request target sent upstream (origin-form)."""
        self.authority = ""
        """Host (and port) the client addressed; for the forwarding headers."""
        self.headers: Headers = []
        """Upstream request headers (hop-by-hop removed; rules and forwarding edit them)."""
        self.extra: Headers | None = None
        """Headers added for this one upstream request only (cache revalidation)."""
        self.forwarded = False
        """Whether the forwarding headers were added (only when the request goes upstream)."""
        self.error: UpstreamError | None = None
        """Why the upstream stage failed (answered by the stage unless the cache steps in)."""
        self.resp: UpstreamResponse | None = None
        self.peer: Any = None
        """Who answered: a :class:`Backend` or an origin; gets the connection back."""
        self.up: UpstreamConnection | None = None
        self.status = 0
        self.out_headers: Headers | None = None
        """Response headers as the client will get them."""
        self.body: bytes | None = None
        """A complete response body to send (a cache entry), when there is no ``resp``."""
        self.length: int | None = None
        """Content-Length to announce for ``body`` when it differs (a stored HEAD answer)."""
        self.cache: Any = None
        """The cache stage's state for this exchange (lookup result, collapse key, store)."""
        self.collect = 0
        """Collect up to this many body bytes while relaying (for the cache store)."""
        self.keep_open = False
        """The record stays open after the handler returns (a live tunnel finishes it)."""
        self.ready: Any = None
        """For a stored response: its client-ready fields, serialized once per cache entry
        (:class:`~workbench.engine.pipeline.cache_hit.ClientHead`)."""
        self.then: Any = None
        """When a stage returns a bare future: ``then(x, future)``, called once it is done,
        returns what the stage would have (see :func:`~.stages.make_handler`)."""

    def release(self) -> None:
        """Give the upstream connection back to whoever it came from (once)."""
        up = self.up
        if up is not None:
            self.up = None
            self.peer.release(up)


def new_record(
    engine, req: HttpRequest, conn: ServerConnection, proxy: str, url: str, host: str, path: str
) -> RequestRecord:
    """The one record setup for every mode."""
    if host[-1:] == ".":
        host = host.rstrip(".")  # "evil.test." is evil.test: rules and routes see one name
    rec = RequestRecord(
        engine.recorder.next_id(),
        req.start,
        conn.client_ip,
        proxy,
        req.method,
        url,
        host,
        path,
        req.headers,
    )
    if engine.replays:  # a replay in flight: is this it? (see engine/replay.py)
        claim(engine, req, rec)
    engine.records.begin(rec, req)
    return rec
