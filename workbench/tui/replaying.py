"""Replay, edit-and-replay and intercept from the TUI: thin calls to ``engine.control``."""

from __future__ import annotations

from typing import Any

from workbench.engine.observe.records import RequestRecord


def _control(app: Any) -> Any | None:
    engine = getattr(app, "engine", None)
    control = getattr(engine, "control", None)
    if control is None or not hasattr(engine, "hold"):
        app.notify("replay and intercept need running proxies", severity="warning")
        return None
    return control


def replay(app: Any, rec: RequestRecord | None) -> int | None:
    """Replay ``rec`` unchanged; notify "replayed #A as #B"; the new id (None on failure)."""
    control = _control(app) if rec is not None else None
    if control is None or rec is None:
        return None
    res = control.replay(rec.id)
    if not res.ok:
        app.notify(f"cannot replay #{rec.id}: {res.error}", severity="error")
        return None
    app.notify(f"replayed #{rec.id} as #{res.value}")
    return res.value


def edit_replay(app: Any, rec: RequestRecord | None) -> None:
    """Open the editor on ``rec``; Send replays it with the edits (errors stay in the form)."""
    from workbench.tui.screens.edit_request import EditRequestScreen

    control = _control(app) if rec is not None else None
    if control is None or rec is None:
        return
    from workbench.engine.replay import recorded_body

    body = recorded_body(rec)
    text: str | None = None
    if body is not None:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None

    def submit(fields: dict[str, Any]) -> tuple[bool, str | None, Any]:
        res = control.replay(rec.id, fields)
        if not res.ok:
            return False, res.error, None
        app.notify(f"replayed #{rec.id} (edited) as #{res.value}")
        return True, None, res.value

    app.push_screen(
        EditRequestScreen(
            f"Edit and replay #{rec.id}",
            submit,
            method=rec.method,
            url=rec.url,
            headers=rec.request_headers,
            body=text,
        )
    )


def held_summary(engine: Any) -> tuple[str, list[dict[str, Any]]]:
    """``(filter expression, held exchanges)`` ("" and [] without an engine)."""
    hold = getattr(engine, "hold", None)
    if hold is None:
        return "", []
    return hold.expression or "", engine.control.held()
