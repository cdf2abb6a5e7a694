"""Undoing ``Content-Encoding`` for display and export: gzip and deflate (zlib), br (``brotli``)
and zstd (``zstandard``), both dependencies; should either be missing, the body is shown as
received with a note saying what to install. Bodies cut at the capture cap decode as far as
they go.
"""

from __future__ import annotations

import zlib
from typing import Any


def _brotli() -> Any:
    try:
        import brotli  # type: ignore[import-not-found]
    except ImportError:
        try:
            import brotlicffi as brotli  # type: ignore[import-not-found,no-redef]
        except ImportError:
            return None
    return brotli


def _zstd() -> Any:
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        return None
    return zstandard


def available_encodings() -> tuple[str, ...]:
    """Content-codings this installation can undo for display."""
    out = ["gzip", "deflate"]
    if _brotli() is not None:
        out.append("br")
    if _zstd() is not None:
        out.append("zstd")
    return tuple(out)


def _inflate(data: bytes, wbits: int) -> bytes:
    # A decompressobj gives what it can from a body cut at the cap (a whole-body call fails).
    d = zlib.decompressobj(wbits)
    return d.decompress(data) + d.flush()


class _Missing(LookupError):
    """The coding is known but its library is not installed."""


def _undo(coding: str, data: bytes) -> bytes:
    if coding in ("gzip", "x-gzip"):
        return _inflate(data, 16 + zlib.MAX_WBITS)
    if coding == "deflate":
        try:
            return _inflate(data, zlib.MAX_WBITS)
        except zlib.error:
            return _inflate(data, -zlib.MAX_WBITS)  # raw deflate, as some servers send it
    if coding == "br":
        brotli = _brotli()
        if brotli is None:
            raise _Missing("br body (install brotli to decode it)")
        # A streaming decompressor gives what it can from a body cut at the cap.
        try:
            return brotli.Decompressor().process(data)
        except brotli.error as exc:
            raise ValueError(str(exc) or "invalid brotli data") from None
    if coding == "zstd":
        zstandard = _zstd()
        if zstandard is None:
            raise _Missing("zstd body (install zstandard to decode it)")
        try:
            return zstandard.ZstdDecompressor().decompressobj().decompress(data)
        except zstandard.ZstdError as exc:
            raise ValueError(str(exc)) from None
    raise LookupError(coding)


def decode_content(data: bytes, content_encoding: str | None) -> tuple[bytes, str]:
    """Undo ``Content-Encoding`` (last applied first); returns (bytes, a note for the reader).

    When a coding can't be undone the bytes come back as they were, with the reason.
    """
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return data, ""
    out = data
    for coding in reversed(codings):
        try:
            out = _undo(coding, out)
        except _Missing as exc:
            return data, f"{exc}: shown as received"
        except LookupError as exc:
            return data, f"cannot decode {exc}: shown as received"
        except (zlib.error, ValueError, OSError, RuntimeError) as exc:
            return data, f"{coding} data is damaged ({exc}): shown as received"
    return out, f"decoded from {', '.join(codings)}: {len(data):,} → {len(out):,} bytes"
