"""``rpf serve`` options become the server's settings (the same parser as ``panel serve app/main.py --args``)."""

import pytest

from app.server import options_from_args
from rpf.cli import build_parser
from rpf.config import PipelineConfig
from rpf.errors import ConfigError


def _options(*args):
    return options_from_args(build_parser().parse_args(["serve", *args]))


def test_defaults_are_offline_with_a_local_cluster(tmp_path):
    options = _options("--data-dir", str(tmp_path))
    assert options.config.catalogs.offline and options.scheduler is None
    assert options.config.replace(catalogs={"offline": False}) == PipelineConfig()
    assert options.roots == () and options.max_upload_mb == 200.0


def test_config_file_scheduler_roots_and_limits(tmp_path):
    config = tmp_path / "site.toml"
    PipelineConfig().replace(detection={"threshold_sigma": 3.5}).save(config)
    options = _options("--config", str(config), "--scheduler", "tcp://10.0.0.1:8786", "--root", str(tmp_path),
                       "--max-upload-mb", "5", "--online", "--workers", "3", "--demo-size", "256")  # fmt: skip
    assert options.config.detection.threshold_sigma == 3.5 and not options.config.catalogs.offline
    assert options.scheduler == "tcp://10.0.0.1:8786" == options.config.execution.scheduler
    assert options.config.execution.n_workers == 3 and options.demo_size == 256
    assert options.roots == (tmp_path.resolve(),) and options.max_upload_mb == 5.0


def test_bad_options_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        _options("--root", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="upload limit"):
        _options("--max-upload-mb", "0")
    with pytest.raises(SystemExit):
        _options("--workers", "0")
