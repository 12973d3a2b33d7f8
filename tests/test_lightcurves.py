"""Light curves from per-frame catalogues with known magnitudes (rpf.lightcurves)."""

from __future__ import annotations

import aavso_spec
import numpy as np
import pytest
from astropy.table import QTable, Table

from rpf.errors import PhotometryError, ProductError
from rpf.lightcurves import (
    LIGHTCURVE_COLUMNS,
    POINT_COLUMNS,
    FramePhotometry,
    NightStars,
    aavso_extended,
    aavso_filter,
    build_lightcurves,
    cross_identify,
    star_lightcurve,
    target_position,
    write_aavso_extended,
    write_lightcurves_csv,
    write_star_lightcurve_csv,
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


# --- incremental cross-identification, one star's light curve, exports ---------------------------------------


def _variable_truth(frames):
    return VAR_AMPLITUDE * np.sin(2 * np.pi * np.arange(len(frames)) / VAR_PERIOD)


def _frame_index(names) -> np.ndarray:
    return np.array([int(str(n)[1:]) for n in names])


def test_stars_added_one_by_one_equal_the_batch(night):
    frames = night["frames"]
    stars = NightStars(radius_arcsec=2.0)
    for frame in frames:
        stars = stars.add(frame)
        assert stars.matrices.present[:, -1].sum() == len(frame.ra)  # built, then extended frame by frame
    ids, ra, dec = cross_identify(frames, radius_arcsec=2.0)
    batch = NightStars(radius_arcsec=2.0).extend(frames).matrices
    for name in ("mag", "inst_err", "flags", "present", "color"):
        np.testing.assert_array_equal(getattr(stars.matrices, name), getattr(batch, name))
    assert stars.n_stars == len(ra) == N_CONST + 2 and stars.n_frames == N_FRAMES
    for got, want in zip(stars.ids, ids, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(stars.positions[0], ra, atol=1e-12)
    with pytest.raises(PhotometryError, match="added twice"):
        stars.add(frames[0])


def test_light_curve_of_the_variable_matches_the_truth(night):
    frames = night["frames"]
    stars = NightStars(radius_arcsec=2.0).extend(frames)
    curve = star_lightcurve(stars, ra=night["ra"][N_CONST], dec=night["dec"][N_CONST])
    points = curve.points
    assert list(points.colnames) == list(POINT_COLUMNS) and len(points) == N_FRAMES
    truth = night["true"][N_CONST] + _variable_truth(frames)[_frame_index(points["frame"])]
    pull = (points["diff_mag"] - truth) / points["diff_mag_err"]
    # the curve is anchored to the calibrated scale by a constant: its offset is common to all points
    assert abs(np.mean(points["diff_mag"] - truth)) < 0.05
    assert np.sum((pull - np.mean(pull)) ** 2) / (N_FRAMES - 1) < 2.5
    transient = stars.nearest(night["ra"][N_CONST + 1], night["dec"][N_CONST + 1])
    chosen = set(curve.comparison["star_id"]) | set(curve.check["star_id"])
    assert curve.star_id not in chosen and transient not in chosen
    assert len(curve.check) == 1 and len(curve.comparison) >= 3
    # similar brightness: the variable is at 14.0
    assert np.all(np.abs(curve.comparison["mag"] - 14.0) < 1.6)
    # each comparison star against the others, and the check star, scatter as their errors say
    assert np.median(curve.comparison["chi2_dof"]) < 2.0 and curve.check["chi2_dof"][0] < 3.0
    assert set(curve.curves["role"]) == {"comparison", "check"}
    assert curve.chi2_dof > 20  # the variable stands out


def test_constant_stars_scatter_as_their_errors_say(night):
    stars = NightStars(radius_arcsec=2.0).extend(night["frames"])
    chi2 = []
    for i in range(0, N_CONST, 3):
        curve = star_lightcurve(stars, ra=night["ra"][i], dec=night["dec"][i])
        chi2.append(curve.chi2_dof)
    assert 0.6 < np.median(chi2) < 1.5
    assert np.percentile(chi2, 90) < 2.5


def test_known_variables_and_the_target_are_never_comparison_stars(night):
    frames = list(night["frames"])
    plain = star_lightcurve(NightStars(radius_arcsec=2.0).extend(frames), ra=night["ra"][N_CONST],
                            dec=night["dec"][N_CONST])
    best = plain.comparison[0]
    marked = []
    for frame in frames:
        near = np.hypot(frame.ra - best["ra"], frame.dec - best["dec"]) * 3600 < 2.0
        marked.append(FramePhotometry(**{**frame.__dict__, "known_variable": near}))
    stars = NightStars(radius_arcsec=2.0).extend(marked)
    curve = star_lightcurve(stars, ra=night["ra"][N_CONST], dec=night["dec"][N_CONST])
    assert best["star_id"] not in set(curve.comparison["star_id"]) | set(curve.check["star_id"])


def test_user_comparison_and_check_stars(night):
    stars = NightStars(radius_arcsec=2.0).extend(night["frames"])
    comp = (night["ra"][3], night["dec"][3])
    check = (night["ra"][4], night["dec"][4])
    curve = star_lightcurve(stars, ra=night["ra"][N_CONST], dec=night["dec"][N_CONST], comparison=[comp], check=check)
    assert list(curve.comparison["star_id"]) == [stars.nearest(*comp)]
    assert list(curve.check["star_id"]) == [stars.nearest(*check)]
    # against one star the differential curve is the magnitude difference, on the calibrated scale
    comp_mag = np.array([f.mag[np.argmin(np.hypot(f.ra - comp[0], f.dec - comp[1]))] for f in night["frames"]])
    target = curve.points
    diff = np.asarray(target["mag"]) - comp_mag[_frame_index(target["frame"])]
    np.testing.assert_allclose(np.asarray(target["diff_mag"]) - diff, np.mean(np.asarray(target["diff_mag"]) - diff),
                               atol=1e-9)
    with pytest.raises(PhotometryError, match="target or the check star"):
        star_lightcurve(stars, ra=night["ra"][N_CONST], dec=night["dec"][N_CONST],
                        comparison=[(night["ra"][N_CONST], night["dec"][N_CONST])])


def test_target_position_by_row_and_by_name():
    table = QTable({"ra": [10.0, 10.01, np.nan], "dec": [5.0, 5.01, 5.0], "vsx_name": ["", "V0001 Tst", ""],
                    "cat_id": ["111", "222", "333"]})
    assert target_position(table, row=1) == (10.01, 5.01)
    assert target_position([table, table], name="v0001  TST") == (10.01, 5.01)
    assert target_position(table, name="111") == (10.0, 5.0)
    with pytest.raises(PhotometryError, match="no sky position"):
        target_position(table, row=2)
    with pytest.raises(PhotometryError, match="no source named"):
        target_position(table, name="V0002 Tst")
    with pytest.raises(PhotometryError, match="exactly one"):
        target_position(table)


def test_aavso_report_passes_the_specification(night, tmp_path):
    stars = NightStars(radius_arcsec=2.0).extend(night["frames"])
    curve = star_lightcurve(stars, ra=night["ra"][N_CONST], dec=night["dec"][N_CONST])
    path = write_aavso_extended(curve, tmp_path / "report.txt", obscode="TST01", starid="V0001 Tst",
                                filter_code="V", chart="X12345AB")
    params, rows = aavso_spec.parse(path.read_text())
    assert params["TYPE"].upper() == "EXTENDED" and params["DATE"] == "JD" and params["OBSCODE"] == "TST01"
    assert len(rows) == len(curve.points)
    points = curve.points
    np.testing.assert_allclose([r["DATE"] for r in rows], points["mjd"] + 2400000.5, atol=1e-6)
    np.testing.assert_allclose([r["MAGNITUDE"] for r in rows], points["diff_mag"], atol=6e-5)
    np.testing.assert_allclose([r["MAGERR"] for r in rows], points["diff_mag_err"], atol=6e-5)
    np.testing.assert_allclose([r["AMASS"] for r in rows], points["airmass"], atol=6e-5)
    np.testing.assert_allclose([r["KMAG"] for r in rows], points["check_mag_inst"], atol=6e-4)
    assert {r["CNAME"] for r in rows} == {"ENSEMBLE"} and {r["CMAG"] for r in rows} == {None}
    assert {r["KNAME"] for r in rows} == {curve.check["label"][0]}
    assert {r["MTYPE"] for r in rows} == {"STD"} and {r["FILTER"] for r in rows} == {"V"}
    assert {r["CHART"] for r in rows} == {"X12345AB"} and not any(r["TRANS"] for r in rows)


def test_aavso_report_with_one_comparison_star_and_another_delimiter(night):
    stars = NightStars(radius_arcsec=2.0).extend(night["frames"])
    comp = (night["ra"][3], night["dec"][3])
    curve = star_lightcurve(stars, ra=night["ra"][N_CONST], dec=night["dec"][N_CONST], comparison=[comp])
    params, rows = aavso_spec.parse(aavso_extended(curve, obscode="TST01", filter_code="CV", delim=";"))
    assert params["DELIM"] == ";"
    assert [r["CMAG"] for r in rows] == pytest.approx(list(curve.points["comparison_mag_inst"]), abs=6e-4)
    assert {r["CNAME"] for r in rows} == {curve.comparison["label"][0]}


def test_aavso_refuses_what_the_specification_forbids(night):
    stars = NightStars(radius_arcsec=2.0).extend(night["frames"])
    curve = star_lightcurve(stars, ra=night["ra"][N_CONST], dec=night["dec"][N_CONST])
    with pytest.raises(ProductError, match="delimiter"):
        aavso_extended(curve, obscode="TST01", starid="V1, Tst", filter_code="V")
    with pytest.raises(ProductError, match="longer than 30"):
        aavso_extended(curve, obscode="TST01", starid="X" * 31, filter_code="V")
    with pytest.raises(ProductError, match="delimiter"):
        aavso_extended(curve, obscode="TST01", filter_code="V", delim="#")
    assert aavso_filter("V", "Johnson V") == "V" and aavso_filter("r", "SDSS r'") == "SR"
    assert aavso_filter("V", "Clear") == "CV"
    with pytest.raises(ProductError, match="no filter code"):
        aavso_filter("G", "Clear")


def test_the_specification_parser_catches_broken_reports():
    head = "#TYPE=EXTENDED\n#OBSCODE=TST01\n#SOFTWARE=x\n#DELIM=,\n#DATE=JD\n#OBSTYPE=CCD\n"
    good = "SS CYG,2454702.1234,11.235,0.003,B,NO,STD,105,10.593,110,11.090,1.561,na,X16382L,na\n"
    assert aavso_spec.parse(head + good)[1][0]["CMAG"] == pytest.approx(10.593)
    broken = {
        "fields": good.replace(",na\n", "\n"),
        "dot": good.replace("11.235", "11"),
        "filter": good.replace(",B,", ",Q,"),
        "CMAG": good.replace(",105,", ",na,"),
        "blank": "\n" + good,
        "JD": good.replace("2454702.1234", "54702.1234"),
    }
    for name, line in broken.items():
        with pytest.raises(aavso_spec.SpecError):
            aavso_spec.parse(head + line)
            pytest.fail(f"the {name} error went through")
    with pytest.raises(aavso_spec.SpecError, match="before the parameters"):
        aavso_spec.parse(head.replace("#OBSTYPE=CCD\n", "") + good)


def test_star_csv_has_the_points(night, tmp_path):
    stars = NightStars(radius_arcsec=2.0).extend(night["frames"])
    curve = star_lightcurve(stars, ra=night["ra"][N_CONST], dec=night["dec"][N_CONST])
    back = Table.read(write_star_lightcurve_csv(curve, tmp_path / "star.csv"), format="ascii.csv")
    assert back.colnames == list(POINT_COLUMNS)
    np.testing.assert_allclose(back["diff_mag"], curve.points["diff_mag"], rtol=1e-12)
