"""Prometheus text rendering: line format, histogram invariants, label escaping."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pytest

from workbench.engine.observe.metrics import BACKEND_STATES, escape_label_value, render_metrics
from workbench.engine.observe.stats import LATENCY_BUCKETS, Stats

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{(.*)\}})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


@dataclass
class Family:
    type: str
    help: str
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)


def parse(text: str) -> dict[str, Family]:
    """A strict little reader for the text format: fails on anything it does not expect."""
    assert text.endswith("\n")
    families: dict[str, Family] = {}
    helps: dict[str, str] = {}
    current: Family | None = None
    current_name = ""
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_ = line[7:].partition(" ")
            assert re.fullmatch(_NAME, name), line
            assert name not in helps, f"HELP twice for {name}"
            helps[name] = help_
            continue
        if line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert kind in {"counter", "gauge", "histogram", "summary", "untyped"}, line
            assert name not in families, f"TYPE twice for {name}"
            assert name in helps, f"TYPE before HELP for {name}"
            current = families[name] = Family(kind, helps[name])
            current_name = name
            continue
        assert not line.startswith("#"), line
        m = _SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, raw_labels, raw_value = m.groups()
        labels: dict[str, str] = {}
        pos = 0
        while raw_labels and pos < len(raw_labels):
            lm = _LABEL.match(raw_labels, pos)
            assert lm, f"bad labels in {line!r}"
            value = re.sub(r'\\[\\"n]', lambda e: _UNESCAPE[e.group()], lm.group(2))
            assert lm.group(1) not in labels
            labels[lm.group(1)] = value
            pos = lm.end()
        # A sample belongs to the family declared just before it (histograms add suffixes).
        assert current is not None, line
        if current.type == "histogram":
            assert name in {
                f"{current_name}_bucket",
                f"{current_name}_sum",
                f"{current_name}_count",
            }
        else:
            assert name == current_name, line
        current.samples.append((name, labels, float(raw_value)))
    assert set(helps) == set(families)
    return families


def check_histogram(family: Family, series_label: str) -> None:
    """Buckets are cumulative, ``le`` ascends, and the +Inf bucket equals ``_count``."""
    by_series: dict[str, list[tuple[str, dict[str, str], float]]] = {}
    for s in family.samples:
        by_series.setdefault(s[1][series_label], []).append(s)
    assert by_series
    for samples in by_series.values():
        buckets = [(float(lab["le"]), v) for n, lab, v in samples if n.endswith("_bucket")]
        les = [le for le, _ in buckets]
        assert les == sorted(les) and les[-1] == math.inf
        values = [v for _, v in buckets]
        assert values == sorted(values), "buckets must be cumulative"
        (count,) = [v for n, _, v in samples if n.endswith("_count")]
        (total,) = [v for n, _, v in samples if n.endswith("_sum")]
        assert values[-1] == count
        assert total >= 0


def value(families: dict[str, Family], name: str, **labels: str) -> float:
    family = families.get(name) or families[re.sub(r"_(bucket|sum|count)$", "", name)]
    found = [v for n, lab, v in family.samples if n == name and lab == labels]
    assert len(found) == 1, (name, labels, family.samples)
    return found[0]


def full_state() -> dict:
    st = Stats(lambda: 100.0)
    for _ in range(8):
        st.observe("reverse", "web-1", 200, 0.004, False, 100)
    st.observe("reverse", "web-2", 503, 0.3, True, 10)
    st.observe("forward", None, None, 2.0, True, 0)
    st.inflight_inc("web-1")
    ps = st.prometheus_state()
    counters = ps["backend_counters"]
    backends = [
        {"pool": "web", "backend": "web-1", "state": "up", "weight": 3, **counters["web-1"]},
        {"pool": "web", "backend": "web-2", "state": "ejected", "weight": 1, **counters["web-2"]},
        {
            "pool": "web",
            "backend": "web-3",
            "state": "disabled",
            "weight": 0,
            "requests": 0,
            "errors": 0,
            "inflight": 0,
        },
    ]
    return {
        "proxies": ps["proxies"],
        "backends": backends,
        "cache": {
            "hits": 5,
            "misses": 2,
            "stale": 1,
            "revalidated": 1,
            "bytes": 2048,
            "entries": 3,
        },
        "rules": {"block-ads": 4, "slow-api": 0},
        "records_dropped": 7,
    }


def test_full_state_parses_and_carries_the_numbers() -> None:
    fam = parse(render_metrics(full_state()))
    assert fam["workbench_requests_total"].type == "counter"
    assert value(fam, "workbench_requests_total", proxy="reverse", status_class="2xx") == 8
    assert value(fam, "workbench_requests_total", proxy="reverse", status_class="5xx") == 1
    assert value(fam, "workbench_requests_total", proxy="forward", status_class="err") == 1
    assert value(fam, "workbench_request_errors_total", proxy="reverse") == 1
    assert value(fam, "workbench_backend_requests_total", pool="web", backend="web-1") == 8
    assert value(fam, "workbench_backend_errors_total", pool="web", backend="web-2") == 1
    assert value(fam, "workbench_backend_inflight", pool="web", backend="web-1") == 1
    assert value(fam, "workbench_backend_weight", pool="web", backend="web-1") == 3
    assert value(fam, "workbench_cache_hits_total") == 5
    assert value(fam, "workbench_cache_misses_total") == 2
    assert value(fam, "workbench_cache_stale_total") == 1
    assert value(fam, "workbench_cache_revalidated_total") == 1
    assert value(fam, "workbench_cache_bytes") == 2048
    assert value(fam, "workbench_cache_entries") == 3
    assert fam["workbench_cache_bytes"].type == "gauge"
    assert value(fam, "workbench_rule_hits_total", rule="block-ads") == 4
    assert value(fam, "workbench_rule_hits_total", rule="slow-api") == 0
    assert value(fam, "workbench_records_dropped_total") == 7


def test_request_duration_histogram_per_proxy() -> None:
    fam = parse(render_metrics(full_state()))
    h = fam["workbench_request_duration_seconds"]
    assert h.type == "histogram"
    check_histogram(h, "proxy")
    name = "workbench_request_duration_seconds"
    assert value(fam, f"{name}_count", proxy="reverse") == 9
    assert value(fam, f"{name}_sum", proxy="reverse") == pytest.approx(8 * 0.004 + 0.3)
    # 8 requests at 4 ms fall in le=0.005, the 300 ms one only from le=0.5 upwards.
    assert value(fam, f"{name}_bucket", proxy="reverse", le="0.005") == 8
    assert value(fam, f"{name}_bucket", proxy="reverse", le="0.25") == 8
    assert value(fam, f"{name}_bucket", proxy="reverse", le="0.5") == 9
    assert value(fam, f"{name}_bucket", proxy="forward", le="+Inf") == 1
    les = [
        lab["le"] for n, lab, _ in h.samples if n.endswith("_bucket") and lab["proxy"] == "forward"
    ]
    assert len(les) == len(LATENCY_BUCKETS)


@pytest.mark.parametrize(
    ("bounds", "counts"),
    [
        ([0.1, 1.0, math.inf], [1, 2, 3]),
        # No +Inf bound given: the renderer adds the required +Inf bucket.
        ([0.1, 1.0], [4, 0]),
        ([math.inf], [0]),
    ],
)
def test_histogram_always_ends_with_inf_equal_to_count(bounds: list, counts: list) -> None:
    state = {"proxies": {"reverse": {"duration": {"bounds": bounds, "counts": counts, "sum": 1}}}}
    fam = parse(render_metrics(state))
    check_histogram(fam["workbench_request_duration_seconds"], "proxy")
    count = value(fam, "workbench_request_duration_seconds_count", proxy="reverse")
    assert count == sum(counts)


def test_histogram_rejects_mismatched_bounds_and_counts() -> None:
    state = {"proxies": {"r": {"duration": {"bounds": [1.0, math.inf], "counts": [1]}}}}
    with pytest.raises(ValueError, match="bounds"):
        render_metrics(state)


def test_backend_up_marks_exactly_the_current_state() -> None:
    fam = parse(render_metrics(full_state()))
    samples = fam["workbench_backend_up"].samples
    for backend, current in [("web-1", "up"), ("web-2", "ejected"), ("web-3", "disabled")]:
        rows = {lab["state"]: v for _, lab, v in samples if lab["backend"] == backend}
        assert set(rows) == set(BACKEND_STATES)
        assert [s for s, v in rows.items() if v == 1] == [current]
        assert sum(rows.values()) == 1


def test_backend_up_keeps_an_unknown_state() -> None:
    state = {"backends": [{"pool": "p", "backend": "b", "state": "warming"}]}
    fam = parse(render_metrics(state))
    rows = {lab["state"]: v for _, lab, v in fam["workbench_backend_up"].samples}
    assert rows["warming"] == 1
    assert len(rows) == len(BACKEND_STATES) + 1


def test_backend_states_match_the_engine() -> None:
    from workbench.engine.balancing.pools import STATES

    assert tuple(STATES) == BACKEND_STATES


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain", "plain"),
        ('say "hi"', 'say \\"hi\\"'),
        ("C:\\tmp", "C:\\\\tmp"),
        ("two\nlines", "two\\nlines"),
        ('\\"\n', '\\\\\\"\\n'),
        ("ünïcode {}=,", "ünïcode {}=,"),
    ],
)
def test_label_escaping(raw: str, escaped: str) -> None:
    assert escape_label_value(raw) == escaped
    text = render_metrics({"rules": {raw: 1}})
    assert f'workbench_rule_hits_total{{rule="{escaped}"}} 1\n' in text
    # And the escaped form reads back as the original name.
    fam = parse(text)
    assert fam["workbench_rule_hits_total"].samples[0][1] == {"rule": raw}


@pytest.mark.parametrize(
    ("state", "absent"),
    [
        ({}, "workbench_"),
        ({"cache": None, "rules": {}}, "workbench_"),
        ({"records_dropped": 0}, "workbench_cache"),
        ({"cache": {"hits": 1}}, "workbench_cache_bytes"),
    ],
)
def test_families_without_samples_are_left_out(state: dict, absent: str) -> None:
    text = render_metrics(state)
    assert absent not in text
    if text:
        parse(text)


def test_records_dropped_zero_is_still_reported() -> None:
    text = render_metrics({"records_dropped": 0})
    assert "workbench_records_dropped_total 0\n" in text
    assert "# TYPE workbench_records_dropped_total counter\n" in text


def test_every_family_has_help_and_type_once() -> None:
    text = render_metrics(full_state())
    names = re.findall(r"^# TYPE (\S+) ", text, flags=re.M)
    assert len(names) == len(set(names))
    assert set(names) == set(re.findall(r"^# HELP (\S+) ", text, flags=re.M))
    assert {
        "workbench_requests_total",
        "workbench_request_errors_total",
        "workbench_request_duration_seconds",
        "workbench_backend_requests_total",
        "workbench_backend_errors_total",
        "workbench_backend_inflight",
        "workbench_backend_up",
        "workbench_backend_weight",
        "workbench_cache_hits_total",
        "workbench_cache_misses_total",
        "workbench_cache_stale_total",
        "workbench_cache_revalidated_total",
        "workbench_cache_bytes",
        "workbench_cache_entries",
        "workbench_rule_hits_total",
        "workbench_records_dropped_total",
    } == set(names)
