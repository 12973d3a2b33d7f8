import json

import pytest

from rpf.config import PipelineConfig, load_config
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
