"""Durations and sizes as people write them in config files (``500ms``, ``2s``, ``64MiB``).

Parsing is strict on purpose: a typo such as ``2sec`` or ``64M`` is an error with a hint, never a
silently different number. The formatters produce the shortest exact spelling, so a value written
by :func:`format_duration` / :func:`format_size` parses back to the very same number.
"""

from __future__ import annotations

import math
import re

__all__ = ["format_duration", "format_size", "parse_duration", "parse_size"]

_DURATION_UNITS: dict[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
# One or more number+unit parts ("1m30s"); a lone number is seconds.
_DURATION_PART = re.compile(rf"({_NUMBER})(ms|s|m|h)")
_DURATION_FULL = re.compile(rf"(?:{_NUMBER}(?:ms|s|m|h))+")
_PLAIN_NUMBER = re.compile(_NUMBER)
_DURATION_HINT = "use a number with a unit such as 500ms, 2s, 1m, 1h or 1m30s"

_SIZE_UNITS: dict[str, int] = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(rf"({_NUMBER})\s*([A-Za-z]*)")
_SIZE_HINT = "use a whole number of bytes or a unit such as 100B, 512KiB, 64MiB, 1GiB or 10KB"


def _is_number(value: object) -> bool:
    # bool is an int subclass; `cache: true` must never read as a size of 1 byte.
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_duration(value: str | int | float) -> float:
    """Seconds from ``500ms``, ``2s``, ``1.5s``, ``1m``, ``1h``, ``1m30s`` or a bare number.

    Raises ValueError for anything else, including negative or non-finite values.
    """
    if _is_number(value):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if _PLAIN_NUMBER.fullmatch(text):
            seconds = float(text)
        elif _DURATION_FULL.fullmatch(text):
            parts = _DURATION_PART.findall(text)
            # Divide for milliseconds: 500/1000 is exact where 500*0.001 is not.
            seconds = sum(
                float(num) / 1000 if unit == "ms" else float(num) * _DURATION_UNITS[unit]
                for num, unit in parts
            )
        else:
            raise ValueError(f"invalid duration {value!r}: {_DURATION_HINT}")
    else:
        raise ValueError(f"invalid duration {value!r}: {_DURATION_HINT}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"invalid duration {value!r}: must be a finite number ≥ 0")
    return seconds


def parse_size(value: str | int) -> int:
    """Bytes from ``100B``, ``10KB`` (10000), ``512KiB``, ``64MiB``, ``1GiB`` or a bare integer.

    Decimal units (KB, MB, GB, TB) are powers of 1000, binary ones (KiB, MiB, GiB, TiB) powers of
    1024; unit case is ignored. Fractions (``1.5MiB``) round to whole bytes. Raises ValueError.
    """
    if _is_number(value):
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"invalid size {value!r}: a bare number must be whole bytes")
        size = int(value)
    elif isinstance(value, str):
        m = _SIZE.fullmatch(value.strip())
        if m is None:
            raise ValueError(f"invalid size {value!r}: {_SIZE_HINT}")
        number, unit = m.groups()
        if not unit:
            if not number.isdigit():
                raise ValueError(f"invalid size {value!r}: a bare number must be whole bytes")
            size = int(number)
        else:
            factor = _SIZE_UNITS.get(unit.lower())
            if factor is None:
                raise ValueError(f"invalid size {value!r}: unknown unit {unit!r}; {_SIZE_HINT}")
            size = round(float(number) * factor)
    else:
        raise ValueError(f"invalid size {value!r}: {_SIZE_HINT}")
    if size < 0:
        raise ValueError(f"invalid size {value!r}: must be ≥ 0")
    return size


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of ``seconds``: ``1h``, ``2m``, ``90s``, ``500ms``, ``1.5s``."""
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds == 0:
        return "0s"
    for unit, factor in (("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        count = seconds / factor
        if count >= 1 and count.is_integer():
            text = f"{int(count)}{unit}"
            if parse_duration(text) == seconds:
                return text
    if seconds < 1:
        ms = seconds * 1000
        if ms.is_integer():
            text = f"{int(ms)}ms"
            if parse_duration(text) == seconds:
                return text
    # repr() is the shortest string that reads back as the same float.
    return f"{seconds!r}s"


def format_size(n: int, *, exact: bool = True) -> str:
    """Bytes as ``64MiB``, ``10KB`` or ``100B``.

    With ``exact`` (the default, used when writing config files) the result parses back to ``n``;
    otherwise it is rounded for display (``1.2MiB``).
    """
    if n < 0:
        return "-" + format_size(-n, exact=exact)
    if exact:
        for unit in ("TiB", "GiB", "MiB", "KiB", "TB", "GB", "MB", "KB"):
            factor = _SIZE_UNITS[unit.lower()]
            if n >= factor and n % factor == 0:
                return f"{n // factor}{unit}"
        return f"{n}B"
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        factor = _SIZE_UNITS[unit.lower()]
        if n >= factor:
            value = n / factor
            text = f"{value:.0f}" if value >= 100 else f"{value:.1f}".removesuffix(".0")
            return text + unit
    return f"{n}B"
