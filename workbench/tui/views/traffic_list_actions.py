"""The Traffic view's list actions: marking requests, clearing the list, sorting it and saving it
as HAR."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from workbench.tui.widgets.request_columns import SORT_KEYS, SORT_KEYS_SHOWN

if TYPE_CHECKING:
    from workbench.engine.observe.records import RequestRecord
    from workbench.tui.views.traffic import TrafficView


class ListActions:
    """Marks, clearing, order and export of :class:`TrafficView` (a mixin; it needs the view)."""

    def _all_records(self: TrafficView) -> Iterable[RequestRecord]:
        """Marked records that left the list, then the list (what filters and sorting see)."""
        if not self._marked:
            return self._records
        oldest = self._records[0].seq if self._records else None
        early = [r for r in self._marked.values() if oldest is None or r.seq < oldest]
        early.sort(key=lambda r: r.seq)
        return early + list(self._records)

    def action_toggle_mark(self: TrafficView) -> None:
        rec = self.selected_record()
        if rec is None:
            return
        res = self.engine.control.mark(rec.id, not rec.marked)
        if not res.ok:
            self.app.notify(res.error or "cannot mark", severity="warning")
            return
        if rec.marked:
            self._marked[rec.id] = rec
        else:
            self._marked.pop(rec.id, None)
        self.table.refresh_lines(self.table.cursor_row)
        self._render_status()

    def action_unmark_all(self: TrafficView) -> None:
        for rec in list(self._marked.values()):
            self.engine.control.mark(rec.id, False)
        self._marked.clear()
        self.table.refresh()
        self._render_status()

    def action_marked_only(self: TrafficView) -> None:
        from workbench.engine.rules.filters import parse_filter

        if self.filter_text == "~marked":
            self.display_filter, self.filter_text = None, ""
        else:
            self.display_filter, self.filter_text = parse_filter("~marked"), "~marked"
        self._refilter()
        self._render_status()

    def action_clear_list(self: TrafficView) -> None:
        from workbench.tui.screens.confirm import ConfirmScreen

        shown = len(self._records)
        if not shown:
            return
        kept = f"; the {len(self._marked):,} marked stay" if self._marked else ""
        question = (
            f"Clear the list ({shown:,} requests{kept})? The proxies keep recording; "
            "the admin API still has them."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self.clear_list()

        self.app.push_screen(ConfirmScreen(question, yes="Clear"), answered)

    def clear_list(self: TrafficView) -> None:
        """Forget the rows shown (marked requests stay); new requests appear as before."""
        self._records.clear()
        self.aged_out = 0
        self.selection_gone = None
        self._refilter()
        self._render_status()

    def action_sort(self: TrafficView) -> None:
        from workbench.tui.screens.choose import ChooseScreen

        choices = ["arrival", *SORT_KEYS_SHOWN]

        def chosen(choice: str | None) -> None:
            if choice is not None:
                self.set_sort(None if choice == "arrival" else choice, self.sort_reverse)

        current = self.sort_key or "arrival"
        self.app.push_screen(ChooseScreen("Sort the list by", choices, current=current), chosen)

    def set_sort(self: TrafficView, key: str | None, reverse: bool = False) -> None:
        """Sort by column ``key`` (None: arrival); sorting turns follow off."""
        if key is not None and key not in SORT_KEYS:
            raise ValueError(f"unknown column {key!r}")
        self.sort_key = key
        self.sort_reverse = reverse
        if key is not None or reverse:
            self.follow = False
        self._refilter()
        self._render_status()

    def action_reverse_order(self: TrafficView) -> None:
        self.set_sort(self.sort_key, not self.sort_reverse)

    def action_export_har(self: TrafficView) -> None:
        """Save the rows shown (display filter and order applied) as HAR 1.2; say where."""
        import time as _time
        from pathlib import Path

        from workbench.engine.observe.har import write_har
        from workbench.tui.copyas import copy_dir

        records = list(self.table.rows)
        name = _time.strftime("workbench-%Y%m%d-%H%M%S.har")
        comment = f"filter: {self.filter_text}" if self.filter_text else ""
        try:
            path = write_har(records, Path.cwd() / name, comment)
        except OSError:
            try:
                path = write_har(records, copy_dir() / name, comment)
            except OSError as exc:
                self.app.notify(f"cannot save a HAR file: {exc}", severity="error")
                return
        self.last_export = str(path)
        self.app.notify(f"saved {len(records):,} requests as HAR: {path}", timeout=8)
