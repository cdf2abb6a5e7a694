"""A structural check of HAR 1.2 (the spec's required fields and their types), for tests."""

from __future__ import annotations

from typing import Any

NUM = (int, float)


def _need(obj: Any, key: str, types: type | tuple[type, ...], where: str) -> Any:
    assert isinstance(obj, dict), f"{where}: expected an object"
    assert key in obj, f"{where}.{key}: required"
    value = obj[key]
    assert isinstance(value, types) and not (
        isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,))
    ), f"{where}.{key}: expected {types}, got {type(value).__name__}"
    return value


def _name_values(items: Any, where: str) -> None:
    assert isinstance(items, list), f"{where}: expected a list"
    for i, item in enumerate(items):
        _need(item, "name", str, f"{where}[{i}]")
        _need(item, "value", str, f"{where}[{i}]")


def check_har(doc: Any) -> list[dict[str, Any]]:
    """Assert ``doc`` has every field HAR 1.2 requires, with the right types; returns entries."""
    log = _need(doc, "log", dict, "")
    assert _need(log, "version", str, "log") == "1.2"
    creator = _need(log, "creator", dict, "log")
    _need(creator, "name", str, "log.creator")
    _need(creator, "version", str, "log.creator")
    entries = _need(log, "entries", list, "log")
    for i, e in enumerate(entries):
        w = f"log.entries[{i}]"
        started = _need(e, "startedDateTime", str, w)
        assert "T" in started and (started.endswith("Z") or "+" in started[10:]), started
        total = _need(e, "time", NUM, w)
        req = _need(e, "request", dict, w)
        for key, types in (("method", str), ("url", str), ("httpVersion", str)):
            _need(req, key, types, f"{w}.request")
        _name_values(_need(req, "cookies", list, f"{w}.request"), f"{w}.request.cookies")
        _name_values(_need(req, "headers", list, f"{w}.request"), f"{w}.request.headers")
        _name_values(_need(req, "queryString", list, f"{w}.request"), f"{w}.request.queryString")
        _need(req, "headersSize", int, f"{w}.request")
        _need(req, "bodySize", int, f"{w}.request")
        if "postData" in req:
            _need(req["postData"], "mimeType", str, f"{w}.request.postData")
            _need(req["postData"], "text", str, f"{w}.request.postData")
        resp = _need(e, "response", dict, w)
        _need(resp, "status", int, f"{w}.response")
        _need(resp, "statusText", str, f"{w}.response")
        _need(resp, "httpVersion", str, f"{w}.response")
        _name_values(_need(resp, "cookies", list, f"{w}.response"), f"{w}.response.cookies")
        _name_values(_need(resp, "headers", list, f"{w}.response"), f"{w}.response.headers")
        content = _need(resp, "content", dict, f"{w}.response")
        _need(content, "size", int, f"{w}.response.content")
        _need(content, "mimeType", str, f"{w}.response.content")
        if "text" in content:
            _need(content, "text", str, f"{w}.response.content")
        _need(resp, "redirectURL", str, f"{w}.response")
        _need(resp, "headersSize", int, f"{w}.response")
        _need(resp, "bodySize", int, f"{w}.response")
        _need(e, "cache", dict, w)
        timings = _need(e, "timings", dict, w)
        for key in ("send", "wait", "receive"):
            assert _need(timings, key, NUM, f"{w}.timings") >= 0
        for key in ("blocked", "dns", "connect", "ssl"):
            if key in timings:
                value = _need(timings, key, NUM, f"{w}.timings")
                assert value >= 0 or value == -1, f"{w}.timings.{key}: {value}"
        parts = sum(v for k, v in timings.items() if not k.startswith("_") and v > 0)
        assert abs(parts - total) < 0.01, f"{w}.time {total} is not the sum of timings {parts}"
    return entries
