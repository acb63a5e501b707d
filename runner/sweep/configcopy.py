"""Copy configs this process composed itself (never data read from disk), fast."""
from __future__ import annotations

import copy
import pickle

from omegaconf import DictConfig


def copy_config(cfg: DictConfig) -> DictConfig:
    """A deep copy of a config this process composed itself (never of data read from disk).

    A pickle round trip in memory copies an OmegaConf tree (flags, types, parents) twice as fast
    as copy.deepcopy.
    """
    try:
        return pickle.loads(pickle.dumps(cfg, protocol=pickle.HIGHEST_PROTOCOL))
    except (pickle.PicklingError, TypeError, AttributeError):
        # e.g. a plugin's structured config whose class Hydra's plugin scan re-imported
        return copy.deepcopy(cfg)
