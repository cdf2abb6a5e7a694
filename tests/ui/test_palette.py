"""The command palette of the real app on the real classroom: searching finds the actions.

Listing the commands (``get_system_commands``) is not enough: the palette renders each hit's
title and help as markup, and a key shown as ``[/ f]`` once crashed the app on the first key
typed into it.
"""

from __future__ import annotations

import pytest
from origin import wait_for
from textual.command import CommandList, CommandPalette

from workbench.demo.classroom import classroom_config
from workbench.tui.app import make_app


def hits(app) -> list[str]:
    results = app.screen.query_one(CommandList)
    return [
        str(results.get_option_at_index(i).prompt).split("\n", 1)[0]
        for i in range(results.option_count)
    ]


WANTED = {
    "weight": "Backends: +weight",
    "kill": "Backends: Kill",
    "algorithm": "Backends: Algorithm",
    "export": "Traffic: Export HAR",
    "filter": "Traffic: Filter",
}


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_searching_the_palette_finds_the_actions(busy_classroom, size):
    app = make_app(classroom_config(), engine=busy_classroom)
    async with app.run_test(size=size) as pilot:
        for word, wanted in WANTED.items():
            await pilot.press("ctrl+p")
            await wait_for(lambda: isinstance(app.screen, CommandPalette), timeout=5)
            await pilot.press(*word)
            await wait_for(
                lambda w=wanted: bool(app.screen.query(CommandList)) and w in hits(app),
                timeout=10,
            )
            assert app.is_running, word
            await pilot.press("escape")
            await wait_for(lambda: not isinstance(app.screen, CommandPalette), timeout=5)
