"""Style shared by the dashboard's tables."""

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
