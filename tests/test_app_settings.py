"""The settings model is generated from the configuration metadata and writes the files of ``rpf config``."""

import json
import subprocess
import sys
import tomllib

import param
import pytest
from astropy.coordinates import SkyCoord

from app.models.pointing import Pointing
from app.models.settings import Settings, section_class
from rpf.cli import build_parser, config_from_args
from rpf.config import describe_config, load_config
from rpf.site import PRESET_OBSERVATORIES

PARAM_TYPES = {"bool": param.Boolean, "int": param.Integer, "float": param.Number, "choice": param.Selector,
               "str": param.String, "path": param.String}  # fmt: skip


def _cli(*args, cwd):
    subprocess.run([sys.executable, "-m", "rpf.cli", *args], cwd=cwd, check=True, capture_output=True)


def test_every_section_and_field_is_generated_with_its_metadata():
    settings = Settings()
    described = describe_config()
    assert list(settings.sections) == list(described)
    for section, specs in described.items():
        model = settings.sections[section]
        assert isinstance(model, section_class(section))
        for spec in specs:
            parameter = model.param[spec.name]
            expected = PARAM_TYPES.get(spec.kind)
            if expected is not None and not (spec.kind == "str_list"):
                assert isinstance(parameter, expected), spec.key
            assert spec.doc.strip()[:40] in parameter.doc and spec.rule in parameter.doc, spec.key
            if spec.unit:
                assert f"Unit: {spec.unit}." in parameter.doc
            if spec.kind in ("int", "float") and (spec.minimum is not None or spec.maximum is not None):
                assert parameter.bounds == (spec.minimum, spec.maximum), spec.key
                assert parameter.inclusive_bounds == (not spec.exclusive_minimum, not spec.exclusive_maximum)
            if spec.kind == "choice":
                assert set(spec.choices) <= set(parameter.objects)
            assert parameter.allow_None == spec.nullable, spec.key


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_defaults_save_to_the_file_of_rpf_config_write(tmp_path, suffix):
    _cli("config", "--write", f"cli{suffix}", cwd=tmp_path)
    Settings().save(tmp_path / f"app{suffix}")
    assert (tmp_path / f"app{suffix}").read_text() == (tmp_path / f"cli{suffix}").read_text()


def test_changed_settings_round_trip_through_rpf_run_config(tmp_path):
    settings = Settings()
    sections = settings.sections
    sections["detection"].threshold_sigma = 4.5
    sections["aperture"].radii_fwhm = [1.0, 1.5, 2.5]
    sections["catalogs"].crossmatch = ["simbad", "vsx"]
    sections["astrometry"].param.update(ra="10:00:00", dec="-05:30:00", mode="solve")
    sections["execution"].dashboard_address = None
    path = settings.save(tmp_path / "mine.toml")
    data = tomllib.loads(path.read_text())
    assert data["detection"]["threshold_sigma"] == 4.5 and data["astrometry"]["ra"] == pytest.approx(150.0)
    args = build_parser().parse_args(["run", "x.fits", "--out", "out", "--config", str(path)])
    from_cli = config_from_args(args)
    assert from_cli == settings.to_config()
    assert from_cli.astrometry.dec == pytest.approx(-5.5) and from_cli.catalogs.crossmatch == ("simbad", "vsx")
    reloaded = Settings()
    reloaded.load(path)
    assert reloaded.to_config() == from_cli and reloaded.values() == Settings(from_cli).values()
    settings.save(tmp_path / "mine.json")
    assert load_config(tmp_path / "mine.json") == from_cli
    assert json.loads((tmp_path / "mine.json").read_text())["aperture"]["radii_fwhm"] == [1.0, 1.5, 2.5]


def test_a_bad_value_is_named_and_blocks_the_config():
    settings = Settings()
    settings.sections["aperture"].annulus_fwhm = [7.0]
    assert list(settings.errors) == ["aperture.annulus_fwhm"]
    with pytest.raises(Exception, match="aperture.annulus_fwhm"):
        settings.to_config()
    settings.sections["aperture"].annulus_fwhm = [5.0, 8.0]
    assert settings.errors == {} and settings.to_config().aperture.annulus_fwhm == (5.0, 8.0)
    with pytest.raises(ValueError, match="threshold_sigma"):
        settings.sections["detection"].threshold_sigma = -1.0
    settings.sections["astrometry"].ra = "25:00:00"
    assert "astrometry.ra" in settings.errors


def test_a_bad_file_leaves_the_settings_unchanged(tmp_path):
    settings = Settings()
    settings.sections["detection"].threshold_sigma = 4.0
    bad = tmp_path / "bad.toml"
    bad.write_text("[detection]\nthreshold_sigma = -3\n")
    with pytest.raises(Exception, match="detection.threshold_sigma"):
        settings.load(bad)
    assert settings.sections["detection"].threshold_sigma == 4.0


def test_manual_pointing_lands_in_the_astrometry_settings():
    settings = Settings()
    pointing = Pointing(settings=settings, ra="05:35:17.3", dec="-05:23:28", pixel_scale=0.62, rotation_deg=12.0,
                        flip=True, manual=True)  # fmt: skip
    assert pointing.apply(), pointing.message
    truth = SkyCoord("05h35m17.3s", "-05d23m28s")
    config = settings.to_config()
    assert config.astrometry.ra == pytest.approx(truth.ra.deg) and config.astrometry.dec == pytest.approx(truth.dec.deg)
    assert config.astrometry.mode == "manual" and config.astrometry.flip and config.astrometry.rotation_deg == 12.0
    assert config.astrometry.pixel_scale == 0.62 == config.header.pixel_scale
    pointing.param.update(manual=False, ra="", dec="")
    assert pointing.apply() and settings.to_config().astrometry.ra is None
    assert settings.to_config().astrometry.mode == "auto"


def test_unreadable_pointing_is_a_message():
    settings = Settings()
    pointing = Pointing(settings=settings, ra="12:00:00", dec="+95:00:00")
    assert not pointing.apply() and "declination" in pointing.message
    pointing.param.update(dec="10", manual=True)
    assert not pointing.apply() and "pixel scale" in pointing.message
    assert settings.to_config().astrometry.ra is None


def test_observatory_presets_and_added_sites_fill_the_header_settings():
    settings = Settings()
    pointing = Pointing(settings=settings)
    site = PRESET_OBSERVATORIES[1]
    pointing.choose_observatory(site.name)
    header = settings.to_config().header
    assert (header.observatory, header.site_lat, header.site_lon, header.site_elev) == (
        site.name, site.lat, site.lon, site.elev)  # fmt: skip
    assert pointing.add_observatory("Backyard", 48.85, 2.35, 35.0)
    assert settings.to_config().header.site_lat == 48.85 and pointing.observatories[-1].name == "Backyard"
    assert not pointing.add_observatory("Nowhere", 123.0, 0.0)
    assert "latitude" in pointing.message and pointing.observatories[-1].name == "Backyard"
    pointing.choose_observatory("")
    assert settings.to_config().header.site_lat is None
