"""Per-frame output products, every one written atomically.

Each writer goes through :func:`atomic_path`: the product appears complete
under its final name or not at all, even if the process dies mid-write.
"""

from rpf.products.atomic import atomic_path, write_atomic
from rpf.products.bundle import write_zip
from rpf.products.metadata import to_jsonable, write_metadata_json
from rpf.products.preview import write_preview_png
from rpf.products.tables import write_catalog_csv
from rpf.products.text import write_header_text, write_wcs_products

__all__ = [
    "atomic_path",
    "to_jsonable",
    "write_atomic",
    "write_catalog_csv",
    "write_header_text",
    "write_metadata_json",
    "write_preview_png",
    "write_wcs_products",
    "write_zip",
]
