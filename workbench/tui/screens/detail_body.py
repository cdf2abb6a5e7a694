"""Bodies in the request detail: what was kept and why a body is missing, the body formatted
by content type, and JSON as a collapsible tree."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.widgets import Tree

from workbench.config.units import format_size
from workbench.tui.widgets.body_format import FormattedBody, format_body, header_value
from workbench.tui.widgets.palette import role

if TYPE_CHECKING:
    from workbench.engine.observe.records import RequestRecord


def _size(n: int) -> str:
    """``1 MiB``, ``1.5 KiB``, ``55 bytes``."""
    if n < 1024:
        return f"{n:,} bytes"
    text = format_size(n, exact=False)
    return text[:-3] + " " + text[-3:]


def body_state(rec: RequestRecord, which: str) -> tuple[bytes | None, list[str]]:
    """The kept body (``request`` or ``response``) and what to tell the reader about it.

    ``None`` means there is nothing to show, and the notes say why — honestly: "no longer kept"
    only when the body was kept and then let go.
    """
    if which == "request":
        kept, seen, total = rec.request_bytes(), rec.request_body_size, rec.bytes_in
    else:
        kept, seen, total = rec.response_bytes(), rec.response_body_size, rec.bytes_out
    total = max(total, seen)
    if rec.bodies_dropped is not None:
        return None, [f"body no longer kept: {rec.bodies_dropped}"]
    if not rec.body_cap:
        if total:
            return None, [f"{total:,}-byte body not kept: body capture is off (records.body_cap)"]
        return b"", []
    if kept is None:
        if total and which == "request":
            return None, [
                f"{total:,}-byte body not kept: it was never read (the request was answered "
                "before its body went upstream)"
            ]
        if total:
            return None, [f"{total:,}-byte body not kept: it never passed through the proxy"]
        if which == "response" and rec.method == "HEAD":
            return b"", ["no body: HEAD responses have none"]
        return b"", []
    notes = []
    if len(kept) < total:
        cap = _size(rec.body_cap)
        notes.append(f"first {_size(len(kept))} of {_size(total)} kept (records.body_cap: {cap})")
    return kept, notes


def render_body(rec: RequestRecord, which: str) -> tuple[Text, FormattedBody | None]:
    """Notes and the formatted body for one side; runs in a worker thread (big bodies)."""
    data, notes = body_state(rec, which)
    headers = rec.request_headers if which == "request" else rec.response_headers
    ctype = header_value(headers, "content-type")
    if which == "response" and ctype is None:
        ctype = rec.content_type
    formatted = None
    if data:
        formatted = format_body(data, ctype, header_value(headers, "content-encoding"))
        notes = notes + formatted.notes
    elif data is not None and not notes:
        notes = ["(no body)"]
    note_text = Text()
    kind = f"{formatted.kind} · " if formatted is not None else ""
    if data:
        note_text.append(f"{kind}{ctype or 'no content type'}", style="bold")
    for note in notes:
        if note_text:
            note_text.append("\n")
        note_text.append(note, style="italic")
    return note_text, formatted


def json_tree(tree: Tree[Any], data: Any, limit: int = 2000) -> None:
    """Fill ``tree`` with ``data`` (objects and arrays collapsible), at most ``limit`` nodes."""
    budget = [limit]

    def add(node: Any, key: str, value: Any) -> None:
        budget[0] -= 1
        if budget[0] < 0:
            return
        if isinstance(value, dict):
            child = node.add(Text.assemble((key, "bold"), f" {{{len(value)}}}"), expand=True)
            for k, v in value.items():
                add(child, str(k), v)
        elif isinstance(value, list):
            child = node.add(Text.assemble((key, "bold"), f" [{len(value)}]"), expand=True)
            for i, v in enumerate(value):
                add(child, str(i), v)
        else:
            shown = json_scalar(value)
            node.add_leaf(Text.assemble((key, "bold"), ": ", shown))

    add(tree.root, "body", data)
    if budget[0] < 0:
        tree.root.add_leaf(Text(f"… cut at {limit:,} nodes", style=role("muted")))


def json_scalar(value: Any) -> Text:
    if isinstance(value, str):
        return Text(repr(value)[1:-1] if len(value) < 200 else value[:200] + "…", style=role("ok"))
    if value is None or isinstance(value, bool):
        return Text(str(value).lower() if value is not None else "null", style=role("accent"))
    return Text(str(value), style=role("info"))
