"""The form of a URL that ``~u`` rules match: equivalent spellings of one resource made one.

A rule ``~u /admin`` must not be slipped past with ``/%61dmin`` (a percent-encoded unreserved
character is the character itself, RFC 3986 §6.2.2.2) or, when anchored, with ``/x/../admin``
(dot segments name the same path, §5.2.4): nginx matches its locations against the same
normalised form. Encoded reserved characters (``%2F``) keep their meaning and stay encoded.
"""

from __future__ import annotations

import re

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")


def _decode(m: re.Match[str]) -> str:
    ch = chr(int(m.group(1), 16))
    return ch if ch in _UNRESERVED else m.group(0).upper()


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 on an absolute path (``/a/b/../c`` → ``/a/c``)."""
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments[1:], 1):
        last = i == len(segments) - 1
        if seg == "..":
            if len(out) > 0:
                out.pop()
            if last:
                out.append("")
        elif seg == ".":
            if last:
                out.append("")
        else:
            out.append(seg)
    return "/" + "/".join(out)


def normalize(url: str) -> str:
    """``url`` (absolute or a path) with unreserved characters decoded and dot segments removed
    from its path; the same string when there is nothing to do (the usual case)."""
    if "%" not in url and "/." not in url:
        return url
    if "%" in url:
        url = _PCT.sub(_decode, url)
    start = 0
    if not url.startswith("/"):
        sep = url.find("://")
        start = url.find("/", sep + 3) if sep > 0 else -1
        if start < 0:
            return url
    end = len(url)
    for ch in "?#":
        i = url.find(ch, start)
        if 0 <= i < end:
            end = i
    path = url[start:end]
    if "/." in path:
        path = remove_dot_segments(path)
    return url[:start] + path + url[end:]
