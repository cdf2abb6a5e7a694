"""Actions that work everywhere: switching views, help, saving, themes, quitting; and the
navigation every list shares."""

from __future__ import annotations

from workbench.tui.actions.model import Action

_VIEWS = (
    ("1", "traffic", "Traffic"),
    ("2", "backends", "Backends"),
    ("3", "cache", "Cache"),
    ("4", "rules", "Rules"),
    ("5", "overview", "Overview"),
    ("6", "lessons", "Lessons"),
    ("7", "charts", "Charts"),
)

APP_ACTIONS: tuple[Action, ...] = (
    *(
        Action(
            f"view_{view}",
            "app",
            f"show_view('{view}')",
            key,
            title,
            f"Show the {title} view",
            show=False,
            title=f"View: {title}",
        )
        for key, view, title in _VIEWS
    ),
    Action(
        "next_view",
        "app",
        "next_view",
        "tab",
        "Next view",
        "Cycle through the views",
        show=False,
        priority=True,
        title="View: next",
    ),
    Action(
        "lessons",
        "app",
        "show_view('lessons')",
        "l",
        "Lessons",
        "Open the guided lessons (inside Lessons: the next lesson)",
        show=False,
        palette=False,
    ),
    Action(
        "help",
        "app",
        "help",
        "question_mark",
        "Help",
        "Every key, by view",
        title="Help: every key",
    ),
    Action(
        "save_config",
        "app",
        "save_config",
        "s",
        "Save",
        "Save the live configuration (weights, algorithms, rules) to a new YAML file",
        title="Save live configuration…",
    ),
    Action(
        "projector",
        "app",
        "toggle_projector",
        "ctrl+t",
        "Projector",
        "Projector theme on/off: high contrast for a beamer",
        show=False,
        title="Theme: projector on/off",
    ),
    Action(
        "screenshot",
        "app",
        "screenshot",
        "",
        "Screenshot",
        "Save an SVG screenshot of the screen in the current directory",
        title="Screenshot",
    ),
    Action(
        "demo_traffic",
        "app",
        "toggle_traffic",
        "",
        "Demo traffic",
        "Start or stop the built-in traffic generator",
        demo=True,
        title="Demo: traffic on/off",
    ),
    *(
        Action(
            f"privacy_{mode}",
            "app",
            f"set_privacy('{mode}')",
            "",
            f"Privacy {mode}",
            f"Forward proxy privacy mode {mode}: {what}",
            title=f"Forward proxy: privacy {mode}",
        )
        for mode, what in (
            ("transparent", "the origin sees X-Forwarded-For (the client) and Via"),
            ("anonymous", "the origin sees Via, not the client's address"),
            ("elite", "no forwarding headers; the origin sees only the proxy's address"),
        )
    ),
    Action(
        "quit",
        "app",
        "request_quit",
        "q",
        "Quit",
        "Stop the proxies and leave (asks first)",
        confirm=True,
        title="Quit",
    ),
)
"""Actions of the ``app`` scope: they work in every view."""

LIST_ACTIONS: tuple[Action, ...] = (
    Action(
        "cursor-up",
        "list",
        "cursor_up",
        "up,k",
        "Up",
        "Select the previous row",
        show=False,
        palette=False,
    ),
    Action(
        "cursor-down",
        "list",
        "cursor_down",
        "down,j",
        "Down",
        "Select the next row",
        show=False,
        palette=False,
    ),
    Action(
        "page-up",
        "list",
        "page_up",
        "pageup",
        "Page up",
        "Move the selection one page up",
        show=False,
        palette=False,
    ),
    Action(
        "page-down",
        "list",
        "page_down",
        "pagedown",
        "Page down",
        "Move the selection one page down",
        show=False,
        palette=False,
    ),
    Action(
        "first-row",
        "list",
        "scroll_top",
        "home,g",
        "First",
        "Select the first row",
        show=False,
        palette=False,
    ),
    Action(
        "last-row",
        "list",
        "scroll_bottom",
        "end,G",
        "Last",
        "Select the last row",
        show=False,
        palette=False,
    ),
)
"""The ``list`` scope: the same navigation keys in every list."""
