"""Header handling shared by both proxies: hop-by-hop removal, forwarding headers, serialisation."""

from __future__ import annotations

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
    out = []
    extra: set[str] | None = None
    for h in headers:
        name = h[0].lower()
        if name in drop:
            if name == "connection":
                tokens = {t.strip().lower() for t in h[1].split(",")}
                tokens -= _NEVER_HOP_BY_HOP
                if tokens:
                    extra = tokens if extra is None else extra | tokens
            continue
        out.append(h)
    if extra:
        return [h for h in out if h[0].lower() not in extra]
    return out


_NEVER_HOP_BY_HOP = frozenset(
    {"", "keep-alive", "close", "host", "content-length", "cache-control", "authorization"}
)
"""Connection options, and end-to-end fields a ``Connection`` header may not remove: the
proxy needs Host (routing, the cache key) and the framing (RFC 9110 §7.6.1)."""


def remove_names(headers: Headers, names: frozenset[str] | set[str]) -> Headers:
    """A copy without the fields whose lower-cased name is in ``names``."""
    return [(n, v) for n, v in headers if n.lower() not in names]


def append_via(headers: Headers) -> None:
    """Add this proxy to ``Via`` (in place)."""
    for i, (n, v) in enumerate(headers):
        if n.lower() == "via":
            headers[i] = (n, f"{v}, {VIA_TOKEN}")
            return
    headers.append(("Via", VIA_TOKEN))


def add_forwarded(headers: Headers, client_ip: str, proto: str, host: str | None) -> None:
    """Append the client to X-Forwarded-For and set X-Forwarded-Proto/-Host and Forwarded."""
    xff = None
    fwd = None
    for i, (n, _) in enumerate(headers):
        ln = n.lower()
        if ln == "x-forwarded-for":
            xff = i
        elif ln == "forwarded":
            fwd = i
    if xff is None:
        headers.append(("X-Forwarded-For", client_ip))
    else:
        n, v = headers[xff]
        headers[xff] = (n, f"{v}, {client_ip}")
    headers.append(("X-Forwarded-Proto", proto))
    if host:
        headers.append(("X-Forwarded-Host", host))
    node = f'"[{client_ip}]"' if ":" in client_ip else client_ip
    element = f"for={node};proto={proto}"
    if host:
        element += f';host="{host}"' if ":" in host else f";host={host}"
    if fwd is None:
        headers.append(("Forwarded", element))
    else:
        n, v = headers[fwd]
        headers[fwd] = (n, f"{v}, {element}")


def request_head(method: str, target: str, headers: Headers) -> bytes:
    """Serialise a request line and header block."""
    parts = [f"{method} {target} HTTP/1.1\r\n"]
    for n, v in headers:
        parts.append(f"{n}: {v}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("latin-1")
