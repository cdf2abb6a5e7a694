"""Protocol upgrades: after a backend's ``101 Switching Protocols`` the two connections are one.

:func:`relay_upgrade` sends the 101 to the client, then relays bytes both ways until either side
closes or nothing moves for the idle timeout, with back-pressure in both directions. Bytes are
counted; for WebSocket the frames are also followed as they pass (:class:`FrameCounter`: headers
only, no copy of the payload beyond a short preview of the first messages), so the record can say
how many messages went each way and show the first few.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from workbench.engine.observe.records import Headers, RequestRecord

if TYPE_CHECKING:
    from workbench.engine.http.client import UpstreamConnection, UpstreamResponse
    from workbench.engine.http.server import HttpRequest, ServerConnection

MAX_PREVIEWS = 5
"""WebSocket messages kept as previews per session (both directions together)."""
PREVIEW_BYTES = 120
"""Bytes of each previewed message."""

_TEXT, _BINARY, _CONTINUATION = 1, 2, 0


class FrameCounter:
    """Follows WebSocket frames (RFC 6455 §5.2) in one direction, fed as bytes pass by.

    Counts complete data messages (control frames are not messages) and keeps the start of the
    first few in ``previews`` (shared by both directions of a session).
    """

    __slots__ = (
        "messages",
        "arrow",
        "previews",
        "_hdr",
        "_left",
        "_mask",
        "_pos",
        "_fin",
        "_opcode",
        "_msg_opcode",
        "_compressed",
        "_msg_size",
        "_collect",
        "broken",
    )

    def __init__(self, arrow: str, previews: list[tuple[str, str]]) -> None:
        self.messages = 0
        self.arrow = arrow
        """``→`` (client to server) or ``←``; the first element of each preview."""
        self.previews = previews
        self._hdr = bytearray()
        self._left = 0
        self._mask: bytes | None = None
        self._pos = 0
        self._fin = False
        self._opcode = 0
        self._msg_opcode = 0
        self._compressed = False
        self._msg_size = 0
        self._collect: bytearray | None = None
        self.broken = False
        """The bytes stopped looking like WebSocket frames; counting stopped (relay goes on)."""

    def feed(self, data: bytes) -> None:
        """Account for ``data`` (any split of the stream)."""
        if self.broken:
            return
        i = 0
        n = len(data)
        hdr = self._hdr
        while i < n:
            left = self._left
            if left:
                take = left if left < n - i else n - i
                if self._collect is not None:
                    self._keep(data, i, take)
                self._pos += take
                self._left = left - take
                i += take
                if not self._left:
                    self._frame_done()
                continue
            if len(hdr) < 2:
                t = min(2 - len(hdr), n - i)
                hdr += data[i : i + t]
                i += t
                if len(hdr) < 2:
                    break
            b1 = hdr[1]
            short = b1 & 0x7F
            need = 2 + (2 if short == 126 else 8 if short == 127 else 0) + (4 if b1 & 0x80 else 0)
            if len(hdr) < need:
                t = min(need - len(hdr), n - i)
                hdr += data[i : i + t]
                i += t
                if len(hdr) < need:
                    break
            self._start_frame(hdr, short, need)
            hdr.clear()
            if not self._left:
                self._frame_done()

    def _start_frame(self, hdr: bytearray, short: int, need: int) -> None:
        b0 = hdr[0]
        if short == 126:
            length = int.from_bytes(hdr[2:4], "big")
        elif short == 127:
            length = int.from_bytes(hdr[2:10], "big")
        else:
            length = short
        self._fin = bool(b0 & 0x80)
        opcode = self._opcode = b0 & 0x0F
        self._mask = bytes(hdr[need - 4 : need]) if hdr[1] & 0x80 else None
        self._left = length
        self._pos = 0
        if opcode in (_TEXT, _BINARY):
            self._msg_opcode = opcode
            self._compressed = bool(b0 & 0x40)  # RSV1: permessage-deflate
            self._msg_size = 0
            self._collect = bytearray() if len(self.previews) < MAX_PREVIEWS else None
        elif 3 <= opcode <= 7 or opcode >= 11:
            self.broken = True  # a reserved opcode: not WebSocket after all
            self._left = 0
            return
        if opcode < 8:
            self._msg_size += length

    def _keep(self, data: bytes, i: int, take: int) -> None:
        if self._opcode >= 8:
            return
        collect = self._collect
        room = PREVIEW_BYTES - len(collect)
        if room <= 0:
            return
        part = data[i : i + min(take, room)]
        mask = self._mask
        if mask is not None:
            pos = self._pos
            part = bytes(b ^ mask[(pos + j) & 3] for j, b in enumerate(part))
        collect += part

    def _frame_done(self) -> None:
        if self._opcode >= 8 or not self._fin or self.broken:
            return
        self.messages += 1
        collect = self._collect
        if collect is None:
            return
        self._collect = None
        if len(self.previews) >= MAX_PREVIEWS:
            return
        size = self._msg_size
        if self._compressed:
            text = f"<compressed, {size} bytes>"
        elif self._msg_opcode == _TEXT:
            text = collect.decode("utf-8", "replace")
            if size > len(collect):
                text += f"… ({size} bytes)"
        else:
            text = f"<binary, {size} bytes> {bytes(collect[:16]).hex()}"
        self.previews.append((self.arrow, text))


class UpgradeRelay:
    """One upgraded connection pair: the client's and the upstream's, relayed both ways."""

    def __init__(
        self,
        conn: ServerConnection,
        up: UpstreamConnection,
        rec: RequestRecord,
        protocol: str,
        idle: float,
    ) -> None:
        self.conn = conn
        self.up = up
        self.rec = rec
        self.idle = idle
        self.last_active = time.monotonic()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.why = ""
        self.websocket = protocol.lower() == "websocket"
        previews: list[tuple[str, str]] = []
        self.client_frames = FrameCounter("→", previews) if self.websocket else None
        self.server_frames = FrameCounter("←", previews) if self.websocket else None
        if self.websocket:
            rec.message_previews = previews
        self._timer: asyncio.TimerHandle | None = None

    def start(self, early_client: bytes, early_server: bytes) -> None:
        """Wire both sides; ``early_*`` are bytes each side sent along with its HTTP head."""
        conn, up = self.conn, self.up
        conn.start_tunnel(self.from_client, lambda: self.close("client closed"))
        conn.on_pause_writing = self._client_slow
        up.start_tunnel(self.from_server, lambda: self.close("server closed"))
        up.on_pause_writing = self._server_slow
        if early_client:
            self.from_client(early_client)
        if early_server:
            self.from_server(early_server)
        self._arm()

    def _arm(self) -> None:
        interval = min(max(self.idle / 4, 0.05), 5.0)
        self._timer = asyncio.get_running_loop().call_later(interval, self._check_idle)

    def _check_idle(self) -> None:
        if self.closed.done():
            return
        if time.monotonic() - self.last_active > self.idle:
            self.close(f"idle for more than {self.idle:g} s")
            return
        self._arm()

    def from_client(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        self.rec.bytes_in += len(data)
        frames = self.client_frames
        if frames is not None:
            frames.feed(data)
        t = self.up.transport
        if t is not None and not t.is_closing():
            t.write(data)

    def from_server(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        self.rec.bytes_out += len(data)
        frames = self.server_frames
        if frames is not None:
            frames.feed(data)
        self.conn.write(data)

    def _client_slow(self, paused: bool) -> None:
        """The client reads slower than the server sends: hold the server back."""
        t = self.up.transport
        if t is not None and not t.is_closing():
            (t.pause_reading if paused else t.resume_reading)()

    def _server_slow(self, paused: bool) -> None:
        t = self.conn.transport
        if t is not None and not t.is_closing():
            (t.pause_reading if paused else t.resume_reading)()

    def close(self, why: str) -> None:
        if self.closed.done():
            return
        self.why = why
        if self._timer is not None:
            self._timer.cancel()
        rec = self.rec
        if self.websocket:
            rec.messages_in = self.client_frames.messages
            rec.messages_out = self.server_frames.messages
        self.up.close()
        self.conn.close()
        self.closed.set_result(None)


def upgrade_protocol(headers: Headers) -> str:
    """The protocol a 101 switches to (its ``Upgrade`` value), ``""`` if it names none."""
    for n, v in headers:
        if n.lower() == "upgrade":
            return v.strip()
    return ""


async def relay_upgrade(
    conn: ServerConnection,
    req: HttpRequest,
    rec: RequestRecord,
    resp: UpstreamResponse,
    headers: Headers,
    idle: float,
) -> None:
    """Answer the client's upgrade with the upstream's 101, then relay until either side ends.

    ``headers`` are the 101's fields as the client gets them (hop-by-hop removed); the
    ``Connection``/``Upgrade`` pair is put back here. The record gets the protocol, bytes each
    way, the WebSocket message counts and previews; its duration is the session's.
    """
    up = resp.connection
    protocol = upgrade_protocol(resp.headers) or req.upgrade or "unknown"
    headers.append(("Connection", "Upgrade"))
    headers.append(("Upgrade", protocol))
    rec.status = 101
    rec.upgrade = protocol.lower()
    rec.response_headers = headers
    rec.step("upgrade", f"→ {rec.upgrade}", "101 Switching Protocols: relaying both ways")
    req.keep_alive = False
    conn.write_head(101, headers, resp.reason or None)
    relay = UpgradeRelay(conn, up, rec, protocol, idle)
    relay.start(req.tunnel_data, resp.upgrade_data)
    try:
        await relay.closed
    finally:
        relay.close(relay.why or "proxy stopping")
        detail = f"{relay.why}: {rec.bytes_in} B up, {rec.bytes_out} B down"
        if relay.websocket:
            detail += f", {rec.messages_in} messages up, {rec.messages_out} down"
        rec.step("upgrade", "closed", detail)
