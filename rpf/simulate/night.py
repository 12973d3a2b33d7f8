"""A night of frames of one field: rising airmass, jitter, a variable, a transient and bad frames."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import astropy.units as u
import numpy as np
from astropy.table import Table
from astropy.time import Time

from rpf.errors import ConfigError
from rpf.simulate.frame import SimulatedFrame, field_catalog, simulate_frame
from rpf.simulate.psf import PsfModel
from rpf.simulate.site import DEFAULT_SITE, airmass_at, times_for_airmass
from rpf.simulate.wcs import make_tan_wcs

__all__ = ["FrameDefect", "Transient", "VariableStar", "simulate_night"]

UNSOLVABLE_OFFSET_ARCMIN = 600.0
"""How far off (arcmin) the header pointing of an unsolvable frame is."""


@dataclass(frozen=True)
class VariableStar:
    """A catalogue star made to vary as ``amplitude_mag * sin(2 pi i / period_frames)`` in frame ``i``.

    ``source_id = None`` picks an isolated, well-exposed, unsaturated star near
    the centre; ``period_frames = None`` means one period over the night.
    """

    source_id: int | None = None
    amplitude_mag: float = 0.3
    period_frames: float | None = None


@dataclass(frozen=True)
class Transient:
    """A source absent from the catalogue, present from frame ``first_frame`` on.

    ``ra``/``dec`` ``None`` put it at a random position in the inner half of
    the field.  Its ``source_id`` in the truth table is ``-1``.
    """

    ra: float | None = None
    dec: float | None = None
    mag: float = 16.0
    first_frame: int = 1


@dataclass(frozen=True)
class FrameDefect:
    """What goes wrong in frame ``frame`` of a simulated night.

    Attributes
    ----------
    frame : int
        Index of the frame (0-based).
    seeing_factor : float
        The frame's FWHM is multiplied by this (bad seeing, defocus, wind shake).
    cloud_mag : float
        Grey extinction by clouds (mag): stars and sky are fainter, so the
        frame's zero point falls this far below the extinction line.
    sky_factor : float
        The sky background is multiplied by this (moon, twilight).
    unsolvable : bool
        No WCS in the header and the header pointing (``RA``/``DEC``)
        :data:`UNSOLVABLE_OFFSET_ARCMIN` away from the truth, so that no
        astrometric solution can be found for it offline.
    """

    frame: int
    seeing_factor: float = 1.0
    cloud_mag: float = 0.0
    sky_factor: float = 1.0
    unsolvable: bool = False

    def frame_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Return the ``simulate_frame`` arguments of the frame with this defect applied."""
        if self.seeing_factor <= 0 or self.sky_factor <= 0:
            msg = f"FrameDefect({self.frame}): seeing_factor and sky_factor must be > 0"
            raise ConfigError(msg)
        out = {**kwargs, "fwhm_arcsec": kwargs["fwhm_arcsec"] * self.seeing_factor}
        out["zero_point"] = kwargs.get("zero_point", 23.0) - self.cloud_mag
        if self.sky_factor != 1.0:
            out["sky_mag_arcsec2"] = kwargs.get("sky_mag_arcsec2", 20.5) - 2.5 * np.log10(self.sky_factor)
        if self.unsolvable:
            out["write_wcs"] = False
            out["pointing_error_arcmin"] = UNSOLVABLE_OFFSET_ARCMIN
        return out


def _as(kind: type, value: Any) -> Any:
    """Return ``value`` as a ``kind`` dataclass (from itself, a tuple or a dict)."""
    if value is None or isinstance(value, kind):
        return value
    if isinstance(value, dict):
        return kind(**value)
    return kind(*value)


def _defects(defects: Sequence[FrameDefect | tuple | dict], n_frames: int) -> dict[int, FrameDefect]:
    """Return the defects by frame index, checked."""
    out: dict[int, FrameDefect] = {}
    for item in defects:
        defect = _as(FrameDefect, item)
        if not 0 <= defect.frame < n_frames or defect.frame in out:
            msg = f"FrameDefect frame {defect.frame}: outside 0..{n_frames - 1} or given twice"
            raise ConfigError(msg)
        out[defect.frame] = defect
    return out


def _frame_plan(
    n_frames: int, *, airmass_range, center, date_obs: str, exptime: float, cadence_s: float, site
) -> tuple[list[str], list[float]]:
    """Return the start time and airmass of every frame."""
    if airmass_range is None:
        starts = [(Time(date_obs, scale="utc") + i * cadence_s * u.s).isot for i in range(n_frames)]
        mids = [(Time(s, scale="utc") + 0.5 * exptime * u.s).isot for s in starts]
        return starts, [airmass_at(ra=center[0], dec=center[1], time=m, site=site) for m in mids]
    wanted = np.linspace(airmass_range[0], airmass_range[1], n_frames)
    mids = times_for_airmass(ra=center[0], dec=center[1], airmass=wanted, night_start=date_obs, site=site)
    starts = [(m - 0.5 * exptime * u.s).isot for m in mids]
    return starts, [airmass_at(ra=center[0], dec=center[1], time=m, site=site) for m in mids]


def _pick_variable(catalog: Table, *, band: str, frame_kwargs: dict, rng: np.random.Generator) -> int:
    """Return the source_id of an isolated, unsaturated, well-exposed star near the field centre."""
    shape = frame_kwargs.get("shape", (1024, 1024))
    scale = frame_kwargs.get("pixel_scale", 1.0)
    wcs = make_tan_wcs(center=frame_kwargs["center"], shape=shape, pixel_scale=scale)
    x, y = wcs.all_world2pix(np.asarray(catalog["ra"]), np.asarray(catalog["dec"]), 0)
    mag = np.asarray(catalog[band], dtype=float)
    fwhm_px = frame_kwargs.get("fwhm_arcsec", 3.0) / scale
    peak_frac = float(PsfModel(fwhm_px=fwhm_px, beta=frame_kwargs.get("moffat_beta", 3.5)).surface(np.array(0.0)))
    zp = frame_kwargs.get("zero_point", 23.0) + 2.5 * np.log10(frame_kwargs.get("exptime", 60.0))
    m_sat = zp - 2.5 * np.log10(40000.0 / peak_frac)
    central = (np.abs(x - shape[1] / 2) < 0.4 * shape[1]) & (np.abs(y - shape[0] / 2) < 0.4 * shape[0])
    ok = np.flatnonzero(central & (mag > m_sat + 0.7) & (mag < m_sat + 5.0))
    for k in ok[rng.permutation(ok.size)]:
        near = np.hypot(x - x[k], y - y[k]) < 4 * fwhm_px
        if not np.any(near & (mag < mag[k] + 2.5) & (np.arange(mag.size) != k)):
            return int(catalog["source_id"][k])
    msg = "no isolated unsaturated star near the field centre to make variable; pass VariableStar(source_id=...)"
    raise ConfigError(msg)


def simulate_night(
    n_frames: int = 8,
    *,
    seed: int,
    airmass_range: tuple[float, float] | None = (1.1, 2.2),
    variable_star: VariableStar | tuple | dict | None = VariableStar(),  # noqa: B008 - frozen, immutable
    transient: Transient | tuple | dict | None = None,
    catalog: Table | None = None,
    jitter_arcsec: float = 10.0,
    seeing_jitter: float = 0.1,
    cadence_s: float = 300.0,
    defects: Sequence[FrameDefect | tuple | dict] = (),
    **frame_kwargs: Any,
) -> list[SimulatedFrame]:
    """Simulate a night of frames of one field.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    seed : int
        Random seed of the night (each frame gets its own seed from it).
    airmass_range : tuple of float or None
        Airmass of the first and last frame; frames are spaced evenly in
        airmass while the field sets, at the times astropy gives for the site
        (searching from ``date_obs``).  ``None``: frames every ``cadence_s``
        from ``date_obs``.
    variable_star : VariableStar, tuple, dict or None
        ``(source_id, amplitude_mag, period_frames)``; None for no variable.
    transient : Transient, tuple, dict or None
        ``(ra, dec, mag, first_frame)``; None for no transient.
    catalog : astropy.table.Table, optional
        The field's stars (default: a random catalogue, the same in every frame).
    jitter_arcsec : float
        RMS pointing jitter per axis between frames.
    seeing_jitter : float
        Relative RMS variation of the FWHM between frames.
    cadence_s : float
        Time between frames when ``airmass_range`` is None.
    defects : sequence of FrameDefect, tuple or dict
        Bad frames: bad seeing, clouds, bright sky, no astrometric solution
        (at most one defect per frame index).
    **frame_kwargs
        Passed to :func:`rpf.simulate.simulate_frame` (``center``, ``shape``,
        ``exptime``, ``date_obs``, ``instrument``, ...); ``airmass``,
        ``catalog``, ``seed``, ``extra_stars`` and ``star_mag_offsets`` are set
        per frame.

    Returns
    -------
    list of SimulatedFrame
        One per frame; ``truth.params["night"]`` holds the frame index, the
        variable's ``source_id`` and ``delta_mag``, the transient and the
        frame's ``defect`` (a dict, or None).

    Raises
    ------
    rpf.errors.ConfigError
        For an unreachable airmass range or invalid arguments.
    """
    reserved = {"airmass", "catalog", "seed", "extra_stars", "star_mag_offsets"} & set(frame_kwargs)
    if reserved or n_frames < 1:
        msg = f"simulate_night sets {sorted(reserved)} itself and needs n_frames >= 1 (got {n_frames})"
        raise ConfigError(msg)
    variable = _as(VariableStar, variable_star)
    trans = _as(Transient, transient)
    bad = _defects(defects, n_frames)
    rng = np.random.default_rng(seed)
    frame_kwargs = {"center": (150.0, 20.0), "date_obs": "2026-03-15T18:00:00", **frame_kwargs}
    center = frame_kwargs["center"]
    shape = frame_kwargs.get("shape", (1024, 1024))
    scale = frame_kwargs.get("pixel_scale", 1.0)
    if catalog is None:
        catalog = field_catalog(center, shape, scale, seed)
    band = frame_kwargs.get("band", "V_mag")
    var_id = None
    if variable is not None:
        var_id = variable.source_id
        if var_id is None:
            var_id = _pick_variable(catalog, band=band, frame_kwargs=frame_kwargs, rng=rng)
    extra = None
    if trans is not None:
        ra_t, dec_t = trans.ra, trans.dec
        if ra_t is None or dec_t is None:
            wcs = make_tan_wcs(center=center, shape=shape, pixel_scale=scale)
            xy = rng.uniform(0.25, 0.75, 2) * np.array([shape[1], shape[0]])
            ra_t, dec_t = (float(v) for v in wcs.all_pix2world(xy[0], xy[1], 0))
        extra = Table({"source_id": [-1], "ra": [ra_t], "dec": [dec_t], "mag": [trans.mag], "color": [0.5]})
    starts, airmasses = _frame_plan(
        n_frames,
        airmass_range=airmass_range,
        center=center,
        date_obs=frame_kwargs["date_obs"],
        exptime=frame_kwargs.get("exptime", 60.0),
        cadence_s=cadence_s,
        site=frame_kwargs.get("site", DEFAULT_SITE),
    )
    base_fwhm = frame_kwargs.get("fwhm_arcsec", 3.0)
    period = (variable.period_frames or n_frames) if variable is not None else 1
    frames = []
    for i in range(n_frames):
        dm = variable.amplitude_mag * np.sin(2 * np.pi * i / period) if variable is not None else 0.0
        jitter = rng.normal(0.0, jitter_arcsec / 3600.0, 2)
        pointing = (center[0] + jitter[0] / np.cos(np.radians(center[1])), center[1] + jitter[1])
        fwhm = base_fwhm * float(np.clip(1.0 + seeing_jitter * rng.normal(), 0.7, 1.3))
        show_transient = extra is not None and i >= trans.first_frame
        kwargs = {**frame_kwargs, "center": pointing, "date_obs": starts[i], "fwhm_arcsec": fwhm}
        if i in bad:
            kwargs = bad[i].frame_kwargs(kwargs)
        sim = simulate_frame(
            catalog=catalog,
            seed=int(rng.integers(2**31)),
            airmass=airmasses[i],
            extra_stars=extra if show_transient else None,
            star_mag_offsets={var_id: dm} if var_id is not None else None,
            **kwargs,
        )
        sim.truth.params["night"] = {
            "frame_index": i,
            "variable_source_id": var_id,
            "variable_delta_mag": float(dm),
            "transient": None
            if trans is None
            else {
                "ra": float(extra["ra"][0]),
                "dec": float(extra["dec"][0]),
                "mag": trans.mag,
                "first_frame": trans.first_frame,
                "present": show_transient,
            },
            "defect": asdict(bad[i]) if i in bad else None,
        }
        frames.append(sim)
    return frames
