"""Host globs (``*.example.test``, ``api-?.local``, ``127.0.0.1``): validation and matching.

A glob is a host name or IP address in which ``*`` matches any run of characters (dots included)
and ``?`` one character. Matching is case-insensitive and ignores a trailing dot.
"""

from __future__ import annotations

import fnmatch
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
    return None


def compile_host_globs(globs: Iterable[str]) -> Callable[[str], bool]:
    """One predicate for a list of globs (never matches when the list is empty)."""
    parts = [fnmatch.translate(g.lower().rstrip(".")) for g in globs]
    if not parts:
        return lambda host: False
    match = re.compile("|".join(f"(?:{p})" for p in parts)).match

    def matches(host: str) -> bool:
        return match(host.lower().rstrip(".")) is not None

    return matches
