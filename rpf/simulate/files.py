"""Writing simulated frames and a complete demo data set to disk."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from astropy.io import fits

from rpf.atomic import atomic_path
from rpf.errors import ConfigError
from rpf.simulate.calibration import simulate_calibration_frames
from rpf.simulate.frame import SimulatedFrame, field_catalog
from rpf.simulate.instrument import InstrumentModel
from rpf.simulate.night import Transient, VariableStar, simulate_night

__all__ = ["write_demo_dataset", "write_fits"]


def write_fits(
    sim_or_array: SimulatedFrame | np.ndarray,
    path: str | os.PathLike,
    header: fits.Header | None = None,
    *,
    compress: bool = False,
) -> Path:
    """Write a raw frame to a FITS file atomically (overwriting ``path``).

    Parameters
    ----------
    sim_or_array : SimulatedFrame or numpy.ndarray
        A simulated frame (its ``raw`` and ``header``) or a bare array such as
        a calibration frame.
    path : str or os.PathLike
        Output file (``.fits``; use ``.fits.fz`` with ``compress``).
    header : astropy.io.fits.Header, optional
        Header to write; for a SimulatedFrame, its cards override the frame's.
    compress : bool
        Write a Rice tile-compressed image extension (lossless for integers)
        after an empty primary HDU.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    if isinstance(sim_or_array, SimulatedFrame):
        data = sim_or_array.raw
        hdr = sim_or_array.header.copy()
        if header is not None:
            hdr.update(header)
    else:
        data = np.asarray(sim_or_array)
        hdr = header.copy() if header is not None else fits.Header()
    if data.ndim != 2:
        msg = f"write_fits expects a 2-D image, got shape {data.shape}"
        raise ConfigError(msg)
    if compress:
        hdul = fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data=data, header=hdr, compression_type="RICE_1")])
    else:
        hdul = fits.HDUList([fits.PrimaryHDU(data=data, header=hdr)])
    path = Path(path)
    with atomic_path(path) as temporary:
        hdul.writeto(temporary, overwrite=True)
    return path


def write_demo_dataset(
    out_dir: str | os.PathLike,
    *,
    n_frames: int = 4,
    seed: int = 0,
    shape: tuple[int, int] = (1024, 1024),
    n_calib: int = 3,
) -> dict:
    """Write a night of science frames, calibration frames and a reference catalogue.

    The night has a variable star and, from frame 1 on, a transient
    (see :func:`rpf.simulate.simulate_night`); the truth of each frame is
    written next to it as ECSV (typed columns).

    Parameters
    ----------
    out_dir : str or os.PathLike
        Directory (created).
    n_frames : int
        Number of science frames.
    seed : int
        Random seed.
    shape : tuple of int
        Frame shape ``(ny, nx)``.
    n_calib : int
        Number of bias, dark and flat frames each.

    Returns
    -------
    dict
        ``science``, ``bias``, ``dark``, ``flat``, ``truth``: lists of paths;
        ``catalog``: the reference catalogue CSV (Gaia column names).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    instrument = InstrumentModel(seed=seed)
    center, scale = (150.0, 20.0), 1.0
    catalog = field_catalog(center, shape, scale, seed, stars_per_deg2=5000.0)
    night = simulate_night(
        n_frames,
        seed=seed,
        catalog=catalog,
        center=center,
        shape=shape,
        pixel_scale=scale,
        instrument=instrument,
        airmass_range=(1.1, min(2.2, 1.1 + 0.3 * (n_frames - 1))),
        variable_star=VariableStar(),
        transient=Transient(first_frame=1),
    )
    paths: dict = {"science": [], "truth": [], "bias": [], "dark": [], "flat": []}
    for i, sim in enumerate(night):
        paths["science"].append(write_fits(sim, out / f"sim_{i:03d}.fits"))
        truth = out / f"sim_{i:03d}_truth.ecsv"
        sim.truth.stars.write(truth, format="ascii.ecsv", overwrite=True)
        paths["truth"].append(truth)
    calib = simulate_calibration_frames(
        instrument, shape=shape, seed=seed + 1, n_bias=n_calib, n_dark=n_calib, n_flat=n_calib
    )
    for kind, frames in calib.items():
        for i, (data, header) in enumerate(frames):
            paths[kind].append(write_fits(data, out / f"{kind}_{i:03d}.fits", header))
    paths["catalog"] = out / "reference_catalog.csv"
    catalog.write(paths["catalog"], format="ascii.csv", overwrite=True)
    return paths
