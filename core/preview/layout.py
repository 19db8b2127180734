"""Where each widget sits on Datadog's 12-column grid.

An ordered dashboard (``reflow`` auto) flows widgets left to right in their default size
and wraps when a row is full; a group spans the full width and holds its own grid. A
widget's :class:`~obs.dashboards.widgets.Layout` sets its size, and on a ``fixed`` dashboard
its position too.

Example:
    >>> from obs.dashboards.widgets import Note, QueryValue, Timeseries
    >>> place([QueryValue("a", ()), Timeseries("b", ()), Timeseries("c", ()), Note("d")])
    [Box(x=0, y=0, width=2, height=2), Box(x=2, y=0, width=4, height=2), \
Box(x=6, y=0, width=4, height=2), Box(x=0, y=2, width=4, height=2)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from obs.dashboards.widgets import Group, QueryValue, Widget

COLUMNS = 12


@dataclass(frozen=True)
class Box:
    """A widget's cell on the grid, in grid units."""

    x: int
    y: int
    width: int
    height: int


def default_size(widget: Widget, *, fixed: bool = False) -> tuple[int, int]:
    """(width, height) of a widget without a layout: what the Datadog editor gives it; a
    group is as tall as its widgets."""
    if isinstance(widget, Group):
        inner = place(widget.widgets, fixed=fixed)
        return COLUMNS, max((b.y + b.height for b in inner), default=1)
    if isinstance(widget, QueryValue):
        return 2, 2
    return 4, 2


def place(widgets: Sequence[Widget], *, fixed: bool = False) -> list[Box]:
    """The boxes of ``widgets`` in order; positions from the layouts when ``fixed``."""
    boxes: list[Box] = []
    x = y = row_height = 0
    for widget in widgets:
        width, height = default_size(widget, fixed=fixed)
        layout = widget.layout
        if layout is not None:
            # a group grows to hold its widgets whatever its layout says
            minimum = height if isinstance(widget, Group) else 1
            width, height = layout.width, max(layout.height, minimum)
            if fixed:
                boxes.append(Box(layout.x, layout.y, width, height))
                continue
        width = min(width, COLUMNS)
        if x + width > COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        boxes.append(Box(x, y, width, height))
        x += width
        row_height = max(row_height, height)
    return boxes
