"""What every view of the workbench shares: an id, a title, and a snapshot-driven refresh."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual.widget import Widget

if TYPE_CHECKING:
    from workbench.engine.engine import Engine


class View(Widget, can_focus=False):
    """One of the numbered views (Traffic, Backends, Cache, Rules, Overview, Lessons).

    The app calls :meth:`update_view` on a timer (about 5 Hz) while the view is visible, with a
    plain-data ``snapshot`` from ``engine.snapshot()``. Views read the snapshot (and, for the
    Traffic view, ``engine.records_since``); they change the engine only via ``engine.control``.
    """

    view_id: ClassVar[str] = ""
    """Short id used for switching (``traffic``, ``backends``, ...)."""
    title: ClassVar[str] = ""
    """Tab title shown to the user."""

    def __init__(self, engine: Engine, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine = engine

    def update_view(self, snapshot: dict[str, Any]) -> None:
        """Redraw from a fresh snapshot; must be cheap and touch only what changed."""

    def focus_default(self) -> None:
        """Give focus to the view's main widget when the view is shown."""
