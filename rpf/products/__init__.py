"""Per-frame output products, every one written atomically.

Each writer goes through :func:`atomic_path`: the product appears complete
under its final name or not at all, even if the process dies mid-write.
"""

from rpf.atomic import atomic_path, write_atomic
from rpf.products.bundle import write_zip
from rpf.products.columns import COLUMNS, column_doc, phot_dataframe, with_units
from rpf.products.metadata import to_jsonable, write_metadata_json
from rpf.products.pixels import FramePixels, read_calibrated_fits, write_calibrated_fits
from rpf.products.preview import write_preview_png
from rpf.products.tables import write_catalog_csv, write_catalog_ecsv
from rpf.products.text import write_header_text, write_wcs_products

__all__ = [
    "COLUMNS",
    "FramePixels",
    "atomic_path",
    "column_doc",
    "phot_dataframe",
    "read_calibrated_fits",
    "to_jsonable",
    "with_units",
    "write_atomic",
    "write_calibrated_fits",
    "write_catalog_csv",
    "write_catalog_ecsv",
    "write_header_text",
    "write_metadata_json",
    "write_preview_png",
    "write_wcs_products",
    "write_zip",
]
