"""The house rules of ARCHITECTURE.md, checked: who imports whom, docs that ship, nothing outside the repo."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

from runner.table.columns import COLUMNS

from .conftest import ROOT

# tensorprobe modules each package may import (besides its own)
SHARED = {"runner", "runner.schema", "runner.errors"}
ALLOWED = {
    "experiments": set(),
    "runner/probes": SHARED,
    "runner/table": SHARED,
    "runner/analysis": SHARED | {"runner.table"},
    "runner/job": SHARED | {"runner.probes", "runner.table"},
}
# third-party packages a package never imports, even inside a function
FORBIDDEN = {
    "experiments": {"hydra", "omegaconf", "runner"},
    "runner/probes": {"hydra", "omegaconf"},
    "runner/table": {"torch"},
    "runner/analysis": {"torch"},
}


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_packages_import_only_what_they_may(package):
    own = package.replace("/", ".")
    for path in sorted((ROOT / package).rglob("*.py")):
        for module in _imports(path):
            top = module.split(".")[0]
            assert top not in FORBIDDEN.get(package, set()), (path, module)
            if top == "runner" and not module.startswith(own):
                prefix = ".".join(module.split(".")[:2]) if module.count(".") else module
                assert module in ALLOWED[package] or prefix in ALLOWED[package], (path, module)


@pytest.mark.parametrize("modules,absent", [
    ("runner.probes.discover runner.probes.registration runner.probes.training runner.probes.moving "
     "runner.probes.restore runner.probes.checkpoint runner.probes.exporting runner.probes.onnx_export "
     "runner.probes.torch_export", ["hydra", "omegaconf"]),
    ("runner.analysis.compare runner.analysis.claims runner.analysis.report runner.analysis.audit "
     "runner.table.collect runner.table.jobstate runner.compare runner.report runner.audit runner.collect",
     ["torch"]),
    ("experiments.generic experiments.seed_notebook experiments.structures experiments.pitfalls",
     ["hydra", "omegaconf", "runner"]),
    ("runner", ["torch", "pandas", "hydra", "omegaconf", "numpy"]),  # `import runner as tp` stays cheap
])
def test_importing_a_package_pulls_in_nothing_it_must_not(modules, absent):
    code = f"import sys\nfor m in {modules.split()!r}: __import__(m)\nprint(sorted(m for m in {absent!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_every_module_says_why_in_a_docstring():
    for path in sorted([*ROOT.glob("runner/**/*.py"), *ROOT.glob("experiments/*.py"), *ROOT.glob("hydra_plugins/**/*.py")]):
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc and len(doc.split()) >= 3, path


def test_nothing_points_outside_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    outside = "../" + "shared"  # spelled in parts so this file does not point there either
    for name in tracked:
        path = ROOT / name
        if path.suffix in {".py", ".md", ".yaml", ".toml", ".txt", ".sh", ".in", ""} and path.is_file():
            assert outside not in path.read_text(errors="ignore"), name


def test_the_docs_that_ship_describe_every_column():
    docs = (ROOT / "docs" / "columns.md").read_text()
    missing = [c for c in COLUMNS if f"`{c}`" not in docs]
    assert missing == []
    assert (ROOT / "ARCHITECTURE.md").is_file()
    readme = (ROOT / "README.md").read_text()
    assert "docs/columns.md" in readme and "ARCHITECTURE.md" in readme


@pytest.mark.slow
def test_every_column_a_job_writes_is_a_documented_column(tmp_path):
    """Every stage on: the rows' keys are table columns (a probe's column missing from the table would
    silently vanish from the CSV)."""
    from runner.job.identity import identify
    from runner.job.pipeline import run_job
    from runner.job.task import optimizer_factory
    from runner.job.validate import typed_config

    from .conftest import task_config
    seen = set()
    for overrides in (["variant=tied_parameters", "export=onnx_dynamo", "checkpoint=true", "steps=2"],
                      ["variant=seed_notebook", "export=torch_export", "lifecycle.meta_init=true",
                       "lifecycle.strict_false=true", "lifecycle.compile=true"],
                      ["variant=tensor_requires_grad", "export=onnx_legacy"], ["device=cuda"]):
        cfg, choices, lines = task_config(overrides)
        rows = run_job(typed_config(cfg, "v"), identify(cfg, choices, lines), tmp_path,
                       optimizer_factory(cfg.optimizer))
        seen |= {key for row in rows for key in row}
    assert seen - set(COLUMNS) == set()
