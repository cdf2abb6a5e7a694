"""What each lesson needs running, and the message when this configuration lacks it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workbench.demo.lessons.model import Lesson
from workbench.demo.lessons.reading import dig, find_backend

_NEED_TEXT = {
    "reverse": "the reverse proxy",
    "forward": "the forward proxy",
    "cache": "the cache turned on",
    "demo": "the classroom's built-in backends",
    "intercept": "HTTPS interception of localhost with the classroom's HTTPS origin",
}


def unmet_needs(lesson: Lesson, snapshot: Mapping[str, Any] | None) -> str | None:
    """Why ``lesson`` cannot run on this engine, or None when everything it needs is there.

    Before the first snapshot nothing is known, so nothing is reported missing.
    """
    if snapshot is None:
        return None
    listeners = dig(snapshot, "listeners", default={}) or {}
    missing: list[str] = []
    for need in lesson.needs:
        if need in ("reverse", "forward"):
            ok = bool(listeners.get(need))
        elif need == "cache":
            ok = snapshot.get("cache") is not None and any(
                (dig(snapshot, "proxies", p, default={}) or {}).get("cache")
                for p in ("reverse", "forward")
            )
        elif need == "demo":
            ok = bool(dig(snapshot, "demo", "backends", default=None))
        elif need == "intercept":
            hosts = dig(snapshot, "proxies", "forward", "intercept", "hosts", default=()) or ()
            ok = "localhost" in hosts and bool(dig(snapshot, "demo", "secure_origin"))
        elif need.startswith("backend:"):
            ok = bool(find_backend(snapshot, need.split(":", 1)[1])[1])
        else:
            ok = True
        if not ok:
            missing.append(_NEED_TEXT.get(need, f"a backend named {need.split(':', 1)[-1]}"))
    if not missing:
        return None
    return (
        "This lesson needs "
        + " and ".join(missing)
        + ", which this configuration does not run. Skip it, or start `workbench` on its own "
        "for the classroom, which has everything the lessons use."
    )
