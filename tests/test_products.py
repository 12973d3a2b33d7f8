"""Product writers: content, formats and atomicity (no half-written file after a crash)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import MaskedColumn, QTable
from astropy.time import Time
from astropy.wcs import WCS
from PIL import Image

from rpf.errors import ProductError
from rpf.frame import FrameMeta
from rpf.products import (
    atomic_path,
    write_atomic,
    write_catalog_csv,
    write_catalog_ecsv,
    write_header_text,
    write_metadata_json,
    write_preview_png,
    write_wcs_products,
    write_zip,
)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_write_atomic_bytes_and_text(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.txt"
    write_atomic(target, "héllo\n")
    assert target.read_text(encoding="utf-8") == "héllo\n"
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)
    assert _leftovers(target.parent) == []


def test_exception_mid_write_leaves_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "cat.csv"
    target.write_text("old complete content\n")
    with pytest.raises(RuntimeError, match="disk died"):
        with atomic_path(target) as temporary:
            temporary.write_text("new, partial")
            raise RuntimeError("disk died")
    assert target.read_text() == "old complete content\n"
    assert _leftovers(tmp_path) == []


def test_writer_failing_mid_zip_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = [tmp_path / f"f{i}.txt" for i in range(3)]
    for path in inputs:
        path.write_text(path.name * 1000)
    original = zipfile.ZipFile.write
    calls = []

    def failing_write(self: zipfile.ZipFile, filename: object, *args: object, **kwargs: object) -> None:
        calls.append(filename)
        if len(calls) == 2:
            raise OSError("no space left on device")
        original(self, filename, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "write", failing_write)
    with pytest.raises(OSError, match="no space"):
        write_zip(inputs, tmp_path / "bundle.zip")
    assert not (tmp_path / "bundle.zip").exists()
    assert _leftovers(tmp_path) == []


def test_killed_process_never_leaves_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "big.fits"
    target.write_bytes(b"previous version")
    script = textwrap.dedent(
        f"""
        import sys, time
        from rpf.products import atomic_path
        with atomic_path({str(target)!r}) as temporary:
            with open(temporary, "wb") as stream:
                stream.write(b"x" * 1_000_000)
                stream.flush()
                print("half written", flush=True)
                time.sleep(60)
                stream.write(b"y" * 1_000_000)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "half written"
        temporaries = _leftovers(tmp_path)
        assert len(temporaries) == 1 and (tmp_path / temporaries[0]).stat().st_size == 1_000_000
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    assert target.read_bytes() == b"previous version"
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == ["big.fits"]


def _catalogue() -> QTable:
    table = QTable()
    table["id"] = np.arange(1, 4)
    table["x"] = np.array([10.123456, 20.5, 30.0])
    table["ra"] = np.array([83.8221234567, 83.9, 84.0]) * u.deg
    table["flux"] = np.array([1234.56789, np.nan, 1e-3], dtype=np.float32)
    table["mag"] = MaskedColumn([12.345678, 13.0, 14.0], mask=[False, True, False])
    table["flags"] = np.array([0, 1, 16], dtype=np.int32)
    table["cat_id"] = ["Gaia 1", "", "Gaia 3"]
    return table


def test_catalog_csv_precision_and_missing_values(tmp_path: Path) -> None:
    path = write_catalog_csv(_catalogue(), tmp_path / "f_phot.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "id,x,ra,flux,mag,flags,cat_id"
    assert lines[1] == "1,10.123,83.82212346,1234.568,12.3457,0,Gaia 1"
    assert lines[2] == "2,20.500,83.90000000,,,1,"
    back = pd.read_csv(path)
    assert back["flux"].isna().tolist() == [False, True, False]
    assert back["ra"].iloc[0] == pytest.approx(83.8221234567, abs=1e-8)
    assert back["flags"].dtype.kind == "i"


def test_catalog_csv_writes_what_the_csv_module_writes(tmp_path: Path) -> None:
    import csv
    import io

    for names in (["Gaia 1", "", "Gaia 3"], ['V* "R" Ori, var', "a\nb", "plain"]):  # joined, then quoted
        table = _catalogue()
        table["cat_id"] = names
        text = write_catalog_csv(table, tmp_path / "f_phot.csv").read_text()
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == table.colnames and [r[-1] for r in rows[1:]] == names
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        assert text == buffer.getvalue()
    single = write_catalog_csv(QTable({"mag": MaskedColumn([1.0, 2.0], mask=[True, False])}), tmp_path / "one.csv")
    assert single.read_text() == 'mag\n""\n2.0000\n'  # a lone empty field is quoted, as csv writes it


def test_catalogue_text_of_a_changed_column_is_new(tmp_path: Path) -> None:
    """The remembered text of unchanged columns never stands in for changed values."""
    from rpf.products import tables

    table = _catalogue()
    first = write_catalog_ecsv(table, tmp_path / "a.ecsv").read_text()
    csv_first = write_catalog_csv(table, tmp_path / "a.csv").read_text()
    table["flux"][0] = 99.5
    table["mag"].mask[1] = False
    table["cat_id"][2] = "Gaia 4"
    csv_changed = write_catalog_csv(table, tmp_path / "b.csv").read_text().splitlines()
    assert csv_changed[1].split(",")[3] == "99.5" and csv_changed[2].split(",")[4] == "13.0000"
    assert csv_changed[3].endswith(",Gaia 4")
    back = QTable.read(write_catalog_ecsv(table, tmp_path / "b.ecsv"))
    assert back["flux"][0] == 99.5 and back["mag"][1] == 13.0 and back["cat_id"][2] == "Gaia 4"
    tables._memo.clear()  # made afresh: the same bytes as from memory
    table = _catalogue()
    assert write_catalog_ecsv(table, tmp_path / "c.ecsv").read_text() == first
    assert write_catalog_csv(table, tmp_path / "c.csv").read_text() == csv_first


def test_catalog_csv_from_pandas_and_bad_columns(tmp_path: Path) -> None:
    frame = pd.DataFrame({"star_id": [1, 2], "mjd": [60370.123456789, 60370.5], "mag": [np.nan, 11.0]})
    text = write_catalog_csv(frame, tmp_path / "lc.csv").read_text().splitlines()
    assert text == ["star_id,mjd,mag", "1,60370.12345679,", "2,60370.50000000,11.0000"]
    table = QTable({"vec": np.zeros((2, 3))})
    with pytest.raises(ProductError, match="vec"):
        write_catalog_csv(table, tmp_path / "bad.csv")
    assert not (tmp_path / "bad.csv").exists()


def test_metadata_json_is_strict_and_typed(tmp_path: Path) -> None:
    meta = FrameMeta(path="/d/a.fits", stem="a", shape=(10, 20), exptime=30.0, saturation=float("inf"))
    data = {
        "frame": "a",
        "zero_point": np.float32(21.5),
        "n_sources": np.int64(42),
        "fwhm_px": float("nan"),
        "limits": np.array([1.0, np.nan]),
        "date_obs": dt.datetime(2024, 3, 1, 21, 0, 0),
        "time": Time("2024-03-01T21:00:00", scale="utc"),
        "out": Path("/tmp/x"),
        "pixel_scale": 1.2 * u.arcsec,
        "meta": meta,
        "timings": {"load": np.float64(0.25)},
    }
    text = write_metadata_json(data, tmp_path / "m.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    back = json.loads(text)
    assert back["zero_point"] == 21.5 and back["n_sources"] == 42 and back["fwhm_px"] is None
    assert back["limits"] == [1.0, None]
    assert back["date_obs"] == "2024-03-01T21:00:00" and back["time"] == "2024-03-01T21:00:00.000"
    assert back["out"] == "/tmp/x" and back["pixel_scale"] == pytest.approx(1.2)
    assert back["meta"]["shape"] == [10, 20] and back["meta"]["saturation"] is None
    assert back["timings"]["load"] == 0.25
    with pytest.raises(ProductError, match=r"metadata\.bad"):
        write_metadata_json({"bad": object()}, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


def test_header_text_round_trips(tmp_path: Path) -> None:
    header = fits.Header({"EXPTIME": 30.0, "OBJECT": "M42", "DATE-OBS": "2024-03-01T21:00:00"})
    header["HISTORY"] = "bias subtracted"
    path = write_header_text(header, tmp_path / "a_header.txt")
    back = fits.Header.fromtextfile(path)
    assert back["EXPTIME"] == 30.0 and back["OBJECT"] == "M42" and "bias subtracted" in str(back["HISTORY"])
    assert all(len(line) <= 80 and line == line.rstrip() for line in path.read_text().splitlines())


@pytest.mark.filterwarnings("ignore:The WCS transformation has more axes")
def test_wcs_products(tmp_path: Path) -> None:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [83.82, -5.39]
    wcs.wcs.crpix = [512.5, 384.5]
    wcs.wcs.cd = [[-3e-4, 1e-5], [1e-5, 3e-4]]
    wcs.pixel_shape = (1024, 768)
    fits_path, text_path = write_wcs_products(wcs, tmp_path / "frame")
    assert (fits_path.name, text_path.name) == ("frame_wcs.fits", "frame_wcs_header.txt")
    with fits.open(fits_path) as hdul:
        assert hdul[0].data is None
        back = WCS(hdul[0].header)
        assert hdul[0].header["IMAGEW"] == 1024
    pixels = np.array([[0.0, 0.0], [1023.0, 767.0], [100.5, 600.25]])
    np.testing.assert_allclose(back.all_pix2world(pixels, 0), wcs.all_pix2world(pixels, 0), atol=1e-10)
    from_text = WCS(fits.Header.fromtextfile(text_path))
    np.testing.assert_allclose(from_text.all_pix2world(pixels, 0), wcs.all_pix2world(pixels, 0), atol=1e-10)
    again, _ = write_wcs_products(fits.getheader(fits_path), tmp_path / "copy")
    assert WCS(fits.getheader(again)).wcs.compare(back.wcs)


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=float) / 255.0


def _green_pixels(path: Path) -> int:
    rgb = _rgb(path)
    return int(((rgb[..., 1] > 0.6) & (rgb[..., 0] < 0.4) & (rgb[..., 2] < 0.4)).sum())


def test_preview_png_large_frame_with_detections(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    image = rng.standard_normal((4096, 4096), dtype=np.float32) * 5.0 + 100.0
    image[:50, :50] = np.nan
    sources = rng.uniform(100, 4000, (200, 2))
    with_sources = write_preview_png(image, sources, tmp_path / "a_image.png", title="a")
    without = write_preview_png(image, None, tmp_path / "b_image.png", title="b")
    assert with_sources.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rgb = _rgb(with_sources)
    assert rgb.shape[1] == 1024  # block-averaged by 4, not 4096 pixels
    red = (rgb[..., 0] > 0.9) & (rgb[..., 1] < 0.1) & (rgb[..., 2] < 0.1)
    rows, cols = np.nonzero(red)  # the NaN corner image[:50, :50] is drawn bottom-left (row 0 at the bottom)
    assert rows.min() >= rgb.shape[0] - 13 and cols.max() <= 12 and red.sum() >= 144
    assert _green_pixels(with_sources) > 200 and _green_pixels(without) == 0
    assert _leftovers(tmp_path) == []


def test_preview_never_touches_pyplot(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from rpf.products import write_preview_png
        write_preview_png(np.ones((64, 64)), [[3.0, 4.0]], {str(tmp_path / "p.png")!r}, title="t")
        assert "matplotlib.pyplot" not in sys.modules
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def test_zip_bundles_by_name(tmp_path: Path) -> None:
    files = []
    for name in ("a_phot.csv", "a_metadata.json"):
        path = tmp_path / name
        path.write_text(name)
        files.append(path)
    target = write_zip([*files, files[0], tmp_path / "a_results.zip"], tmp_path / "a_results.zip")
    with zipfile.ZipFile(target) as archive:
        assert sorted(archive.namelist()) == ["a_metadata.json", "a_phot.csv"]
        assert archive.read("a_phot.csv") == b"a_phot.csv"
    with pytest.raises(ProductError, match="missing.png"):
        write_zip([tmp_path / "missing.png"], tmp_path / "other.zip")


# --- one way to do each thing ----------------------------------------------------------------


def test_every_file_is_renamed_into_place_by_the_one_atomic_helper():
    """Products, the catalogue cache, the run summary, light curves, extinction and simulated frames all
    go through rpf.atomic.atomic_path: nothing else in rpf renames a temporary file into place."""
    root = Path(__file__).parents[1] / "rpf"
    own = []
    for path in root.rglob("*.py"):
        if path.name == "atomic.py" and path.parent == root:
            continue
        text = path.read_text()
        own += [f"{path.relative_to(root)}: {word}" for word in ("os.replace(", "os.rename(", "mkstemp(", ".partial")
                if word in text]
    # the one other move: an earlier run's files leave the output folder (docs/runs.md), no temporary file
    assert own == ["pipeline/outputs.py: os.replace("]


def test_writers_leave_no_temporary_file(tmp_path: Path) -> None:
    from rpf.lightcurves import write_lightcurves_csv
    from rpf.pipeline.extinction import NightExtinction, write_extinction_json
    from rpf.pipeline.summary import write_run_summary

    write_run_summary([{"frame": "a.fits", "status": "ok", "zero_point": np.float32(21.5)}], tmp_path / "s.csv")
    fit = NightExtinction("V", 0.2, 0.01, 23.0, 0.01, 0.005, 3, 3, 1.1, 2.0, ("a", "b", "c"))
    write_extinction_json([fit], tmp_path / "e.json")
    write_lightcurves_csv(QTable({"star_id": [1], "mag": [12.0]}), tmp_path / "l.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.json", "l.csv", "s.csv"]
    assert oct((tmp_path / "s.csv").stat().st_mode & 0o777) == oct(0o644)


def test_events_and_metadata_share_one_json_conversion() -> None:
    """An event's to_dict converts like the metadata file: ISO times, and an error naming the key for a
    value JSON cannot hold (it used to be written as its repr in events and refused in metadata)."""
    from rpf.pipeline.events import FrameFailed

    meta = {"frame": "a.fits", "when": Time("2024-03-01T21:00:00", scale="utc"), "fwhm": np.float32("nan"),
            "seen": dt.datetime(2024, 3, 1, 21, 0, 0), "scale": 1.2 * u.arcsec}
    event = FrameFailed(run_id="r", path="/d/a.fits", index=0, message="/d/a.fits: bad", metadata=meta)
    out = event.to_dict()
    assert out["metadata"] == {"frame": "a.fits", "when": "2024-03-01T21:00:00.000", "fwhm": None,
                               "seen": "2024-03-01T21:00:00", "scale": pytest.approx(1.2)}
    assert json.loads(json.dumps(out))["metadata"]["when"] == "2024-03-01T21:00:00.000"
    bad = FrameFailed(run_id="r", path="/d/a.fits", index=0, message="m", metadata={"obj": object()})
    with pytest.raises(ProductError, match=r"frame_failed\.metadata\.obj"):
        bad.to_dict()


def test_calibrated_fits_round_trip(tmp_path: Path) -> None:
    from rpf.products import read_calibrated_fits, write_calibrated_fits

    rng = np.random.default_rng(3)
    image = rng.normal(1000.0, 20.0, (300, 200)).astype(np.float32)
    yy, xx = np.mgrid[0:300, 0:200]
    background = (1000.0 + 0.3 * xx + 0.1 * yy + 5 * np.sin(yy / 40.0)).astype(np.float32)
    mask = np.zeros(image.shape, np.uint16)
    mask[rng.integers(0, 300, 50), rng.integers(0, 200, 50)] = 8
    mask[:2] |= 2
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval, wcs.wcs.crpix, wcs.wcs.cd = [150.0, 20.0], [100.5, 150.5], [[-2.8e-4, 0.0], [0.0, 2.8e-4]]
    header = fits.Header({"EXPTIME": 60.0, "CTYPE1": "RA---TAN", "CRVAL1": 0.0, "CD1_1": 1.0, "OBJECT": "M42"})
    noise = (20.0 + 0.01 * xx).astype(np.float32)
    path = write_calibrated_fits(tmp_path / "f_calibrated.fits", image=image, mask=mask, background=background,
                                 background_rms=20.0, header=header, wcs=wcs, rms_map=noise)
    back = read_calibrated_fits(path)
    np.testing.assert_array_equal(back.image, image)
    np.testing.assert_array_equal(back.mask, mask)
    step = 20.0 / 1024
    assert np.max(np.abs(back.background - background)) <= step / 2 * 1.001
    assert np.max(np.abs(back.background_rms - noise)) <= step / 2 * 1.001
    assert back.header["OBJECT"] == "M42" and back.header["EXPTIME"] == 60.0 and back.header["CRVAL1"] == 150.0
    pixels = np.array([[0.0, 0.0], [199.0, 299.0]])
    np.testing.assert_allclose(back.wcs.all_pix2world(pixels, 0), wcs.all_pix2world(pixels, 0), atol=1e-12)
    assert path.stat().st_size < 1.5 * image.nbytes  # mask and maps compressed (3.5x the image if not)
    without = read_calibrated_fits(write_calibrated_fits(tmp_path / "g.fits", image=image, mask=None, background=None,
                                                         background_rms=None, header=header, wcs=None))
    assert without.background is None and without.background_rms is None and without.wcs is None
    assert not without.mask.any() and "CRVAL1" not in without.header
    assert _leftovers(tmp_path) == []
