"""The one authority parser and the RFC 7239 value quoting."""

from __future__ import annotations

import pytest

from workbench.engine.http.authority import host_of, split_absolute, split_authority
from workbench.engine.http.headers import forwarded_value


@pytest.mark.parametrize(
    "authority,default,expected",
    [
        ("example.test", 80, ("example.test", 80)),
        ("Example.TEST:8080", 80, ("example.test", 8080)),
        ("[::1]:8443", 443, ("::1", 8443)),
        ("[::1]", 443, ("::1", 443)),
        ("127.1:80", 80, ("127.1", 80)),
        ("", 80, None),
        (":80", 80, None),
        ("host:0", 80, None),
        ("host:65536", 80, None),
        ("host:8o", 80, None),
        ("[::1", 80, None),
        ("[::1]x", 80, None),
    ],
)
def test_split_authority(authority, default, expected):
    assert split_authority(authority, default) == expected


@pytest.mark.parametrize(
    "value,expected",
    [("WWW.Example.COM:8080", "www.example.com"), ("[::1]:80", "::1"), ("plain", "plain")],
)
def test_host_of(value, expected):
    assert host_of(value) == expected


@pytest.mark.parametrize(
    "target,expected",
    [
        ("http://a.test/x?y", ("http", "a.test", "/x?y")),
        ("HTTP://a.test", ("http", "a.test", "/")),
        ("http://a.test?q=1", ("http", "a.test", "/?q=1")),
        ("http://user:pw@a.test:81/p", ("http", "a.test:81", "/p")),
        ("ws://a.test/chat", ("ws", "a.test", "/chat")),
        ("/origin-form", None),
        ("a.test:443", None),
    ],
)
def test_split_absolute(target, expected):
    assert split_absolute(target) == expected


@pytest.mark.parametrize(
    "value,expected",
    [
        ("site.test", "site.test"),
        ("site.test:8080", '"site.test:8080"'),
        ("x,for=6.6.6.6", '"x,for=6.6.6.6"'),
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("", '""'),
    ],
)
def test_forwarded_value_is_a_token_or_a_quoted_string(value, expected):
    assert forwarded_value(value) == expected
