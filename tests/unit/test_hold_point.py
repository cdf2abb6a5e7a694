"""The hold point on its own: filter, park, edit, resume, kill, time out, bounds."""

from __future__ import annotations

import asyncio

import pytest

from workbench.config.model import HoldConfig
from workbench.engine.hold import HoldError, HoldPoint
from workbench.engine.observe.records import RequestRecord


def record(rid: int, method: str = "POST", path: str = "/api/x") -> RequestRecord:
    return RequestRecord(
        rid, 0.0, "127.0.0.1", "reverse", method, f"http://h{path}", "h", path, [("Host", "h")]
    )


def test_no_filter_means_nothing_to_check():
    hp = HoldPoint(HoldConfig())
    assert hp.request is None and hp.response is None
    hp.set_filter("~m POST", "response")
    assert hp.request is None and hp.response(record(1)) and not hp.response(record(2, "GET"))
    hp.set_filter("", None)
    assert hp.response is None and hp.phase == "response"


@pytest.mark.parametrize(
    "expr, phase, field",
    [("~zz", "request", "filter"), ("~m GET", "later", "phase"), (3, "request", "filter")],
)
def test_bad_settings_name_the_field(expr, phase, field):
    with pytest.raises(HoldError) as e:
        HoldPoint(HoldConfig()).set_filter(expr, phase)
    assert e.value.field == field


async def test_edit_then_resume_hands_back_the_edits():
    hp = HoldPoint(HoldConfig(filter="~m POST"))
    headers = [("Host", "h"), ("X-A", "1")]
    rec = record(7)
    task = asyncio.create_task(hp.wait(rec, "request", headers, b"old"))
    while 7 not in hp.held:
        await asyncio.sleep(0)
    (shown,) = hp.list()
    assert shown["body"] == "old" and shown["headers"] == [["Host", "h"], ["X-A", "1"]]
    hp.edit(7, {"headers": [["Host", "h"], ["X-B", "2"]], "body": "new"})
    with pytest.raises(HoldError, match="status"):
        hp.edit(7, {"status": 500})
    hp.resume(7)
    h = await task
    assert (h.decision, h.body, headers) == ("resume", b"new", [("Host", "h"), ("X-B", "2")])
    assert rec.trace[-1][:2] == ("hold", "resume") and "with edits" in rec.trace[-1][2]
    assert not hp.held
    with pytest.raises(HoldError) as e:
        hp.resume(7)
    assert e.value.status == 404


async def test_kill_and_timeouts():
    hp = HoldPoint(HoldConfig(filter="~all", timeout=0.05, on_timeout="fail"))
    h = await hp.wait(record(1), "request", [], None)
    assert h.decision == "timeout-fail"
    hp.set_timeout(0.05, "resume")
    h = await hp.wait(record(2), "response", [], b"x", 200)
    assert h.decision == "timeout-resume"
    hp.set_timeout(30)
    task = asyncio.create_task(hp.wait(record(3), "request", [], None))
    while 3 not in hp.held:
        await asyncio.sleep(0)
    with pytest.raises(HoldError, match="cannot be edited"):
        hp.edit(3, {"body": "x"})
    hp.kill(3)
    assert (await task).decision == "kill"


def test_full():
    hp = HoldPoint(HoldConfig(filter="~all", max_held=1))
    assert not hp.full()
    hp.held[1] = object()  # type: ignore[assignment]
    assert hp.full()


async def test_a_held_request_line_is_edited_within_its_origin():
    hp = HoldPoint(HoldConfig(filter="~all"))
    rec = record(9, "GET", "/api/x?a=1")
    task = asyncio.create_task(hp.wait(rec, "request", [("Host", "h")], b"", target="/api/x?a=1"))
    while 9 not in hp.held:
        await asyncio.sleep(0)
    (shown,) = hp.list()
    assert (shown["method"], shown["url"]) == ("GET", "http://h/api/x?a=1")
    for patch, field, words in [
        ({"method": "G ET"}, "method", "expected a method"),
        ({"url": "http://elsewhere/x"}, "url", "still goes to http://h"),
        ({"url": "/a b"}, "url", "percent-encoded"),
        ({"url": ""}, "url", "expected a path"),
        ({"method": "PUT", "url": "https://h/x"}, "url", "still goes to"),
    ]:
        with pytest.raises(HoldError, match=words) as e:
            hp.edit(9, patch)
        assert e.value.field == field
    assert hp.get(9).method == "GET", "a refused edit changes nothing"
    hp.edit(9, {"method": "post", "url": "http://H/api/y", "body": "{}"})
    hp.edit(9, {"url": "/api/z?b=2"})
    (shown,) = hp.list()
    assert (shown["method"], shown["url"], shown["target"]) == (
        "POST",
        "http://h/api/z?b=2",
        "/api/z?b=2",
    )
    assert shown["changes"] == [
        "method GET → POST",
        "body 2 bytes",
        "target /api/x?a=1 → /api/z?b=2",
    ]
    assert hp.resume_all() == [9]
    h = await task
    assert (h.method, h.target, h.body) == ("POST", "/api/z?b=2", b"{}")
    assert "method GET → POST" in rec.trace[-1][2]


async def test_a_held_response_has_no_request_line_to_edit():
    hp = HoldPoint(HoldConfig(filter="~all", phase="response"))
    task = asyncio.create_task(hp.wait(record(4), "response", [], b"x", 200))
    while 4 not in hp.held:
        await asyncio.sleep(0)
    for field in ("method", "url"):
        with pytest.raises(HoldError, match="only a held request") as e:
            hp.edit(4, {field: "GET" if field == "method" else "/x"})
        assert e.value.field == field
    hp.edit(4, {"status": 418})
    assert hp.list()[0]["url"] == "http://h/api/x"
    hp.resume(4)
    assert (await task).status == 418
