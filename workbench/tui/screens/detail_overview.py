"""The Overview of the request detail: the summary line, the timing bar, the trace of the
pipeline's decisions, and what a tunnel or an upgraded connection carried."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.text import Text

from workbench.engine.observe.tls_outcome import (
    CLIENT_TLS_FAILURES,
    client_tls_failure,
    short_failure,
)
from workbench.engine.observe.tls_outcome import STATUS_LABEL as TLS_LABEL
from workbench.tui.screens.detail_headers import NOTE
from workbench.tui.widgets.palette import role
from workbench.tui.widgets.request_columns import duration_ms, human_size, status_style

if TYPE_CHECKING:
    from workbench.engine.observe.records import RequestRecord


_VERDICT_STYLES = {
    "allow": role("ok"),
    "hit": role("ok"),
    "store": role("ok"),
    "ok": role("ok"),
    "block": role("bad", "bold"),
    "deny": role("bad", "bold"),
    "error": role("bad", "bold"),
    "miss": role("warn"),
    "stale": role("warn"),
}


def timing_bar(rec: RequestRecord, width: int = 50) -> Text:
    """A bar split into queue / connect / wait for first byte / transfer, with the ms of each."""
    total = max(rec.t_total, 0.0)
    wait = max(rec.t_first_byte - rec.t_queue - rec.t_connect, 0.0)
    transfer = max(total - rec.t_first_byte, 0.0) if rec.t_first_byte else 0.0
    phases = [
        ("queue", rec.t_queue, role("muted")),
        ("connect", rec.t_connect, role("info")),
        ("first byte", wait, role("warn")),
        ("transfer", transfer, role("ok")),
    ]
    text = Text()
    if total <= 0:
        text.append("no timing recorded", style=NOTE)
        return text
    used = 0
    for _name, seconds, colour in phases:
        cells = round(seconds / total * width) if total else 0
        cells = min(cells, width - used)
        used += cells
        text.append("█" * cells, style=colour)
    text.append("░" * (width - used), style=role("muted"))
    text.append(f"  {duration_ms(total)} ms\n")
    for i, (name, seconds, colour) in enumerate(phases):
        if i:
            text.append("   ")
        text.append("■ ", style=colour)
        text.append(f"{name} {duration_ms(seconds)} ms")
    return text


def trace_table(rec: RequestRecord) -> Text:
    """The pipeline's decisions for this request, one line per stage (searchable text)."""
    text = Text()
    if not rec.trace:
        text.append("no trace recorded", style=NOTE)
        return text
    stage_w = min(max(len(s) for s, _v, _d in rec.trace), 12)
    verdict_w = min(max(len(v) for _s, v, _d in rec.trace), 18)
    text.append(f"{'stage':<{stage_w}}  {'verdict':<{verdict_w}}  detail\n", style="bold")
    for i, (stage, verdict, detail) in enumerate(rec.trace):
        style = _VERDICT_STYLES.get(verdict.split()[0].lower() if verdict else "", "")
        if i:
            text.append("\n")
        text.append(f"{stage:<{stage_w}}  ", style="bold")
        text.append(f"{verdict:<{verdict_w}}", style=style)
        text.append(f"  {detail}")
    return text


def summary_line(rec: RequestRecord) -> Text:
    text = Text()
    stamp = time.strftime("%H:%M:%S", time.localtime(rec.start))
    text.append(f"{stamp}  ", style=role("muted"))
    text.append(f"{rec.method} ", style="bold")
    text.append(rec.url)
    text.append("\n")
    failed = client_tls_failure(rec)
    if rec.status is not None:
        status = str(rec.status)
    elif failed is not None:
        status = f"{TLS_LABEL} {short_failure(failed[0])}"
    else:
        status = "no response"
    text.append(status, style=status_style(rec.status, rec.error))
    proxy = "forward proxy" if rec.proxy == "forward" else "reverse proxy"
    bits = [proxy, f"client {rec.client}"]
    if rec.replay_of is not None:
        bits.append(f"replay of #{rec.replay_of}")
    if rec.backend:
        bits.append(f"backend {rec.pool + '/' if rec.pool else ''}{rec.backend}")
    if rec.cache:
        bits.append(f"cache {rec.cache}")
    if rec.rule:
        bits.append(f"rule {rec.rule}")
    if rec.tags:
        bits.append("tags " + ",".join(rec.tags))
    bits.append(f"{human_size(rec.bytes_out)}B out")
    bits.append(f"{duration_ms(rec.t_total)} ms")
    # The gap is a run of its own, so an exported SVG keeps it (see the header).
    text.append("  ", style="not bold")
    text.append(" · ".join(bits))
    if rec.error:
        text.append(f"\nerror: {rec.error}", style=role("bad", "bold"))
    return text


def tunnel_note(rec: RequestRecord) -> str:
    """What the proxy could see of this CONNECT: a refused one opened nothing, an intercepted
    one was read in full, a plain tunnel only relayed encrypted bytes."""
    tls = next((verdict for stage, verdict, _ in rec.trace if stage == "tls"), None)
    if rec.status != 200:
        answer = f"{rec.status or 'no answer'}" + (f": {rec.error}" if rec.error else "")
        return (
            f"The proxy refused this tunnel ({answer}): it opened no connection to the target "
            "and relayed nothing past its own answer."
        )
    if tls == "intercepted":
        return (
            "The proxy decrypted this connection (HTTPS interception): each request sent inside "
            "it is a row of its own, with its path, headers and body."
        )
    if tls in CLIENT_TLS_FAILURES:
        return (
            "The proxy tried to decrypt this connection, but the TLS handshake with the client "
            "did not complete (see the trace): the client sent no request through it."
        )
    return (
        "This is a CONNECT tunnel: the proxy only relays encrypted bytes. It cannot see inside "
        "TLS — no paths, headers, bodies or status codes past this point; only the target, the "
        "server name the client announced (SNI) and how many bytes went each way."
    )


def tunnel_title(rec: RequestRecord) -> str:
    """The CONNECT section's title: what became of the connection."""
    failed = client_tls_failure(rec)
    if failed is not None and failed[0] == "rejected":
        return "Interception — the client refused the workbench's certificate"
    if failed is not None:
        return "Interception — the client's TLS handshake did not happen"
    if any(s == "tls" and v == "intercepted" for s, v, _d in rec.trace):
        return "Interception — TLS decrypted by the workbench"
    return "Tunnel"


def _sni_text(rec: RequestRecord, failed: tuple[str, str] | None) -> str:
    if rec.sni:
        return rec.sni
    if failed is None:
        return "not seen"
    if failed[0] in ("closed", "failed") and "TLS handshake" not in failed[1]:
        return "none (the client sent no TLS ClientHello)"
    if "no SNI," in failed[1]:
        return "none (the ClientHello named no server: an IP address?)"
    return "not known (the handshake failed)"


def tunnel_text(rec: RequestRecord) -> Text:
    """A CONNECT: a sealed tunnel, a TLS connection the workbench decrypted, or one whose
    client refused the workbench's certificate."""
    failed = client_tls_failure(rec)
    intercepted = any(s == "tls" and v == "intercepted" for s, v, _d in rec.trace)
    text = Text()
    text.append("target  ", style="bold")
    text.append(rec.url + "\n")
    text.append("SNI     ", style="bold")
    text.append(_sni_text(rec, failed) + "\n")
    if failed is not None:
        text.append("TLS     ", style="bold")
        text.append(failed[1] + "\n\n", style=role("bad", "bold"))
        if failed[0] != "rejected":
            text.append(
                "Interception: the workbench answered the CONNECT with 200 and waited for the "
                "client's TLS handshake, which did not happen (see above), so no request was "
                "decrypted and nothing went upstream.",
                style="italic",
            )
            return text
        text.append(
            "Interception: the workbench answered the CONNECT with 200, then offered the client "
            "a certificate for this host signed by its own CA. The client did not complete the "
            "handshake, so it sent no request and nothing went upstream. A client refuses a "
            "certificate from a CA it does not trust: to let it be decrypted, trust the CA "
            "(`workbench ca` says how, e.g. curl --cacert); a client that pins its certificates "
            "can only be tunnelled (remove its host from forward.intercept.hosts).",
            style="italic",
        )
        return text
    text.append("bytes   ", style="bold")
    text.append(f"client → server {rec.bytes_in:,}   server → client {rec.bytes_out:,}\n\n")
    if intercepted:
        text.append(
            "Interception: the workbench ended the client's TLS itself with a certificate for "
            "this host signed by its CA, and opened its own verified TLS connection to the "
            "origin. Each decrypted request is a record of its own (filter ~intercepted).",
            style="italic",
        )
        return text
    text.append(tunnel_note(rec), style="italic")
    return text


def upgrade_text(rec: RequestRecord) -> Text:
    """An upgraded connection (WebSocket, …): bytes and messages each way, first messages."""
    text = Text()
    text.append("protocol  ", style="bold")
    text.append(f"upgrade → {rec.upgrade} (101 Switching Protocols)\n")
    text.append("bytes     ", style="bold")
    text.append(f"client → server {rec.bytes_in:,}   server → client {rec.bytes_out:,}\n")
    if rec.upgrade == "websocket":
        text.append("messages  ", style="bold")
        text.append(f"client → server {rec.messages_in:,}   server → client {rec.messages_out:,}\n")
    text.append("duration  ", style="bold")
    text.append(f"{duration_ms(rec.t_total)} ms\n")
    for arrow, preview in rec.message_previews or ():
        text.append(f"  {arrow} ", style="bold")
        text.append(preview + "\n")
    return text
