"""HAR 1.2 export through the admin API and the round trip back into records."""

from __future__ import annotations

import gzip
import json

import aiohttp
import pytest
from aiohttp import web
from configs import admin_listener, reverse_proxy
from harcheck import check_har
from origin import Origin, wait_for

from workbench.config.model import (
    Config,
    RuleConfig,
)
from workbench.engine.observe.framing import client_response_headers
from workbench.engine.observe.har import HarError, from_har, load_har, to_har


def config(origin) -> Config:
    return Config(
        admin=admin_listener(),
        reverse=reverse_proxy([origin.url]),
        rules=(RuleConfig(name="no-admin", when="~u /admin", action="block"),),
    )


@pytest.fixture
async def origin():
    async def gz(request: web.Request) -> web.Response:
        return web.Response(
            body=gzip.compress(b'{"zipped": true}'),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )

    async def png(request: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG\r\n\x1a\n\0\0\0\x00\xff\xfe", content_type="image/png")

    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"got": (await request.read()).decode()})

    app = web.Application()
    app.router.add_get("/gz", gz)
    app.router.add_get("/img.png", png)
    app.router.add_route("*", "/echo", echo)
    o = await Origin("web-1", app).start()
    yield o
    await o.stop()


async def test_api_har_is_valid_har_with_one_entry_per_record(origin, engine_factory, tmp_path):
    eng = await engine_factory(config(origin))
    url, api = eng.listeners["reverse"], eng.listeners["admin"]
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        async with s.post(url + "/echo?x=1", json={"a": 1}) as r:
            assert r.status == 200
        for path in ("/gz", "/img.png", "/admin/panel"):
            async with s.get(url + path) as r:
                await r.read()
        await wait_for(lambda: eng.records.total == 4)
        async with s.get(api + "/api/har") as r:
            assert r.status == 200
            doc = await r.json()
        async with s.get(api + "/api/har", params={"filter": "~c 403"}) as r:
            blocked = await r.json()
        async with s.get(api + "/api/har", params={"filter": "~c ("}) as r:
            assert r.status == 400
            assert (await r.json())["field"] == "filter"
    entries = check_har(doc)
    assert [e["request"]["url"].split("/", 3)[-1] for e in entries] == [
        "echo?x=1",
        "gz",
        "img.png",
        "admin/panel",
    ]
    post, gz, img, block = entries
    assert json.loads(post["request"]["postData"]["text"]) == {"a": 1}
    assert post["request"]["queryString"] == [{"name": "x", "value": "1"}]
    assert json.loads(post["response"]["content"]["text"]) == {"got": '{"a": 1}'}
    assert gz["response"]["content"]["text"] == '{"zipped": true}'  # decoded, as HAR wants
    assert img["response"]["content"]["encoding"] == "base64"
    assert block["response"]["status"] == 403 and block["response"]["content"]["text"]
    trace = [step[0] for step in post["_workbench"]["trace"]]
    assert "upstream" in trace
    assert [e["response"]["status"] for e in check_har(blocked)] == [403]

    # The export reads back as the same records (what `workbench view` shows).
    path = tmp_path / "capture.har"
    path.write_text(json.dumps(doc))
    records = load_har(path)
    originals = eng.records.all_records()
    assert [r.id for r in records] == [r.id for r in originals]
    for got, want in zip(records, originals, strict=True):
        assert got.response_bytes() == want.response_bytes()
        assert got.request_bytes() == want.request_bytes()
        assert got.trace == want.trace
        assert (got.status, got.url, got.target, got.backend) == (
            want.status,
            want.url,
            want.target,
            want.backend,
        )
        # The head the client received, including the Content-Length the writer added to a
        # response the workbench made itself (HAR holds what went over the wire).
        assert client_response_headers(got) == client_response_headers(want)
    assert check_har(to_har(records)) and len(to_har(records)["log"]["entries"]) == 4


def test_a_browser_har_without_workbench_fields_loads():
    doc = {
        "log": {
            "version": "1.2",
            "creator": {"name": "WebInspector", "version": "537.36"},
            "entries": [
                {
                    "startedDateTime": "2026-01-01T10:00:00.000Z",
                    "time": 50.5,
                    "request": {
                        "method": "GET",
                        "url": "https://example.test/a?b=c",
                        "httpVersion": "http/2.0",
                        "headers": [{"name": ":authority", "value": "example.test"}],
                    },
                    "response": {
                        "status": 200,
                        "headers": [{"name": "content-encoding", "value": "br"}],
                        "content": {"size": 5, "mimeType": "text/plain", "text": "hello"},
                        "bodySize": 3,
                    },
                    "timings": {"blocked": 1, "dns": -1, "send": 0, "wait": 40, "receive": 9.5},
                }
            ],
        }
    }
    (rec,) = from_har(doc)
    assert (rec.host, rec.path, rec.status, rec.version) == ("example.test", "/a?b=c", 200, "2.0")
    assert rec.response_bytes() == b"hello"
    assert rec.response_headers == []  # the text is decoded: its content-encoding no longer applies
    assert abs(rec.t_total - 0.0505) < 1e-9


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "capture.har:1:2: not JSON"),
        ("[]", "capture.har: not a HAR file: no top-level 'log' object"),
        ('{"log": {"entries": {}}}', "capture.har: log.entries: expected a list"),
        (
            '{"log": {"entries": [{"request": {}, "response": {}}]}}',
            "capture.har: log.entries[0].request: method and url are required strings",
        ),
    ],
)
def test_invalid_har_says_what_is_wrong_in_one_line(tmp_path, content, message):
    path = tmp_path / "capture.har"
    path.write_text(content)
    with pytest.raises(HarError) as exc:
        load_har(path)
    assert str(exc.value).startswith(str(tmp_path / message.split(":")[0]) + message[11:])
    assert "\n" not in str(exc.value)


def test_tunnels_and_unparsable_requests_get_absolute_urls_and_round_trip():
    from workbench.engine.observe.records import RequestRecord

    tunnel = RequestRecord(
        1, 0.0, "127.0.0.1", "forward", "CONNECT", "secure.test:443", "secure.test", ""
    )
    tunnel.status = 200
    bad = RequestRecord(2, 0.0, "127.0.0.1", "reverse", "-", "-", "", "")
    bad.status = 400
    doc = to_har([tunnel, bad])
    check_har(doc)
    assert [e["request"]["url"] for e in doc["log"]["entries"]] == [
        "https://secure.test:443/",
        "http://invalid.invalid/",
    ]
    back = from_har(json.loads(json.dumps(doc)))
    assert [(r.method, r.url, r.host) for r in back] == [
        ("CONNECT", "secure.test:443", "secure.test"),
        ("-", "-", ""),
    ]


def test_a_replay_keeps_its_link_through_a_har_file():
    from workbench.engine.observe.records import RequestRecord

    first = RequestRecord(7, 0.0, "127.0.0.1", "reverse", "GET", "http://h/a", "h", "/a")
    again = RequestRecord(9, 1.0, "127.0.0.1", "reverse", "GET", "http://h/a", "h", "/a")
    first.status = again.status = 200
    again.replay_of = 7
    back = from_har(json.loads(json.dumps(to_har([first, again]))))
    assert [(r.id, r.replay_of) for r in back] == [(7, None), (9, 7)]
