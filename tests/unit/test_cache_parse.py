"""Parsing for the cache: HTTP-dates, Age, Vary'd values and targeted fields (RFC tables)."""

from __future__ import annotations

import pytest

from workbench.engine.cache import (
    MAX_DELTA,
    normalize_vary_value,
    parse_age,
    parse_cache_control,
    parse_http_date,
    parse_targeted,
    select_cache_control,
)

RFC_DATE = 784111777.0
"""RFC 9110 §5.6.7's example instant: Sunday, 6 November 1994, 08:49:37 GMT."""


# -- HTTP-date (RFC 9110 §5.6.7), invalid → None --------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # The RFC's own three spellings of one instant.
        ("Sun, 06 Nov 1994 08:49:37 GMT", RFC_DATE),
        ("Sunday, 06-Nov-94 08:49:37 GMT", RFC_DATE),
        ("Sun Nov  6 08:49:37 1994", RFC_DATE),
        # Caches match case-insensitively (RFC 9111 §4.2); surrounding whitespace is not part.
        ("sun, 06 nov 1994 08:49:37 gmt", RFC_DATE),
        ("  Sun, 06 Nov 1994 08:49:37 GMT ", RFC_DATE),
        ("Sun Nov 16 08:49:37 1994", RFC_DATE + 10 * 86400),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
        ("Sat, 31 Dec 2016 23:59:60 GMT", 1483228799.0),  # leap second → the earlier time
        ("Tue, 29 Feb 2028 12:00:00 GMT", 1835438400.0),
        # Two-digit years more than 50 years ahead belong to the previous century.
        ("Friday, 01-Jan-99 00:00:00 GMT", 915148800.0),
        ("Sunday, 06-Nov-44 08:49:37 GMT", 2362034977.0),  # 2044: not 50 years ahead
        # Invalid: misspelt names, other zones, missing or extra parts, impossible values.
        ("Sun, 06 Nov 1994 08:49:37 UTC", None),
        ("Sun, 06 Nov 1994 08:49:37 +0000", None),
        ("Sun, 06 Nov 1994 08:49:37", None),
        ("Sunn, 06 Nov 1994 08:49:37 GMT", None),
        ("Sun, 06 November 1994 08:49:37 GMT", None),
        ("Sun, 06 Nox 1994 08:49:37 GMT", None),
        ("Sun, 6 Nov 1994 08:49:37 GMT", None),
        ("Sun, 06 Nov 94 08:49:37 GMT", None),
        ("Sun, 06 Nov 1994 08:49:37 GMT garbage", None),
        ("Sun, 06 Nov 1994 8:49:37 GMT", None),
        ("Sun, 06 Nov 1994 24:00:00 GMT", None),
        ("Sun, 06 Nov 1994 08:60:00 GMT", None),
        ("Mon, 30 Feb 2026 08:49:37 GMT", None),
        ("Sun,06 Nov 1994 08:49:37 GMT", None),
        ("Sun, 06-Nov-1994 08:49:37 GMT", None),
        ("Sun, 06-Nov-94 08:49:37 GMT", None),  # RFC 850 needs the full day name
        ("Sunday, 06 Nov 1994 08:49:37 GMT", None),
        ("Sun Nov 6 08:49:37 1994", None),  # asctime pads the day with a space
        ("Sun Nov  6 08:49:37 1994 GMT", None),
        ("0", None),
        ("-1", None),
        ("", None),
        ("1994-11-06T08:49:37Z", None),
    ],
)
def test_parse_http_date(value: str, expected: float | None) -> None:
    assert parse_http_date(value) == expected


# -- Age (RFC 9111 §5.1, §1.2.2) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 0.0),
        ("0", 0.0),
        ("60", 60.0),
        (" 60 ", 60.0),
        ("7200, 0", 7200.0),  # two caches each appended one: the first is the real age
        ("0, 7200", 0.0),
        ("2147483648", float(MAX_DELTA)),
        ("99999999999999", float(MAX_DELTA)),  # overflow → 2^31 (§1.2.2)
        ("-7200", float(MAX_DELTA)),  # invalid: cannot be trusted to make it younger
        ("7200.0", float(MAX_DELTA)),
        ("abc", float(MAX_DELTA)),
        ("", float(MAX_DELTA)),
    ],
)
def test_parse_age(value: str | None, expected: float) -> None:
    assert parse_age(value) == expected


# -- Vary normalisation (RFC 9111 §4.1) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "a", "b", "same"),
    [
        ("accept-encoding", "gzip, br", "br,gzip", True),
        ("accept-encoding", "gzip,  deflate", "GZIP, Deflate", True),
        ("accept-encoding", "gzip;q=1.0, br", "br, gzip", True),
        ("accept-encoding", "gzip;q=0.5", "gzip; q=0.500", True),
        ("accept-encoding", "gzip;q=0.5", "gzip", False),
        ("accept-encoding", "gzip", "br", False),
        ("accept-language", "en-US, fr;q=0.8", "fr; q=0.8,en-us", True),
        ("accept-language", "en", "fr", False),
        ("accept", "text/html, application/json", "application/json,text/html", True),
        ("accept", "Text/HTML;level=1", "text/html; level=1", True),
        ("accept", "text/html", "text/plain", False),
        # Other fields keep case and order; only whitespace around commas goes.
        ("x-flavour", "a,b", "a, b", True),
        ("x-flavour", "a, b", "b, a", False),
        ("x-flavour", "A", "a", False),
    ],
)
def test_vary_normalisation(name: str, a: str, b: str, same: bool) -> None:
    assert (normalize_vary_value(name, a) == normalize_vary_value(name, b)) is same


def test_vary_normalisation_keeps_absent_distinct_from_empty() -> None:
    assert normalize_vary_value("accept-encoding", None) is None
    assert normalize_vary_value("accept-encoding", "") == ""


# -- targeted cache-control fields (RFC 9213) ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max-age=60", "max-age=60"),
        ("max-age=600, stale-while-revalidate=30", "max-age=600, stale-while-revalidate=30"),
        ("no-store", "no-store"),
        ("private", "private"),
        ('no-cache="set-cookie"', 'no-cache="set-cookie"'),
        ("no-store=?0, max-age=5", "max-age=5"),
        ("no-store=?1", "no-store"),
        ("max-age=5;foo=bar", "max-age=5"),  # parameters are ignored
        ("max-age=5, max-age=10", "max-age=10"),  # a later duplicate overrides (RFC 8941)
        ("x-ext=(a b), max-age=5", "max-age=5"),
        # Wrong value types: the directive is ignored, not the field.
        ('max-age="60", no-store', "no-store"),
        ("max-age=1.5, public", "public"),
        ("max-age=-1", ""),
        ("no-store=3", ""),
        # Not a valid Dictionary (RFC 8941): the whole field is ignored.
        ("Max-Age=60", None),
        ("max-age=60,", None),
        ("max-age=60 no-store", None),
        ("max-age=", None),
        ("", None),
        ("   ", None),
    ],
)
def test_parse_targeted(value: str, expected: str | None) -> None:
    assert parse_targeted(value) == expected


T = ("cdn-cache-control",)


@pytest.mark.parametrize(
    ("headers", "targeted", "expected", "field"),
    [
        # RFC 9213 §3: the CDN uses its own field, the browser still sees Cache-Control.
        (
            [("Cache-Control", "max-age=300"), ("CDN-Cache-Control", "max-age=600")],
            T,
            "max-age=600",
            "cdn-cache-control",
        ),
        (
            [("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=60")],
            T,
            "max-age=60",
            "cdn-cache-control",
        ),
        (
            [("Cache-Control", "max-age=60"), ("CDN-Cache-Control", "no-store")],
            T,
            "no-store",
            "cdn-cache-control",
        ),
        # Forward mode (no target list): targeted fields mean nothing here.
        (
            [("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=60")],
            (),
            "no-store",
            None,
        ),
        # Invalid or empty targeted field → fall back to Cache-Control.
        ([("Cache-Control", "max-age=5"), ("CDN-Cache-Control", "max-age=")], T, "max-age=5", None),
        ([("Cache-Control", "max-age=5"), ("CDN-Cache-Control", "")], T, "max-age=5", None),
        ([("Cache-Control", "max-age=5")], T, "max-age=5", None),
        ([], T, None, None),
        # The first field in target-list order wins, whatever the header order.
        (
            [("CDN-Cache-Control", "max-age=1"), ("Acme-CDN-Cache-Control", "max-age=2")],
            ("acme-cdn-cache-control", "cdn-cache-control"),
            "max-age=2",
            "acme-cdn-cache-control",
        ),
        # Field lines of one name combine before parsing.
        (
            [("CDN-Cache-Control", "max-age=1"), ("CDN-Cache-Control", "no-store")],
            T,
            "max-age=1, no-store",
            "cdn-cache-control",
        ),
    ],
)
def test_select_cache_control(headers, targeted, expected, field) -> None:
    assert select_cache_control(headers, targeted) == (expected, field)


def test_targeted_text_parses_like_cache_control() -> None:
    cc = parse_cache_control(parse_targeted('s-maxage=60, private="x-user", must-revalidate'))
    assert cc.s_maxage == 60 and cc.private_fields == ("x-user",) and cc.must_revalidate
