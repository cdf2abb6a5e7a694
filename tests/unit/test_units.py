"""Durations and sizes as written in config files, and their exact round trip through formatting."""

from __future__ import annotations

import pytest

from workbench.config.units import format_duration, format_size, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("2s", 2.0),
        ("1.5s", 1.5),
        ("1m", 60.0),
        ("1h", 3600.0),
        ("1m30s", 90.0),
        ("1h30m", 5400.0),
        ("0s", 0.0),
        (".5s", 0.5),
        (" 2s ", 2.0),
        ("10", 10.0),
        ("0.25", 0.25),
        (3, 3.0),
        (1.5, 1.5),
        (0, 0.0),
    ],
)
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "2sec",
        "2 s",
        "-1s",
        "1.2.3s",
        "ms",
        "5d",
        "1s2",
        "inf",
        "nan",
        -1,
        float("inf"),
        True,
    ],
)
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)  # type: ignore[arg-type]


def test_parse_duration_message_shows_the_accepted_forms() -> None:
    with pytest.raises(ValueError) as exc:
        parse_duration("2sec")
    assert str(exc.value) == (
        "invalid duration '2sec': use a number with a unit such as 500ms, 2s, 1m, 1h or 1m30s"
    )


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("100B", 100),
        ("512KiB", 512 * 1024),
        ("64MiB", 64 * 1024**2),
        ("1GiB", 1024**3),
        ("1TiB", 1024**4),
        ("10KB", 10_000),
        ("2MB", 2_000_000),
        ("1GB", 10**9),
        ("1.5KiB", 1536),
        ("64mib", 64 * 1024**2),
        ("4 KiB", 4096),
        ("1024", 1024),
        (0, 0),
        (4096, 4096),
        (2048.0, 2048),
    ],
)
def test_parse_size(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("64M", "unknown unit 'M'"),
        ("lots", "invalid size 'lots'"),
        ("-1KiB", "invalid size '-1KiB'"),
        ("1.5", "a bare number must be whole bytes"),
        (1.5, "a bare number must be whole bytes"),
        (-1, "must be ≥ 0"),
        (True, "invalid size True"),
        ("", "invalid size ''"),
    ],
)
def test_parse_size_rejects(text: object, message: str) -> None:
    with pytest.raises(ValueError, match="invalid size") as exc:
        parse_size(text)  # type: ignore[arg-type]
    assert message in str(exc.value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0s"),
        (0.5, "500ms"),
        (0.001, "1ms"),
        (1.0, "1s"),
        (1.5, "1.5s"),
        (2.0, "2s"),
        (30.0, "30s"),
        (60.0, "1m"),
        (90.0, "90s"),
        (120.0, "2m"),
        (3600.0, "1h"),
        (7200.0, "2h"),
        (0.0015, "0.0015s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (100, "100B"),
        (1000, "1KB"),
        (1024, "1KiB"),
        (10_000, "10KB"),
        (65536, "64KiB"),
        (8 * 1024**2, "8MiB"),
        (64 * 1024**2, "64MiB"),
        (1024**3, "1GiB"),
        (1536, "1536B"),
        (1537, "1537B"),
    ],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (100, "100B"),
        (1536, "1.5KiB"),
        (64 * 1024**2, "64MiB"),
        (1_234_567, "1.2MiB"),
        (150 * 1024, "150KiB"),
    ],
)
def test_format_size_for_display(size: int, text: str) -> None:
    assert format_size(size, exact=False) == text


@pytest.mark.parametrize("seconds", [0.1, 0.25, 0.3, 1.1, 2.75, 59.5, 61.0, 86400.0, 12.345678])
def test_format_duration_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("size", [1, 999, 1023, 1025, 1536, 3 * 1024**2 + 1, 5 * 10**9])
def test_format_size_round_trips(size: int) -> None:
    assert parse_size(format_size(size)) == size
