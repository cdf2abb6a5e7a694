"""Host globs (``*.example.test``, ``api-?.local``, ``127.0.0.1``): validation and matching.

A glob is a host name or IP address in which ``*`` matches any run of characters (dots included)
and ``?`` one character. Matching is case-insensitive and ignores a trailing dot.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Callable, Iterable

_GLOB = re.compile(r"[A-Za-z0-9*?._:\-\[\]]+")


def host_glob_error(text: str) -> str | None:
    """Why ``text`` is not a usable host glob, or None when it is."""
    if not text or not text.strip():
        return "empty host glob"
    if not _GLOB.fullmatch(text):
        return (
            f"invalid host glob {text!r}: use a host name or IP address with * and ? wildcards, "
            "e.g. *.example.test"
        )
    if text.count("[") != text.count("]"):
        return f"invalid host glob {text!r}: unbalanced [ ]"
    name = text.rstrip(".")
    if name.startswith("[") and name.endswith("]") and _is_ipv6(name[1:-1]):
        return f"invalid host glob {text!r}: write an IPv6 address without brackets: {name[1:-1]}"
    if name.count(":") == 1:
        host, _port = name.split(":")
        return (
            f"invalid host glob {text!r}: no port here (hosts match by name; "
            f"forward.connect_ports lists the ports): {host}"
        )
    if name.startswith("."):
        return f"invalid host glob {text!r}: a leading dot matches no host; use *{name}"
    if ".." in name:
        return f"invalid host glob {text!r}: an empty label between two dots"
    return None


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def compile_host_globs(globs: Iterable[str]) -> Callable[[str], bool]:
    """One predicate for a list of globs (never matches when the list is empty)."""
    parts = [fnmatch.translate(g.lower().rstrip(".")) for g in globs]
    if not parts:
        return lambda host: False
    match = re.compile("|".join(f"(?:{p})" for p in parts)).match

    def matches(host: str) -> bool:
        return match(host.lower().rstrip(".")) is not None

    return matches
