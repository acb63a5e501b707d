"""tensorprobe: measure how PyTorch treats every tensor a module holds (see ARCHITECTURE.md)."""
from pathlib import Path

__version__ = "0.1.0"
PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the checkout: conf/, experiments/, runner/
CONFIG_DIR = PROJECT_ROOT / "conf"                      # Hydra's primary config tree
