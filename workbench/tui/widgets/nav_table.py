"""A DataTable that moves like every other list of the workbench.

Textual's ``DataTable`` scrolls sideways on Home/End and knows nothing of ``j``/``k``/``g``/``G``;
the workbench promises the same navigation keys in every view, so the list keys come from the one
action table (scope ``list``).
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import BindingType
from textual.widgets import DataTable

from workbench.tui.actions import bindings


class NavTable(DataTable):
    """A row-cursor ``DataTable`` with the workbench's list keys.

    | Key | Action |
    | :- | :- |
    | up, k / down, j | Previous / next row. |
    | pgup / pgdn | One page up / down. |
    | home, g / end, G | First / last row. |
    """

    BINDINGS: ClassVar[list[BindingType]] = bindings("list")

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", True)
        super().__init__(**kwargs)
