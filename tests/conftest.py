"""Shared fixtures: compose configs with Hydra's compose API, run jobs in-process, run the CLI.

Tests that only read a sweep's output share one sweep (session-scoped fixtures below); a real
subprocess is used only where the command line itself is what is tested.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from runner.app import CONFIG_DIR
from runner.configstore import register_configs
from runner.errors import describe_exception
from runner.job.identity import identify, job_choices
from runner.job.task import optimizer_factory
from runner.job.validate import typed_config

ROOT = Path(__file__).resolve().parent.parent
NO_REPORT = "hydra.callbacks.sweep_table.report=false"
register_configs()


def compose_config(overrides=(), config_dir=CONFIG_DIR):
    """The composed DictConfig for these overrides (Hydra's compose API, no global state left behind)."""
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


def task_config(overrides=()):
    """(config without hydra, choices, override lines), as a job receives them."""
    cfg = compose_config(overrides)
    choices = job_choices(cfg.hydra.runtime.choices)
    lines = list(cfg.hydra.overrides.task)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, choices, lines


def error_line(overrides=(), config_dir=CONFIG_DIR) -> str:
    """The one-line message the CLI prints for these overrides (same composition, same checks, same
    formatting as `python -m runner`), or "" if the config is valid."""
    try:
        cfg = compose_config(overrides, config_dir)
        variant = cfg.hydra.runtime.choices.variant
        with open_dict(cfg):
            del cfg["hydra"]
        typed_config(cfg, f"variant/{variant}.yaml")
    except Exception as exc:  # noqa: BLE001 - formatted exactly as runner.app formats it
        return describe_exception(exc)
    return ""


def run_config(overrides=(), tmp_path=None) -> pd.DataFrame:
    """Run one job in-process exactly as the task does (minus Hydra's run dir) and return its table."""
    from runner.job.pipeline import run_job
    from runner.table.csvfile import to_frame
    cfg, choices, lines = task_config(overrides)
    typed = typed_config(cfg, f"variant/{choices['variant']}.yaml")
    out = Path(tmp_path or "/tmp")
    rows = run_job(typed, identify(cfg, choices, lines), out, optimizer_factory(cfg.optimizer))
    return to_frame(rows).set_index("tensor", drop=False)


@pytest.fixture
def run(tmp_path):
    return lambda *overrides: run_config(overrides, tmp_path)


def run_cli(*args, cwd=ROOT, env=None, timeout=600):
    """`python -m runner ...` in a subprocess; returns CompletedProcess with text output."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


def read_csv(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def sweep(directory: Path, *args: str) -> Path:
    """A real multirun (`python -m runner -m ...`) into `directory`; fails the test if it fails."""
    r = run_cli("runner", "-m", *args, f"hydra.sweep.dir={directory}")
    assert r.returncode == 0, r.stderr[-3000:]
    return directory


@pytest.fixture(scope="session")
def export_sweep(tmp_path_factory) -> Path:
    """One sweep shared by the tests that only read its table: the notebook's model and a custom layer
    under both ONNX exporters (compare, report, columns docs)."""
    return sweep(tmp_path_factory.mktemp("export_sweep"), "variant=seed_notebook,custom_linear",
                 "export=onnx_dynamo,onnx_legacy")
