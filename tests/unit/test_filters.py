"""The filter-expression language: what each expression matches, and where bad ones fail."""

from __future__ import annotations

import pytest

from workbench.engine.observe.records import RequestRecord
from workbench.engine.rules.filters import (
    FilterSyntaxError,
    begin_evaluation,
    end_evaluation,
    parse_filter,
)
from workbench.engine.rules.ruleset import RuleSet


def record(**kw: object) -> RequestRecord:
    base: dict[str, object] = dict(
        id=1,
        start=0.0,
        client="127.0.0.1",
        proxy="reverse",
        method="GET",
        url="http://localhost/",
        host="localhost",
        path="/",
    )
    base.update(kw)
    return RequestRecord(**base)  # type: ignore[arg-type]


# Three records with little in common, so each expression's match set tells a story.
RECORDS = {
    # A request still waiting for its response.
    "get": record(
        client="10.1.2.3",
        method="GET",
        url="http://www.example.com/api/users?id=7",
        host="www.example.com",
        path="/api/users?id=7",
        request_headers=[
            ("Host", "www.example.com"),
            ("User-Agent", "curl/8.5"),
            ("Accept", "application/json"),
            ("Cookie", "session=abc; admin=1"),
        ],
    ),
    # An answered request, served by a backend, tagged by a rule.
    "post": record(
        client="::1",
        proxy="forward",
        method="POST",
        url="http://shop.test/cart",
        host="shop.test",
        path="/cart",
        request_headers=[("Host", "shop.test"), ("Content-Length", "0")],
        status=404,
        response_headers=[
            ("Content-Type", "text/html; charset=utf-8"),
            ("Server", "nginx"),
            ("X-Cache", "MISS"),
        ],
        content_type="text/html; charset=utf-8",
        backend="web-2",
        cache="miss",
        tags=["json"],
        marked=True,
        trace=[("balancer", "→ web-3", "weighted rr"), ("upstream", "retry", "web-3 refused")],
    ),
    # A failed request: no response headers, a JSON request body.
    "err": record(
        client="192.168.1.20",
        method="GET",
        url="https://api.example.org/v2/items",
        host="api.example.org",
        path="/v2/items",
        request_headers=[("Host", "api.example.org"), ("Content-Type", "application/json")],
        status=502,
        backend="api-1",
        cache="bypass",
        error="connection refused",
    ),
}
ALL = set(RECORDS)

RECORDS["err"].trace = [("tls", "intercepted", "SNI api.example.org, TLSv1.3")]

VALID: list[tuple[str, set[str]]] = [
    # marks, the trace, interception and upgrades (fields other parts may not set)
    ("~marked", {"post"}),
    ("!~marked", {"get", "err"}),
    ("~trace retry", {"post"}),
    ("~trace web-3", {"post"}),
    ("~trace 'upstream retry'", {"post"}),
    ("~intercepted", {"err"}),
    ("~upgrade", set()),
    ("~held", set()),
    # ~d: the domain itself or a subdomain, never a mere string suffix
    ("~d example.com", {"get"}),
    ("~d EXAMPLE.com", {"get"}),
    ("~d www.example.com", {"get"}),
    ("~d ample.com", set()),
    ("~d *.example.com", {"get"}),
    ("~d example.org", {"err"}),
    ("~d test", {"post"}),
    # ~u: a case-insensitive regex search in the full URL
    ("~u /api/", {"get"}),
    ("~u ^https://", {"err"}),
    ("~u USERS", {"get"}),
    ("~u 'id=\\d+$'", {"get"}),
    ("~u /(v1|v2)/items", {"err"}),
    ("(~u /api/(users|groups))", {"get"}),
    ("~u [?&]id=", {"get"}),
    # ~m: the method; the argument's case does not matter
    ("~m GET", {"get", "err"}),
    ("~m post", {"post"}),
    # headers: one "Name: value" line at a time
    ("~h '^server: nginx'", {"post"}),
    ("~h ^server: nginx", set()),  # unquoted: `~h ^server: & ~u nginx`
    ("~h curl", {"get"}),
    ('~hq "^user-agent: curl"', {"get"}),
    ("~hq nginx", set()),
    ("~hs nginx", {"post"}),
    ("~hs ^x-cache:\\s*miss$", {"post"}),
    ("~hq 'admin=1'", {"get"}),
    ('~hq "session=abc; admin"', {"get"}),
    ("~hq 'Cookie: SESSION'", {"get"}),
    ("~hq [A-Z]ookie:", {"get"}),
    ("~hq 'json\\s+cookie'", set()),  # would only match across two header lines
    ("~hq ^host:", ALL),
    ("~hs .", {"post"}),
    # ~c: one status, a class, or an inclusive range
    ("~c 404", {"post"}),
    ("~c 4xx", {"post"}),
    ("~c 5XX", {"err"}),
    ("~c 400-599", {"post", "err"}),
    ("~c 200", set()),
    # ~t: the response's content type, else the request's
    ("~t html", {"post"}),
    ("~t application/json", {"err"}),
    # ~src: client address in a network
    ("~src 10.0.0.0/8", {"get"}),
    ("~src 10.1.2.3", {"get"}),
    ("~src ::1", {"post"}),
    ("~src 192.168.0.0/16", {"err"}),
    ("~src 0.0.0.0/0", {"get", "err"}),
    # the state flags
    ("~q", {"get"}),
    ("~s", {"post", "err"}),
    ("~e", {"err"}),
    ("~cache miss", {"post"}),
    ("~cache BYPASS", {"err"}),
    ("~b web-2", {"post"}),
    ("~b WEB-2", {"post"}),
    ("~b web-*", {"post"}),
    ("~b 'api-?'", {"err"}),
    ("~tag json", {"post"}),
    ("~tag JSON", set()),
    ("~all", ALL),
    ("", ALL),
    ("   ", ALL),
    # operators and precedence: ! over & (or juxtaposition) over |
    ("!~q", {"post", "err"}),
    ("!!~e", {"err"}),
    ("~m GET ~d example.com", {"get"}),
    ("~m GET & ~d example.com", {"get"}),
    ("~m GET | ~c 404", ALL),
    ("~d example.com | ~d example.org & ~e", {"get", "err"}),
    ("(~d example.com | ~d example.org) & ~e", {"err"}),
    ("!(~m GET | ~m POST)", set()),
    ("!~e & !~q", {"post"}),
    ("~m GET !~e", {"get"}),
    ("~s ~m GET ~c 5xx", {"err"}),
    ("~all & ~m POST", {"post"}),
    ("~all | ~m POST", ALL),
    ("((~q))", {"get"}),
    ("~q|~e", {"get", "err"}),
    ("~d example.com|~d shop.test", {"get", "post"}),
    ("(~m POST)(~c 404)", {"post"}),
    ("~b web-2&~s", {"post"}),
    # a bare word or string means ~u
    ("example.com", {"get"}),
    ("'shop.test/cart'", {"post"}),
    ("cart | items", {"post", "err"}),
]


@pytest.mark.parametrize(("expr", "matches"), VALID)
def test_expression_matches_exactly(expr: str, matches: set[str]) -> None:
    f = parse_filter(expr)
    assert f.expression == expr
    assert {name for name, rec in RECORDS.items() if f(rec)} == matches


@pytest.mark.parametrize(("expr", "matches"), VALID)
def test_header_memo_gives_the_same_answers(expr: str, matches: set[str]) -> None:
    # Rule sets share joined header blocks during one evaluation; that must change nothing.
    f = parse_filter(expr)
    got = set()
    for name, rec in RECORDS.items():
        begin_evaluation(rec)
        try:
            if f(rec) and f(rec):
                got.add(name)
        finally:
            end_evaluation()
    assert got == matches


@pytest.mark.parametrize(("expr", "matches"), VALID)
def test_rule_set_matcher_agrees(expr: str, matches: set[str]) -> None:
    # A rule set pastes filter sources into one generated function; it must decide the same.
    from workbench.config.model import RuleConfig

    padding = [RuleConfig(f"p{i}", "~d never.invalid", "block") for i in range(3)]
    rs = RuleSet.compile([*padding, RuleConfig("r", expr, "tag", value="hit")])
    got = {name for name, rec in RECORDS.items() if rs.evaluate("request", rec).tags == ["hit"]}
    assert got == matches


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(FilterSyntaxError, match="nested too deeply"):
        parse_filter("(" * 5000 + "~q" + ")" * 5000)


INVALID: list[tuple[str, int, str]] = [
    ("~d", 3, "expected an argument after ~d"),
    ("~m GET ~d", 10, "expected an argument after ~d"),
    ("~m GET & ~d", 12, "expected an argument after ~d"),
    ("~d ~m GET", 4, "expected an argument after ~d"),
    ("(~u)", 4, "expected an argument after ~u"),
    ("~x foo", 1, "unknown filter ~x (filters: ~d ~u"),
    ("~m GET ~domain x", 8, "unknown filter ~domain (did you mean ~d?)"),
    ("~dexample.com", 1, "did you mean '~d example.com'?"),
    ("~sr 10.0.0.1", 1, "did you mean ~src?"),
    ("~m GET )", 8, "unbalanced ')'"),
    ("~q )", 4, "unbalanced ')'"),
    ("(~m GET", 1, "unbalanced '('"),
    ("~q & (~e | (~s)", 6, "unbalanced '('"),
    ("~u (", 4, "bad regex '('"),
    ("~m GET ~hq '[a-'", 12, "bad regex"),
    # user regexes run on a linear-time engine: features that need backtracking are refused
    ("~hq '(?<=cookie: )session'", 5, "lookbehind (?<=…) not supported"),
    ("~u 'a(?=b)'", 4, "lookahead (?=…) not supported"),
    ("~m GET ~u (a)\\1", 11, "backreferences not supported"),
    ("~t 'a++'", 4, "possessive repeats not supported"),
    ("~d a &", 7, "expected an expression after '&'"),
    ("& ~d a", 1, "expected an expression"),
    ("~d a | | ~d b", 8, "expected an expression after '|'"),
    ("!", 2, "expected an expression after '!'"),
    ("()", 2, "expected an expression inside '( )'"),
    ("~ a", 1, "expected a filter name after '~'"),
    ("~c abc", 4, "expected a status code like 404, 4xx or 500-599"),
    ("~c 600", 4, "from 100 to 599"),
    ("~c 599-500", 4, "backwards"),
    ("~src 10.0.0.300", 6, "expected an IP address or CIDR block"),
    ("~cache hti", 8, "(did you mean hit?)"),
    ("~u 'abc", 4, "unterminated string"),
    ("~d http://x.test/", 4, "use ~u for URLs"),
]


@pytest.mark.parametrize(("expr", "column", "fragment"), INVALID)
def test_syntax_errors_name_the_column(expr: str, column: int, fragment: str) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(expr)
    err = info.value
    assert err.column == column
    assert fragment in err.message
    assert err.expression == expr
    assert str(err) == f"col {column}: {err.message}"


def test_syntax_error_is_a_value_error_with_a_caret() -> None:
    with pytest.raises(ValueError) as info:
        parse_filter("~m GET ~d")
    assert info.value.caret() == "~m GET ~d\n         ^"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("expr", "argument_url"),
    [
        # Quotes let an argument hold spaces and quote characters; other escapes reach the regex.
        ("~u 'a b'", "http://x/a b"),
        ('~u "say \\"hi\\""', 'http://x/say "hi"'),
        ("~u 'it\\'s'", "http://x/it's"),
        ("~u '\\.json$'", "http://x/data.json"),
        ("~u \\.json$", "http://x/data.json"),
    ],
)
def test_quoted_and_escaped_arguments(expr: str, argument_url: str) -> None:
    assert parse_filter(expr)(record(url=argument_url))
    assert not parse_filter(expr)(record(url="http://x/other"))


def test_domain_is_case_insensitive_because_records_carry_lower_case_hosts() -> None:
    from workbench.engine.http.authority import host_of, split_authority

    assert parse_filter("~d example.com")(record(host=host_of("WWW.Example.COM:8080")))
    host, _port = split_authority("WWW.Example.COM:443", 443)
    assert parse_filter("~d example.com")(record(host=host))


def test_src_understands_ipv4_mapped_clients_and_ignores_garbage() -> None:
    f = parse_filter("~src 10.0.0.0/8")
    assert f(record(client="::ffff:10.9.8.7"))
    assert not f(record(client="not an address"))
    assert not f(record(client="::1"))


def test_content_type_falls_back_to_response_headers() -> None:
    rec = record(status=200, response_headers=[("content-type", "image/png")])
    assert parse_filter("~t ^image/")(rec)


def test_header_filters_see_later_edits_of_the_same_list() -> None:
    # Outside a rule-set evaluation nothing is cached: an in-place edit is seen at once.
    f = parse_filter("~hq ^x-debug:")
    rec = record(request_headers=[("Accept", "*/*")])
    assert not f(rec)
    rec.request_headers.append(("X-Debug", "1"))
    assert f(rec)


@pytest.mark.parametrize(
    ("expr", "description"),
    [
        ("", "everything"),
        ("~m get", "method is GET"),
        ("~m GET ~d Example.com", "method is GET and host is example.com (or a subdomain)"),
        ("~c 4xx | ~e", "status is 4xx or failed with an error"),
        ("(~q | ~e) & ~m PUT", "(no response yet or failed with an error) and method is PUT"),
        ("!~src 10.0.0.0/8", "not (client is in 10.0.0.0/8)"),
        ("~all & ~tag x", "tagged x"),
        ("cart", 'URL matches "cart"'),
    ],
)
def test_describe_reads_like_a_sentence(expr: str, description: str) -> None:
    assert parse_filter(expr).describe() == description


@pytest.mark.parametrize(
    ("expr", "key"),
    [
        ("~d Example.com", ("d", "example.com")),
        ("  ~m get ", ("m", "GET")),
        ("(~d a.test)", ("d", "a.test")),
        ("!~d a.test", None),
        ("~d a.test & ~m GET", None),
        ("~d a.test | ~d b.test", None),
        ("~all ~d a.test", None),
        ("~u a.test", None),
    ],
)
def test_only_a_lone_domain_or_method_filter_is_indexable(
    expr: str, key: tuple[str, str] | None
) -> None:
    assert parse_filter(expr).key == key


def test_matches_everything_flag() -> None:
    assert parse_filter("").matches_everything
    assert parse_filter("~all").matches_everything
    assert not parse_filter("~q").matches_everything


def test_url_regex_anchors_on_the_path_too():
    """DESIGN's example ``~u ^/api/slow`` must fire for a request to /api/slow."""
    from workbench.engine.observe.records import RequestRecord

    rec = RequestRecord(
        1,
        0.0,
        "127.0.0.1",
        "reverse",
        "GET",
        "http://h.test/api/slow?x=1",
        "h.test",
        "/api/slow?x=1",
    )
    assert parse_filter("~u ^/api/slow")(rec)
    assert parse_filter("~u ^http://h\\.test/api")(rec)
    assert not parse_filter("~u ^/other")(rec)


def test_upgrade_matches_records_that_carry_an_upgrade():
    rec = record()
    if not hasattr(rec, "upgrade"):
        pytest.skip("records do not carry upgrades in this build")
    rec.upgrade = "websocket"  # type: ignore[attr-defined]
    assert parse_filter("~upgrade")(rec)
