"""Checks of the lessons about what a proxy gets to see: both proxies side by side, the forward
proxy's privacy modes, CONNECT tunnels, HTTPS interception, and the page that is only read.
"""

from __future__ import annotations

from collections.abc import Sequence

from workbench.demo.lessons.model import CheckResult, LessonState, RecordLike
from workbench.demo.lessons.reading import (
    dig,
    header_value,
    is_students,
    outcome,
    request_line,
    waiting_for_own,
)


def check_two_proxies(st: LessonState) -> CheckResult:
    """Done once the student's own marked requests went through both proxies."""
    mem = st.memory
    for rec in st.records:
        if (
            rec.method == "CONNECT"
            or not is_students(rec)
            or rec.proxy not in ("reverse", "forward")
        ):
            continue
        line = f"{rec.proxy} proxy received: {request_line(rec)}  → {outcome(rec)}"
        answered_by = header_value(rec.response_headers, "X-Backend")
        if rec.proxy == "reverse" and answered_by:
            line += f"; the answer said X-Backend: {answered_by}"
        mem[rec.proxy] = line
    evidence = tuple(mem[p] for p in ("reverse", "forward") if p in mem)
    if "reverse" in mem and "forward" in mem:
        return CheckResult(True, "your requests went through both proxies", evidence)
    if not evidence:
        return CheckResult(False, waiting_for_own(st, "your own requests"), evidence)
    missing = "forward" if "reverse" in mem else "reverse"
    return CheckResult(False, f"now send one through the {missing} proxy (step 1)", evidence)


def _privacy_seen(sent: Sequence[tuple[str, str]] | None) -> str:
    """Which privacy mode the headers the origin received look like."""
    xff, via = header_value(sent, "X-Forwarded-For"), header_value(sent, "Via")
    if xff and via:
        return "transparent"
    if via:
        return "anonymous"
    return "elite"


def check_server_sees(st: LessonState) -> CheckResult:
    """Done once the student's own /echo went through the forward proxy in two privacy modes."""
    modes: dict[str, str] = st.memory.setdefault("modes", {})
    for rec in st.records:
        if rec.proxy != "forward" or rec.method == "CONNECT" or not is_students(rec):
            continue
        if rec.path.split("?", 1)[0] != "/echo" or rec.upstream_headers is None:
            continue
        sent = rec.upstream_headers
        mode = _privacy_seen(sent)
        xff, via = header_value(sent, "X-Forwarded-For"), header_value(sent, "Via")
        told = [f"X-Forwarded-For: {xff}" if xff else "", f"Via: {via}" if via else ""]
        got = ", ".join(t for t in told if t) or "no header naming the client or a proxy"
        modes[mode] = f"{mode:<11} origin got {got}; the connection came from the proxy's address"
    evidence = tuple(modes.values())
    if len(modes) >= 2:
        return CheckResult(True, f"you compared {' and '.join(modes)}", evidence)
    if modes:
        now = dig(st.snapshot, "proxies", "forward", "privacy", default="?")
        return CheckResult(
            False,
            f"seen in {next(iter(modes))} mode; now switch the mode (ctrl+p, privacy; it is "
            f"{now}) and repeat step 1",
            evidence,
        )
    return CheckResult(False, waiting_for_own(st, "your own /echo through the forward proxy"))


TUNNELS_SHOWN = 3
"""The student's latest CONNECTs the live panel describes."""


def _tunnel_outcome(rec: RecordLike) -> tuple[str, str]:
    """How one CONNECT ended: ``(sentence, short)``, the sentence for the check line and the
    short form for the live panel, after the request line as received."""
    target = rec.url
    if rec.status == 200:
        # A client that connects to an IP address names no server in its TLS hello.
        sni = f"SNI {rec.sni}" if rec.sni else "no SNI (an IP address, or not TLS)"
        moved = f"{rec.bytes_in + rec.bytes_out} bytes relayed unread"
        return f"tunnel to {target} opened (200), {sni}; {moved}", f"200 tunnel, {sni}; {moved}"
    if rec.status == 403 and rec.error == "CONNECT port not allowed":
        why = "its port is not in connect_ports"
        return f"CONNECT {target} refused with 403: {why}", f"403 refused: {why}"
    answer = f"{rec.status or 'nothing'}" + (f": {rec.error}" if rec.error else "")
    return f"CONNECT {target} answered {answer}", answer


def check_tls(st: LessonState) -> CheckResult:
    """Done once the student's CONNECT reached the forward proxy since the start; the panel
    says how each of their latest tunnels ended."""
    lines: list[str] = st.memory.setdefault("tunnels", [])
    for rec in st.records:
        if rec.proxy != "forward" or rec.method != "CONNECT" or not is_students(rec):
            continue
        sentence, short = _tunnel_outcome(rec)
        lines.append(f"forward proxy received: {request_line(rec)}  → {short}")
        del lines[:-TUNNELS_SHOWN]
        st.memory.setdefault("first", sentence)
    evidence = tuple(lines)
    if "first" in st.memory:
        return CheckResult(True, st.memory["first"], evidence)
    if dig(st.snapshot, "proxies", "forward", "tunnels", default=0):
        return CheckResult(False, "a tunnel is open; its record appears when it closes")
    return CheckResult(False, "no CONNECT through the forward proxy yet (step 1)")


def _decrypted(rec: RecordLike) -> bool:
    """A request that came out of an intercepted (decrypted) HTTPS connection."""
    return any(stage == "tls" and verdict == "intercepted" for stage, verdict, _ in rec.trace)


def check_intercept(st: LessonState) -> CheckResult:
    """Done once the student's own HTTPS request was decrypted by the forward proxy."""
    mem = st.memory
    for rec in st.records:
        if rec.proxy != "forward" or not is_students(rec):
            continue
        if rec.method == "CONNECT":
            refused = [d for s, v, d in rec.trace if s == "tls" and v in ("rejected", "failed")]
            if refused:
                mem["refused"] = (
                    f"CONNECT {rec.url}: the client refused the workbench's certificate, "
                    "so it sent nothing (it was not told to trust the CA)"
                )
            continue
        if not _decrypted(rec):
            continue
        headers = len(rec.request_headers or ())
        body = f"a {rec.bytes_in:,}-byte body" if rec.bytes_in else "no body"
        status = rec.status if rec.status is not None else f"no answer ({rec.error or '?'})"
        mem["seen"] = (
            f"decrypted: {rec.method} {rec.path} → {status}; {headers} headers and {body}, "
            "all readable by the proxy"
        )
        mem["line"] = f"the forward proxy read inside TLS: {request_line(rec)}"
    evidence = tuple(x for x in (mem.get("refused"), mem.get("line")) if x)
    if "seen" in mem:
        return CheckResult(True, mem["seen"], evidence)
    if "refused" in mem:
        return CheckResult(
            False,
            "curl refused the certificate; now trust the CA for one request (step 2)",
            evidence,
        )
    return CheckResult(False, waiting_for_own(st, "your own HTTPS request"), evidence)


def check_read(st: LessonState) -> CheckResult:
    """A page to read: done as soon as it is opened."""
    return CheckResult(True, "nothing to run here: match each row to a lesson you did")
