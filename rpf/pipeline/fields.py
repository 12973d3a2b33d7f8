"""Planning a run's reference catalogues: the frames' sky fields, grouped to share one query.

Both execution paths use these functions: the Dask graph makes one
``catalogue-…`` task per :class:`FieldGroup`, the eager run fetches each
group once, when its first frame reaches astrometry.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

from astropy.io import fits
from astropy.wcs import WCS

from rpf.config import PipelineConfig
from rpf.errors import RPFError
from rpf.io import check_input_file
from rpf.pipeline.reference import ReferenceFetch, fetch_reference, field_of, separation_deg

__all__ = ["REFERENCE_BEFORE", "FieldGroup", "fetch_group_reference", "frame_field", "group_fields", "plan_groups"]

REFERENCE_BEFORE = "astrometry"
"""A run attaches the shared reference catalogue to a frame just before this step."""

Field = tuple[float, float, float, float | None]


@dataclass(frozen=True)
class FieldGroup:
    """Frames whose sky fields overlap enough to share one catalogue query.

    Attributes
    ----------
    ra, dec : float
        Centre of the query (degrees, ICRS).
    radius_deg : float
        Query radius covering every member's field.
    mjd : float or None
        Epoch of the query (proper motions).
    paths : tuple of str
        The member frames.
    """

    ra: float
    dec: float
    radius_deg: float
    mjd: float | None
    paths: tuple[str, ...]


def _science_header(path: str) -> tuple[fits.Header, tuple[int, int]]:
    check_input_file(path)  # never open a FIFO: it would block the run before any frame starts
    # the file is opened here so that it is closed even when astropy fails to read it
    with open(path, "rb") as stream, fits.open(stream, lazy_load_hdus=True) as hdul:
        for hdu in hdul:
            if hdu.is_image and hdu.header.get("NAXIS", 0) == 2:
                header = hdu.header.copy()
                return header, (int(header["NAXIS2"]), int(header["NAXIS1"]))
    raise OSError(f"{path}: no 2-D image")


def frame_field(path: str, config: PipelineConfig) -> Field | None:
    """Return ``(ra, dec, radius_deg, mjd)`` of the sky a frame covers, from its header only.

    Returns None when the file cannot be read here or gives no pointing;
    such a frame then fetches its own reference in its astrometry step (or,
    once solved, in its ``reference`` step).
    """
    from rpf.io import read_meta

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a damaged file is reported by its own load step, not here
            header, shape = _science_header(path)
            meta = read_meta(header, path=path, shape=shape, defaults=config.header)
            wcs = WCS(header, naxis=2)
    except (OSError, ValueError, KeyError, TypeError, RPFError):
        return None
    found = field_of(meta, wcs, config)
    if found is None:
        return None
    ra, dec, radius = found
    return ra, dec, radius, meta.mjd_mid


def group_fields(fields: Mapping[str, Field | None], *, max_offset: float = 0.5) -> list[FieldGroup]:
    """Group frames whose field centres lie close together (one query per group).

    A frame joins the first group whose centre is within ``max_offset`` times
    that group's first radius; the group's radius grows to cover it.

    Parameters
    ----------
    fields : mapping
        ``path -> (ra, dec, radius_deg, mjd)`` or None (frames with None are left out).
    max_offset : float
        Largest centre offset, as a fraction of the radius, to share a query.

    Returns
    -------
    list of FieldGroup
        In the order of the first member of each group.
    """
    groups: list[dict] = []
    for path, found in fields.items():
        if found is None:
            continue
        ra, dec, radius, mjd = found
        for group in groups:
            offset = separation_deg(group["ra"], group["dec"], ra, dec)
            if offset <= max_offset * group["seed_radius"]:
                group["radius"] = max(group["radius"], offset + radius)
                group["paths"].append(path)
                break
        else:
            groups.append({"ra": ra, "dec": dec, "seed_radius": radius, "radius": radius, "mjd": mjd, "paths": [path]})
    return [FieldGroup(g["ra"], g["dec"], g["radius"], g["mjd"], tuple(g["paths"])) for g in groups]


def plan_groups(paths: list[str], config: PipelineConfig) -> dict[str, FieldGroup]:
    """Return each frame's field group (frames whose header gives no field are left out)."""
    groups = group_fields({p: frame_field(p, config) for p in dict.fromkeys(paths)})
    return {path: group for group in groups for path in group.paths}


def fetch_group_reference(group: FieldGroup, config: PipelineConfig) -> ReferenceFetch:
    """Fetch the reference catalogue of a field group, shared by its frames; never raises."""
    cone = (group.ra, group.dec, group.radius_deg)
    return fetch_reference(cone, mjd=group.mjd, config=config.catalogs,
                           purpose=f"(shared by {len(group.paths)} frame(s))")
