"""Body viewers: decoding, content types, images, forms, and what the detail view says."""

from __future__ import annotations

import gzip
import struct
import zlib

import brotli
import pytest
import zstandard

from workbench.engine.observe.records import RecordLog, RequestRecord
from workbench.tui.screens.detail_body import body_state
from workbench.tui.widgets.body_format import decode_content, format_body, image_info


def png(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\0" * 8


def jpeg(w: int, h: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0" + b"\0" * 9
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, h, w, 3) + b"\0" * 9
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (png(640, 480), ("PNG", 640, 480)),
        (b"GIF89a" + struct.pack("<HH", 16, 9) + b"\0" * 10, ("GIF", 16, 9)),
        (jpeg(1024, 768), ("JPEG", 1024, 768)),
        (b"RIFF\0\0\0\0WEBPVP8X" + b"\0" * 8 + (99).to_bytes(3, "little") * 2, ("WebP", 100, 100)),
        (b"BM" + b"\0" * 16 + struct.pack("<ii", 3, -2), ("BMP", 3, 2)),
        (b"not an image", None),
        (b"\x89PNG", None),
    ],
)
def test_image_dimensions_from_header_bytes(data, expected):
    assert image_info(data) == expected


@pytest.mark.parametrize(
    ("encode", "coding"),
    [
        (gzip.compress, "gzip"),
        (zlib.compress, "deflate"),
        (lambda d: zlib.compress(d)[2:-4], "deflate"),  # raw deflate, as some servers send it
        (brotli.compress, "br"),
        (lambda d: zstandard.ZstdCompressor().compress(d), "zstd"),
    ],
)
def test_content_encodings_are_undone(encode, coding):
    data = b'{"hello": "world"}' * 50
    out, note = decode_content(encode(data), coding)
    assert out == data
    assert note.startswith(f"decoded from {coding}")


def test_damaged_br_and_zstd_are_shown_as_received():
    for coding in ("br", "zstd"):
        out, note = decode_content(b"not compressed at all", coding)
        assert out == b"not compressed at all"
        assert note.startswith(f"{coding} data is damaged")


def test_a_missing_library_says_what_to_install(monkeypatch):
    from workbench.engine.observe import codings

    monkeypatch.setattr(codings, "_brotli", lambda: None)
    out, note = decode_content(brotli.compress(b"hi"), "br")
    assert note == "br body (install brotli to decode it): shown as received"
    assert "br" not in codings.available_encodings()


def test_a_body_cut_at_the_cap_still_decodes_what_it_can():
    data = bytes(range(256)) * 400
    cut = gzip.compress(data)[:2000]
    out, note = decode_content(cut, "gzip")
    assert out and data.startswith(out)


def test_unknown_or_unavailable_encoding_is_shown_as_received():
    out, note = decode_content(b"\x01\x02", "compress")
    assert out == b"\x01\x02" and "cannot decode compress" in note
    out, note = decode_content(b"garbage", "gzip")
    assert out == b"garbage" and "damaged" in note


@pytest.mark.parametrize(
    ("data", "ctype", "kind", "contains"),
    [
        (b'{"a":[1,2]}', "application/json", "json", '"a": [\n    1,'),
        (b'{"a":1}', "text/plain", "json", '"a": 1'),
        (b"<h1>hi</h1>", "text/html; charset=utf-8", "html", "<h1>hi</h1>"),
        (b"a=1&b=two+words&c=", "application/x-www-form-urlencoded", "form", "two words"),
        (b"\x00\x01\x02hello", "application/octet-stream", "hex", "00 01 02 68"),
        (png(2, 3), "image/png", "image", "PNG image, 2 × 3 pixels"),
        (b"", "text/plain", "empty", "(empty body)"),
        (b"plain words", None, "text", "plain words"),
    ],
)
def test_viewer_by_content_type(data, ctype, kind, contains):
    out = format_body(data, ctype, None)
    assert out.kind == kind
    assert contains in out.text.plain


def test_multipart_is_a_table_of_parts():
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="title"\r\n\r\nHello\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + b"\x89PNG" + b"\0" * 96 + b"\r\n--XyZ--\r\n"
    )
    out = format_body(body, "multipart/form-data; boundary=XyZ", None)
    assert out.kind == "multipart"
    lines = out.text.plain.splitlines()
    assert lines[1].split() == ["title", "Hello"]
    assert "file 'a.png', 100 bytes, image/png" in lines[2]


def _rec(**kw) -> RequestRecord:
    rec = RequestRecord(1, 0.0, "127.0.0.1", "reverse", "GET", "http://h/", "h", "/")
    for k, v in kw.items():
        setattr(rec, k, v)
    return rec


def test_body_state_says_what_was_cut_and_why_nothing_is_shown():
    rec = _rec(body_cap=1024 * 1024, bytes_out=12 * 1024 * 1024)
    rec.keep_response(b"x" * (12 * 1024 * 1024))
    data, notes = body_state(rec, "response")
    assert len(data) == 1024 * 1024
    assert notes == ["first 1 MiB of 12 MiB kept (records.body_cap: 1 MiB)"]
    off = _rec(body_cap=0, bytes_out=55)
    assert body_state(off, "response") == (
        None,
        ["55-byte body not kept: body capture is off (records.body_cap)"],
    )
    empty = _rec(body_cap=1024)
    assert body_state(empty, "request") == (b"", [])


def test_no_longer_kept_only_when_true():
    log = RecordLog(capacity=10, detail_capacity=2, body_cap=100, body_budget=1000)
    recs = []
    for i in range(4):
        rec = _rec(id=i)
        log.begin(rec, type("Req", (), {"body": b"q" * 10, "target": "/", "version": "1.1"})())
        rec.keep_response(b"r" * 10)
        log.append(rec)
        recs.append(rec)
    # Only the newest two keep details; the older ones say so, the newer ones show their bodies.
    assert body_state(recs[0], "response")[1] == [
        "body no longer kept: old record: only the newest records keep their details"
    ]
    assert body_state(recs[3], "response") == (b"r" * 10, [])
    assert log.body_bytes == 40


def test_marked_records_keep_their_bodies_until_unmarked():
    log = RecordLog(capacity=10, detail_capacity=1, body_cap=100, body_budget=100)
    first = _rec(id=1, body_cap=100)
    first.keep_response(b"a" * 60)
    log.append(first)
    assert log.set_marked(first, True) is None
    second = _rec(id=2, body_cap=100)
    second.keep_response(b"b" * 60)
    log.append(second)
    assert first.response_bytes() == b"a" * 60 and first.request_headers is not None
    assert log.find(1) is first
    log.set_marked(first, False)
    assert first.response_body is None and first.bodies_dropped
    assert log.find(1) is first  # still in the ring, just without details


def test_a_request_body_answered_before_it_was_read_says_so():
    rec = _rec(body_cap=1024, bytes_in=400_000)
    data, notes = body_state(rec, "request")
    assert data is None
    assert notes == [
        "400,000-byte body not kept: it was never read (the request was answered before its "
        "body went upstream)"
    ]
