"""A recorded request as something to paste: a curl or HTTPie command, the raw request, the URL.

Pure functions of a :class:`RequestRecord`; :func:`deliver` puts the text on the terminal's
clipboard (OSC 52) and, because a terminal may silently ignore OSC 52, also in a private file
whose path the user is shown.
"""

from __future__ import annotations

import os
import re
import shlex
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.engine.observe.records import RequestRecord

_SKIP = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "proxy-connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "upgrade",
        "proxy-authorization",
    }
)
"""Headers curl and HTTPie set themselves (or that belong to one hop only)."""

COPY_FORMATS: dict[str, str] = {
    "curl": "as a curl command",
    "httpie": "as an HTTPie command",
    "raw": "raw request (request line, headers, body)",
    "url": "URL",
    "response": "response body (decoded)",
}
"""Copy choices offered by the detail view: id → label."""


def _body_note(rec: RequestRecord) -> str:
    kept = rec.request_bytes() or b""
    if rec.request_body_size > len(kept):
        return f"# request body cut: first {len(kept):,} of {rec.request_body_size:,} bytes kept\n"
    if rec.bytes_in and not kept:
        return f"# request body ({rec.bytes_in:,} bytes) was not kept\n"
    return ""


def _headers(rec: RequestRecord) -> list[tuple[str, str]]:
    return [(n, v) for n, v in rec.request_headers if n.lower() not in _SKIP]


def _quote_bytes(data: bytes) -> str:
    """Shell-quote a body; bytes that are not printable text use bash's ``$'…'`` form."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text):
        return shlex.quote(text)
    out = []
    for b in data:
        ch = chr(b)
        if ch == "'" or ch == "\\":
            out.append("\\" + ch)
        elif 32 <= b < 127:
            out.append(ch)
        else:
            out.append(f"\\x{b:02x}")
    return "$'" + "".join(out) + "'"


def as_curl(rec: RequestRecord) -> str:
    """A curl command that sends the same request (to the same proxy for the reverse proxy)."""
    parts = ["curl"]
    if rec.method != "GET":
        parts += ["-X", shlex.quote(rec.method)]
    parts.append(shlex.quote(rec.url))
    for name, value in _headers(rec):
        parts += ["-H", shlex.quote(f"{name}: {value}")]
    body = rec.request_bytes()
    if body:
        parts += ["--data-binary", _quote_bytes(body)]
    return _body_note(rec) + " ".join(parts)


def as_httpie(rec: RequestRecord) -> str:
    """An HTTPie command that sends the same request."""
    parts = ["http", "--ignore-stdin", shlex.quote(rec.method), shlex.quote(rec.url)]
    for name, value in _headers(rec):
        parts.append(shlex.quote(f"{name}:{value}"))
    body = rec.request_bytes()
    if body:
        parts += ["--raw", _quote_bytes(body)]
    return _body_note(rec) + " ".join(parts)


def as_raw(rec: RequestRecord) -> str:
    """The request line, headers and body as the client sent them (body as UTF-8 text)."""
    lines = [f"{rec.method} {rec.target or rec.path or rec.url} HTTP/{rec.version}"]
    lines += [f"{n}: {v}" for n, v in rec.request_headers]
    body = rec.request_bytes() or b""
    return "\r\n".join(lines) + "\r\n\r\n" + body.decode("utf-8", "replace")


def response_body(rec: RequestRecord) -> bytes | None:
    """The response body as the client received it, content-encoding undone when possible."""
    from workbench.tui.widgets.body_format import decode_content, header_value

    data = rec.response_bytes()
    if data is None:
        return None
    decoded, _note = decode_content(data, header_value(rec.response_headers, "content-encoding"))
    return decoded


def copy_text(rec: RequestRecord, fmt: str) -> str | bytes | None:
    """The text (or bytes, for a binary response body) to copy for ``fmt``."""
    if fmt == "curl":
        return as_curl(rec)
    if fmt == "httpie":
        return as_httpie(rec)
    if fmt == "raw":
        return as_raw(rec)
    if fmt == "url":
        return rec.url
    if fmt == "response":
        data = response_body(rec)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data
    raise ValueError(f"unknown copy format {fmt!r}")


_SUFFIX = {"curl": ".sh", "httpie": ".sh", "raw": ".http", "url": ".txt", "response": ".body"}


def copy_dir() -> Path:
    """Where copies are written: a private directory of the user's (created 0700)."""
    state = os.environ.get("XDG_STATE_HOME")
    if state:
        path = Path(state) / "workbench" / "copies"
    else:
        path = Path(tempfile.gettempdir()) / f"workbench-{os.getuid()}" / "copies"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def save_copy(rec: RequestRecord, fmt: str, payload: str | bytes) -> Path:
    """Write ``payload`` to a 0600 file named after the request; returns its path."""
    path = copy_dir() / f"request-{rec.id}-{fmt}{_SUFFIX.get(fmt, '.txt')}"
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return path
