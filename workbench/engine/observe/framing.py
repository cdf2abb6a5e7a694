"""The response head as the client received it, with the framing the writer added.

Answers the workbench makes itself (block pages, error pages, cache hits) are recorded with the
header fields the pipeline chose; the HTTP writer adds ``Content-Length`` on the wire
(:meth:`~workbench.engine.http.server.ServerConnection.respond`). The detail view's "as the
client received them" and HAR export show that field too, computed here when read, so the hot
path records nothing extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.engine.observe.records import Headers, RequestRecord


def client_response_headers(rec: RequestRecord) -> Headers | None:
    """``rec.response_headers`` plus the ``Content-Length`` the writer sent, when the recorded
    fields have no framing (relayed responses record theirs; a close-delimited body has none)."""
    headers = rec.response_headers
    status = rec.status
    if headers is None or status is None or status < 200 or status in (204, 304):
        return headers
    if rec.method in ("HEAD", "CONNECT") or rec.upgrade:
        return headers
    for name, _value in headers:
        lower = name.lower()
        if lower == "content-length" or lower == "transfer-encoding":
            return headers
    for stage, verdict, _detail in rec.trace:
        if stage == "respond" and verdict in ("close-delimited", "truncated"):
            return headers
    return [*headers, ("Content-Length", str(rec.bytes_out))]
