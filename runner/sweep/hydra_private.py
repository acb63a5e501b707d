"""The two private Hydra functions tensorprobe uses, in one place, each with the reason.

Both serve runner.sweep.fastcompose, which puts a job's config together from parts Hydra composed
(through the public ConfigLoader.load_sweep_config) instead of composing every job from scratch.
tests/test_fastcompose.py compares every fast config with Hydra's own, so a Hydra release that changes
either function fails there (and Hydra is pinned to the 1.3 line in pyproject.toml).
"""
from __future__ import annotations

# Hydra's own application of command-line overrides to a config (add, change, delete, force-add, with
# Hydra's errors): the same semantics for a config we compose, without composing it again.
from hydra._internal.config_loader_impl import ConfigLoaderImpl
# hydra.job.override_dirname exactly as Hydra fills it for a job's overrides.
from hydra._internal.config_loader_impl import get_overrides_dirname

apply_overrides = ConfigLoaderImpl._apply_overrides_to_config

__all__ = ["apply_overrides", "get_overrides_dirname"]
