"""What the dashboard's tables share: their style and how a table of columns becomes Tabulator options."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bokeh.models.widgets.tables import NumberFormatter

HOVER_CSS = """
.pnx-tabulator.tabulator .tabulator-tableholder .tabulator-table .tabulator-row.tabulator-selectable:hover {
  color: var(--bs-body-color, #212529);
}
.tabulator-row.tabulator-selectable:hover > .tabulator-cell.tabulator-frozen {
  background-color: color-mix(in srgb, var(--bs-primary-bg, #0072b5) 25%, var(--bs-body-bg, #fff));
}
"""
"""A hovered row keeps dark text (the Bootstrap theme's white is unreadable on its light tint), and a
frozen cell gets the tint made opaque (the theme's is over transparent), so it hides the cells
scrolled beneath it."""

HEADER_CSS = ".tabulator-col-title { font-size: 13px; }"
"""Headers in 13 px type: the column widths are set for it (the served theme's headers are larger)."""


def number_format(pattern: str, *, align: str = "right") -> NumberFormatter:
    """Return a formatter of numbers to a fixed precision, blank where there is none (no "NaN")."""
    return NumberFormatter(format=pattern, nan_format="", null_format="", text_align=align)


def column_options(columns: Sequence[tuple], *, align: str = "right") -> dict[str, Any]:
    """Return Tabulator's ``titles``, ``header_tooltips``, ``widths`` and ``formatters`` for a table of columns.

    Each column is ``(name, header, number format or None, width in px or None, header tooltip)``.
    New formatters at each call: a Bokeh model belongs to one page.
    """
    return {
        "titles": {name: title for name, title, *_ in columns},
        "header_tooltips": {name: tip for name, *_, tip in columns},
        "widths": {name: width for name, _, _, width, _ in columns if width},
        "formatters": {name: number_format(fmt, align=align) for name, _, fmt, *_ in columns if fmt},
    }
