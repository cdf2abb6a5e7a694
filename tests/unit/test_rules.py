"""Rule sets: order, final actions, accumulation, phases, hits, traces, errors and edits."""

from __future__ import annotations

import random

import pytest

from workbench.config.model import RuleConfig
from workbench.engine.observe.records import RequestRecord
from workbench.engine.rules.dryrun import dry_run
from workbench.engine.rules.edits import (
    add_rule,
    delete_rule,
    move_rule,
    replace_rule,
    set_enabled,
)
from workbench.engine.rules.rule import RuleError
from workbench.engine.rules.ruleset import NO_VERDICT, RuleSet, block_page


def rc(name: str, when: str, action: str, **kw: object) -> RuleConfig:
    return RuleConfig(name=name, when=when, action=action, **kw)  # type: ignore[arg-type]


def req(host: str = "www.example.test", path: str = "/", method: str = "GET", **kw: object):
    return RequestRecord(
        id=1,
        start=0.0,
        client="127.0.0.1",
        proxy="reverse",
        method=method,
        url=f"http://{host}{path}",
        host=host,
        path=path,
        **kw,  # type: ignore[arg-type]
    )


def names(configs: list[RuleConfig]) -> list[str]:
    return [c.name for c in configs]


# -- evaluation -----------------------------------------------------------------------------------
def test_first_final_rule_wins_and_later_rules_are_not_tested() -> None:
    rs = RuleSet.compile(
        [
            rc("tag-all", "~all", "tag", value="seen"),
            rc("block-ads", "~d ads.test", "block"),
            rc("redirect-ads", "~d ads.test", "redirect", location="http://elsewhere.test/"),
        ]
    )
    rec = req("cdn.ads.test")
    v = rs.evaluate("request", rec)
    assert (v.action, v.rule.config.name, v.status) == ("block", "block-ads", 403)  # type: ignore[union-attr]
    assert v.tags == ["seen"]
    assert [r.hits for r in rs.rules] == [1, 1, 0]
    assert rec.rule == "block-ads"
    assert rec.tags == ["seen"]


@pytest.mark.parametrize(
    ("host", "action", "rule"),
    [
        ("ok.test", "allow", "allow-ok"),
        ("other.test", "block", "block-rest"),
    ],
)
def test_allow_stops_evaluation(host: str, action: str, rule: str) -> None:
    rs = RuleSet.compile([rc("allow-ok", "~d ok.test", "allow"), rc("block-rest", "~all", "block")])
    v = rs.evaluate("request", req(host))
    assert v.action == action
    assert v.rule is not None and v.rule.config.name == rule


def test_redirect_carries_status_and_location() -> None:
    rs = RuleSet.compile(
        [
            rc("moved", "~u /old/", "redirect", location="http://new.test/", status=301),
            rc("default", "~u /older", "redirect", location="/x"),
        ]
    )
    v = rs.evaluate("request", req(path="/old/page"))
    assert (v.action, v.status, v.location) == ("redirect", 301, "http://new.test/")
    assert rs.evaluate("request", req(path="/older")).status == 302


def test_block_status_can_be_chosen() -> None:
    rs = RuleSet.compile([rc("teapot", "~all", "block", status=418)])
    assert rs.evaluate("request", req()).status == 418


def test_non_final_actions_accumulate_in_order() -> None:
    rs = RuleSet.compile(
        [
            rc("h1", "~all", "set_header", header="X-One", value="1"),
            rc("strip", "~all", "remove_header", header="Cookie"),
            rc("slow", "~m GET", "delay", delay=0.25),
            rc("slower", "~u /api", "delay", delay=0.5),
            rc("h2", "~all", "set_header", header="X-Two", value="2"),
            rc("label", "~all", "tag", value="api"),
            rc("never", "~m POST", "tag", value="post"),
        ]
    )
    rec = req(path="/api/x")
    v = rs.evaluate("request", rec)
    assert v.action is None and v.rule is None
    assert v.set_headers == [("X-One", "1"), ("X-Two", "2")]
    assert v.remove_headers == ["Cookie"]
    assert v.delay == pytest.approx(0.75)
    assert v.tags == ["api"]
    assert rec.rule is None
    assert [r.hits for r in rs.rules] == [1, 1, 1, 1, 1, 1, 0]


def test_disabled_rules_are_skipped() -> None:
    rs = RuleSet.compile(
        [rc("off", "~all", "block", enabled=False), rc("on", "~all", "tag", value="t")]
    )
    v = rs.evaluate("request", req())
    assert v.action is None and v.tags == ["t"]
    assert rs.rules[0].hits == 0


def test_phases_are_separate() -> None:
    rs = RuleSet.compile(
        [
            rc("resp-block", "~all", "block", phase="response"),
            rc("req-tag", "~all", "tag", value="req"),
            rc("resp-header", "~c 200", "set_header", phase="response", header="X-A", value="b"),
        ]
    )
    rec = req()
    assert rs.evaluate("request", rec).action is None
    rec.status = 200
    v = rs.evaluate("response", rec)
    assert v.action == "block" and v.set_headers == []
    assert [r.hits for r in rs.rules] == [1, 1, 0]


def test_a_phase_without_enabled_rules_costs_nothing_and_writes_no_trace() -> None:
    rs = RuleSet.compile([rc("off", "~all", "block", enabled=False)])
    rec = req()
    assert not rs.has_phase("request") and not rs.has_phase("response")
    assert rs.evaluate("request", rec) is NO_VERDICT
    assert rec.trace == []


def test_no_match_returns_the_shared_verdict_and_a_pass_step() -> None:
    rs = RuleSet.compile([rc("a", "~d a.test", "block"), rc("b", "~m POST", "block")])
    rec = req()
    assert rs.evaluate("request", rec) is NO_VERDICT
    assert rec.trace == [("rules", "pass", "tested 2 rules, none matched")]
    rec.status = 200
    rs2 = RuleSet.compile([rc("c", "~c 500", "tag", value="x", phase="response")])
    assert rs2.evaluate("response", rec) is NO_VERDICT
    assert rec.trace[-1] == ("rules", "pass", "tested 1 response rule, none matched")


def test_trace_names_the_deciding_rule_and_what_the_others_did() -> None:
    rs = RuleSet.compile(
        [
            rc("off", "~all", "block", enabled=False),
            rc("tag-json", "~all", "set_header", header="X-Workbench-Tag", value="json"),
            rc("slow", "~all", "delay", delay=0.5),
            rc("skip", "~m POST", "block"),
            rc("block-ads", "~d ads.test", "block"),
            rc("later", "~all", "block"),
        ]
    )
    rec = req("ads.test")
    rs.evaluate("request", rec)
    assert rec.trace == [
        ("rules", "apply", "tag-json: X-Workbench-Tag: json; slow: delay 500ms"),
        ("rules", "block", "rule block-ads matched (~d ads.test); tested 4 of 5"),
    ]
    rec2 = req("x.test")
    RuleSet.compile([rc("tag-json", "~all", "set_header", header="X-T", value="json")]).evaluate(
        "request", rec2
    )
    assert rec2.trace == [("rules", "set_header", "tag-json: X-T: json")]


def test_tags_extend_the_record_without_duplicates() -> None:
    rs = RuleSet.compile([rc("a", "~all", "tag", value="x"), rc("b", "~all", "tag", value="y")])
    rec = req(tags=["x"])
    rs.evaluate("request", rec)
    assert rec.tags == ["x", "y"]


def test_indexed_domain_and_method_rules_match_like_their_filters() -> None:
    # Lone ~d / ~m rules are looked up in a dict; the outcome must equal testing each rule.
    domains = ["ads.test", "example.com", "a.b.example.com", "test", "localhost"]
    configs = [rc(f"d{i}", f"~d {d}", "tag", value=f"d{i}") for i, d in enumerate(domains)]
    configs += [
        rc("put", "~m PUT", "tag", value="put"),
        rc("mix", "~u /x & ~d example.com", "tag", value="mix"),
    ]
    rs = RuleSet.compile(configs)
    rng = random.Random(7)
    parts = ["ads", "test", "example", "com", "a", "b", "www", "localhost", "Example"]
    for _ in range(300):
        host = ".".join(rng.choice(parts) for _ in range(rng.randint(1, 4)))
        rec = req(host, path=rng.choice(["/", "/x"]), method=rng.choice(["GET", "PUT"]))
        expected = [r.config.value for r in rs.rules if r.filter(rec)]
        assert rs.evaluate("request", rec).tags == expected, host


def test_header_rules_see_edits_between_evaluations() -> None:
    rs = RuleSet.compile(
        [
            rc("dbg", "~hq ^x-debug:", "block"),
            rc("ua", "~hq '^user-agent: .*bot'", "tag", value="bot"),
        ]
    )
    rec = req(request_headers=[("User-Agent", "curl")])
    assert rs.evaluate("request", rec) is NO_VERDICT
    rec.request_headers.append(("X-Debug", "1"))
    assert rs.evaluate("request", rec).action == "block"


def test_remembered_outcomes_match_testing_every_rule_and_hits_stay_exact() -> None:
    # Filters of plain fields (host, path, method...) have their outcome remembered per value;
    # repeated and varied requests must give what testing each rule gives, and count each hit.
    from workbench.engine.rules import ruleset as mod

    configs = [
        rc(f"r{i}", f"~d blocked{i}.test | ~u ^/never{i}/", "tag", value=f"r{i}") for i in range(6)
    ]
    configs.append(rc("st", "~m POST & ~u /x", "tag", value="st"))
    rs = RuleSet.compile(configs)
    rng = random.Random(3)
    expected_hits = {c.name: 0 for c in configs}
    for _ in range(3 * mod.REMEMBER):
        host = rng.choice(["www.test", "blocked1.test", "a.blocked4.test", "blocked9.test"])
        path = rng.choice(["/", "/never2/a", "/x", "/never5/", f"/u{rng.randint(0, 2000)}"])
        rec = req(host, path=path, method=rng.choice(["GET", "POST"]))
        expected = [r.config.value for r in rs.rules if r.filter(rec)]
        for r in rs.rules:
            expected_hits[r.config.name] += bool(r.filter(rec))
        assert rs.evaluate("request", rec).tags == expected, (host, path)
    assert {r.config.name: r.hits for r in rs.rules} == expected_hits
    # Bounded: the remembered outcomes never pass REMEMBER, and long URLs are not kept.
    first = rs._phases["request"].first_full
    answers = next(c.cell_contents for c in first.__closure__ if isinstance(c.cell_contents, dict))
    assert 0 < len(answers) <= mod.REMEMBER
    answers.clear()
    rs.evaluate("request", req(path="/" + "a" * (mod.REMEMBER_URL + 1)))
    assert answers == {}


def test_rules_reading_more_than_plain_fields_are_tested_every_time() -> None:
    rs = RuleSet.compile([rc("ua", "~hq '^user-agent: .*bot' & ~u /x", "block")])
    assert (
        rs.evaluate("request", req(path="/x", request_headers=[("User-Agent", "curl")]))
        is NO_VERDICT
    )
    bot = req(path="/x", request_headers=[("User-Agent", "a-bot")])
    assert rs.evaluate("request", bot).action == "block"


# -- compile errors -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("config", "field", "fragment"),
    [
        (rc("r", "~m GET ~d", "block"), "when", "col 10: expected an argument after ~d"),
        (rc("r", "~q )", "block"), "when", "col 4: unbalanced ')'"),
        (rc("r", "~all", "blok"), "action", "did you mean block?"),
        (rc("r", "~all", "block", phase="later"), "phase", "request, response"),
        (rc("r", "~all", "block", status=99), "status", "from 200 to 599"),
        (rc("r", "~all", "redirect", location="/x", status=200), "status", "300 to 399"),
        (rc("r", "~all", "redirect"), "location", "needs a location"),
        (rc("r", "~all", "set_header", value="v"), "header", "needs a header name"),
        (rc("r", "~all", "set_header", header="X Bad", value="v"), "header", "'X Bad'"),
        (rc("r", "~all", "set_header", header="X-A"), "value", "needs a value"),
        (rc("r", "~all", "set_header", header="X-A", value="a\r\nB: c"), "value", "line breaks"),
        (rc("r", "~all", "remove_header"), "header", "remove_header needs a header name"),
        (rc("r", "~all", "tag", value=" "), "value", "the label"),
        (rc("r", "~all", "delay"), "delay", "from 0 to 600s"),
        (rc("r", "~all", "delay", delay=-1.0), "delay", "got -1.0"),
        (rc("", "~all", "block"), "name", "needs a name"),
    ],
)
def test_compile_errors_name_the_rule_and_field(
    config: RuleConfig, field: str, fragment: str
) -> None:
    configs = [rc("first", "~all", "tag", value="x"), config]
    with pytest.raises(RuleError) as info:
        RuleSet.compile(configs)
    err = info.value
    assert err.field == field
    assert err.index == 1
    assert fragment in str(err)
    if config.name:
        assert str(err).startswith(f"rule rules[1] {config.name!r}: {field}: ")


def test_expression_error_carries_the_column() -> None:
    with pytest.raises(RuleError) as info:
        RuleSet.compile([rc("block-ads", "~m GET ~d", "block")])
    assert info.value.column == 10
    assert str(info.value) == (
        "rule rules[0] 'block-ads': when: col 10: expected an argument after ~d"
    )


def test_a_blank_when_matches_everything_as_in_the_display_filter() -> None:
    rs = RuleSet.compile([rc("all", " ", "tag", value="t")])
    assert rs.evaluate("request", req()).tags == ["t"]


def test_duplicate_names_are_rejected() -> None:
    with pytest.raises(RuleError, match="already named 'a'") as info:
        RuleSet.compile([rc("a", "~all", "allow"), rc("a", "~all", "block")])
    assert (info.value.index, info.value.field) == (1, "name")


# -- hit counters across edits --------------------------------------------------------------------
def test_hits_survive_a_rebuild_for_unchanged_rules_only() -> None:
    configs = [
        rc("same", "~all", "tag", value="s"),
        rc("edited", "~all", "tag", value="e"),
        rc("toggled", "~all", "tag", value="t"),
    ]
    old = RuleSet.compile(configs)
    for _ in range(3):
        old.evaluate("request", req())
    new_configs = [
        configs[0],
        rc("edited", "~m GET", "tag", value="e"),
        rc("toggled", "~all", "tag", value="t", enabled=False),
        rc("new", "~all", "tag", value="n"),
    ]
    new = RuleSet.compile(new_configs, previous=old)
    assert {r.config.name: r.hits for r in new.rules} == {
        "same": 3,
        "edited": 0,
        "toggled": 3,  # switching a rule off is not editing it
        "new": 0,
    }
    # The old set is untouched: requests still in flight on it keep counting there.
    assert [r.hits for r in old.rules] == [3, 3, 3]


# -- control helpers ------------------------------------------------------------------------------
BASE = [rc("a", "~all", "allow"), rc("b", "~all", "block"), rc("c", "~all", "tag", value="c")]


@pytest.mark.parametrize(
    ("index", "order"),
    [(None, ["a", "b", "c", "n"]), (0, ["n", "a", "b", "c"]), (2, ["a", "b", "n", "c"])],
)
def test_add_rule(index: int | None, order: list[str]) -> None:
    out = add_rule(BASE, rc("n", "~q", "block"), index)
    assert names(out) == order
    assert names(BASE) == ["a", "b", "c"]  # the input list is never modified


@pytest.mark.parametrize(
    ("new", "index", "field", "fragment"),
    [
        (rc("b", "~q", "block"), None, "name", "a rule named 'b' already exists"),
        (rc("n", "~q", "block"), 4, "index", "from 0 to 3"),
        (rc("n", "~q (~e", "block"), None, "when", "col 4: unbalanced '('"),
    ],
)
def test_add_rule_rejects(new: RuleConfig, index: int | None, field: str, fragment: str) -> None:
    with pytest.raises(RuleError) as info:
        add_rule(BASE, new, index)
    assert info.value.field == field
    assert fragment in str(info.value)


def test_replace_rule_keeps_the_position_and_may_rename() -> None:
    out = replace_rule(BASE, "b", rc("b2", "~e", "block"))
    assert names(out) == ["a", "b2", "c"]
    with pytest.raises(RuleError, match="already exists"):
        replace_rule(BASE, "b", rc("c", "~e", "block"))
    with pytest.raises(RuleError, match="no rule named 'x'"):
        replace_rule(BASE, "x", rc("x", "~e", "block"))


def test_set_enabled() -> None:
    out = set_enabled(BASE, "b", False)
    assert [c.enabled for c in out] == [True, False, True]
    assert BASE[1].enabled


@pytest.mark.parametrize(
    ("name", "delta", "to", "order"),
    [
        ("c", -1, None, ["a", "c", "b"]),
        ("a", 1, None, ["b", "a", "c"]),
        ("a", -1, None, ["a", "b", "c"]),  # already first: stays
        ("a", 10, None, ["b", "c", "a"]),  # past the end: stops at the end
        ("c", 0, 0, ["c", "a", "b"]),
    ],
)
def test_move_rule(name: str, delta: int, to: int | None, order: list[str]) -> None:
    assert names(move_rule(BASE, name, delta, to=to)) == order


def test_move_rule_rejects_a_missing_position() -> None:
    with pytest.raises(RuleError, match="from 0 to 2") as info:
        move_rule(BASE, "a", to=3)
    assert info.value.field == "index"


def test_delete_rule_and_unknown_names() -> None:
    assert names(delete_rule(BASE, "b")) == ["a", "c"]
    with pytest.raises(RuleError) as info:
        delete_rule(BASE, "bb")
    assert info.value.field == "name"
    assert str(info.value) == "name: no rule named 'bb' (did you mean 'b'?)"


# -- dry run and block page -----------------------------------------------------------------------
def test_dry_run_follows_the_real_semantics_without_counting() -> None:
    rs = RuleSet.compile(
        [
            rc("json", "~hq accept:.*json", "tag", value="json"),
            rc("off", "~all", "block", enabled=False),
            rc("ads", "~d ads.test", "block"),
            rc("after", "~all", "tag", value="x"),
            rc("resp", "~q", "set_header", header="X-A", value="1", phase="response"),
        ]
    )
    assert dry_run(rs, "get", "http://ads.test/banner", {"Accept": "application/json"}) == [
        ("json", True),
        ("off", False),
        ("ads", True),
        ("after", False),
        ("resp", False),  # blocked requests never reach the response phase
    ]
    assert dry_run(rs, "GET", "example.test/") == [
        ("json", False),
        ("off", False),
        ("ads", False),
        ("after", True),
        ("resp", True),
    ]
    assert all(r.hits == 0 for r in rs.rules)


@pytest.mark.parametrize(
    ("url", "fires"),
    [
        ("http://[::1", True),  # half-typed IPv6 literal: urlsplit raises, the tester answers
        ("http://[::1]:8080/x", True),
        ("http://u@[::1/x", True),
        ("http://ADS.test:99999/x", False),
        ("http://ads.test:x/y", False),
    ],
)
def test_dry_run_takes_any_half_typed_url(url: str, fires: bool) -> None:
    rs = RuleSet.compile([rc("v6", "~d ::1", "block"), rc("ads", "~d ads.test", "tag", value="a")])
    results = dict(dry_run(rs, "GET", url))
    assert results["v6"] is fires
    assert results["ads"] is not fires


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"action": "set_header", "header": "X-A", "value": "price €5"}, "value"),
        ({"action": "set_header", "header": "X-A", "value": "a\x1bb"}, "value"),
        ({"action": "redirect", "location": "http://例え.jp/"}, "location"),
        ({"action": "redirect", "location": "/caf\u00e9"}, "location"),
    ],
)
def test_header_text_that_cannot_go_on_the_wire_is_refused(kw: dict, field: str) -> None:
    # Header bytes are sent as Latin-1: these used to fail every request the rule matched.
    with pytest.raises(RuleError) as info:
        RuleSet.compile([rc("r", "~all", **kw)])
    assert info.value.field == field


def test_latin1_header_values_are_fine() -> None:
    RuleSet.compile([rc("r", "~all", "set_header", header="X-A", value="caf\u00e9\tok")])


def test_block_page_names_the_rule_and_escapes_it() -> None:
    rec = req("ads.test", "/x?a=<b>")
    page = block_page("block-<ads>", 403, rec)
    text = page.decode()
    assert text.startswith("<!doctype html>")
    assert "403 Forbidden" in text
    assert "block-&lt;ads&gt;" in text and "<ads>" not in text
    assert "GET http://ads.test/x?a=&lt;b&gt;" in text
    assert "Proxy Workbench" in text
