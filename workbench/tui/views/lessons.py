"""The Lessons view: guided lessons with live checks against the running engine.

The list on the left marks finished lessons; the right pane shows the selected lesson (concept,
diagram, steps, what to look for) under a live check line and a live panel (what the proxies
received from the student: request lines as received, forwarded headers, stored cache copies,
per-proxy 5xx counts). The check keeps running while the student is in another view (that is
where the steps send them), so the view has its own slow timer besides the app's refresh, and
notifies once when a lesson is done. Finished lessons are kept in the user's state directory
(:mod:`workbench.demo.progress`); ``R`` twice forgets them. A lesson that needs a proxy the
running configuration lacks is marked and cannot be started.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from workbench.demo.lessons import (
    LESSONS,
    CheckResult,
    Lesson,
    LessonTracker,
    addresses,
    fill,
    unmet_needs,
)
from workbench.demo.progress import Progress
from workbench.tui.views.base import View
from workbench.tui.widgets.palette import role, themed

if TYPE_CHECKING:
    from workbench.engine.engine import Engine


def check_line(
    tracker: LessonTracker, lesson: Lesson, skipped: str | None = None
) -> tuple[Text, str]:
    """The check line for ``lesson`` and its state class (``-done``, ``-waiting``, ``-idle`` or
    ``-skipped`` when ``skipped`` says what the lesson misses)."""
    result: CheckResult | None = tracker.result if tracker.lesson is lesson else None
    if skipped and result is None:
        return Text(f"– skipped: {skipped}"), "-skipped"
    if result is not None and result.done:
        return Text(f"✓ done: {result.progress}"), "-done"
    if result is not None:
        return Text(f"… waiting: {result.progress}"), "-waiting"
    if lesson.id in tracker.completed:
        return Text("✓ done earlier. Press enter to do it again."), "-done"
    text = "Press enter to start this lesson."
    if tracker.lesson is not None:
        text += f" (Running now: {tracker.lesson.title})"
    return Text(text), "-idle"


def lesson_body(lesson: Lesson, values: dict[str, str]) -> RenderableType:
    """Everything about one lesson except the check line, as one renderable."""
    parts: list[RenderableType] = [
        Text(lesson.title, style="bold"),
        Text(""),
        Text(fill(lesson.concept, values)),
    ]
    if lesson.diagram:
        parts += [Text(""), Text(lesson.diagram, style="bold", no_wrap=True, overflow="crop")]
    if lesson.table:
        head, *rows = lesson.table
        table = Table(
            box=box.SIMPLE_HEAD, show_edge=False, expand=True, padding=(0, 1), header_style="bold"
        )
        table.add_column(head[0], ratio=2, style="bold")
        table.add_column(head[1], ratio=3)
        table.add_column(head[2], ratio=3)
        for row in rows:
            table.add_row(*row)
        parts += [Text(""), table]
    if lesson.steps:
        parts += [Text(""), Text("Steps", style="bold underline")]
        for n, step in enumerate(lesson.steps, 1):
            parts.append(Text.assemble((f"{n}. ", "bold"), fill(step, values)))
    parts += [Text(""), Text("Look for", style="bold underline"), Text(lesson.look_for)]
    return Group(*parts)


class LessonList(OptionList):
    """The list of lessons; ``enter`` starts the highlighted one (shown in the footer)."""

    BINDINGS: ClassVar = [
        Binding(
            "enter",
            "select",
            "Start",
            id="lessons_start",
            tooltip="Start or restart the selected lesson; its check counts from now",
        ),
    ]


class LessonsView(View):
    """Guided lessons, each with a check that watches the running proxies.

    | Key | Action |
    | :- | :- |
    | up/down or k/j | Choose a lesson. |
    | enter | Start (or restart) the selected lesson: takes a fresh baseline. |
    | l | Jump to the next lesson that can run here and start it. |
    | pageup/pagedown | Scroll the lesson text. |
    | R | Forget which lessons were finished (press twice). |
    """

    view_id = "lessons"
    title = "Lessons"

    BINDINGS: ClassVar = [
        Binding(
            "j", "cursor(1)", "Down", show=False, id="lessons_down", tooltip="Next lesson in list"
        ),
        Binding(
            "k", "cursor(-1)", "Up", show=False, id="lessons_up", tooltip="Previous lesson in list"
        ),
        Binding(
            "l",
            "next_lesson",
            "Next lesson",
            id="lessons_next",
            tooltip="Select the next lesson and start it",
        ),
        Binding(
            "R",
            "reset_progress",
            "Reset progress",
            id="lessons_reset",
            tooltip="Forget which lessons were finished (press twice to confirm)",
        ),
        # Priority so they scroll the text even while the lesson list has focus.
        Binding(
            "pagedown",
            "scroll_text(1)",
            "Scroll",
            show=False,
            priority=True,
            id="lessons_scroll_down",
            tooltip="Scroll the lesson text down",
        ),
        Binding(
            "pageup",
            "scroll_text(-1)",
            "Scroll",
            show=False,
            priority=True,
            id="lessons_scroll_up",
            tooltip="Scroll the lesson text up",
        ),
    ]

    DEFAULT_CSS = """
    LessonsView {
        layout: horizontal;
        height: 1fr;
    }
    LessonsView > #lesson-list {
        width: 26;
        height: 1fr;
        border: none;
        border-right: vkey $foreground 20%;
    }
    LessonsView > #lesson-pane {
        width: 1fr;
        height: 1fr;
    }
    LessonsView #lesson-check {
        height: auto;
        padding: 0 1;
        text-style: bold;
        background: $boost;
    }
    LessonsView #lesson-check.-done { color: $success; }
    LessonsView #lesson-check.-waiting { color: $warning; }
    LessonsView #lesson-check.-idle { color: $text-muted; }
    LessonsView #lesson-check.-skipped { color: $text-muted; }
    LessonsView #lesson-live {
        height: auto;
        max-height: 6;
        padding: 0 1;
        color: $text;
        background: $boost;
        display: none;
    }
    LessonsView #lesson-live.-shown { display: block; }
    LessonsView #lesson-scroll {
        height: 1fr;
    }
    LessonsView #lesson-text {
        padding: 0 1;
        max-width: 100;
    }
    """

    CHECK_EVERY: ClassVar[float] = 0.5
    """Seconds between checks while the view is hidden (the app refreshes only visible views)."""
    RESET_CONFIRM_SECONDS: ClassVar[float] = 5.0
    """How long the first R waits for the second."""

    def __init__(self, engine: Engine, *, progress: Progress | None = None, **kwargs: Any) -> None:
        super().__init__(engine, **kwargs)
        self.progress = progress if progress is not None else Progress()
        self.tracker = LessonTracker(self.progress.completed)
        self.lessons: tuple[Lesson, ...] = LESSONS
        self._selected = 0
        self._last_check = 0.0
        self._snapshot: dict[str, Any] | None = None
        self._values: dict[str, str] = addresses(None)
        self._shown: tuple[int, tuple[str, ...]] | None = None
        self._reset_asked = 0.0
        # Created up front and held: a nested child may not be mounted yet when on_mount runs,
        # and a refresh racing mount or teardown must not fail a query.
        self._list = LessonList(*self._options(), id="lesson-list")
        self._check_box = Static(id="lesson-check")
        self._live_box = Static(id="lesson-live")
        self._text_box = Static(id="lesson-text")
        self._scroll = VerticalScroll(self._text_box, id="lesson-scroll", can_focus=False)

    # -- layout -----
    def compose(self):
        yield self._list
        with Vertical(id="lesson-pane"):
            yield self._check_box
            yield self._live_box
            yield self._scroll

    def on_mount(self) -> None:
        self._list.highlighted = 0
        self._timer = self.set_interval(self.CHECK_EVERY, self._tick, name="lesson-check")
        try:
            self._snapshot = self.engine.snapshot()
            self._values = self._addresses(self._snapshot)
        except Exception:  # no engine yet: the first refresh fills these in
            self._snapshot = None
        self._refresh_prompts()
        self._render_selected()

    def focus_default(self) -> None:
        self._list.focus()

    def _options(self) -> list[Option]:
        return [Option(self._prompt(i, lesson), id=lesson.id) for i, lesson in enumerate(LESSONS)]

    def skipped(self, lesson: Lesson) -> str | None:
        """Why ``lesson`` cannot run with this configuration, or None."""
        return unmet_needs(lesson, self._snapshot)

    def _prompt(self, index: int, lesson: Lesson) -> Content:
        if lesson.id in self.tracker.completed:
            mark, style = "✓", role("ok", "bold")
        elif self.tracker.lesson is lesson:
            mark, style = "▸", "bold"
        elif self.skipped(lesson):
            mark, style = "–", role("muted")
        else:
            mark, style = " ", ""
        text = Text(f"{mark} ", style=style)
        text.append(f"{index + 1}. {lesson.title}", style=role("muted") if mark == "–" else "")
        return themed(text)

    def _refresh_prompts(self) -> None:
        ol = self._list
        for i, lesson in enumerate(self.lessons):
            ol.replace_option_prompt(lesson.id, self._prompt(i, lesson))

    # -- drawing -----
    @property
    def selected(self) -> Lesson:
        """The lesson highlighted in the list."""
        return self.lessons[self._selected]

    def _render_selected(self) -> None:
        lesson = self.selected
        key = (self._selected, tuple(sorted(self._values.items())))
        if key != self._shown:
            self._shown = key
            self._text_box.update(lesson_body(lesson, self._values))
        self._render_check()

    def _render_check(self) -> None:
        lesson = self.selected
        text, state = check_line(self.tracker, lesson, self.skipped(lesson))
        check = self._check_box
        check.update(text)
        for cls in ("-done", "-waiting", "-idle", "-skipped"):
            check.set_class(cls == state, cls)
        result = self.tracker.result if self.tracker.lesson is lesson else None
        evidence = result.evidence if result is not None else ()
        live = self._live_box
        live.update(Text("\n".join(evidence), no_wrap=True, overflow="ellipsis"))
        live.set_class(bool(evidence), "-shown")

    def _key_of(self, binding_id: str) -> str | None:
        """The key the app binds ``binding_id`` to now (the user's keymap first)."""
        app = self.app
        keymap = dict(getattr(app, "_keymap", {}) or {})
        if binding_id in keymap:
            return keymap[binding_id].split(",")[0].strip()
        for _key, cls in getattr(app, "view_classes", ()):
            for b in Binding.make_bindings(getattr(cls, "BINDINGS", ())):
                if b.id == binding_id:
                    return b.key.split(",")[0].strip()
        return None

    def _addresses(self, snapshot: Any) -> dict[str, str]:
        values = addresses(snapshot)
        kill = self._key_of("fault_kill")
        if kill:
            values["kill_key"] = kill
        return values

    # -- checking -----
    def update_view(self, snapshot: dict[str, Any]) -> None:
        first = self._snapshot is None
        self._snapshot = snapshot
        values = self._addresses(snapshot)
        if values != self._values or first:
            self._values = values
            if first:
                self._refresh_prompts()
            self._render_selected()
        self._check(snapshot)

    def _tick(self) -> None:
        # Only needed while hidden: when visible the app's refresh already ran the check.
        if self.tracker.lesson is None or (self.tracker.result and self.tracker.result.done):
            return
        if time.monotonic() - self._last_check < self.CHECK_EVERY:
            return
        try:
            snapshot = self.engine.snapshot()
        except Exception as exc:
            self.notify(f"lesson check: cannot read the engine: {exc}", severity="error")
            return
        self._check(snapshot)

    def _check(self, snapshot: dict[str, Any]) -> None:
        if self.tracker.lesson is None:
            return
        self._last_check = time.monotonic()
        self.tracker.update(snapshot, self.engine)
        if self.tracker.just_completed:
            lesson = self.tracker.lesson
            self.notify(f"Lesson done: {lesson.title}", title="Lessons")
            error = self.progress.add(lesson.id)
            if error:
                self.notify(error, severity="warning")
            self._refresh_prompts()
        self._render_check()

    def start_lesson(self, index: int) -> None:
        """Select lesson ``index`` and start it with a fresh baseline."""
        self._selected = index
        ol = self._list
        if ol.highlighted != index:
            ol.highlighted = index
        try:
            snapshot = self.engine.snapshot()
        except Exception as exc:
            self.notify(f"cannot start the lesson: {exc}", severity="error")
            return
        self._snapshot = snapshot
        lesson = self.lessons[index]
        why = unmet_needs(lesson, snapshot)
        if why:
            self._render_selected()
            self.notify(why, title=f"{lesson.title}: skipped", severity="warning")
            return
        self.tracker.start(lesson, snapshot)
        self._values = self._addresses(snapshot)
        self._refresh_prompts()
        self._render_selected()
        # Checks that pass at once (a page to read) should say so without waiting a tick.
        self._check(snapshot)

    def reset_progress(self) -> None:
        """Forget every finished lesson, here and on disk."""
        self.tracker.completed.clear()
        error = self.progress.reset()
        if self.tracker.lesson is not None:
            self.tracker.stop()
        self._refresh_prompts()
        self._render_check()
        if error:
            self.notify(error, severity="warning")
        else:
            self.notify("lesson progress reset: no lesson is marked done", title="Lessons")

    # -- events and actions -----
    @on(OptionList.OptionHighlighted, "#lesson-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._selected = event.option_index
        self._scroll.scroll_home(animate=False)
        self._render_selected()

    @on(OptionList.OptionSelected, "#lesson-list")
    def _selected_option(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.start_lesson(event.option_index)

    def action_cursor(self, delta: int) -> None:
        ol = self._list
        if delta > 0:
            ol.action_cursor_down()
        else:
            ol.action_cursor_up()

    def action_next_lesson(self) -> None:
        n = len(self.lessons)
        for step in range(1, n + 1):
            index = (self._selected + step) % n
            if not self.skipped(self.lessons[index]):
                self.start_lesson(index)
                return
        self.notify("no lesson can run with this configuration", severity="warning")

    def action_reset_progress(self) -> None:
        now = time.monotonic()
        if now - self._reset_asked <= self.RESET_CONFIRM_SECONDS:
            self._reset_asked = 0.0
            self.reset_progress()
            return
        self._reset_asked = now
        done = len(self.tracker.completed)
        self.notify(
            f"Press R again to forget {done} finished lesson{'s' if done != 1 else ''}",
            title="Reset lesson progress?",
            timeout=self.RESET_CONFIRM_SECONDS,
        )

    def action_reset_progress_now(self) -> None:
        """Reset at once (the palette command is its own confirmation)."""
        self.reset_progress()

    def action_scroll_text(self, direction: int) -> None:
        scroll = self._scroll
        if direction > 0:
            scroll.scroll_page_down(animate=False)
        else:
            scroll.scroll_page_up(animate=False)
