"""What the upstream client remembers about response heads, so that repeats cost less.

Backends answer with the same field names, and mostly the very same head, response after
response. Both memos here are bounded and cleared when full.
"""

from __future__ import annotations

KnownHead = tuple[int, str, tuple[tuple[str, str], ...], bool, int]
"""status, reason, fields, keep-alive, Content-Length: what the parser made of a head."""

KNOWN_HEADS: dict[bytes, KnownHead] = {}
"""Response heads the parser has read (the exact bytes, status line to empty line) → what it
made of them. A backend sends the same head response after response (only ``Date`` changes,
once a second), and a head's reading depends on nothing but its bytes: a head seen before is
taken from here instead of being parsed again, which saves a Python callback per field. Only
final heads of Content-Length-framed responses to non-HEAD requests are kept, so all the
framing decisions stay the parser's; small heads only, and a bounded number of them."""

MAX_KNOWN_HEAD = 2048
MAX_KNOWN_HEADS = 256


def learn_head(head: bytes, known: KnownHead) -> None:
    """Remember what the parser made of ``head`` (bounded)."""
    if len(KNOWN_HEADS) >= MAX_KNOWN_HEADS:
        KNOWN_HEADS.clear()  # a backend whose heads never repeat must not grow this
    KNOWN_HEADS[head] = known


NAMES: dict[bytes, str] = {}
"""Response field names as read → as text: a backend sends the same dozen names every time, and
one shared string per name also makes the relay's per-name-list plans compare by identity."""


def field_name(raw: bytes) -> str:
    """The shared text of a field name not yet in :data:`NAMES`."""
    if len(NAMES) >= 1024:
        NAMES.clear()  # a backend that invents names must not grow this
    text = NAMES[raw] = raw.decode("latin-1")
    return text


def head_size(headers: list[tuple[str, str]]) -> int:
    """Bytes of a header block as the limit counts them (name, value, ": " and CRLF)."""
    return sum(len(n) + len(v) + 4 for n, v in headers)
