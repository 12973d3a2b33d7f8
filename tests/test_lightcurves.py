"""Light curves from per-frame catalogues with known magnitudes (rpf.lightcurves)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import QTable, Table

from rpf.errors import PhotometryError
from rpf.lightcurves import (
    LIGHTCURVE_COLUMNS,
    FramePhotometry,
    build_lightcurves,
    cross_identify,
    write_lightcurves_csv,
)

N_FRAMES = 12
N_CONST = 40
VAR_AMPLITUDE = 0.30  # semi-amplitude (mag)
VAR_PERIOD = 8.0  # frames
TRANSIENT_FIRST = 6
RA0, DEC0 = 150.0, 20.0


def _errors(mag):
    return 0.004 + 0.02 * 10 ** (0.4 * (mag - 16.0))


@pytest.fixture(scope="module")
def night():
    """Twelve frames: 40 constant stars, one variable, one transient from frame 6.

    Each frame's calibrated magnitudes carry an imperfect zero point (an
    airmass trend plus 0.03 mag of scatter) that differential photometry
    must remove, and positions jitter by 0.3 arcsec.
    """
    rng = np.random.default_rng(42)
    ra = RA0 + rng.uniform(-0.1, 0.1, N_CONST + 2)
    dec = DEC0 + rng.uniform(-0.1, 0.1, N_CONST + 2)
    true = np.concatenate([rng.uniform(12.0, 16.5, N_CONST), [14.0, 15.0]])
    airmass = np.linspace(1.1, 2.2, N_FRAMES)
    zp_error = 0.05 * (airmass - 1.1) + rng.normal(0, 0.03, N_FRAMES)
    frames, truth = [], []
    for f in range(N_FRAMES):
        mags = true.copy()
        mags[N_CONST] += VAR_AMPLITUDE * np.sin(2 * np.pi * f / VAR_PERIOD)
        keep = np.arange(N_CONST + 2) if f >= TRANSIENT_FIRST else np.arange(N_CONST + 1)
        keep = keep[rng.permutation(len(keep))]
        err = _errors(mags[keep])
        observed = mags[keep] + zp_error[f] + rng.normal(0, err)
        jitter = 0.3 / 3600
        table = QTable(
            {
                "ra": ra[keep] + rng.normal(0, jitter, len(keep)) / np.cos(np.radians(DEC0)),
                "dec": dec[keep] + rng.normal(0, jitter, len(keep)),
                "mag": observed,
                "mag_err": err,
                "flags": np.zeros(len(keep), np.int64),
            }
        )
        frames.append(FramePhotometry.from_table(table, frame=f"f{f:02d}", mjd=60000.0 + f / 48, airmass=airmass[f]))
        truth.append(keep)
    return {"frames": frames, "ra": ra, "dec": dec, "true": true, "truth": truth}


def _star_of(table, ra, dec):
    d = np.hypot((table["ra"] - ra) * np.cos(np.radians(dec)), table["dec"] - dec) * 3600
    return int(table["star_id"][np.argmin(d)])


def test_cross_identification_gives_one_id_per_true_star(night):
    frames = night["frames"]
    ids, ra, dec = cross_identify(frames, radius_arcsec=2.0)
    assert len(ra) == N_CONST + 2
    # the same true star gets the same id in every frame
    mapping: dict[int, set[int]] = {}
    for star_ids, keep in zip(ids, night["truth"], strict=True):
        for sid, true_index in zip(star_ids, keep, strict=True):
            mapping.setdefault(int(true_index), set()).add(int(sid))
    assert all(len(v) == 1 for v in mapping.values())
    # the mean positions beat the 0.3" per-frame jitter
    star = np.array([next(iter(mapping[i])) for i in range(N_CONST + 2)])
    offset = np.hypot((ra[star] - night["ra"]) * np.cos(np.radians(DEC0)), dec[star] - night["dec"]) * 3600
    assert np.max(offset) < 0.3


def test_differential_photometry_recovers_truth(night):
    table = build_lightcurves(night["frames"], differential=True)
    assert list(table.colnames[: len(LIGHTCURVE_COLUMNS)]) == list(LIGHTCURVE_COLUMNS)
    variable = _star_of(table, night["ra"][N_CONST], night["dec"][N_CONST])
    transient = _star_of(table, night["ra"][N_CONST + 1], night["dec"][N_CONST + 1])
    assert variable not in table.meta["comparison"]
    assert len(table.meta["comparison"]) >= 10

    # constant stars: scatter within 1.3x the stated errors
    ratios = []
    for sid in set(table["star_id"]) - {variable, transient}:
        rows = table[table["star_id"] == sid]
        assert len(rows) == N_FRAMES
        ratios.append(np.std(rows["diff_mag"], ddof=1) / np.median(rows["diff_mag_err"]))
    assert np.median(ratios) < 1.3
    assert np.percentile(ratios, 90) < 1.6

    # without the ensemble correction the zero-point errors dominate
    raw = [np.std(table[table["star_id"] == sid]["mag"], ddof=1) for sid in table.meta["comparison"]]
    diff = [np.std(table[table["star_id"] == sid]["diff_mag"], ddof=1) for sid in table.meta["comparison"]]
    assert np.median(raw) > 2 * np.median(diff)

    # the variable's amplitude, by least squares with the known period
    rows = table[table["star_id"] == variable]
    phase = 2 * np.pi * np.arange(N_FRAMES) / VAR_PERIOD
    design = np.column_stack([np.ones(N_FRAMES), np.sin(phase), np.cos(phase)])
    coef, *_ = np.linalg.lstsq(design, np.asarray(rows["diff_mag"]), rcond=None)
    amplitude = np.hypot(coef[1], coef[2])
    assert abs(amplitude - VAR_AMPLITUDE) < 0.1 * VAR_AMPLITUDE

    # the transient is there from its first frame on, and only then
    rows = table[table["star_id"] == transient]
    assert list(rows["frame"]) == [f"f{f:02d}" for f in range(TRANSIENT_FIRST, N_FRAMES)]
    assert abs(np.mean(rows["diff_mag"]) - night["true"][N_CONST + 1]) < 0.05


def test_user_comparison_stars_by_position(night):
    chosen = [(night["ra"][i], night["dec"][i]) for i in range(5)]
    table = build_lightcurves(night["frames"], differential=True, comparison=chosen)
    expected = {_star_of(table, night["ra"][i], night["dec"][i]) for i in range(5)}
    assert set(table.meta["comparison"]) == expected
    assert set(table["star_id"][table["comparison"]]) == expected


def test_user_comparison_star_must_exist(night):
    with pytest.raises(PhotometryError, match="no star within"):
        build_lightcurves(night["frames"], differential=True, comparison=[(RA0 + 5, DEC0)])


def test_flagged_and_incomplete_stars_are_not_comparisons(night):
    frames = list(night["frames"])
    flagged = frames[3].flags.copy()
    flagged[:] = 0
    flagged[frames[3].mag < 13.0] = 1  # every bright star saturated in one frame
    frames[3] = FramePhotometry(**{**frames[3].__dict__, "flags": flagged})
    table = build_lightcurves(frames, differential=True)
    for sid in table.meta["comparison"]:
        rows = table[table["star_id"] == sid]
        assert len(rows) == N_FRAMES and not np.any(rows["flags"])


def test_too_few_comparison_stars_is_an_error():
    rng = np.random.default_rng(1)
    frames = []
    for f in range(3):
        table = Table({"ra": [10.0, 10.01], "dec": [5.0, 5.0], "mag": [12.0, 13.0 + f], "mag_err": [0.01, 0.01]})
        table["flags"] = [0, 1]
        frames.append(FramePhotometry.from_table(table, frame=str(f), mjd=float(f), airmass=1.0 + rng.random()))
    with pytest.raises(PhotometryError, match="need 2"):
        build_lightcurves(frames, differential=True)


def test_written_csv_has_contract_columns(night, tmp_path):
    table = build_lightcurves(night["frames"])
    path = write_lightcurves_csv(table, tmp_path / "lightcurves.csv")
    back = Table.read(path, format="ascii.csv")
    assert back.colnames == list(LIGHTCURVE_COLUMNS)
    assert len(back) == N_CONST * N_FRAMES + N_FRAMES + (N_FRAMES - TRANSIENT_FIRST)
    np.testing.assert_allclose(back["mag"], table["mag"], rtol=1e-9)
