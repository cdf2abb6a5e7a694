"""Every view, screen and dialog is readable in the projector theme and the default theme.

The real app (its own stylesheets) shows the real classroom with demo traffic; at 80×24 and
160×45 the test visits each view, the request detail's sections, help, the command palette and
every modal dialog, with a killed, a draining and a disabled backend and a disabled rule, and
requires every run of text on screen to have a WCAG contrast of at least 3:1 against its own
background (see ``contrast.py``), in both themes. Each stop is drawn in the projector theme and
then switched to the default one, so it also checks that a theme change restyles what is
already drawn.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from contrast import MINIMUM, low_contrast, screen_lines
from origin import wait_for

from workbench.config.model import Address
from workbench.demo.classroom import classroom_config
from workbench.runtime import Runtime
from workbench.tui.app import PROJECTOR_THEME, make_app
from workbench.tui.widgets.palette import ROLES, theme_styles

DEFAULT_THEME = "textual-dark"

# (name, keys from the Traffic view with no screen open). Each stop ends by closing its screens.
STOPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("traffic", ("1",)),
    ("backends", ("2",)),
    ("cache", ("3",)),
    ("rules", ("4",)),
    ("overview", ("5",)),
    ("overview following a request", ("5", "j")),
    ("lessons", ("6",)),
    ("charts", ("7",)),
    ("detail overview", ("1", "F", "enter")),
    ("detail request", ("1", "F", "enter", "2")),
    ("detail response", ("1", "F", "enter", "3")),
    ("detail raw, searched", ("1", "F", "enter", "4", "slash", *"http", "enter", "n")),
    ("help", ("question_mark",)),
    ("command palette", ("ctrl+p",)),
    ("quit dialog", ("q",)),
    ("save dialog", ("s",)),
    ("weight dialog", ("2", "equals_sign")),
    ("algorithm dialog", ("2", "a")),
    ("kill dialog", ("2", "X")),
    ("rule form", ("4", "n")),
    ("rule test", ("4", "t")),
    ("purge dialog", ("3", "p")),
    ("filter with an error", ("1", "slash", *"~x", "enter")),
    ("intercept dialog", ("1", "i")),
    ("edit and replay", ("1", "F", "e")),
    # Then the states a class produces: a killed, a draining and a disabled backend, a rule off.
    ("backends in every state", ("2", "X", "y", "j", "d", "j", "x", "y")),
    ("rules with one off", ("4", "space")),
    ("traffic paused", ("1", "space")),
    ("overview with events", ("5",)),
)
VIEWS = ("1", "2", "3", "4", "5", "6", "7")


def _free_ports(cfg):
    return replace(
        cfg,
        admin=None,
        reverse=replace(cfg.reverse, listen=Address("127.0.0.1", 0)),
        forward=replace(cfg.forward, listen=Address("127.0.0.1", 0)),
    )


@pytest.fixture
async def busy_classroom():
    """The classroom with its demo traffic running, as a class sees it."""
    rt = Runtime(_free_ports(classroom_config()))
    await rt.start()
    try:
        await wait_for(lambda: rt.engine.records.total >= 40, timeout=20)
        yield rt.engine
    finally:
        await rt.stop(grace=1.0)


async def _settle(pilot) -> None:
    await pilot.pause(0.3)  # a tick or two of the 5 Hz refresh
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def _back_to_traffic(pilot) -> None:
    app = pilot.app
    while len(app.screen_stack) > 1:
        app.pop_screen()
        await pilot.pause()
    await pilot.press("escape")
    await pilot.pause()


def _report(problems: dict[str, list]) -> str:
    lines = [f"text below {MINIMUM}:1 contrast:"]
    for stop, cells in problems.items():
        lines.append(f"  {stop}: {len(cells)} runs, e.g.")
        lines.extend(f"    {c}" for c in cells[:4])
    return "\n".join(lines)


def _foregrounds(app) -> set[str]:
    out = set()
    for line in screen_lines(app):
        for seg in line:
            if seg.text.strip() and seg.style is not None and seg.style.color is not None:
                out.add(seg.style.color.get_truecolor().hex)
    return out


def _role_colours(app) -> set[str]:
    """The colours of the palette's roles, but plain text (white is every dark theme's)."""
    styles = theme_styles(app)
    return {styles[r].color.get_truecolor().hex for r in ROLES if r != "text" and styles[r].color}


@pytest.mark.parametrize("size", [(80, 24), (160, 45)], ids=["80x24", "160x45"])
async def test_every_view_and_dialog_is_readable_in_both_themes(busy_classroom, size):
    """Each stop is drawn in the projector theme and checked, then switched to the default
    theme (no colour of the projector's roles may stay on screen) and checked again."""
    app = make_app(classroom_config(), engine=busy_classroom)
    problems: dict[str, list] = {}
    stale: dict[str, set[str]] = {}
    async with app.run_test(size=size) as pilot:
        app.theme = DEFAULT_THEME
        await pilot.pause()
        default_roles = _role_colours(app)
        for stop, keys in STOPS:
            app.theme = PROJECTOR_THEME
            await pilot.press(*keys)
            await _settle(pilot)
            if stop == "backends in every state":
                # A health check or two notices the killed backend.
                await pilot.pause(2.5)
            if bad := low_contrast(app):
                problems[f"{stop} ({PROJECTOR_THEME})"] = bad
            projector_roles = _role_colours(app)
            app.theme = DEFAULT_THEME
            await _settle(pilot)
            if bad := low_contrast(app):
                problems[f"{stop} ({DEFAULT_THEME})"] = bad
            if left := (_foregrounds(app) & projector_roles) - default_roles:
                stale[stop] = left
            await _back_to_traffic(pilot)
    assert not problems, _report(problems)
    assert not stale, f"colours of the previous theme still drawn after a theme change: {stale}"
    assert set(ROLES) <= set(theme_styles(app))
