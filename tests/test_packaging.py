"""A regular (non-editable) install runs the README's commands: the wheel ships conf/ as runner/conf."""
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from setuptools import find_namespace_packages

import runner

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "runner", "experiments", "hydra_plugins", "conf")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_the_package_list_names_every_package_and_config_group_on_disk():
    """pyproject lists packages by hand (conf/ is mapped into runner/conf): none may be forgotten."""
    listed = set(_pyproject()["packages"])
    found = find_namespace_packages(str(ROOT), include=["runner*", "experiments*", "hydra_plugins.*"])
    code = {p for p in found if any((ROOT / p.replace(".", "/")).glob("*.py"))}
    groups = {"runner.conf" + "".join("." + part for part in d.relative_to(ROOT / "conf").parts)
              for d in [ROOT / "conf", *(p for p in (ROOT / "conf").rglob("*") if p.is_dir())]}
    assert listed == code | groups, (listed ^ (code | groups))
    data = _pyproject()["package-data"]
    assert {g for g in groups if any((ROOT / "conf").joinpath(*g.split(".")[2:]).glob("*.yaml"))} == set(data)


def test_the_checkout_reads_its_own_conf():
    assert runner.CONFIG_DIR == ROOT / "conf" or (Path(runner.__file__).parent / "conf") == runner.CONFIG_DIR


def _copy_sources(dest: Path) -> Path:
    import shutil
    src = dest / "src"
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            src.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, src / name)
    return src


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built by the project's own PEP 517 backend, installed with --no-deps into a target dir."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = _copy_sources(tmp)
    build = subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta; "
                            "print(build_meta.build_wheel(sys.argv[1]))", str(tmp / "dist")],
                           cwd=src, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = tmp / "dist" / build.stdout.strip().splitlines()[-1]
    target = tmp / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                              "--target", str(target), str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-3000:]
    return target


def _run_installed(target: Path, cwd: Path, *args):
    """Run outside the checkout, with the installed copy first on the path (the environment's
    packages give the dependencies)."""
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_the_wheel_carries_the_config_tree(installed):
    shipped = sorted(p.relative_to(installed / "runner" / "conf").as_posix()
                     for p in (installed / "runner" / "conf").rglob("*.yaml"))
    assert shipped == sorted(p.relative_to(ROOT / "conf").as_posix() for p in (ROOT / "conf").rglob("*.yaml"))


@pytest.mark.slow
def test_the_installed_package_runs_the_default_job_and_the_readme_audit(installed, tmp_path):
    where = _run_installed(installed, tmp_path, "-c", "import runner; print(runner.__file__, runner.CONFIG_DIR)")
    assert where.stdout.split() == [str(installed / "runner" / "__init__.py"), str(installed / "runner" / "conf")]
    one = _run_installed(installed, tmp_path, "-m", "runner", f"hydra.run.dir={tmp_path / 'one'}")
    assert one.returncode == 0, one.stderr
    assert (tmp_path / "one" / "results.csv").is_file()
    readme = (ROOT / "README.md").read_text()
    audit = re.search(r"(python -m runner -m \+experiment=audit variant=model [^\n]*\\\n[^\n]*)", readme).group(1)
    args = audit.replace("\\\n", " ").split()[1:]
    r = _run_installed(installed, tmp_path, *args, f"hydra.sweep.dir={tmp_path / 'audit'}")
    assert r.returncode == 0, r.stderr
    assert "audit: no findings" in r.stdout and (tmp_path / "audit" / "report.md").is_file()
    report = (tmp_path / "audit" / "report.md").read_text()
    assert "an installed package, not a git checkout" in report
