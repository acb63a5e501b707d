"""Hydra's own conformance suites for launchers and sweepers, run against tensorprobe's plugins.

These are the tests Hydra's joblib and submitit launchers pass (hydra.test_utils.launcher_common_tests);
they use Hydra's test apps and configs, not tensorprobe's, so they check the plugins as Hydra plugins.
"""
import pytest
from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.test_utils.launcher_common_tests import BatchedSweeperTestSuite, LauncherTestSuite

from runner.configstore import register_configs

register_configs()


@pytest.fixture(autouse=True)
def hydras_test_apps_version_base():
    """Hydra's test apps set no version_base; this test process has tensorprobe's (1.3, set when
    runner.app is imported), which would change their defaults (hydra.job.chdir). Give them theirs."""
    from hydra import version
    base = version.VersionBase.instance()
    before = base.version_base
    base.version_base = version._UNSPECIFIED_
    yield
    base.version_base = before


def test_plugins_are_discovered():
    launchers = {p.__name__ for p in Plugins.instance().discover(Launcher)}
    sweepers = {p.__name__ for p in Plugins.instance().discover(Sweeper)}
    assert "TensorprobeLauncher" in launchers and "TensorprobeSweeper" in sweepers


@pytest.mark.parametrize("launcher_name, overrides", [
    ("tensorprobe", ["hydra/sweeper=tensorprobe"]),
    ("tensorprobe", ["hydra/sweeper=basic"]),
    ("tensorprobe", ["hydra/sweeper=basic", "hydra.launcher.n_jobs=2"]),  # the warm pool
])
class TestTensorprobeLauncher(LauncherTestSuite):
    """The launcher under Hydra's basic sweeper and under tensorprobe's."""


@pytest.mark.parametrize("launcher_name, overrides", [
    ("tensorprobe", ["hydra/sweeper=tensorprobe", "hydra.sweeper.max_batch_size=2"]),
    ("basic", ["hydra/sweeper=tensorprobe", "hydra.sweeper.max_batch_size=2"]),
])
class TestTensorprobeSweeperBatches(BatchedSweeperTestSuite):
    """The sweeper hands jobs to a launcher in batches of max_batch_size, as Hydra's basic sweeper does."""
