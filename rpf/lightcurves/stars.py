"""Stars cross-identified across frames, one frame at a time.

:class:`NightStars` is immutable: :meth:`NightStars.add` returns a new one
with one more frame, at the cost of one sky match of that frame against the
stars known so far (``rpf.skymatch.match_sky``: a source joins a star when
the two are mutual nearest neighbours within the radius, otherwise it starts
a new star, so a transient gets its own star from the frame it first appears
in).  A dashboard keeps the latest one and adds each frame as it finishes;
:func:`cross_identify` builds one from a list of frames in time order.
Star positions are the mean over the frames that saw them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from rpf.errors import PhotometryError
from rpf.lightcurves.ensemble import row_median
from rpf.lightcurves.frames import FramePhotometry, FrameRecord
from rpf.skymatch import match_sky, unit_vectors

__all__ = ["NightStars", "StarMatrices", "cross_identify", "night_stars", "time_order"]


def _radec(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the mean direction (degrees) of sums of unit vectors."""
    if not len(sums):
        return np.empty(0), np.empty(0)
    unit = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    return np.degrees(np.arctan2(unit[:, 1], unit[:, 0])) % 360.0, np.degrees(np.arcsin(np.clip(unit[:, 2], -1, 1)))


@dataclass(frozen=True, eq=False)
class StarMatrices:
    """Per (star, frame) measurements: arrays of shape ``(n_stars, n_frames)``, NaN where absent.

    Attributes
    ----------
    mag, mag_err : ndarray
        Calibrated magnitudes and errors.
    inst, inst_err : ndarray
        Instrumental magnitudes and errors.
    flags : ndarray of int
        Source flags (0 where absent).
    present : ndarray of bool
        The star was detected in the frame.
    colors : ndarray
        Catalogue colour of the matched reference star (NaN when unmatched).
    known_variable : ndarray of bool
        Per star, cross-matched with a known variable in some frame.
    """

    mag: np.ndarray
    mag_err: np.ndarray
    inst: np.ndarray
    inst_err: np.ndarray
    flags: np.ndarray
    present: np.ndarray
    colors: np.ndarray
    known_variable: np.ndarray

    @cached_property
    def color(self) -> np.ndarray:
        """Per star, the median of ``colors`` (NaN when never matched)."""
        return row_median(self.colors) if self.colors.shape[1] else np.full(self.colors.shape[0], np.nan)


_MEASURED = (("mag", "mag"), ("mag_err", "mag_err"), ("inst", "mag_inst"), ("inst_err", "mag_inst_err"),
             ("colors", "color"))
"""Matrix name and the :class:`FramePhotometry` attribute it is filled from."""


def _matrices(frames: Sequence[FramePhotometry], ids: Sequence[np.ndarray], n_stars: int,
              base: StarMatrices | None = None) -> StarMatrices:
    """Fill the matrices of ``frames`` (appended after the columns of ``base``, padded to ``n_stars`` rows)."""
    done = 0 if base is None else base.mag.shape[1]
    shape = (n_stars, done + len(frames))
    out: dict[str, np.ndarray] = {}
    for name, fill in ((n, np.nan) for n, _ in _MEASURED):
        out[name] = np.full(shape, fill)
    out["flags"], out["present"] = np.zeros(shape, np.int64), np.zeros(shape, bool)
    variable = np.zeros(n_stars, bool)
    if base is not None:
        rows = base.mag.shape[0]
        for name in out:
            out[name][:rows, :done] = getattr(base, name)
        variable[:rows] = base.known_variable
    for f, (frame, star) in enumerate(zip(frames, ids, strict=True), start=done):
        ok = star >= 0
        s = star[ok]
        for name, attribute in _MEASURED:
            out[name][s, f] = getattr(frame, attribute)[ok]
        out["flags"][s, f], out["present"][s, f] = frame.flags[ok], True
        variable[s[frame.known_variable[ok]]] = True
    return StarMatrices(known_variable=variable, **out)


@dataclass(frozen=True, eq=False)
class NightStars:
    """The stars of the frames so far (immutable; :meth:`add` returns a new one).

    Attributes
    ----------
    radius_arcsec : float
        Cross-identification radius (for a run: ``rpf.pipeline.finish.match_radius_arcsec(metadata)``).
    frames : tuple of FramePhotometry
        The frames, in the order they were added.
    ids : tuple of ndarray
        Per frame, the star number of each source (-1 without a finite position).
    """

    radius_arcsec: float = 2.0
    frames: tuple[FramePhotometry, ...] = ()
    ids: tuple[np.ndarray, ...] = ()
    sums: np.ndarray = field(default_factory=lambda: np.empty((0, 3)), repr=False)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.radius_arcsec) and self.radius_arcsec > 0):
            raise PhotometryError(f"light curves: match radius must be > 0 arcsec, got {self.radius_arcsec}")

    @property
    def n_stars(self) -> int:
        """Number of stars so far."""
        return len(self.sums)

    @property
    def n_frames(self) -> int:
        """Number of frames so far."""
        return len(self.frames)

    def add(self, frame: FramePhotometry) -> NightStars:
        """Return the stars with one more frame matched in.

        Raises
        ------
        rpf.errors.PhotometryError
            A frame of the same name is already in.
        """
        if any(f.frame == frame.frame for f in self.frames):
            raise PhotometryError(f"light curves: frame {frame.frame} added twice")
        good = np.flatnonzero(np.isfinite(frame.ra) & np.isfinite(frame.dec))
        star = np.full(len(good), -1, np.int64)
        if self.n_stars and len(good):
            known_ra, known_dec = self.positions
            source, known = match_sky(frame.ra[good], frame.dec[good], known_ra, known_dec,
                                      radius_arcsec=self.radius_arcsec)
            star[source] = known
        new = star < 0
        star[new] = np.arange(self.n_stars, self.n_stars + int(new.sum()))
        sums = np.vstack([self.sums, np.zeros((int(new.sum()), 3))])
        np.add.at(sums, star, unit_vectors(frame.ra[good], frame.dec[good]))
        ids = np.full(len(frame.ra), -1, np.int64)
        ids[good] = star
        stars = NightStars(radius_arcsec=self.radius_arcsec, frames=(*self.frames, frame), ids=(*self.ids, ids),
                           sums=sums)
        if "matrices" in self.__dict__:  # extend the matrices already built rather than rebuild them
            stars.__dict__["matrices"] = _matrices([frame], [ids], len(sums), base=self.matrices)
        return stars

    def extend(self, frames: Iterable[FramePhotometry]) -> NightStars:
        """Return the stars with several frames added in turn."""
        stars = self
        for frame in frames:
            stars = stars.add(frame)
        return stars

    @cached_property
    def positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean ``(ra, dec)`` of each star, degrees."""
        return _radec(self.sums)

    @cached_property
    def matrices(self) -> StarMatrices:
        """The measurements of every star in every frame (built once per instance, extended by :meth:`add`)."""
        return _matrices(self.frames, self.ids, self.n_stars)

    def nearest(self, ra: float, dec: float, *, radius_arcsec: float | None = None) -> int:
        """Return the number of the star nearest to a position.

        Raises
        ------
        rpf.errors.PhotometryError
            No star within the radius (default: the cross-identification radius).
        """
        radius = self.radius_arcsec if radius_arcsec is None else radius_arcsec
        star_ra, star_dec = self.positions
        _, found = match_sky([ra], [dec], star_ra, star_dec, radius_arcsec=radius)
        if found.size == 0:
            raise PhotometryError(f"light curves: no star within {radius:.2f}\" of RA {ra:.6f}, Dec {dec:.6f} "
                                  f"in {self.n_frames} frame(s)")
        return int(found[0])

    def resolve(self, items: Iterable[Any], *, what: str = "stars") -> np.ndarray:
        """Return the star numbers of stars given by number or by ``(ra, dec)`` (the nearest within the radius).

        Raises
        ------
        rpf.errors.PhotometryError
            An unknown star number, or no star near a position.
        """
        chosen = []
        for item in items:
            if np.ndim(item) == 0:
                star = int(item)
                if not 0 <= star < self.n_stars:
                    raise PhotometryError(f"{what}: no star number {star}")
            else:
                star = self.nearest(*(float(v) for v in item))
            chosen.append(star)
        return np.array(chosen, np.int64)

    def labels(self, stars: Sequence[int]) -> list[str]:
        """Return each star's most frequent catalogue identifier, else its position (``Jhhmmss.ss+ddmmss.s``)."""
        wanted = np.asarray(stars, np.int64)
        names: dict[int, Counter] = {int(s): Counter() for s in wanted}
        for frame, ids in zip(self.frames, self.ids, strict=True):
            rows = np.flatnonzero(np.isin(ids, wanted) & (frame.cat_id != ""))
            for star, name in zip(ids[rows], frame.cat_id[rows], strict=True):
                names[int(star)][str(name)] += 1
        ra, dec = self.positions
        return [names[int(s)].most_common(1)[0][0] if names[int(s)] else _position_label(ra[s], dec[s])
                for s in wanted]


def _position_label(ra: float, dec: float) -> str:
    seconds = round(float(ra) / 15.0 * 3600.0, 2) % 86400.0
    arcsec = round(abs(float(dec)) * 3600.0, 1)
    sign = "-" if dec < 0 else "+"
    return (f"J{int(seconds // 3600):02d}{int(seconds % 3600 // 60):02d}{seconds % 60:05.2f}"
            f"{sign}{int(arcsec // 3600):02d}{int(arcsec % 3600 // 60):02d}{arcsec % 60:04.1f}")


def time_order(frames: Sequence[FramePhotometry]) -> list[int]:
    """Return the indices of the frames in time order (frames without a time last, in input order)."""
    return sorted(range(len(frames)), key=lambda i: (frames[i].mjd is None, frames[i].mjd or 0.0, i))


def cross_identify(
    frames: Sequence[FramePhotometry], *, radius_arcsec: float = 2.0
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Give every source of every frame a star number by sky position.

    Parameters
    ----------
    frames : sequence of FramePhotometry
        The catalogues (any order; matched in time order).
    radius_arcsec : float
        Match radius.

    Returns
    -------
    ids : list of ndarray
        Per frame (in the input order), the star number of each source
        (-1 for sources without a finite position).
    ra, dec : ndarray
        Mean position of each star (degrees).
    """
    order = time_order(frames)
    stars = NightStars(radius_arcsec=radius_arcsec).extend(frames[i] for i in order)
    ids: list[np.ndarray] = [np.empty(0, np.int64)] * len(frames)
    for i, star in zip(order, stars.ids, strict=True):
        ids[i] = star
    ra, dec = stars.positions
    return ids, ra, dec


def night_stars(results: Iterable[FrameRecord], *, radius_arcsec: float) -> NightStars:
    """Cross-identify the stars of finished frames (in time order), skipping frames without sky positions.

    Parameters
    ----------
    results : iterable of FrameRecord
        Finished frames (``FrameDone`` results); failed frames, frames
        without a photometry table and unsolved frames are left out.
    radius_arcsec : float
        Cross-identification radius.
    """
    frames = []
    for result in results:
        if result.metadata.get("status", "ok") != "ok" or result.phot is None:
            continue
        frame = FramePhotometry.from_result(result)
        if frame.has_positions:
            frames.append(frame)
    return NightStars(radius_arcsec=radius_arcsec).extend(frames[i] for i in time_order(frames))
