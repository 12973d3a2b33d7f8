"""deploy/: what cannot run here (Docker, Kubernetes, SLURM) must parse and be consistent."""

from __future__ import annotations

import importlib
import py_compile
import re
from pathlib import Path

import dask.config
import distributed  # noqa: F401 - loads the distributed defaults into dask.config
import yaml

from rpf.pipeline.service import service_command

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _load(name):
    return yaml.safe_load((DEPLOY / name).read_text())


def test_compose_has_scheduler_workers_and_dashboard():
    compose = _load("docker-compose.yml")
    services = compose["services"]
    assert {"scheduler", "worker", "dashboard"} <= set(services)
    for name, service in services.items():
        assert service["image"] == "rpf:latest", name
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).resolve().exists()
        assert service["environment"]["RPF_SCHEDULER"] == "tcp://scheduler:8786"
        assert service_command(service["command"])[0] in ("dask", "panel")
    assert "8786:8786" in services["scheduler"]["ports"] and "8787:8787" in services["scheduler"]["ports"]
    assert services["worker"]["depends_on"]["scheduler"]["condition"] == "service_healthy"
    assert service_command(services["worker"]["command"], env={"RPF_SCHEDULER": "tcp://scheduler:8786"})[:3] == [
        "dask",
        "worker",
        "tcp://scheduler:8786",
    ]


def test_dockerfile_entry_point_is_importable():
    text = (DEPLOY / "Dockerfile").read_text()
    entry = re.search(r"^ENTRYPOINT\s+(\[.*\])", text, re.M)
    args = yaml.safe_load(entry.group(1))
    module = args[args.index("-m") + 1]
    assert callable(importlib.import_module(module).main)
    for copied in re.findall(r"^COPY\s+(\S+)", text, re.M):
        assert (DEPLOY.parent / copied).exists(), copied


def test_service_roles():
    env = {"RPF_SCHEDULER": "tcp://s:1", "RPF_DASHBOARD_APP": "app/x.py"}
    assert service_command(["scheduler", "--port", "8786"], env=env) == ["dask", "scheduler", "--port", "8786"]
    assert service_command(["dask-worker", "tcp://other:2"], env=env) == ["dask", "worker", "tcp://other:2"]
    assert service_command([], env=env) == ["dask", "worker", "tcp://s:1"]
    assert service_command(["dashboard"], env=env)[:3] == ["panel", "serve", "app/x.py"]
    assert service_command(["rpf", "run", "a.fits"], env=env) == ["rpf", "run", "a.fits"]


def test_helm_values_follow_the_dask_chart():
    values = _load("helm/values.yaml")
    assert set(values) <= {"scheduler", "webUI", "worker", "jupyter", "nameOverride", "fullnameOverride"}
    for role in ("scheduler", "worker"):
        image = values[role]["image"]
        assert image["repository"] and str(image["tag"])
        assert values[role]["resources"]["limits"]["memory"]
    assert values["worker"]["replicas"] >= 1 and values["worker"]["threads_per_worker"] == 1
    assert values["jupyter"]["enabled"] is False
    mounts = values["worker"]["mounts"]
    assert {v["name"] for v in mounts["volumes"]} == {m["name"] for m in mounts["volumeMounts"]}


def _paths(tree, prefix=()):
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from _paths(value, (*prefix, key))
        else:
            yield (*prefix, key)


def test_dask_config_keys_exist_in_dask_defaults():
    config = _load("dask.yaml")
    for path in _paths(config):
        key = ".".join(path)
        if path[:3] == ("distributed", "nanny", "pre-spawn-environ"):
            continue
        assert dask.config.get(key, default=KeyError) is not KeyError, key
    merged = dask.config.merge(dask.config.config, config)
    assert merged["distributed"]["scheduler"]["allowed-failures"] == 5


def test_jobqueue_script_compiles(tmp_path):
    script = DEPLOY / "jobqueue" / "rpf_slurm.py"
    py_compile.compile(str(script), cfile=str(tmp_path / "x.pyc"), doraise=True)
    assert "SLURMCluster" in script.read_text() and "PBSCluster" in script.read_text()
