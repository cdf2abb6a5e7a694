"""How an intercepted CONNECT's client-side TLS handshake ended, read from its record's trace.

Intercept mode (:mod:`workbench.engine.modes.intercept`) writes one ``tls`` step per CONNECT it
takes over; when the client refuses the workbench's certificate (or hangs up, speaks plain
HTTP, or times out) the record has no status, an error and one of :data:`CLIENT_TLS_FAILURES`
as that step's verdict. The Traffic list, the detail view and HAR import read it here, so a
saved capture says the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.engine.observe.records import RequestRecord

TRUST_HINT = "trust the CA: `workbench ca`"
"""What a user does about a client that rejects the workbench's certificate."""
CLIENT_TLS_FAILURES = ("rejected", "failed", "timeout", "closed")
"""Verdicts of the ``tls`` stage for a client-side handshake that did not complete."""
STATUS_LABEL = "TLS✗"
"""The Traffic list's status cell for such a record."""
_SHORT = {
    "rejected": "client rejected the certificate",
    "failed": "client TLS handshake failed",
    "timeout": "client TLS handshake timed out",
    "closed": "client closed before TLS",
}


def client_tls_failure(rec: RequestRecord) -> tuple[str, str] | None:
    """``(verdict, sentence)`` when ``rec`` is an intercepted CONNECT whose client-side TLS
    handshake failed, else None."""
    if rec.method != "CONNECT" or rec.status is not None:
        return None
    for stage, verdict, detail in rec.trace:
        if stage == "tls" and verdict in CLIENT_TLS_FAILURES:
            return verdict, detail
    return None


def short_failure(verdict: str) -> str:
    """A few words for a list row: what went wrong with the client's handshake."""
    return _SHORT.get(verdict, "client TLS handshake failed")
