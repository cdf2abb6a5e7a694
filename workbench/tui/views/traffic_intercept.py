"""The Traffic view's replay and intercept actions: replay a request (edited or not), set the
intercept filter, and resume, edit or kill held exchanges."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.tui.views.traffic import TrafficView


class ReplayInterceptActions:
    """Replay and intercept actions of :class:`TrafficView` (a mixin; it needs the view)."""

    def action_replay(self: TrafficView) -> None:
        """Replay the selected request (a new row, marked ↻ with the original's id)."""
        from workbench.tui.replaying import replay

        replay(self.app, self.selected_record())

    def action_edit_replay(self: TrafficView) -> None:
        from workbench.tui.replaying import edit_replay

        edit_replay(self.app, self.selected_record())

    def action_intercept(self: TrafficView) -> None:
        from workbench.tui.screens.intercept import InterceptScreen

        hold = getattr(self.engine, "hold", None)
        if hold is None:
            self.app.notify("intercept needs running proxies", severity="warning")
            return

        def submit(
            expression: str, phase: str, timeout: float, on_timeout: str
        ) -> tuple[bool, str | None]:
            res = self.engine.control.set_hold(expression or None, phase, timeout, on_timeout)
            if res.ok:
                self.app.notify(
                    f"intercept: {expression} ({phase}; unattended: {on_timeout} after "
                    f"{timeout:g}s)"
                    if expression
                    else "intercept off"
                )
                self._render_status()
            return res.ok, res.error

        self.app.push_screen(
            InterceptScreen(
                submit, hold.expression or "", hold.phase, hold.timeout, hold.on_timeout
            )
        )

    def _oldest_held(self: TrafficView) -> dict[str, Any] | None:
        held = self.engine.control.held() if getattr(self.engine, "hold", None) else []
        if not held:
            self.app.notify("nothing is held (i sets the intercept filter)", severity="warning")
            return None
        return held[0]

    def action_held_list(self: TrafficView) -> None:
        """Every held exchange, to open, edit, resume or kill one."""
        from workbench.tui.screens.held import HeldListScreen

        if getattr(self.engine, "hold", None) is None:
            self.app.notify("intercept needs running proxies", severity="warning")
            return
        self.app.push_screen(HeldListScreen(), lambda _r: self._render_status())

    def action_resume_held(self: TrafficView) -> None:
        from workbench.tui.screens.held import resume

        held = self._oldest_held()
        if held is not None:
            resume(self.app, held["id"])
            self._render_status()

    def action_resume_all_held(self: TrafficView) -> None:
        from workbench.tui.screens.held import resume_all

        if getattr(self.engine, "hold", None) is not None:
            resume_all(self.app)
            self._render_status()

    def action_kill_held(self: TrafficView) -> None:
        from workbench.tui.screens.held import confirm_kill

        held = self._oldest_held()
        if held is not None:
            confirm_kill(self.app, held, done=self._render_status)

    def action_edit_held(self: TrafficView) -> None:
        from workbench.tui.screens.held import open_held_editor

        held = self._oldest_held()
        if held is not None:
            open_held_editor(self.app, held, resume=True, done=self._render_status)
