"""Header handling shared by both proxies: hop-by-hop removal, forwarding headers, serialisation."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from email.utils import formatdate
from operator import itemgetter
from typing import Any, NamedTuple

from workbench.engine.observe.records import Headers

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
    }
)
"""Fields that describe one connection, never forwarded (RFC 9110 §7.6.1)."""

RESPONSE_DROP = HOP_BY_HOP | {"content-length"}
"""Dropped from upstream responses: hop-by-hop fields, and the length (the relay reframes)."""

VIA_TOKEN = "1.1 workbench"

FORWARDING_HEADERS = frozenset(
    {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded", "x-real-ip"}
)
REVEALING_HEADERS = frozenset(
    {
        "via",
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-forwarded-port",
        "x-forwarded-server",
        "x-real-ip",
        "client-ip",
        "x-client-ip",
        "true-client-ip",
        "x-originating-ip",
        "x-remote-ip",
        "x-remote-addr",
        "x-proxy-id",
        "cf-connecting-ip",
        "fastly-client-ip",
        "x-cluster-client-ip",
        "proxy-connection",
    }
)
"""Fields that can tell an origin the client's address or that a proxy is in the path."""


def get_header(headers: Headers, name: str) -> str | None:
    """First value of ``name`` (case-insensitive), or None."""
    lname = name.lower()
    for n, v in headers:
        if n.lower() == lname:
            return v
    return None


def strip_hop_by_hop(headers: Headers, drop: frozenset[str] = HOP_BY_HOP) -> Headers:
    """A copy without hop-by-hop fields (or ``drop``), including the ones ``Connection`` names."""
    for name, _ in headers:
        if name.lower() in drop:
            break
    else:
        return list(headers)  # the common case: nothing to drop
    names = [h[0].lower() for h in headers]
    if "connection" in drop and "connection" in names:
        extra = connection_options(headers, names)
        if extra:
            drop = drop | extra
    return [h for h, n in zip(headers, names, strict=False) if n not in drop]


def relay_headers(headers: Headers, drop: frozenset[str], via: str | None) -> Headers:
    """Response headers as relayed to the client: a copy without ``drop`` fields (and those
    ``Connection`` names), with ``via`` added to ``Via`` unless None, and a ``Date`` if none.

    A backend sends the same field names response after response: what to keep, where ``Via``
    is and whether ``Date`` is missing is worked out once per list of names (a :class:`_Plan`)
    and then applied with one C-level pick, instead of lower-casing every name every time.
    """
    key = (drop, via, *map(_first, headers))
    plan = _PLANS.get(key)
    if plan is None:
        plan = _plan(headers, drop, via)
        if plan is None:
            return _relay_headers(headers, drop, via)  # Connection names other fields
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        _PLANS[key] = plan
    for i in plan.connection:
        if headers[i][1].lower() not in _CONNECTION_PLAIN:
            return _relay_headers(headers, drop, via)
    pick = plan.pick
    if pick is None:
        out = list(headers)
    elif plan.single:
        out = [pick(headers)]
    else:
        out = list(pick(headers))
    if via is not None:
        at = plan.via_at
        if at < 0:
            out.append(("Via", via))
        else:
            n, v = out[at]
            out[at] = (n, f"{v}, {via}")
    if plan.date:
        out.append(("Date", http_date_now()))
    return out


_first = itemgetter(0)
_CONNECTION_PLAIN = frozenset({"keep-alive", "close"})
_MAX_PLANS = 1024


class _Plan(NamedTuple):
    """How :func:`relay_headers` turns one list of field names into the client's."""

    connection: tuple[int, ...]
    """Indices of ``Connection`` fields: the plan holds while each says only keep-alive/close."""
    pick: Callable[[Headers], Any] | None
    """Picks the kept fields (None: all of them)."""
    single: bool
    """``pick`` returns one field, not a tuple of them."""
    via_at: int
    """Index of the ``Via`` field to extend in the output, or -1 to append one."""
    date: bool
    """The response has no ``Date``: one is added."""


_PLANS: dict[tuple[Any, ...], _Plan] = {}


def _plan(headers: Headers, drop: frozenset[str], via: str | None) -> _Plan | None:
    """The plan for these field names, or None while ``Connection`` names other fields."""
    names = [h[0].lower() for h in headers]
    connection = tuple(i for i, n in enumerate(names) if n == "connection")
    if any(headers[i][1].lower() not in _CONNECTION_PLAIN for i in connection):
        return None
    keep = [i for i, n in enumerate(names) if n not in drop]
    pick = None if len(keep) == len(names) else itemgetter(*keep) if keep else itemgetter(slice(0))
    single = len(keep) == 1 and pick is not None
    via_at = -1
    if via is not None and "via" not in drop:
        for pos, i in enumerate(keep):
            if names[i] == "via":
                via_at = pos
                break
    return _Plan(connection, pick, single, via_at, "date" not in names)


def _relay_headers(headers: Headers, drop: frozenset[str], via: str | None) -> Headers:
    """:func:`relay_headers` worked out from scratch."""
    names = [h[0].lower() for h in headers]
    if drop.isdisjoint(names):
        out = list(headers)
    else:
        if "connection" in names and "connection" in drop:
            extra = connection_options(headers, names)
            if extra:
                drop = drop | extra
        out = [h for h, n in zip(headers, names, strict=False) if n not in drop]
    if via is not None:
        if "via" in names and "via" not in drop:
            append_via(out, via)
        else:
            out.append(("Via", via))
    if "date" not in names:
        out.append(("Date", http_date_now()))
    return out


_date_now: list = [0, ""]


def http_date_now() -> str:
    """The current time as an IMF-fixdate, formatted once per second: the Date a proxy with a
    clock adds to a relayed response that has none (RFC 9110 §6.6.1)."""
    now = int(time.time())
    if now != _date_now[0]:
        _date_now[1] = formatdate(now, usegmt=True)
        _date_now[0] = now
    return _date_now[1]


def connection_options(headers: Headers, names: list[str]) -> set[str]:
    """Field names that the ``Connection`` headers declare hop-by-hop (``names``: lower-cased)."""
    extra: set[str] = set()
    for h, n in zip(headers, names, strict=False):
        if n == "connection":
            value = h[1].lower()
            if value in ("keep-alive", "close"):
                continue
            extra.update(t.strip() for t in value.split(","))
    extra -= _NEVER_HOP_BY_HOP
    return extra


_NEVER_HOP_BY_HOP = frozenset(
    {"", "keep-alive", "close", "host", "content-length", "cache-control", "authorization"}
)
"""Connection options, and end-to-end fields a ``Connection`` header may not remove: the
proxy needs Host (routing, the cache key) and the framing (RFC 9110 §7.6.1)."""


def remove_names(headers: Headers, names: frozenset[str] | set[str]) -> Headers:
    """A copy without the fields whose lower-cased name is in ``names``."""
    return [(n, v) for n, v in headers if n.lower() not in names]


def append_via(headers: Headers, token: str = VIA_TOKEN) -> None:
    """Add this proxy to ``Via`` (in place)."""
    for i, (n, v) in enumerate(headers):
        if n.lower() == "via":
            headers[i] = (n, f"{v}, {token}")
            return
    headers.append(("Via", token))


def append_xff(headers: Headers, client_ip: str) -> None:
    """Append the client to ``X-Forwarded-For`` (in place)."""
    for i, (n, v) in enumerate(headers):
        if n.lower() == "x-forwarded-for":
            headers[i] = (n, f"{v}, {client_ip}")
            return
    headers.append(("X-Forwarded-For", client_ip))


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch
"""A whole string is an RFC 9110 token (one C call instead of a loop over characters)."""
SET_BY_PROXY = frozenset({"x-forwarded-proto", "x-forwarded-host", "x-forwarded-port"})
"""Dropped from the client's request: the proxy alone may say how the client reached it."""


def forwarded_value(value: str) -> str:
    """An RFC 7239 value: a token as is, anything else as a quoted-string (RFC 9110 §5.6.4)."""
    if _TOKEN(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def add_forwarded(headers: Headers, client_ip: str, proto: str, host: str | None) -> None:
    """Forwarding headers of a reverse proxy (in place).

    ``X-Forwarded-For`` and ``Forwarded`` get one more element (the client); ``X-Forwarded-Proto``
    and ``X-Forwarded-Host`` are the proxy's alone: a client's own values are dropped, so a
    backend that trusts the first value cannot be fooled. A client's ``X-Forwarded-Port`` is
    dropped too (backends build URLs from proto + host + port).
    """
    headers[:] = [h for h in headers if h[0].lower() not in SET_BY_PROXY]
    append_xff(headers, client_ip)
    headers.append(("X-Forwarded-Proto", proto))
    if host:
        headers.append(("X-Forwarded-Host", host))
    node = f'"[{client_ip}]"' if ":" in client_ip else client_ip
    element = f"for={node};proto={proto}"
    if host:
        element += f";host={forwarded_value(host)}"
    for i, (n, v) in enumerate(headers):
        if n.lower() == "forwarded":
            headers[i] = (n, f"{v}, {element}")
            return
    headers.append(("Forwarded", element))


def request_head(method: str, target: str, headers: Headers) -> bytes:
    """Serialise a request line and header block (one join, no loop in Python)."""
    if not headers:
        return f"{method} {target} HTTP/1.1\r\n\r\n".encode("latin-1")
    fields = "\r\n".join(map(": ".join, headers))
    return f"{method} {target} HTTP/1.1\r\n{fields}\r\n\r\n".encode("latin-1")
