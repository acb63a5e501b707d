"""tensorprobe: measure how PyTorch treats every tensor a module holds (see ARCHITECTURE.md)."""
from pathlib import Path

__version__ = "0.1.0"
PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the checkout: conf/, experiments/, runner/
_SHIPPED = Path(__file__).resolve().parent / "conf"    # a regular install (wheel) ships the tree here
CONFIG_DIR = _SHIPPED if _SHIPPED.is_dir() else PROJECT_ROOT / "conf"  # Hydra's primary config tree
