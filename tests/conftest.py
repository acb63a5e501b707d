"""Shared fixtures: compose configs with Hydra's compose API and run jobs in-process."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict

from runner.app import CONFIG_DIR
from runner.configstore import register_configs
from runner.job.pipeline import run_job
from runner.job.identity import JobIdentity
from runner.schema import GROUPS
from runner.table.csvfile import to_frame
from runner.job.task import optimizer_factory
from runner.job.validate import typed_config

ROOT = Path(__file__).resolve().parent.parent
register_configs()


def compose_config(overrides=()):
    """The composed DictConfig for these overrides (Hydra's compose API, no global state left behind)."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


def run_config(overrides=(), tmp_path=None) -> pd.DataFrame:
    """Run one job in-process exactly as the task does (minus Hydra's run dir) and return its table."""
    cfg = compose_config(overrides)
    choices = {g: str(cfg.hydra.runtime.choices[g]) for g in GROUPS}
    with open_dict(cfg):
        del cfg["hydra"]
    typed = typed_config(cfg, "variant/test.yaml")
    ident = JobIdentity(",".join(f"{k}={v}" for k, v in sorted(choices.items())), choices, "test")
    out = Path(tmp_path or "/tmp")
    rows = run_job(typed, ident, out, optimizer_factory(cfg.optimizer))
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
