"""`workbench view FILE.har` on hand-edited or foreign files: every field of an entry replaced by a
value of the wrong type either loads (the odd value ignored) or is one HarError line naming the
entry, never a traceback; what loads can be exported and shown through the API again."""

from __future__ import annotations

import json
from typing import Any

import pytest
from harcheck import check_har

from workbench.engine.observe.har import HarError, load_har, to_har
from workbench.engine.observe.records import RequestRecord

ODD = [None, 5, -1, 10**30, 1.5, True, "x", "", [], [[1, 2, 3]], {}, {"a": 1}]


def _full_entry() -> dict[str, Any]:
    rec = RequestRecord(
        3, 1.0, "127.0.0.1", "forward", "POST", "https://h.test/a?b=1", "h.test", "/a?b=1"
    )
    rec.request_headers = [("Content-Type", "application/json")]
    rec.response_headers = [("Content-Type", "text/plain"), ("Content-Encoding", "identity")]
    rec.upstream_headers = [("Via", "1.1 wb")]
    rec.backend_response_headers = [("Server", "x")]
    rec.status = 201
    rec.body_cap = 1 << 20
    rec.keep_request(b'{"n": 1}')
    rec.keep_response(b"\x00\x01binary")
    rec.sni, rec.backend, rec.rule, rec.tags, rec.marked = "h.test", "h.test:443", "r", ["t"], True
    rec.trace = [("tls", "intercepted", "SNI h.test")]
    rec.replay_of = 2
    return json.loads(json.dumps(to_har([rec])))["log"]["entries"][0]


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list) and obj:
        out += _paths(obj[0], (*prefix, 0))
    return out


def _replaced(entry: Any, path: tuple, value: Any) -> Any:
    doc = json.loads(json.dumps(entry))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


ENTRY = _full_entry()
PATHS = _paths(ENTRY)


def test_the_base_entry_is_a_full_one():
    assert ("_workbench", "trace", 0) in PATHS and ("request", "postData", "text") in PATHS
    assert len(PATHS) > 60


@pytest.mark.parametrize("path", PATHS, ids=lambda p: ".".join(map(str, p)))
def test_a_field_of_the_wrong_type_is_ignored_or_one_line(tmp_path, path):
    file = tmp_path / "odd.har"
    for value in ODD:
        file.write_text(json.dumps({"log": {"entries": [_replaced(ENTRY, path, value)]}}))
        try:
            records = load_har(file)
        except HarError as exc:
            message = str(exc)
            assert message.startswith(f"{file}: log.entries[0]") and "\n" not in message
            continue
        (rec,) = records
        json.dumps(rec.to_dict())
        check_har(json.loads(json.dumps(to_har(records))))


def test_json_nested_too_deeply_is_one_line(tmp_path):
    file = tmp_path / "deep.har"
    file.write_text('{"log": {"entries": ' + "[" * 100_000 + "]" * 100_000 + "}}")
    with pytest.raises(HarError) as exc:
        load_har(file)
    assert str(exc.value) == f"{file}: not a HAR file: JSON nested too deeply"


def test_something_that_is_not_a_file_is_not_read(tmp_path):
    for path in ("/dev/zero", str(tmp_path)):
        with pytest.raises(HarError) as exc:
            load_har(path)
        assert str(exc.value) in (
            f"{path}: not a regular file",
            f"{path}: cannot read: Is a directory",
        )
