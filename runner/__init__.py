"""tensorprobe: measure how PyTorch treats every tensor a module holds (see ARCHITECTURE.md)."""
__version__ = "0.1.0"
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the checkout: conf/, experiments/, runner/
CONFIG_DIR = PROJECT_ROOT / "conf"                      # Hydra's primary config tree
