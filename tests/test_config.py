import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from rpf.config import DetectionConfig, PipelineConfig, describe_config, load_config
from rpf.config.fields import KINDS
from rpf.config.reference import markdown
from rpf.errors import ConfigError


@pytest.mark.parametrize("suffix", [".toml", ".yaml", ".json"])
def test_round_trip_every_format(tmp_path, suffix):
    cfg = PipelineConfig().replace(
        detection={"threshold_sigma": 4.5, "border_px": 25},
        aperture={"radii_fwhm": (1.0, 2.0, 4.0), "default_radius_fwhm": 2.0},
        catalogs={"offline": True},
    )
    path = tmp_path / f"rpf{suffix}"
    cfg.save(path)
    assert load_config(path) == cfg


def test_unknown_keys_and_bad_values_are_clear_errors(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"detection": {"treshold_sigma": 3}}))
    with pytest.raises(ConfigError, match="treshold_sigma"):
        load_config(path)
    with pytest.raises(ConfigError, match="threshold_sigma"):
        PipelineConfig().replace(detection={"threshold_sigma": -1})
    with pytest.raises(ConfigError, match="default_radius_fwhm"):
        PipelineConfig().replace(aperture={"default_radius_fwhm": 7.0})
    with pytest.raises(ConfigError, match="unknown config section"):
        PipelineConfig.from_dict({"nope": {}})


def test_secrets_come_from_environment_and_never_serialise(tmp_path, monkeypatch):
    monkeypatch.setenv("RPF_COLIBRI_UID", "secret-uid-123")
    cfg = load_config()
    assert cfg.catalogs.colibri_uid == "secret-uid-123"
    assert "secret-uid-123" not in repr(cfg)
    assert "secret-uid-123" not in json.dumps(cfg.to_dict())
    cfg.save(tmp_path / "c.toml")
    assert "secret-uid-123" not in (tmp_path / "c.toml").read_text()


# --- metadata (issue 10: "configuration metadata") ---------------------------------------------

SECTIONS = ("header", "calibration", "background", "cosmics", "detection", "aperture", "astrometry", "catalogs",
            "zeropoint", "psf", "transients", "execution", "output")


def test_every_field_of_every_section_is_described():
    described = describe_config()
    assert tuple(described) == SECTIONS
    defaults = PipelineConfig()
    for section, specs in described.items():
        instance = getattr(defaults, section)
        assert [s.name for s in specs] == [f.name for f in dataclasses.fields(instance)]
        for spec in specs:
            assert spec.section == section and spec.kind in KINDS, spec
            assert spec.default == getattr(instance, spec.name), spec.key
            assert spec.check(spec.default) == spec.default, spec.key
            assert len(spec.doc) > 10, f"{spec.key} has no numpydoc text"
            if spec.kind in ("int", "float", "float_pair", "float_list", "coordinate"):
                assert spec.minimum is not None and spec.maximum is not None, f"{spec.key} needs bounds"
            if spec.kind in ("choice",):
                assert spec.choices and spec.default in spec.choices, spec.key
    secrets = [s.key for specs in described.values() for s in specs if s.secret]
    assert secrets == ["catalogs.colibri_uid"]


def test_doc_text_comes_from_the_numpydoc_attributes():
    specs = {s.key: s for specs in describe_config().values() for s in specs}
    assert specs["detection.deblend_nthresh"].doc == "Deblending sub-thresholds."
    assert specs["astrometry.dec"].doc == specs["astrometry.ra"].doc  # one entry documents both
    assert "Pointing overriding the header" in specs["astrometry.ra"].doc
    assert specs["aperture.annulus_fwhm"].kind == "float_pair" and specs["aperture.radii_fwhm"].kind == "float_list"
    assert specs["catalogs.crossmatch"].kind == "str_list" and "colibri" in specs["catalogs.crossmatch"].choices
    assert specs["background.box_size"].nullable and not specs["header.gain"].nullable
    assert (specs["header.gain"].unit, specs["header.gain"].exclusive_minimum) == ("electron/adu", True)


def test_configuration_reference_page_lists_every_parameter():
    page = (Path(__file__).parents[1] / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert page == markdown(), "regenerate it: python -m rpf.config.reference > docs/configuration.md"
    for specs in describe_config().values():
        for spec in specs:
            assert f"| `{spec.key}` |" in page


# --- validation (issue 11, item 4) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("detection", {"deblend_nthresh": -5}, r"^detection\.deblend_nthresh = -5: must be an integer in \[1, 64\]"),
        ("detection", {"deblend_nthresh": 0}, r"^detection\.deblend_nthresh = 0"),
        ("detection", {"border_px": 100000}, r"^detection\.border_px = 100000: .*\[0, 1000\]"),
        ("header", {"gain": True}, r"^header\.gain = True: must be a finite number"),
        ("header", {"gain": float("inf")}, r"^header\.gain = inf"),
        ("header", {"gain": float("nan")}, r"^header\.gain = nan"),
        ("header", {"gain": "2"}, r"^header\.gain = '2'"),
        ("output", {"png": "no"}, r"^output\.png = 'no': must be true or false"),
        ("output", {"zip": 1}, r"^output\.zip = 1"),
        ("execution", {"memory_limit": "banana"}, r"^execution\.memory_limit = 'banana': .*'auto'"),
        ("execution", {"n_workers": 0}, r"^execution\.n_workers = 0"),
        ("background", {"box_size": 64.0}, r"^background\.box_size = 64\.0: must be an integer"),
        ("calibration", {"combine": "average"}, r"^calibration\.combine = 'average': must be one of 'median', 'mean'"),
        ("catalogs", {"crossmatch": "simbad"}, r"^catalogs\.crossmatch = 'simbad'"),
        ("catalogs", {"crossmatch": ["simbad", "ned"]}, r"^catalogs\.crossmatch"),
        ("catalogs", {"colibri_uid": 12345}, r"^catalogs\.colibri_uid = '\*\*\*'"),
        ("catalogs", {"gaia_url": "ftp://x"}, r"^catalogs\.gaia_url"),
        ("zeropoint", {"mag_range": (9.0,)}, r"^zeropoint\.mag_range"),
        ("zeropoint", {"mag_range": (19.0, 9.0)}, r"^zeropoint\.mag_range = \(19\.0, 9\.0\): must be \(bright"),
        ("aperture", {"radii_fwhm": ()}, r"^aperture\.radii_fwhm"),
        ("aperture", {"default_radius_fwhm": 7.0}, r"^aperture\.default_radius_fwhm = 7\.0: must be one of"),
        ("psf", {"fit_radius_fwhm": 5.0}, r"^psf\.fit_radius_fwhm = 5\.0: must be <= psf\.size_fwhm"),
        ("catalogs", {"match_radius_min_arcsec": 20.0}, r"^catalogs\.match_radius_min_arcsec = 20\.0"),
        ("astrometry", {"mode": None}, r"^astrometry\.mode = None: must be given"),
    ],
)
def test_bad_values_are_refused_naming_the_field_the_value_and_the_rule(section, values, message):
    with pytest.raises(ConfigError, match=message):
        PipelineConfig().replace(**{section: values})


def test_good_values_are_normalised():
    cfg = PipelineConfig().replace(
        header={"gain": 2, "exptime": np.float64(30.0)},
        aperture={"radii_fwhm": [1, 2.0], "default_radius_fwhm": 2, "annulus_fwhm": np.array([3.0, 5.0])},
        execution={"memory_limit": "4 GiB", "n_workers": np.int64(3)},
        output={"png": np.bool_(False)},
    )
    assert cfg.header.gain == 2.0 and isinstance(cfg.header.gain, float)
    assert cfg.aperture.radii_fwhm == (1.0, 2.0) and cfg.aperture.annulus_fwhm == (3.0, 5.0)
    assert type(cfg.execution.n_workers) is int and cfg.output.png is False
    for limit in ("auto", "4GB", "512 MiB", "4000000000", "1.5 gb"):
        assert PipelineConfig().replace(execution={"memory_limit": limit}).execution.memory_limit == limit


def test_sections_and_values_never_reach_the_stages_unchecked():
    with pytest.raises(ConfigError, match=r"^detection\.deblend_nthresh"):
        DetectionConfig(deblend_nthresh=-5)
    with pytest.raises(ConfigError, match="detection: must be a DetectionConfig"):
        PipelineConfig(detection={"deblend_nthresh": 3})


# --- loading (issue 11, item 11) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("bad.toml", b"[detection]\nthreshold_sigma = 3.0\nname = \"\xff\xfe\"\n", "not UTF-8"),
        ("scalar.toml", b"detection = 5\n", r"\[detection\] must be a table"),
        ("scalar.yaml", b"detection: 5\n", r"\[detection\] must be a table"),
        ("list.yaml", b"- 1\n- 2\n", "table of sections"),
        ("broken.yaml", b"detection: {threshold_sigma: [1, 2\n", "cannot parse"),
        ("broken.toml", b"[detection\n", "cannot parse"),
        ("broken.json", b"{\"detection\": ", "cannot parse"),
        ("nan.json", b"{\"header\": {\"gain\": NaN}}", r"header\.gain = nan"),
        ("unknown.toml", b"[detection]\ntreshold = 3\n", r"unknown key\(s\) in \[detection\]: treshold"),
        ("section.toml", b"[nope]\n", "unknown config section"),
        ("badkey.yaml", b"detection:\n  1: 2\n", r"unknown key\(s\) in \[detection\]: 1"),
        ("memory.toml", b"[execution]\nmemory_limit = \"banana\"\n", r"execution\.memory_limit = 'banana'"),
        ("config.ini", b"[detection]\n", "unsupported config format"),
    ],
)
def test_loading_errors_are_one_config_error_naming_the_file(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=problem) as error:
        load_config(path)
    assert str(error.value).startswith(str(path))


def test_unreadable_config_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read config"):
        load_config(tmp_path)
    with pytest.raises(ConfigError, match="missing.toml"):
        load_config(tmp_path / "missing.toml")


HOSTILE = (None, True, False, 0, -1, 1, 2**70, -(2**70), 1e300, -1e300, float("nan"), float("inf"), -0.0, 0.5, "",
           "x", "12 30 00", "\x00", "no", b"1", [], [1], [1.0, 2.0], (1, 2, 3), ["simbad"], {}, {"a": 1},
           np.float64("nan"), np.int64(5), np.array([1.0, 2.0]), np.ones((2, 2)), object())


def test_hostile_values_give_config_errors_or_valid_sections():
    """No value makes a section raise anything but ConfigError, and an accepted value passes its own check."""
    defaults = PipelineConfig()
    for section, specs in describe_config().items():
        cls = type(getattr(defaults, section))
        for spec in specs:
            for value in HOSTILE:
                try:
                    built = cls(**{spec.name: value})
                except ConfigError as exc:
                    assert str(exc).startswith(f"{section}."), (spec.key, value, exc)
                    continue
                accepted = getattr(built, spec.name)
                assert spec.check(accepted) == accepted, (spec.key, value)
                if isinstance(accepted, float):
                    assert np.isfinite(accepted), (spec.key, value)


def test_bad_environment_values_name_the_environment(monkeypatch):
    monkeypatch.setenv("RPF_SCHEDULER", "tcp://host with spaces:8786")
    with pytest.raises(ConfigError, match=r"^environment .*RPF_SCHEDULER.*execution\.scheduler"):
        load_config()


@pytest.mark.parametrize("suffix", [".toml", ".yaml", ".json"])
def test_none_survives_a_save_where_the_default_is_not_none(tmp_path, suffix):
    config = PipelineConfig().replace(cosmics={"tile_size": None}, execution={"dashboard_address": None},
                                      header={"exptime": 30.0})
    path = tmp_path / f"c{suffix}"
    config.save(path)
    loaded = load_config(path)
    assert loaded.cosmics.tile_size is None and loaded.execution.dashboard_address is None
    assert loaded.header.exptime == 30.0
    assert loaded == config
