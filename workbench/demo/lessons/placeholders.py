"""The live values that replace placeholders such as ``{reverse}`` in a lesson's text."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from workbench.demo.lessons.model import MARK
from workbench.demo.lessons.reading import dig, find_backend

_PLACEHOLDER = re.compile(
    r"\{(reverse|forward|admin|origin|origin_host|origin_port|mark|privacy|kill_key"
    r"|secure_origin|secure_port|weights)\}"
)
_DEFAULTS = {
    "reverse": "http://127.0.0.1:8080",
    "forward": "http://127.0.0.1:8888",
    "admin": "http://127.0.0.1:8081",
    "origin": "http://127.0.0.1:9001",
    "secure_origin": "https://localhost:8443",
    "weights": "web-1 3, web-2 1, web-3 1: about 60/20/20",
}
WEIGHTS_OF = "web-2"
"""The balancing lesson's backend: the weights placeholder describes its pool."""


def weights_text(snapshot: Mapping[str, Any]) -> str:
    """``web-1 3, web-2 1, web-3 1: about 60/20/20``: the live weights of the pool holding the
    balancing lesson's backend, and the shares they give (a user's config has its own)."""
    pool, _backend = find_backend(snapshot, WEIGHTS_OF)
    backends = [b for b in pool.get("backends", ()) if "name" in b]
    if not backends:
        return f"no pool here has a backend named {WEIGHTS_OF}"
    weights = [int(b.get("weight") or 0) for b in backends]
    named = ", ".join(f"{b['name']} {w}" for b, w in zip(backends, weights, strict=True))
    total = sum(weights)
    if not total:
        return f"{named}: every weight is 0, so no backend takes requests"
    shares = "/".join(f"{round(100 * w / total)}" for w in weights)
    return f"{named}: about {shares}"


def addresses(snapshot: Mapping[str, Any] | None) -> dict[str, str]:
    """Values for the placeholders from a snapshot (classroom defaults before the first one).

    A proxy the snapshot shows not running reads as ``(no reverse proxy running)``, never as a
    default port nothing listens on.
    """
    values = dict(_DEFAULTS)
    values["mark"] = MARK
    values["kill_key"] = "the kill key"  # the view fills in the live binding
    values["privacy"] = "transparent"
    if snapshot is not None:
        listeners = dig(snapshot, "listeners", default={}) or {}
        for k in ("reverse", "forward", "admin"):
            values[k] = str(listeners[k]) if listeners.get(k) else f"(no {k} proxy running)"
        if not listeners.get("admin"):
            values["admin"] = "(no admin API running)"
        values["privacy"] = str(
            dig(snapshot, "proxies", "forward", "privacy", default=None) or "(none)"
        )
        values["weights"] = weights_text(snapshot)
    origin = None
    demo = dig(snapshot, "demo", "backends", default={}) or {}
    # web-1 first: it is always there in the classroom and serves /echo like every demo backend.
    for name in ("web-1", *demo):
        url = dig(demo, name, "url")
        if url:
            origin = str(url)
            break
    if origin is None:
        for pool in (dig(snapshot, "pools", default={}) or {}).values():
            for b in pool.get("backends", ()):
                if str(b.get("url", "")).startswith("http://"):
                    origin = str(b["url"])
                    break
            if origin:
                break
    secure = dig(snapshot, "demo", "secure_origin")
    if secure:
        values["secure_origin"] = str(secure).rstrip("/")
    values["secure_port"] = values["secure_origin"].rsplit(":", 1)[-1]
    values["origin"] = (origin or values["origin"]).rstrip("/")
    host = values["origin"].split("://", 1)[-1].split("/", 1)[0]
    values["origin_host"] = host
    values["origin_port"] = host.rsplit(":", 1)[-1] if ":" in host else "80"
    return values


def fill(text: str, values: Mapping[str, str]) -> str:
    """Replace the known placeholders in ``text``; leave any other braces alone (YAML, etc.)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), text)
