"""Products of the optional stages: zero-point plot, PSF model, transients."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rpf.atomic import atomic_path
from rpf.pipeline.context import RunContext
from rpf.pipeline.state import FrameState
from rpf.products import write_catalog_csv

__all__ = ["write_optional_products"]


def write_optional_products(state: FrameState, base: Path, ctx: RunContext) -> dict[str, str]:
    """Write the products whose stage ran; return ``{kind: path}``."""
    if state.error is not None:
        return {}
    written: dict[str, str] = {}
    if state.zero_point is not None and ctx.config.output.png:
        from rpf.zeropoint import plot_zero_point

        path = f"{base}_zero_point.png"
        with atomic_path(path) as temporary:
            plot_zero_point(state.zero_point, temporary, title=Path(state.path).name)
        written["zero_point"] = path
    if state.psf is not None:
        path = f"{base}_psf.fits"
        with atomic_path(path) as temporary:
            state.psf.to_fits(temporary)
        written["psf"] = path
        if ctx.config.output.png and hasattr(state.psf, "to_png"):
            with atomic_path(f"{base}_psf.png") as temporary:
                state.psf.to_png(temporary)
            written["psf_png"] = f"{base}_psf.png"
    phot = state.phot
    if phot is not None and "transient_candidate" in phot.colnames:
        candidates = phot[np.asarray(phot["transient_candidate"], dtype=bool)]
        path = f"{base}_transients.csv"
        write_catalog_csv(candidates, path)
        written["transients"] = path
    from rpf.pipeline.transient_steps import write_transient_products

    written.update(write_transient_products(state, base))
    return written
