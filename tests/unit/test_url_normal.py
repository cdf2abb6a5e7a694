"""``~u`` rules match the normalised URL: encoded and dotted spellings cannot slip past them."""

from __future__ import annotations

import pytest
from test_filters import record

from workbench.engine.rules.filters import parse_filter
from workbench.engine.rules.url_normal import normalize, remove_dot_segments


@pytest.mark.parametrize(
    "url,expected",
    [
        ("/admin", "/admin"),
        ("/%61dmin", "/admin"),  # an encoded unreserved character is the character
        ("/%7Euser/%2d", "/~user/-"),
        ("/a%2fb", "/a%2Fb"),  # an encoded reserved one keeps its meaning
        ("/x/../admin", "/admin"),
        ("/x/%2E%2E/admin", "/admin"),
        ("/a/./b/", "/a/b/"),
        ("/a/b/..", "/a/"),
        ("/../..", "/"),
        ("http://h/x/../admin?next=/../y", "http://h/admin?next=/../y"),  # the query as is
        ("http://h", "http://h"),
    ],
)
def test_normalize(url, expected):
    assert normalize(url) == expected


def test_remove_dot_segments_rfc3986_examples():
    # RFC 3986 §5.2.4's own examples.
    assert remove_dot_segments("/a/b/c/./../../g") == "/a/g"
    assert remove_dot_segments("/mid/content=5/../6") == "/mid/6"


@pytest.mark.parametrize("path", ["/%61dmin", "/x/../admin", "/static/%2e%2e/admin/users"])
@pytest.mark.parametrize("expr", ['~u "/admin"', '~u "^/admin"'])
def test_url_rules_see_through_encoded_and_dotted_paths(expr, path):
    rec = record(url=f"http://site.test{path}", host="site.test", path=path)
    assert parse_filter(expr)(rec)
