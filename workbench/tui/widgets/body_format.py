"""Bodies made readable: content-encoding undone, then a viewer chosen by content type.

Pure functions from bytes to a :class:`rich.text.Text` (so the detail view can search it); they
run in a worker thread, never on the event loop. JSON is pretty-printed and highlighted, text and
markup highlighted, forms and multipart shown as tables, images described (type and size from the
header bytes), anything else as a hex dump.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from rich.style import Style
from rich.syntax import Syntax
from rich.text import Span, Text

from workbench.engine.observe.codings import available_encodings, decode_content
from workbench.tui.widgets.palette import role

__all__ = ["available_encodings", "decode_content", "format_body", "header_value", "image_info"]

DISPLAY_CAP = 256 * 1024
"""Characters of decoded text shown (more makes the screen slow); copying gives everything."""
HEX_CAP = 16 * 1024
"""Bytes shown in a hex dump."""
_THEME = "ansi_dark"
"""Pygments styles in the 16 ANSI colours, which :func:`highlight` then maps to theme roles."""
_ANSI_ROLES = {
    "red": "bad",
    "green": "ok",
    "yellow": "warn",
    "blue": "info",
    "magenta": "accent",
    "cyan": "info",
    "white": "text",
    "black": "muted",
    "grey": "muted",
}


def header_value(headers: list[tuple[str, str]] | None, name: str) -> str | None:
    """The first value of header ``name`` (case-insensitive)."""
    lname = name.lower()
    for n, v in headers or ():
        if n.lower() == lname:
            return v
    return None


def _param(content_type: str, name: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == name:
            return value.strip().strip('"')
    return None


# -- images ----------------------------------------------------------------------------------


def image_info(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) read from an image's header bytes, or None."""
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
            w, h = struct.unpack(">II", data[16:24])
            return "PNG", w, h
        if data[:6] in (b"GIF87a", b"GIF89a"):
            w, h = struct.unpack("<HH", data[6:10])
            return "GIF", w, h
        if data.startswith(b"\xff\xd8"):
            return _jpeg(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp(data)
        if data[:2] == b"BM" and len(data) >= 26:
            w, h = struct.unpack("<ii", data[18:26])
            return "BMP", w, abs(h)
    except struct.error:
        return None
    return None


def _jpeg(data: bytes) -> tuple[str, int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return "JPEG", w, h
        i += 2 + length
    return None


def _webp(data: bytes) -> tuple[str, int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        return "WebP", w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        b = data[21:25]
        w = 1 + (((b[1] & 0x3F) << 8) | b[0])
        h = 1 + (((b[3] & 0xF) << 10) | (b[2] << 2) | ((b[1] & 0xC0) >> 6))
        return "WebP", w, h
    if chunk == b"VP8X" and len(data) >= 30:
        w = 1 + int.from_bytes(data[24:27], "little")
        h = 1 + int.from_bytes(data[27:30], "little")
        return "WebP", w, h
    return None


# -- viewers ---------------------------------------------------------------------------------


def hex_dump(data: bytes, limit: int = HEX_CAP) -> Text:
    """Offset / hex / ASCII dump of the first ``limit`` bytes."""
    text = Text()
    for offset in range(0, min(len(data), limit), 16):
        chunk = data[offset : offset + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        ascii_ = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        text.append(f"{offset:08x}  ", style=role("muted"))
        text.append(f"{hexes:<47}  ")
        text.append(ascii_ + "\n", style=role("info"))
    if len(data) > limit:
        text.append(f"… {len(data) - limit:,} more bytes (copy the body to get them all)\n")
    return text


def _table(rows: list[tuple[str, str]], headings: tuple[str, str]) -> Text:
    """Two aligned columns as plain text (searchable like any other body)."""
    width = min(max([len(headings[0])] + [len(k) for k, _ in rows]), 32)
    text = Text()
    text.append(f"{headings[0]:<{width}}  {headings[1]}\n", style="bold underline")
    for key, value in rows:
        text.append(f"{key:<{width}}", style=role("info", "bold"))
        text.append(f"  {value}\n")
    if not rows:
        text.append("(no fields)\n", style=role("muted", "italic"))
    return text


def _multipart(data: bytes, boundary: str) -> Text | None:
    delimiter = b"--" + boundary.encode("latin-1")
    rows: list[tuple[str, str]] = []
    for raw in data.split(delimiter)[1:]:
        if raw.startswith(b"--"):
            break
        part = raw[2:] if raw.startswith(b"\r\n") else raw
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        if content.endswith(b"\r\n"):
            content = content[:-2]
        headers = [
            (n.strip(), v.strip())
            for n, _, v in (line.partition(":") for line in head.decode("latin-1").split("\r\n"))
        ]
        disposition = header_value(headers, "content-disposition") or ""
        name = _param(disposition, "name") or "?"
        filename = _param(disposition, "filename")
        ctype = header_value(headers, "content-type")
        if filename is not None or (ctype and not ctype.startswith("text/")):
            value = f"file {filename!r}, " if filename is not None else ""
            value += f"{len(content):,} bytes" + (f", {ctype}" if ctype else "")
        else:
            value = content.decode("utf-8", "replace")
            if len(value) > 200:
                value = value[:200] + f"… ({len(content):,} bytes)"
        rows.append((name, value))
    return _table(rows, ("part", "value")) if rows else None


def _as_text(data: bytes, charset: str | None) -> str | None:
    """The body as text, or None when it is binary."""
    try:
        text = data.decode(charset or "utf-8")
    except (UnicodeDecodeError, LookupError) as exc:
        if charset is None and isinstance(exc, UnicodeDecodeError) and exc.start >= len(data) - 4:
            text = data[: exc.start].decode("utf-8")  # cut at the cap mid-character
        else:
            return None
    if "\x00" in text:
        return None
    return text


def _lexer(ctype: str, text: str) -> str:
    stripped = text.lstrip()[:1]
    if "json" in ctype:
        return "json"
    if "html" in ctype:
        return "html"
    if "xml" in ctype or "svg" in ctype:
        return "xml"
    if "css" in ctype:
        return "css"
    if "javascript" in ctype or "ecmascript" in ctype:
        return "javascript"
    if not ctype or ctype.startswith("text/plain"):
        if stripped in ("{", "["):
            return "json"
        if stripped == "<":
            return "html"
    return "text"


def highlight(code: str, lexer: str) -> Text:
    """``code`` highlighted as a Text (the search highlights go on top of it)."""
    if lexer == "text":
        return Text(code)
    text = Syntax(code, lexer, theme=_THEME, background_color="default").highlight(code)
    text.rstrip()
    text.style = ""  # the syntax's own background: the body sits on the widget's
    spans = ((s, _role_style(s.style)) for s in text.spans)
    text.spans = [Span(s.start, s.end, style) for s, style in spans if style]
    return text


def _role_style(style: str | Style) -> str | Style | None:
    """An ANSI-coloured syntax style as a theme role style (so every theme restyles it).

    The syntax's own background is dropped: the body sits on the widget's background.
    """
    if isinstance(style, str):
        style = Style.parse(style)
    attributes = [a for a in ("bold", "italic", "underline") if getattr(style, a)]
    colour = style.color
    if colour is not None and colour.number is not None and colour.number <= 15:
        return role(_ANSI_ROLES.get(colour.name.replace("bright_", ""), "text"), *attributes)
    if style.dim:
        return role("muted", *attributes)
    if colour is None:
        return " ".join(attributes) or None
    return Style(color=colour, bold=style.bold, italic=style.italic)


@dataclass
class FormattedBody:
    """What the detail view shows for one body."""

    text: Text
    """The body rendered for reading (searchable)."""
    kind: str
    """Viewer used: json, html, xml, text, form, multipart, image, hex, empty."""
    notes: list[str]
    """Lines said above the body: decoding, what was cut."""
    data: Any = None
    """Parsed JSON (for the tree view), when ``kind`` is json."""


def format_body(
    data: bytes, content_type: str | None, content_encoding: str | None
) -> FormattedBody:
    """Decode and render ``data`` with the viewer its content type calls for."""
    notes: list[str] = []
    decoded, note = decode_content(data, content_encoding)
    if note:
        notes.append(note)
    if not decoded:
        return FormattedBody(Text("(empty body)", style=role("muted", "italic")), "empty", notes)
    ctype_full = (content_type or "").strip()
    ctype = ctype_full.split(";")[0].strip().lower()
    charset = _param(ctype_full, "charset")
    is_image = ctype.startswith("image/") and "svg" not in ctype
    if is_image or image_info(decoded[: 64 * 1024]):
        info = image_info(decoded)
        text = Text()
        if info is not None:
            fmt, w, h = info
            text.append(f"{fmt} image, {w} × {h} pixels, {len(decoded):,} bytes\n\n", style="bold")
        else:
            text.append(f"{ctype or 'image'}: size not readable from the header bytes\n\n")
        text.append_text(hex_dump(decoded, 512))
        return FormattedBody(text, "image", notes)
    if ctype == "multipart/form-data" and (boundary := _param(ctype_full, "boundary")):
        table = _multipart(decoded, boundary)
        if table is not None:
            return FormattedBody(table, "multipart", notes)
    body = _as_text(decoded, charset)
    if body is None:
        return FormattedBody(hex_dump(decoded), "hex", notes)
    if ctype == "application/x-www-form-urlencoded":
        return FormattedBody(
            _table(parse_qsl(body, keep_blank_values=True), ("field", "value")), "form", notes
        )
    if len(body) > DISPLAY_CAP:
        notes.append(f"showing the first {DISPLAY_CAP // 1024} KiB (copy the body for all of it)")
        body = body[:DISPLAY_CAP]
    lexer = _lexer(ctype, body)
    parsed: Any = None
    if lexer == "json":
        try:
            parsed = json.loads(body)
        except ValueError:
            pass  # cut at the cap, or not JSON after all: shown as it is, highlighted anyway
        else:
            body = json.dumps(parsed, indent=2, ensure_ascii=False)
    return FormattedBody(highlight(body, lexer), lexer, notes, parsed)
