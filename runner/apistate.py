"""The process-wide state a job changes, put back after each runner.api call.

A job reseeds torch, sets the default dtype and grad mode (runner.job.pipeline.reset_torch_state),
exporters change logging levels and TorchDynamo's config, and Hydra reads HYDRA_FULL_ERROR; in a
notebook all of that is the caller's. TorchDynamo's compiled-frame caches are reset by every job
(the exporters rely on it) and cannot be put back: a function the caller compiled is compiled again.
"""
from __future__ import annotations

import contextlib
import logging
import os
import random
import sys
import warnings
from typing import Iterator


def _loggers():
    yield logging.getLogger()
    for item in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(item, logging.Logger):
            yield item


@contextlib.contextmanager
def preserved() -> Iterator[None]:
    """Save, run, restore: RNG states (torch, CUDA where initialised, numpy, random), default dtype,
    grad mode, TorchDynamo's config, every logger's level/handlers/propagate/disabled, HYDRA_FULL_ERROR."""
    import numpy as np
    import torch
    rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    np_rng, py_rng = np.random.get_state(), random.getstate()
    dtype, grad = torch.get_default_dtype(), torch.is_grad_enabled()
    loggers = {lg: (lg.level, list(lg.handlers), lg.propagate, lg.disabled) for lg in _loggers()}
    disable = logging.root.manager.disable
    env = os.environ.get("HYDRA_FULL_ERROR")
    dynamo = sys.modules.get("torch._dynamo")
    dynamo_config = dynamo.config.get_config_copy() if dynamo is not None else None
    try:
        yield
    finally:
        torch.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        np.random.set_state(np_rng)
        random.setstate(py_rng)
        torch.set_default_dtype(dtype)
        torch.set_grad_enabled(grad)
        for lg, (level, handlers, propagate, disabled) in loggers.items():
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate, lg.disabled = propagate, disabled
        logging.disable(disable)
        if env is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = env
        if dynamo_config is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # deprecated keys warn when set, even to their value
                for key, value in dynamo_config.items():
                    with contextlib.suppress(Exception):
                        if getattr(dynamo.config, key) != value:
                            setattr(dynamo.config, key, value)
