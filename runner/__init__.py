"""tensorprobe: measure how PyTorch treats every tensor a module holds (see ARCHITECTURE.md).

`import runner as tp` gives the Python API (tp.probe, tp.sweep, tp.audit, tp.read_table, tp.compare,
runner/api.py), imported on first use so that the CLI and `import runner` stay cheap.
"""
import sys
import types
from pathlib import Path

__version__ = "0.1.0"
PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the checkout: conf/, experiments/, runner/
_SHIPPED = Path(__file__).resolve().parent / "conf"    # a regular install (wheel) ships the tree here
CONFIG_DIR = _SHIPPED if _SHIPPED.is_dir() else PROJECT_ROOT / "conf"  # Hydra's primary config tree
API = ("probe", "sweep", "audit", "read_table", "compare", "Audit")


class _CallableEntryPoint(types.ModuleType):
    """`runner.compare`, `runner.audit` and `runner.sweep` are both modules (`python -m runner.compare`,
    the sweep package) and API functions (`tp.compare(a, b)`): importing the submodule makes it the
    package's attribute, hiding `__getattr__`, so the module itself forwards calls to the function of
    runner.api with its name."""

    def __call__(self, *args, **kwargs):
        from runner import api
        return getattr(api, self.__name__.rpartition(".")[2])(*args, **kwargs)


def callable_entry_point(module_name: str) -> None:
    """Make the entry-point module `module_name` callable as the API function of the same name."""
    if module_name in sys.modules and module_name != "__main__":
        sys.modules[module_name].__class__ = _CallableEntryPoint


def __getattr__(name: str):
    if name in API:
        from runner import api
        return getattr(api, name)
    raise AttributeError(f"module 'runner' has no attribute {name!r}")
