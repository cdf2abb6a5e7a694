"""Control calls answer wrong JSON types with a Result naming the field, never an exception."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from workbench.demo.faults import FaultInjector
from workbench.engine.control import Control


def control_with_demo() -> Control:
    demo = SimpleNamespace(faults=FaultInjector({}), backends={}, traffic=None)
    return Control(SimpleNamespace(demo=demo))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("backend", "kind", "field"),
    [([], "kill", "backend"), ({"a": 1}, "latency", "backend"), ("web-1", {}, "kind")],
)
def test_fault_with_unhashable_input_is_a_field_error(backend, kind, field) -> None:
    res = control_with_demo().fault(backend, kind, 1)
    assert not res.ok and res.field == field and res.value == 400


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 5, "when": "~all", "action": "block"}, "name"),
        ({"name": "x", "when": ["~all"], "action": "block"}, "when"),
        ({"name": "x", "when": "~all", "action": "block", "status": "403"}, "status"),
        ({"name": "x", "when": "~all", "action": "block", "status": True}, "status"),
        ({"name": "x", "when": "~all", "action": "block", "enabled": 1}, "enabled"),
        ({"name": "x", "when": None, "action": "block"}, "when"),
    ],
)
def test_rule_fields_with_wrong_json_types(body, field) -> None:
    res = Control(SimpleNamespace(rule_configs=[]))._rule_config(body)  # type: ignore[arg-type]
    assert not res.ok and res.field == field
