"""The one forwarding-header function for every mode: what an upstream learns about the client."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.engine.http.headers import (
    FORWARDING_HEADERS,
    REVEALING_HEADERS,
    VIA_TOKEN,
    add_forwarded,
    append_via,
    append_xff,
    remove_names,
)
from workbench.engine.pipeline.exchange import Exchange


@dataclass(frozen=True, slots=True)
class Forwarding:
    """A mode's forwarding policy, made once per proxy."""

    strip: frozenset[str] = frozenset()
    """Client-sent fields removed first (privacy modes)."""
    full: bool = False
    """X-Forwarded-For/-Proto/-Host and Forwarded (RFC 7239), as a reverse proxy sends them."""
    xff: bool = False
    """Only X-Forwarded-For (a transparent forward proxy)."""
    via: str | None = VIA_TOKEN
    """Our ``Via`` token, or None to add none."""
    proto: str = "http"
    trace: tuple[str, str] | None = None
    """(verdict, detail) of a ``privacy`` trace step, when the policy is worth explaining."""


def reverse_forwarding(enabled: bool, proto: str) -> Forwarding:
    """A reverse proxy: every forwarding header when ``forwarded_headers`` is on, Via always."""
    return Forwarding(full=enabled, proto=proto)


def privacy_forwarding(mode: str, via: str) -> Forwarding:
    """A forward proxy's privacy mode (transparent, anonymous, elite)."""
    if mode == "elite":
        return Forwarding(
            strip=REVEALING_HEADERS,
            via=None,
            trace=("elite", "removed every header naming the client or a proxy"),
        )
    if mode == "anonymous":
        return Forwarding(
            strip=FORWARDING_HEADERS,
            via=via,
            trace=("anonymous", "client address hidden; Via says a proxy is here"),
        )
    return Forwarding(xff=True, via=via, trace=("transparent", ""))


def add_forwarding(x: Exchange, policy: Forwarding) -> None:
    """Apply ``policy`` to the upstream headers of ``x`` (once; only when it goes upstream)."""
    x.forwarded = True
    headers = x.headers
    client = x.rec.client
    if policy.strip:
        headers[:] = remove_names(headers, policy.strip)
    if policy.full:
        add_forwarded(headers, client, policy.proto, x.authority or None)
    elif policy.xff:
        append_xff(headers, client)
    if policy.via is not None:
        append_via(headers, policy.via)
    if policy.trace is not None:
        verdict, detail = policy.trace
        if not detail:
            detail = f"X-Forwarded-For: {client} and Via sent to the origin"
        x.rec.step("privacy", verdict, detail)
