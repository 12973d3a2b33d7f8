"""Cosmic-ray hits: short straight ones (:func:`cosmic_ray_image`) and lifelike ones."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["KINDS", "CosmicRayTruth", "cosmic_ray_image", "realistic_cosmic_rays"]


def cosmic_ray_image(
    shape: tuple[int, int],
    *,
    n_hits: int,
    rng: np.random.Generator,
    adu_range: tuple[float, float] = (1500.0, 9000.0),
    max_length_px: float = 4.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Return cosmic-ray charge (ADU) and the mask of the pixels hit.

    Each hit is a straight track of random direction and length up to
    ``max_length_px`` (length 0 is a single pixel); every pixel it crosses
    gets a charge drawn uniformly from ``adu_range``.  Hits are not smoothed
    by the PSF.

    Parameters
    ----------
    shape : tuple of int
        Image shape ``(ny, nx)``.
    n_hits : int
        Number of cosmic rays.
    rng : numpy.random.Generator
        Random source.
    adu_range : tuple of float
        Range of the charge per hit pixel (ADU).
    max_length_px : float
        Longest track (pixels).

    Returns
    -------
    image : numpy.ndarray
        Float64 charge per pixel (ADU).
    mask : numpy.ndarray
        True where a cosmic ray deposited charge.
    """
    ny, nx = shape
    image = np.zeros(shape)
    if n_hits <= 0:
        return image, np.zeros(shape, dtype=bool)
    x0 = rng.uniform(-0.5, nx - 0.5, n_hits)
    y0 = rng.uniform(-0.5, ny - 0.5, n_hits)
    length = rng.uniform(0.0, max_length_px, n_hits) * (rng.uniform(size=n_hits) > 0.3)
    angle = rng.uniform(0.0, np.pi, n_hits)
    t = np.linspace(0.0, 1.0, 4 * int(np.ceil(max_length_px)) + 1)
    xs = np.round(x0[:, None] + t[None, :] * length[:, None] * np.cos(angle)[:, None]).astype(int)
    ys = np.round(y0[:, None] + t[None, :] * length[:, None] * np.sin(angle)[:, None]).astype(int)
    inside = (xs >= 0) & (xs < nx) & (ys >= 0) & (ys < ny)
    pixels = np.unique(ys[inside] * nx + xs[inside])
    image.flat[pixels] = rng.uniform(adu_range[0], adu_range[1], pixels.size)
    return image, image > 0


KINDS = ("spot", "track", "worm", "cluster", "low")
"""Cosmic-ray morphologies of :func:`realistic_cosmic_rays`; ``kind`` maps hold their index + 1."""

_STEP = 0.1  # px between charge samples along a path


@dataclass(frozen=True)
class CosmicRayTruth:
    """Cosmic-ray charge and what made it.

    Attributes
    ----------
    image : numpy.ndarray
        Float64 charge per pixel (ADU).
    kind : numpy.ndarray
        int8 per pixel: 0 none, else ``1 + KINDS.index(morphology)`` of the
        hit that left the most charge there.
    """

    image: np.ndarray
    kind: np.ndarray

    def mask(self, threshold_adu: float = 0.0, kinds: tuple[str, ...] = KINDS) -> np.ndarray:
        """Pixels of the given kinds holding more than ``threshold_adu``."""
        codes = [1 + KINDS.index(k) for k in kinds]
        return (self.image > threshold_adu) & np.isin(self.kind, codes)


def _path(rng: np.random.Generator, x0: float, y0: float, length: float, bend: float) -> tuple[np.ndarray, np.ndarray]:
    """Sample points every ``_STEP`` px along a path; ``bend`` is the rms turn (radians) per pixel."""
    n = max(1, int(length / _STEP))
    turns = rng.normal(0.0, bend * np.sqrt(_STEP), n) if bend > 0 else np.zeros(n)
    angle = rng.uniform(0.0, 2 * np.pi) + np.cumsum(turns)
    xs = x0 + np.cumsum(_STEP * np.cos(angle))
    ys = y0 + np.cumsum(_STEP * np.sin(angle))
    return xs, ys


def realistic_cosmic_rays(
    shape: tuple[int, int],
    *,
    n_hits: int,
    rng: np.random.Generator,
    fractions: tuple[float, float, float, float, float] = (0.25, 0.3, 0.2, 0.1, 0.15),
    low_adu: tuple[float, float] = (40.0, 160.0),
) -> CosmicRayTruth:
    """Cosmic rays as a CCD records them, for testing cosmic-ray detection beyond short straight hits.

    Morphologies, drawn with probabilities ``fractions`` (in :data:`KINDS` order):

    - ``spot``: a compact deposit of 1-4 pixels (800-8000 ADU in the centre);
    - ``track``: a straight muon track crossing the chip at a grazing angle,
      5-80 px long (log-uniform), 150-1500 ADU per pixel of path;
    - ``worm``: a curved low-energy electron track, 4-30 px, turning
      0.35 rad per pixel (rms), 150-1200 ADU per pixel;
    - ``cluster``: a shower of 3-8 spots and short tracks within 12 px;
    - ``low``: a faint one- or two-pixel hit of ``low_adu`` in total.

    Charge is deposited along each path every 0.1 px with a lateral spread
    (Gaussian, sigma 0.3-0.6 px) and shared between the four nearest pixels,
    so tracks are 1-3 px wide and fade at their edges like real ones.

    Parameters
    ----------
    shape : tuple of int
        Image shape ``(ny, nx)``.
    n_hits : int
        Number of cosmic-ray events (a cluster counts once).
    rng : numpy.random.Generator
        Random source.
    fractions : tuple of float
        Probability of each morphology (normalised).
    low_adu : tuple of float
        Range of the total charge of a low-energy hit (ADU).

    Returns
    -------
    CosmicRayTruth
        The charge image and the morphology of each pixel.
    """
    ny, nx = shape
    image = np.zeros(shape)
    kind = np.zeros(shape, np.int8)
    if n_hits <= 0:
        return CosmicRayTruth(image, kind)
    share = np.asarray(fractions, float) / np.sum(fractions)
    kinds = rng.choice(len(KINDS), size=n_hits, p=share)
    for code in kinds:
        x0, y0 = rng.uniform(-0.5, nx - 0.5), rng.uniform(-0.5, ny - 0.5)
        name = KINDS[code]
        if name == "cluster":
            parts = [(x0 + rng.normal(0, 5), y0 + rng.normal(0, 5), rng.uniform(0, 6), rng.uniform(300, 3000))
                     for _ in range(rng.integers(3, 9))]
            bend = 0.35
        elif name == "track":
            parts = [(x0, y0, float(np.exp(rng.uniform(np.log(5), np.log(80)))), rng.uniform(150, 1500))]
            bend = 0.0
        elif name == "worm":
            parts = [(x0, y0, rng.uniform(4, 30), rng.uniform(150, 1200))]
            bend = 0.35
        elif name == "low":
            parts = [(x0, y0, rng.uniform(0, 1.2), rng.uniform(*low_adu))]
            bend = 0.0
        else:
            parts = [(x0, y0, rng.uniform(0, 2), rng.uniform(800, 8000))]
            bend = 0.0
        rows, cols, charges = [], [], []
        for px, py, length, charge in parts:
            xs, ys = _path(rng, px, py, length, bend)
            # spots and faint hits carry their charge in total, tracks per pixel of path
            per_sample = charge / xs.size if name in ("spot", "low", "cluster") or length < 1 else charge * _STEP
            spread = rng.uniform(0.3, 0.6)
            xs = xs + rng.normal(0, spread, xs.size)
            ys = ys + rng.normal(0, spread, xs.size)
            x_low, y_low = np.floor(xs).astype(int), np.floor(ys).astype(int)
            fx, fy = xs - x_low, ys - y_low
            for dx, dy, weight in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy),
                                   (1, 1, fx * fy)):
                xi, yi = x_low + dx, y_low + dy
                inside = (xi >= 0) & (xi < nx) & (yi >= 0) & (yi < ny)
                rows.append(yi[inside])
                cols.append(xi[inside])
                charges.append(per_sample * weight[inside])
        ys_hit, xs_hit = np.concatenate(rows), np.concatenate(cols)
        if ys_hit.size == 0:
            continue
        box = (slice(ys_hit.min(), ys_hit.max() + 1), slice(xs_hit.min(), xs_hit.max() + 1))
        deposit = np.zeros((box[0].stop - box[0].start, box[1].stop - box[1].start))
        np.add.at(deposit, (ys_hit - box[0].start, xs_hit - box[1].start), np.concatenate(charges))
        kind[box][deposit > image[box]] = code + 1
        image[box] += deposit
    return CosmicRayTruth(image, kind)
