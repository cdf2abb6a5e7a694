"""``Max-Forwards`` on TRACE and OPTIONS (RFC 9110 §7.6.2): answer at zero, else count down.

Each intermediary checks and updates the field before forwarding either method; at zero it must
not forward and answers as the final recipient instead. Each mode's destination stage calls
:func:`max_forwards` last, for these two methods only, once the upstream headers are made.
"""

from __future__ import annotations

from typing import Any

from workbench.engine.pipeline.actions import answer
from workbench.engine.pipeline.exchange import Exchange

METHODS = frozenset({"TRACE", "OPTIONS"})
"""The methods Max-Forwards applies to."""
ALLOW = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE"
"""What this proxy relays (an answer to ``OPTIONS`` addressed to it)."""
SENSITIVE = frozenset({"authorization", "proxy-authorization", "cookie"})
"""Fields a TRACE echo leaves out (RFC 9110 §9.3.8: likely to contain sensitive data)."""


def max_forwards(x: Exchange) -> Any:
    """For TRACE/OPTIONS with ``Max-Forwards``: answer here at 0, else send it on minus one."""
    headers = x.headers
    for i, (name, value) in enumerate(headers):
        if len(name) == 12 and name.lower() == "max-forwards":
            value = value.strip()
            if not value.isdigit() or not value.isascii():
                return None  # not a count: forwarded as it came
            remaining = int(value)
            if remaining > 0:
                headers[i] = (name, str(remaining - 1))
                return None
            x.rec.step("max-forwards", "0", "Max-Forwards: 0, answered by the proxy")
            return _final_recipient(x)
    return None


def _final_recipient(x: Exchange) -> Any:
    req = x.req
    if req.method == "OPTIONS":
        return answer(x, 200, "", [("Allow", ALLOW)])
    lines = [f"{req.method} {req.target} HTTP/{req.version}"]
    lines += [f"{n}: {v}" for n, v in req.headers if n.lower() not in SENSITIVE]
    echo = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
    return answer(x, 200, "", content_type="message/http", body=echo)
