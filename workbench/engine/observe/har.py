"""HAR 1.2 export and import of request records (http://www.softwareishard.com/blog/har-12-spec/).

Export: one entry per record, bodies decoded (base64 when binary), timings from the record, and
everything HAR has no field for (the trace, backend, cache outcome, raw targets, what was cut) in
a custom ``_workbench`` object. Import (``workbench view FILE.har``) reads any HAR 1.1/1.2 — our
own round-trips exactly through ``_workbench``, a browser's gives what its fields say.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from workbench import __version__
from workbench.engine.observe.codings import decode_content
from workbench.engine.observe.framing import client_response_headers
from workbench.engine.observe.records import Headers, RequestRecord

_REASONS: dict[int, str] = {}


MAX_HAR_BYTES = 1 << 30
"""The largest HAR file ``workbench view`` opens (it is read and kept in memory whole)."""


class HarError(ValueError):
    """A file that is not a HAR this workbench can read; the message says what is wrong."""


def _reason(status: int) -> str:
    if not _REASONS:
        from http import HTTPStatus

        _REASONS.update({s.value: s.phrase for s in HTTPStatus})
    return _REASONS.get(status, "")


def _header(headers: Headers | None, name: str) -> str | None:
    lname = name.lower()
    for n, v in headers or ():
        if n.lower() == lname:
            return v
    return None


def _nv(pairs) -> list[dict[str, str]]:
    return [{"name": n, "value": v} for n, v in pairs]


def _cookies(headers: Headers | None, response: bool) -> list[dict[str, str]]:
    out = []
    for n, v in headers or ():
        lname = n.lower()
        if not response and lname == "cookie":
            for part in v.split(";"):
                name, sep, value = part.strip().partition("=")
                if sep:
                    out.append({"name": name, "value": value})
        elif response and lname == "set-cookie":
            name, sep, value = v.split(";", 1)[0].strip().partition("=")
            if sep:
                out.append({"name": name, "value": value})
    return out


def _text_or_base64(data: bytes) -> tuple[str, str | None]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"
    if "\x00" in text:
        return base64.b64encode(data).decode("ascii"), "base64"
    return text, None


def _ms(seconds: float) -> float:
    return round(max(seconds, 0.0) * 1000, 3)


def _timings(rec: RequestRecord) -> dict[str, float]:
    """HAR timings; ``time`` is their sum (the spec's rule), so each is clamped at 0."""
    connect = rec.t_connect
    wait = rec.t_first_byte - rec.t_queue - connect if rec.t_first_byte else 0.0
    receive = rec.t_total - rec.t_first_byte if rec.t_first_byte else rec.t_total - rec.t_queue
    return {
        "blocked": _ms(rec.t_queue),
        "dns": -1,
        "connect": _ms(connect) if connect else -1,
        "send": 0.0,
        "wait": _ms(wait),
        "receive": _ms(receive),
        "ssl": -1,
    }


def har_url(rec: RequestRecord) -> str:
    """An absolute URL for the entry (importers parse it): a CONNECT's ``host:port`` becomes
    ``https://host:port/``, an unparsable request ``http://invalid.invalid/``; the record's own
    text stays in ``_workbench.url``."""
    if "://" in rec.url:
        return rec.url
    if rec.method == "CONNECT" and rec.url:
        return f"https://{rec.url}/"
    return "http://invalid.invalid/"


def _request(rec: RequestRecord) -> dict[str, Any]:
    query = urlsplit(rec.url).query if "://" in rec.url else ""
    out: dict[str, Any] = {
        "method": rec.method,
        "url": har_url(rec),
        "httpVersion": f"HTTP/{rec.version}",
        "cookies": _cookies(rec.request_headers, False),
        "headers": _nv(rec.request_headers),
        "queryString": _nv(parse_qsl(query, keep_blank_values=True)),
        "headersSize": -1,
        "bodySize": rec.bytes_in,
    }
    body = rec.request_bytes()
    if body:
        mime = _header(rec.request_headers, "content-type") or "application/octet-stream"
        text, encoding = _text_or_base64(body)
        post: dict[str, Any] = {"mimeType": mime, "text": text}
        if encoding:
            post["encoding"] = encoding  # not in HAR 1.2 for postData; readers that know use it
        if mime.startswith("application/x-www-form-urlencoded") and encoding is None:
            post["params"] = _nv(parse_qsl(text, keep_blank_values=True))
        out["postData"] = post
    return out


def _response(rec: RequestRecord) -> dict[str, Any]:
    headers = client_response_headers(rec) or []
    mime = _header(headers, "content-type") or rec.content_type or ""
    content: dict[str, Any] = {"size": rec.bytes_out, "mimeType": mime}
    body = rec.response_bytes()
    if body is not None:
        decoded, _note = decode_content(body, _header(headers, "content-encoding"))
        text, encoding = _text_or_base64(decoded)
        content["size"] = len(decoded)
        if len(decoded) != len(body):
            content["compression"] = len(decoded) - len(body)
        content["text"] = text
        if encoding:
            content["encoding"] = encoding
    status = rec.status or 0
    out = {
        "status": status,
        "statusText": _reason(status) if status else "",
        "httpVersion": "HTTP/1.1",
        "cookies": _cookies(headers, True),
        "headers": _nv(headers),
        "content": content,
        "redirectURL": _header(headers, "location") or "",
        "headersSize": -1,
        "bodySize": rec.bytes_out if rec.status is not None else -1,
    }
    if rec.status is None and rec.error:
        out["_error"] = rec.error  # as browsers write a request that got no response
    return out


def _workbench(rec: RequestRecord) -> dict[str, Any]:
    """What HAR has no field for."""
    return {
        "id": rec.id,
        "url": rec.url,
        "proxy": rec.proxy,
        "client": rec.client,
        "host": rec.host,
        "path": rec.path,
        "target": rec.target,
        "upstream_target": rec.upstream_target,
        "upstream_headers": None if rec.upstream_headers is None else _nv(rec.upstream_headers),
        "backend_response_headers": None
        if rec.backend_response_headers is None
        else _nv(rec.backend_response_headers),
        "pool": rec.pool,
        "backend": rec.backend,
        "cache": rec.cache,
        "rule": rec.rule,
        "tags": list(rec.tags or ()),
        "error": rec.error,
        "sni": rec.sni,
        "marked": rec.marked,
        "replay_of": rec.replay_of,
        "upgrade": getattr(rec, "upgrade", None),
        "request_body_size": rec.request_body_size,
        "response_body_size": rec.response_body_size,
        "response_body": _raw_if_decoded(rec),
        "body_cap": rec.body_cap,
        "bodies_dropped": rec.bodies_dropped,
        "timings": {
            "queue": rec.t_queue,
            "connect": rec.t_connect,
            "first_byte": rec.t_first_byte,
            "total": rec.t_total,
        },
        "trace": [list(step) for step in rec.trace],
    }


def _raw_if_decoded(rec: RequestRecord) -> str | None:
    """The response body as the client got it, base64 — only when HAR's text had it decoded."""
    body = rec.response_bytes()
    if body is None:
        return None
    decoded, _note = decode_content(body, _header(rec.response_headers, "content-encoding"))
    return None if decoded == body else base64.b64encode(body).decode("ascii")


def entry(rec: RequestRecord) -> dict[str, Any]:
    """One HAR entry for ``rec``."""
    timings = _timings(rec)
    started = datetime.fromtimestamp(rec.start, tz=UTC).isoformat(timespec="milliseconds")
    return {
        "startedDateTime": started,
        "time": round(sum(v for v in timings.values() if v > 0), 3),
        "request": _request(rec),
        "response": _response(rec),
        "cache": {},
        "timings": timings,
        "_workbench": _workbench(rec),
    }


def to_har(records: list[RequestRecord], comment: str = "") -> dict[str, Any]:
    """A HAR 1.2 document with one entry per record, in the order given."""
    log: dict[str, Any] = {
        "version": "1.2",
        "creator": {"name": "Proxy Workbench", "version": __version__},
        "entries": [entry(rec) for rec in records],
    }
    if comment:
        log["comment"] = comment
    return {"log": log}


def write_har(records: list[RequestRecord], path: str | Path, comment: str = "") -> Path:
    """Write :func:`to_har` to ``path`` (0600: bodies may hold secrets); returns the path."""
    import os

    path = Path(path)
    data = json.dumps(to_har(records, comment), ensure_ascii=False, indent=1).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return path


# -- import ----------------------------------------------------------------------------------


def _headers_in(items: Any, where: str) -> Headers:
    if items is None:
        return []
    if not isinstance(items, list):
        raise HarError(f"{where}: expected a list of {{name, value}}")
    out: Headers = []
    for h in items:
        if not isinstance(h, dict) or not isinstance(h.get("name"), str):
            raise HarError(f"{where}: expected {{name, value}} objects")
        out.append((h["name"], str(h.get("value", ""))))
    return out


def _start(text: Any, where: str) -> float:
    if not isinstance(text, str):
        raise HarError(f"{where}.startedDateTime: expected an ISO 8601 date")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise HarError(f"{where}.startedDateTime: not an ISO 8601 date: {text[:40]!r}") from None


def _decode_text(text: Any, encoding: Any) -> bytes | None:
    if not isinstance(text, str):
        return None
    if encoding == "base64":
        try:
            return base64.b64decode(text, validate=False)
        except (binascii.Error, ValueError):
            return None
    return text.encode("utf-8")


def record_from_entry(e: Any, index: int, next_id: int) -> RequestRecord:
    """A :class:`RequestRecord` from one HAR entry (raises :class:`HarError`)."""
    where = f"log.entries[{index}]"
    if not isinstance(e, dict):
        raise HarError(f"{where}: expected an object")
    req, resp = e.get("request"), e.get("response")
    if not isinstance(req, dict) or not isinstance(resp, dict):
        raise HarError(f"{where}: request and response objects are required")
    method, url = req.get("method"), req.get("url")
    if not isinstance(method, str) or not isinstance(url, str):
        raise HarError(f"{where}.request: method and url are required strings")
    wb = e.get("_workbench") if isinstance(e.get("_workbench"), dict) else {}
    if isinstance(wb.get("url"), str):
        url = wb["url"]
    parts = urlsplit(url) if "://" in url else None
    host = wb.get("host") or (parts.hostname or "" if parts else "")
    path = wb.get("path")
    if path is None:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "") if parts else url
    rec = RequestRecord(
        wb["id"] if _count(wb.get("id")) else next_id,
        _start(e.get("startedDateTime"), where),
        str(wb.get("client") or e.get("serverIPAddress") or ""),
        wb.get("proxy") if wb.get("proxy") in ("forward", "reverse") else "reverse",
        method,
        url,
        str(host),
        str(path),
        _headers_in(req.get("headers"), f"{where}.request.headers"),
    )
    status = resp.get("status")
    rec.status = status if _count(status) and status < 1000 else None
    rec.response_headers = _headers_in(resp.get("headers"), f"{where}.response.headers")
    version = str(req.get("httpVersion") or "HTTP/1.1")
    rec.version = version.upper().removeprefix("HTTP/") or "1.1"
    content = resp.get("content") if isinstance(resp.get("content"), dict) else {}
    mime = content.get("mimeType")
    rec.content_type = (mime if isinstance(mime, str) else None) or _header(
        rec.response_headers, "content-type"
    )
    body_size = resp.get("bodySize")
    rec.bytes_out = body_size if _count(body_size) else 0
    # Bodies: ours exactly as the client got them; otherwise HAR's decoded text, and then the
    # Content-Encoding header no longer describes them.
    cap = wb.get("body_cap")
    rec.body_cap = cap if _count(cap) or (type(cap) is int and cap == 0) else 1 << 62
    response_body = None
    if isinstance(wb.get("response_body"), str):
        response_body = _decode_text(wb["response_body"], "base64")
    elif "text" in content:
        response_body = _decode_text(content.get("text"), content.get("encoding"))
        decoded_by_writer = not wb and _header(rec.response_headers, "content-encoding")
        if response_body is not None and decoded_by_writer:
            rec.response_headers = [
                (n, v) for n, v in rec.response_headers if n.lower() != "content-encoding"
            ]
    if response_body is not None:
        rec.keep_response(response_body)
        rec.bytes_out = rec.bytes_out or len(response_body)
    post = req.get("postData") if isinstance(req.get("postData"), dict) else None
    if post is not None:
        request_body = _decode_text(post.get("text"), post.get("encoding"))
        if request_body:
            rec.keep_request(request_body)
    req_size = req.get("bodySize")
    rec.bytes_in = max(req_size if _count(req_size) else 0, rec.request_body_size)
    for key in ("request_body_size", "response_body_size"):
        if _count(wb.get(key)):
            setattr(rec, key, max(wb[key], getattr(rec, key)))
    for key in (
        "pool",
        "backend",
        "cache",
        "rule",
        "error",
        "sni",
        "target",
        "upstream_target",
        "upgrade",
    ):
        if isinstance(wb.get(key), str):
            setattr(rec, key, wb[key])
    rec.marked = wb.get("marked") is True
    replay_of = wb.get("replay_of")
    if isinstance(replay_of, int) and not isinstance(replay_of, bool):
        rec.replay_of = replay_of
    if isinstance(wb.get("bodies_dropped"), str):
        rec.bodies_dropped = wb["bodies_dropped"]
    if isinstance(wb.get("tags"), list):
        rec.tags = [str(t) for t in wb["tags"]]
    for key in ("upstream_headers", "backend_response_headers"):
        if wb.get(key) is not None:
            setattr(rec, key, _headers_in(wb[key], f"{where}._workbench.{key}"))
    rec.trace = [
        (str(s[0]), str(s[1]), str(s[2]))
        for s in wb.get("trace") or ()
        if isinstance(s, list) and len(s) == 3
    ]
    _timings_in(rec, e, wb)
    if rec.error is None and rec.status is None and isinstance(resp.get("_error"), str):
        rec.error = resp["_error"]
    return rec


def _timings_in(rec: RequestRecord, e: dict[str, Any], wb: dict[str, Any]) -> None:
    t = wb.get("timings")
    if isinstance(t, dict):
        rec.t_queue = _seconds(t.get("queue"))
        rec.t_connect = _seconds(t.get("connect"))
        rec.t_first_byte = _seconds(t.get("first_byte"))
        rec.t_total = _seconds(t.get("total"))
        return
    timings = e.get("timings") if isinstance(e.get("timings"), dict) else {}

    def ms(key: str) -> float:
        v = timings.get(key)
        return v / 1000 if isinstance(v, int | float) and v > 0 else 0.0

    rec.t_queue = ms("blocked") + ms("dns")
    rec.t_connect = ms("connect")
    rec.t_first_byte = rec.t_queue + rec.t_connect + ms("send") + ms("wait")
    total = e.get("time")
    rec.t_total = total / 1000 if isinstance(total, int | float) and total > 0 else 0.0


def _count(v: Any) -> bool:
    """A positive JSON integer (``true`` is not one)."""
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _seconds(v: Any) -> float:
    """A duration from our own ``_workbench.timings`` (anything else counts as 0)."""
    if isinstance(v, int | float) and not isinstance(v, bool) and 0 < v < 1e9:
        return float(v)
    return 0.0


def from_har(data: Any) -> list[RequestRecord]:
    """Records from a parsed HAR document (raises :class:`HarError` naming what is wrong)."""
    log = data.get("log") if isinstance(data, dict) else None
    if not isinstance(log, dict):
        raise HarError("not a HAR file: no top-level 'log' object")
    entries = log.get("entries")
    if not isinstance(entries, list):
        raise HarError("log.entries: expected a list")
    records = []
    for i, e in enumerate(entries):
        try:
            records.append(record_from_entry(e, i, i + 1))
        except HarError:
            raise
        except (TypeError, ValueError, AttributeError, KeyError, OverflowError) as exc:
            # A field of an unexpected type that no check above names: still one line.
            raise HarError(f"log.entries[{i}]: malformed entry ({exc})") from None
    return records


def load_har(path: str | Path) -> list[RequestRecord]:
    """Read a HAR file; raises :class:`HarError` with a one-line message naming the file."""
    name = str(path)
    try:
        with Path(path).open("rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise HarError(f"{name}: not a regular file")
            raw = fh.read(MAX_HAR_BYTES + 1)
    except OSError as exc:
        raise HarError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_HAR_BYTES:
        raise HarError(f"{name}: larger than {MAX_HAR_BYTES >> 20} MiB: too large to open")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise HarError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise HarError(f"{name}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
    except RecursionError:
        raise HarError(f"{name}: not a HAR file: JSON nested too deeply") from None
    try:
        return from_har(data)
    except HarError as exc:
        raise HarError(f"{name}: {exc}") from None
