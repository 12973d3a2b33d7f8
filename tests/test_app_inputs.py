"""Inputs of a session: uploads (one message per rejected file), server folders confined to their roots."""

import io
import os

import numpy as np
import pytest
from astropy.io import fits

from app.models.inputs import Inputs
from app.models.uploads import inside_root, safe_name
from rpf.errors import FrameError


def _fits_bytes(value=1.0, shape=(16, 16)):
    buffer = io.BytesIO()
    fits.PrimaryHDU(np.full(shape, value, np.float32)).writeto(buffer)
    return buffer.getvalue()


@pytest.fixture
def inputs(tmp_path):
    root = tmp_path / "root"
    (root / "night" / "deeper").mkdir(parents=True)
    for name in ("a.fits", "b.fits", "flat_1.fits", "notes.txt"):
        (root / "night" / name).write_bytes(_fits_bytes())
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "s.fits").write_bytes(_fits_bytes())
    return Inputs(upload_dir=str(tmp_path / "uploads"), max_upload_mb=0.01, roots=[str(root)])


def test_each_rejected_upload_has_its_message_and_the_others_are_kept(inputs, tmp_path):
    good = _fits_bytes(2.0)
    files = {
        "ok_1.fits": good,
        "huge.fits": _fits_bytes(shape=(64, 64)),
        "readme.txt": b"hello",
        "fake.fits": b"not a fits file at all" * 10,
        "empty.fits": b"",
        "../../escape.fits": good,
    }
    accepted = inputs.add_uploads("science", files)
    names = sorted(os.path.basename(p) for p in accepted)
    assert names == ["escape.fits", "ok_1.fits"]
    for path in accepted:
        assert os.path.dirname(path) == str(tmp_path / "uploads" / "science")
        assert fits.getdata(path)[0, 0] == 2.0
    assert inputs.science == accepted
    errors = [m["text"] for m in inputs.messages if m["level"] == "error"]
    assert len(errors) == 4
    assert any(t.startswith("huge.fits") and "upload limit" in t for t in errors)
    assert any(t.startswith("readme.txt") and "not a FITS file name" in t for t in errors)
    assert any(t.startswith("fake.fits") and "SIMPLE" in t for t in errors)
    assert any(t.startswith("empty.fits") and "empty" in t for t in errors)


def test_calibration_roles_are_separate(inputs):
    inputs.add_uploads("bias", {"b1.fits": _fits_bytes()})
    inputs.add_uploads("flat", {"f1.fits": _fits_bytes()})
    assert len(inputs.bias) == 1 and len(inputs.flat) == 1 and not inputs.science and not inputs.dark
    assert inputs.summary == "0 science, 1 bias, 0 dark, 1 flat"
    with pytest.raises(ValueError, match="unknown input role"):
        inputs.add_uploads("darks", {"d.fits": _fits_bytes()})


def test_server_folders_are_confined_to_the_roots(inputs, tmp_path):
    root = tmp_path / "root"
    folders, files = inputs.browse(root / "night")
    assert folders == ["deeper"] and files == ["a.fits", "b.fits", "flat_1.fits"]
    for outside in (tmp_path / "secret", root / ".." / "secret", root / "night" / ".." / ".." / "secret", "/etc"):
        with pytest.raises(FrameError, match="not inside a server folder"):
            inputs.browse(outside)
    (root / "night" / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(FrameError, match="not inside a server folder"):
        inputs.browse(root / "night" / "link")
    assert inputs.add_server_files("science", tmp_path / "secret") == []
    assert inputs.messages[-1]["level"] == "error" and "not inside" in inputs.messages[-1]["text"]
    assert inputs.science == []


def test_server_files_by_pattern(inputs, tmp_path):
    night = tmp_path / "root" / "night"
    added = inputs.add_server_files("science", night, "?.fits")
    assert added == [str(night / "a.fits"), str(night / "b.fits")] and inputs.science == added
    assert inputs.add_server_files("flat", night, "flat_*") == [str(night / "flat_1.fits")]
    assert inputs.add_server_files("dark", night, "dark_*") == []
    assert "no FITS file matches" in inputs.messages[-1]["text"]


def test_inside_root_and_safe_name():
    assert inside_root("/tmp/../tmp/x", (os.path.realpath("/tmp"),)).name == "x"
    with pytest.raises(FrameError):
        inside_root("/tmpfoo", (os.path.realpath("/tmp"),))
    assert safe_name("C:\\frames\\m 13 (1).FITS") == "m_13_1_.FITS"
    with pytest.raises(FrameError):
        safe_name("...")
