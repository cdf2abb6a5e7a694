"""Intercept (hold): exchanges matching a filter wait for the user, like a breakpoint.

A matching exchange is parked on its own future at one point of the pipeline (before the
request goes upstream, or before the response goes to the client); nothing else waits for it.
While held, its headers and body can be edited; then it is resumed (with the edits) or killed
(its client connection closed). A held exchange left alone for ``timeout`` seconds is resumed
or failed, per ``hold.on_timeout``. At most ``max_held`` are held at once.

When no filter is set, :attr:`HoldPoint.request` and :attr:`HoldPoint.response` are None and the
pipeline's check costs one attribute read per request.
"""

from __future__ import annotations

import asyncio
import base64
import math
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from workbench.config.model import HOLD_PHASES, HOLD_TIMEOUT_ACTIONS, HoldConfig

if TYPE_CHECKING:
    from workbench.engine.observe.records import Headers, RequestRecord

MAX_EDIT_BODY = 1024 * 1024
"""Bodies up to this size are shown and editable while held; larger ones pass unchanged."""
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_EDIT_FIELDS = frozenset({"headers", "body", "body_base64", "status", "method", "url"})
_BAD_TARGET = re.compile(r"[\x00-\x20\x7f]")


class HoldError(ValueError):
    """A hold request or edit that cannot be done; ``field`` names the input at fault."""

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


class Held:
    """One exchange waiting for the user."""

    __slots__ = (
        "rec",
        "phase",
        "since",
        "deadline",
        "headers",
        "body",
        "body_editable",
        "status",
        "method",
        "target",
        "origin",
        "edited",
        "changes",
        "decision",
        "_future",
        "_timer",
    )

    def __init__(
        self,
        rec: RequestRecord,
        phase: str,
        headers: Headers,
        body: bytes | None,
        status: int | None,
        timeout: float,
        target: str | None = None,
    ) -> None:
        self.rec = rec
        self.phase = phase
        self.since = time.time()
        self.deadline = self.since + timeout
        self.headers = headers
        """The headers that will be sent on (upstream, or to the client); edits replace them."""
        self.body = body
        """The body that will be sent on, when it is small and complete enough to edit."""
        self.body_editable = body is not None
        self.status = status
        """Response phase: the status the client will get."""
        self.method = rec.method
        """Request phase: the method that will be sent upstream (edits replace it)."""
        self.target = target if target is not None else rec.path
        """Request phase: the request target (path and query) that will be sent upstream."""
        self.origin = _origin_of(rec.url)
        """``scheme://authority`` of the request: fixed, the destination is already chosen."""
        self.edited = False
        self.changes: list[str] = []
        """What the user changed, in words (``method GET → POST``, ``headers``), for the trace."""
        self.decision = ""
        """``resume``, ``kill``, ``timeout-resume`` or ``timeout-fail`` once decided."""
        self._future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def id(self) -> int:
        return self.rec.id

    def decide(self, decision: str) -> bool:
        if self._future.done():
            return False
        self.decision = decision
        self._future.set_result(decision)
        if self._timer is not None:
            self._timer.cancel()
        return True

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the UI and the admin API."""
        body = self.body
        text = None
        if body is not None:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        rec = self.rec
        return {
            "id": rec.id,
            "phase": self.phase,
            "since": self.since,
            "deadline": self.deadline,
            "method": self.method,
            "url": self.url,
            "target": self.target,
            "client": rec.client,
            "status": self.status,
            "headers": [list(h) for h in self.headers],
            "body": text,
            "body_base64": base64.b64encode(body).decode() if body is not None else None,
            "body_editable": self.body_editable,
            "edited": self.edited,
            "changes": list(self.changes),
        }

    @property
    def url(self) -> str:
        """The URL as it will go on: the request's origin and the (edited) target."""
        return self.origin + self.target if self.phase == "request" else self.rec.url


class HoldPoint:
    """The hold filter, its settings, and the exchanges held now."""

    def __init__(self, config: HoldConfig) -> None:
        self.config = config
        self.timeout = config.timeout
        self.on_timeout = config.on_timeout
        self.max_held = config.max_held
        self.expression: str | None = None
        self.phase = config.phase
        self.request: Callable[[RequestRecord], bool] | None = None
        """The predicate when holding in the request phase, else None (nothing to check)."""
        self.response: Callable[[RequestRecord], bool] | None = None
        """The predicate when holding in the response phase, else None."""
        self.held: dict[int, Held] = {}
        self.total = 0
        """Exchanges held since start."""
        if config.filter is not None:
            self.set_filter(config.filter, config.phase)

    # -- settings ---------------------------------------------------------------------------
    def set_filter(self, expression: str | None, phase: str | None = None) -> None:
        """Hold what matches ``expression`` (None or "" stops holding). Raises HoldError."""
        from workbench.engine.rules.filters import FilterSyntaxError, parse_filter

        phase = phase or self.phase
        if phase not in HOLD_PHASES:
            raise HoldError(f"phase: expected request or response, got {phase!r}", "phase")
        if expression is not None and not isinstance(expression, str):
            raise HoldError(f"filter: expected a filter expression, got {expression!r}", "filter")
        if not expression or not expression.strip():
            self.expression = None
            self.request = self.response = None
            self.phase = phase
            return
        try:
            predicate = parse_filter(expression).predicate
        except FilterSyntaxError as exc:
            raise HoldError(f"filter: {exc}", "filter") from None
        self.expression = expression
        self.phase = phase
        self.request = predicate if phase == "request" else None
        self.response = predicate if phase == "response" else None

    def set_timeout(self, seconds: Any, on_timeout: Any = None) -> None:
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or seconds <= 0
        ):
            raise HoldError(f"timeout: expected seconds > 0, got {seconds!r}", "timeout")
        if on_timeout is not None and on_timeout not in HOLD_TIMEOUT_ACTIONS:
            raise HoldError(
                f"on_timeout: expected resume or fail, got {on_timeout!r}", "on_timeout"
            )
        self.timeout = float(seconds)
        if on_timeout is not None:
            self.on_timeout = on_timeout

    # -- the pipeline's side ----------------------------------------------------------------
    def full(self) -> bool:
        return len(self.held) >= self.max_held

    async def wait(
        self,
        rec: RequestRecord,
        phase: str,
        headers: Headers,
        body: bytes | None,
        status: int | None = None,
        target: str | None = None,
    ) -> Held:
        """Park the exchange until the user (or the timeout) decides; the decided :class:`Held`.

        ``headers`` and ``body`` are what would be sent on; read the edited ones back from the
        result. The caller checks :meth:`full` first.
        """
        if body is not None and len(body) > MAX_EDIT_BODY:
            body = None
        h = Held(rec, phase, headers, body, status, self.timeout, target)
        loop = asyncio.get_running_loop()
        h._timer = loop.call_later(self.timeout, self._expire, h)
        self.held[rec.id] = h
        self.total += 1
        rec.step("hold", "held", f"held in the {phase} phase by the intercept filter")
        try:
            await h._future
        finally:
            self.held.pop(rec.id, None)
            if h._timer is not None:
                h._timer.cancel()
        waited = time.time() - h.since
        edits = f" with edits ({'; '.join(h.changes)})" if h.changes else ""
        detail = {
            "resume": f"resumed after {waited:.1f}s{edits}",
            "kill": f"killed by the user after {waited:.1f}s",
            "timeout-resume": f"no decision in {self.timeout:g}s: resumed{edits} (hold.on_timeout)",
            "timeout-fail": f"no decision in {self.timeout:g}s: failed (hold.on_timeout)",
        }[h.decision]
        rec.step("hold", h.decision, detail)
        return h

    def _expire(self, h: Held) -> None:
        h._timer = None
        h.decide("timeout-" + self.on_timeout)

    # -- the user's side --------------------------------------------------------------------
    def get(self, held_id: Any) -> Held:
        if isinstance(held_id, bool) or not isinstance(held_id, int):
            raise HoldError(f"id: expected an integer, got {held_id!r}", "id")
        h = self.held.get(held_id)
        if h is None:
            raise HoldError(f"request {held_id} is not held (any more)", "id", 404)
        return h

    def list(self) -> list[dict[str, Any]]:
        """Every held exchange, oldest first (headers and body included)."""
        return [h.to_dict() for h in self.held.values()]

    def summary(self) -> dict[str, Any]:
        """The settings and the held ids (cheap: for the periodic snapshot)."""
        return {
            "filter": self.expression,
            "phase": self.phase,
            "timeout": self.timeout,
            "on_timeout": self.on_timeout,
            "held": list(self.held),
            "total": self.total,
        }

    def edit(self, held_id: Any, patch: Any) -> Held:
        """Apply ``{"headers": [[n, v], …], "body": TEXT | "body_base64": B64, "status": N,
        "method": M, "url": URL}`` (method and url: a held request; status: a held response).

        Everything is checked before anything changes. ``url`` may be a path (``/a?b=1``) or
        the full URL with the same scheme and host: the destination was chosen before the hold.
        """
        h = self.get(held_id)
        if not isinstance(patch, dict) or not patch:
            raise HoldError("expected a JSON object with headers, body or status", "body")
        unknown = sorted(set(patch) - _EDIT_FIELDS)
        if unknown:
            raise HoldError(f"unknown field {unknown[0]!r}", unknown[0])
        method = patch.get("method")
        if method is not None:
            if h.phase != "request":
                raise HoldError("method: only a held request has a method", "method")
            if not isinstance(method, str) or not _TOKEN.fullmatch(method.strip()):
                raise HoldError(f"method: expected a method such as GET, got {method!r}", "method")
            method = method.strip().upper()
        target = None
        if patch.get("url") is not None:
            if h.phase != "request":
                raise HoldError("url: only a held request has a URL", "url")
            target = _target_of(patch["url"], h.origin)
        try:
            headers = parse_headers(patch["headers"]) if "headers" in patch else None
        except ValueError as exc:
            raise HoldError(str(exc), "headers") from None
        body = None
        if "body" in patch and "body_base64" in patch:
            raise HoldError("give body or body_base64, not both", "body")
        if "body" in patch:
            if not isinstance(patch["body"], str):
                raise HoldError("body: expected a string (UTF-8 text)", "body")
            body = patch["body"].encode()
        elif "body_base64" in patch:
            try:
                body = base64.b64decode(patch["body_base64"], validate=True)
            except (ValueError, TypeError):
                raise HoldError("body_base64: expected base64 text", "body_base64") from None
        if body is not None and not h.body_editable:
            raise HoldError("this body cannot be edited (streamed or larger than 1 MiB)", "body")
        status = patch.get("status")
        if status is not None:
            if h.phase != "response":
                raise HoldError("status: only a held response has a status", "status")
            if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
                raise HoldError(f"status: expected 200 to 599, got {status!r}", "status")
        changes = h.changes
        if method is not None and method != h.method:
            _note(changes, "method", f"method {h.rec.method} → {method}")
            h.method = method
        if target is not None and target != h.target:
            _note(changes, "target", f"target {h.rec.path} → {target}")
            h.target = target
        if headers is not None and headers != h.headers:
            _note(changes, "headers", "headers")
            h.headers[:] = headers  # in place: the pipeline holds the same list
        if body is not None and body != h.body:
            _note(changes, "body", f"body {len(body):,} bytes")
            h.body = body
        if status is not None and status != h.status:
            _note(changes, "status", f"status {status}")
            h.status = status
        h.edited = True
        return h

    def resume(self, held_id: Any) -> Held:
        h = self.get(held_id)
        h.decide("resume")
        return h

    def kill(self, held_id: Any) -> Held:
        h = self.get(held_id)
        h.decide("kill")
        return h

    def resume_all(self) -> list[int]:
        """Resume every held exchange (with its edits); the ids resumed, oldest first."""
        ids = list(self.held)
        for h in list(self.held.values()):
            h.decide("resume")
        return ids

    def release_all(self) -> None:
        """Resume everything (the engine is stopping)."""
        for h in list(self.held.values()):
            h.decide("resume")


def parse_headers(value: Any) -> Headers:
    """Header edits from JSON: ``[[name, value], …]`` or ``{name: value}``; raises ValueError."""
    items = list(value.items()) if isinstance(value, dict) else value
    shape = "headers: expected [[name, value], …] or {name: value}"
    if not isinstance(items, list | tuple):
        raise ValueError(shape)
    out: Headers = []
    for item in items:
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise ValueError(shape)
        name, val = item
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ValueError(f"headers: invalid header name {name!r}")
        if not isinstance(val, str) or "\r" in val or "\n" in val:
            raise ValueError(f"headers: invalid value for {name}")
        out.append((name, val))
    return out


def _origin_of(url: str) -> str:
    """``scheme://authority`` of an absolute URL (``""`` for anything else)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return ""
    slash = rest.find("/")
    return f"{scheme}://{rest if slash < 0 else rest[:slash]}"


def _target_of(url: Any, origin: str) -> str:
    """The request target of an edited URL; its scheme and host must be ``origin``'s."""
    if not isinstance(url, str) or not url.strip():
        raise HoldError("url: expected a path such as /api/x or the full URL", "url")
    url = url.strip()
    if url.startswith("/"):
        target = url
    elif origin and url.lower().startswith(origin.lower()) and url[len(origin) :][:1] in "/?":
        target = url[len(origin) :] or "/"
        if target.startswith("?"):
            target = "/" + target
    else:
        where = origin or "the original host"
        raise HoldError(
            f"url: a held request still goes to {where} (its destination is chosen); "
            "change the path here, or replay it (e) to send it elsewhere",
            "url",
        )
    if _BAD_TARGET.search(target):
        raise HoldError("url: spaces and control characters must be percent-encoded", "url")
    return target


def _note(changes: list[str], kind: str, text: str) -> None:
    """Record one change, replacing an earlier change of the same kind."""
    changes[:] = [c for c in changes if not c.startswith(kind)]
    changes.append(text)
