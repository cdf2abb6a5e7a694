"""The one authority parser: ``host[:port]``, ``[v6][:port]`` and absolute-form request targets."""

from __future__ import annotations

import re
from functools import lru_cache

_CONNECT_HOST = re.compile(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]", re.ASCII).fullmatch


def split_authority(authority: str, default_port: int) -> tuple[str, int] | None:
    """``host[:port]`` or ``[v6][:port]`` → (lower-cased host, port); None when malformed."""
    authority = authority.strip()
    if not authority:
        return None
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            return None
        host = authority[1:end]
        rest = authority[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port_s = rest[1:]
    else:
        host, _, port_s = authority.partition(":")
    if not host:
        return None
    if port_s:
        if not port_s.isdigit() or not 0 < int(port_s) < 65536:
            return None
        return host.lower(), int(port_s)
    return host.lower(), default_port


def connect_authority(target: str) -> tuple[str, int] | None:
    """A CONNECT target: ``host:port`` with the port spelled out (RFC 9110 §9.3.6); else None."""
    host, _, port = target.rpartition(":")
    if not port.isdigit() or not _CONNECT_HOST(host):
        return None
    return split_authority(target, 0)


def host_of(authority: str) -> str:
    """Host name of a ``Host`` value without the port, lower-cased (``[v6]:port`` too)."""
    h = authority.strip().lower()
    if h.startswith("["):
        end = h.find("]")
        return h[1:end] if end > 0 else h
    colon = h.rfind(":")
    return h[:colon] if colon >= 0 else h


@lru_cache(maxsize=1024)
def split_absolute(target: str) -> tuple[str, str, str] | None:
    """``scheme://authority/path?q`` → (lower-cased scheme, authority, path); None otherwise.

    Memoised (bounded): a forward proxy's clients ask for the same URLs over and over.
    """
    sep = target.find("://")
    if sep <= 0:
        return None
    scheme = target[:sep].lower()
    rest = target[sep + 3 :]
    end = len(rest)
    for ch in "/?#":
        i = rest.find(ch)
        if 0 <= i < end:
            end = i
    authority = rest[:end]
    if "@" in authority:  # userinfo is not part of where the request goes
        authority = authority.rsplit("@", 1)[1]
    path = rest[end:]
    if not path.startswith("/"):
        path = "/" + path if path else "/"
    return scheme, authority, path


def format_authority(host: str, port: int, default_port: int) -> str:
    """The ``Host`` value for (host, port): brackets for IPv6, port only when not the default."""
    h = f"[{host}]" if ":" in host else host
    return h if port == default_port else f"{h}:{port}"
