"""User regexes run in linear time: RE2, or Python's re only where it provably cannot backtrack."""

from __future__ import annotations

import time

import pytest

from workbench.config.model import RuleConfig
from workbench.engine.observe.records import RequestRecord
from workbench.engine.rules.filters import parse_filter
from workbench.engine.rules.regex import UnsafeRegexError, compile_regex
from workbench.engine.rules.rule import RuleError
from workbench.engine.rules.ruleset import NO_VERDICT, RuleSet


def rec(path: str) -> RequestRecord:
    return RequestRecord(
        id=1,
        start=0.0,
        client="127.0.0.1",
        proxy="reverse",
        method="GET",
        url=f"http://x.test{path}",
        host="x.test",
        path=path,
        request_headers=[("Host", "x.test"), ("User-Agent", "a" * 30 + "!")],
    )


@pytest.mark.parametrize(
    ("pattern", "engine"),
    [
        # no unbounded repeat, few alternatives: re is linear
        (r"\.php$", "re"),
        (r"/(v1|v2)/internal/", "re"),
        (r"[?&]utm_source=", "re"),
        (r"\d{3}-\d{4}", "re"),
        # one unbounded single-character repeat whose runs cannot overlap
        (r"^https?://[^/]+/wp-admin", "re"),
        ("\n(?:cookie: .*admin=1)", "re"),
        ("\n(?:authorization:\\s*basic)", "re"),
        # backtracking blow-ups: nested, several or unanchored overlapping repeats
        (r"(a+)+$", "re2"),
        (r"(a|aa)*c", "re2"),
        (r"a*b", "re2"),
        (r".*x.*y", "re2"),
        (r"user-agent: .*(bot|crawler)", "re2"),
        (r"(?:ab)+c", "re2"),
        (r"(a?){30}a{30}", "re2"),
        # RE2-only spellings run on RE2
        (r"foo\z", "re2"),
    ],
)
def test_engine_choice(pattern: str, engine: str) -> None:
    assert compile_regex(pattern).engine == engine


@pytest.mark.parametrize(
    ("pattern", "text", "found"),
    [
        (r"(a+)+$", "aaaa", True),
        (r"(a+)+$", "a" * 5000 + "!", False),
        (r"A*B", "xaab", True),  # case-insensitive by default
        (r"foo\Z", "a foo", True),  # Python's \Z spelling works on RE2 too
        (r"é+", "café", True),
        (r"^x", "y\nx", False),
    ],
)
def test_answers(pattern: str, text: str, found: bool) -> None:
    rx = compile_regex(pattern)
    assert (rx.search(text) is not None) is found
    assert (rx.matched(text) is not None) is found


def test_multiline_and_case_sensitive() -> None:
    rx = compile_regex(r"^b+x", ignorecase=False, multiline=True)
    assert rx.matched("a\nbbx") == "bbx"
    assert rx.search("a\nBBX") is None


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("a(?=b)", "lookahead"),
        ("(?<!a)b", "negative lookbehind"),
        (r"(a)\1", "backreferences"),
        ("(?P<x>a)(?P=x)", "backreferences"),
        ("a*+", "possessive"),
        ("(?>a)", "atomic groups"),
        ("[a-", "unterminated character set"),
    ],
)
def test_refused_patterns_say_why(pattern: str, fragment: str) -> None:
    with pytest.raises(UnsafeRegexError, match=r".") as info:
        compile_regex(pattern)
    assert fragment in str(info.value)


@pytest.mark.parametrize("when", ["~u (a+)+$", "~hq '(a+)+$'", "~t '(x+x+)+y'", "~h (a|aa)+$"])
def test_catastrophic_patterns_stay_linear(when: str) -> None:
    # With a backtracking engine each extra "a" doubles the time: 28 of them took minutes.
    rules = RuleSet.compile([RuleConfig(name="evil", when=when, action="block")])
    r = rec("/" + "a" * 28 + "!")
    r.content_type = "x" * 28
    t0 = time.perf_counter()
    assert rules.evaluate("request", r) is NO_VERDICT
    assert time.perf_counter() - t0 < 0.5


def test_rule_error_names_the_field_and_column() -> None:
    with pytest.raises(RuleError) as info:
        RuleSet.compile([RuleConfig(name="peek", when="~m GET ~u 'a(?!b)'", action="block")])
    assert info.value.field == "when" and info.value.column == 11
    assert "not supported" in str(info.value)


def test_display_filter_uses_the_same_engine() -> None:
    f = parse_filter("~u (a+)+$")
    assert f(rec("/aaaa"))
    assert not f(rec("/" + "a" * 40 + "!"))
