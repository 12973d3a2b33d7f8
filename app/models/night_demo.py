"""A small simulated night with known defects, for the night view's demo, notebook and tests.

Frames of one field while it sets (airmass 1.1-2.2, extinction 0.2 mag per
airmass) with a variable star, a transient and three spoiled frames: bad
seeing, no astrometric solution and clouds.  The truth travels with the
paths so that a test can check what the night view shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rpf.config import PipelineConfig
from rpf.errors import ConfigError

__all__ = ["DEMO_DEFECTS", "NightDemo", "demo_config", "write_night_demo"]

DEMO_DEFECTS = {2: "fwhm", 5: "astrometry", 6: "zero_point"}
"""Spoiled frames of the demo night (index -> the quality flag it must raise)."""

PIXEL_SCALE = 2.0
CENTER = (150.0, 20.0)


@dataclass(frozen=True)
class NightDemo:
    """The files of a demo night and what is true about it.

    Attributes
    ----------
    science, bias, dark, flat : tuple of str
        FITS paths.
    catalog : str
        The reference catalogue (CSV, Gaia column names) to calibrate with.
    variable : tuple of float
        ``(ra, dec)`` of the variable star (degrees).
    variable_mag : float
        Its catalogue magnitude (the mean of its light curve).
    variable_delta : tuple of float
        Its true magnitude offset in each frame.
    transient : tuple of float
        ``(ra, dec)`` of the transient.
    defects : dict
        Frame index -> the quality flag the frame must raise (:data:`DEMO_DEFECTS`).
    """

    science: tuple[str, ...]
    bias: tuple[str, ...]
    dark: tuple[str, ...]
    flat: tuple[str, ...]
    catalog: str
    variable: tuple[float, float]
    variable_mag: float
    variable_delta: tuple[float, ...]
    transient: tuple[float, float]
    defects: dict[int, str] = field(default_factory=dict)


def _variable_source(catalog: Any, size: int) -> int:
    """Return the isolated star of magnitude 14-16 nearest the field's centre (it becomes the variable)."""
    mag = np.asarray(catalog["V_mag"], float)
    dx = (np.asarray(catalog["ra"], float) - CENTER[0]) * np.cos(np.radians(CENTER[1])) * 3600.0
    dy = (np.asarray(catalog["dec"], float) - CENTER[1]) * 3600.0
    distance = np.hypot(dx, dy)
    best, chosen = np.inf, None
    for k in np.flatnonzero((mag > 14.0) & (mag < 16.0) & (distance < 0.3 * size * PIXEL_SCALE)):
        close = np.hypot(dx - dx[k], dy - dy[k]) < 20.0
        close[k] = False
        if not np.any(close & (mag < mag[k] + 3.0)) and distance[k] < best:
            best, chosen = distance[k], k
    if chosen is None:
        raise ConfigError("demo night: no isolated star of magnitude 14-16 to make variable (try another seed)")
    return int(catalog["source_id"][chosen])


def write_night_demo(folder: str | Path, *, n_frames: int = 8, size: int = 256, seed: int = 8) -> NightDemo:
    """Simulate the demo night and write its frames, calibration frames and catalogue.

    Parameters
    ----------
    folder : str or Path
        Where to write (created).
    n_frames : int
        Science frames (at least 8, so that every defect has a frame).
    size : int
        Frame side in pixels (2" per pixel).
    seed : int
        Random seed.

    Returns
    -------
    NightDemo
    """
    from rpf.simulate import (
        FrameDefect,
        InstrumentModel,
        Transient,
        VariableStar,
        field_catalog,
        simulate_calibration_frames,
        simulate_night,
        write_fits,
    )

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    shape = (size, size)
    instrument = InstrumentModel(seed=seed)
    catalog = field_catalog(CENTER, shape, PIXEL_SCALE, seed)
    frames = simulate_night(
        max(n_frames, 8), seed=seed, catalog=catalog, center=CENTER, shape=shape, pixel_scale=PIXEL_SCALE,
        instrument=instrument, extinction_k=0.2, n_cosmic_rays=0, jitter_arcsec=3.0,
        variable_star=VariableStar(source_id=_variable_source(catalog, size), amplitude_mag=0.3,
                                   period_frames=max(n_frames, 8)),
        transient=Transient(mag=15.5, first_frame=3),
        defects=[FrameDefect(2, seeing_factor=2.5), FrameDefect(5, unsolvable=True), FrameDefect(6, cloud_mag=0.5)],
    )  # fmt: skip
    science = tuple(str(write_fits(sim, out / f"night_{i:02d}.fits")) for i, sim in enumerate(frames))
    calib = simulate_calibration_frames(instrument, shape=shape, seed=seed + 1, n_bias=2, n_dark=2, n_flat=2)
    masters = {kind: tuple(str(write_fits(data, out / f"{kind}_{i}.fits", header))
                           for i, (data, header) in enumerate(items)) for kind, items in calib.items()}
    catalog_path = out / "reference.csv"
    catalog.write(catalog_path, format="ascii.csv", overwrite=True)
    night = [sim.truth.params["night"] for sim in frames]
    row = list(catalog["source_id"]).index(night[0]["variable_source_id"])
    transient = night[-1]["transient"]
    return NightDemo(
        science=science, bias=masters["bias"], dark=masters["dark"], flat=masters["flat"], catalog=str(catalog_path),
        variable=(float(catalog["ra"][row]), float(catalog["dec"][row])), variable_mag=float(catalog["V_mag"][row]),
        variable_delta=tuple(float(n["variable_delta_mag"]) for n in night),
        transient=(float(transient["ra"]), float(transient["dec"])), defects=dict(DEMO_DEFECTS),
    )  # fmt: skip


def demo_config(demo: NightDemo, *, base: PipelineConfig | None = None) -> PipelineConfig:
    """Return the configuration that reduces the demo night offline (its catalogue, no cross-matches, no PNGs)."""
    base = PipelineConfig() if base is None else base
    return base.replace(
        catalogs={"catalog_file": demo.catalog, "reference": "file", "offline": True, "crossmatch": ()},
        output={"png": False, "zip": False},
        cosmics={"enabled": False},
        background={"box_size": 64},
    )
