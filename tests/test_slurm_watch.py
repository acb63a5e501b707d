"""runner.sweep.slurm's watch loop without a cluster: squeue/sacct answers are scripted, so the rules
(result file wins, an ended task waits result_wait_s for its file, a task missing from two polls is
lost, a failed squeue decides nothing, Ctrl-C stops waiting) are checked exactly; tests/slurm checks
them against a real SLURM."""
from types import SimpleNamespace

import pytest

pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
from runner.sweep import slurm  # noqa: E402


class FakeJob:
    def __init__(self, folder, job_id):
        self.job_id = job_id
        self.paths = SimpleNamespace(folder=folder, result_pickle=folder / f"{job_id}_0_result.pkl")

    def results(self):
        return [SimpleNamespace(overrides=[f"job={self.job_id}"], _return_value={"status": "ok", "seconds": 0})]


class FakeLauncher:
    watch_interval_s = 0.5
    result_wait_s = 0.6
    cancel_wait_s = 2.0

    def __init__(self):
        self.failed = {}

    def failed_return(self, idx, overrides, reason, since):
        self.failed[idx] = reason
        return SimpleNamespace(overrides=overrides, return_value={"status": "failed"})


def watch(tmp_path, monkeypatch, answers, n=3, finish=()):
    """Run a watch over n jobs of array 7; `answers(call)` gives the call-th poll's Poll; jobs in
    `finish` write their result file at the first poll."""
    jobs = [FakeJob(tmp_path, f"7_{i}") for i in range(n)]
    calls = []

    def fake_poll(arrays):
        assert arrays == ["7"]
        calls.append(1)
        for i in finish:
            jobs[i].paths.result_pickle.write_text("x")
        return answers(len(calls))

    monkeypatch.setattr(slurm, "poll", fake_poll)
    monkeypatch.setattr(slurm, "scancel", lambda arrays: None)
    launcher = FakeLauncher()
    w = slurm._Watch(launcher, [(i, [f"job={i}"], job) for i, job in enumerate(jobs)], 0.0)
    return w, launcher, calls


def test_results_win_ended_jobs_fail_with_their_state_and_missing_ones_are_lost(tmp_path, monkeypatch):
    def answers(call):
        return slurm.Poll(squeue={"7_0": "COMPLETED", "7_1": "CANCELLED"},
                          sacct={"7_0": "COMPLETED", "7_1": "CANCELLED by 0", "7_[2-3%4]": "PENDING"}, ok=True)
    w, launcher, calls = watch(tmp_path, monkeypatch, answers, finish=[0])
    returns = w.run()
    assert len(returns) == 3
    assert launcher.failed == {1: "cancelled by the scheduler (CANCELLED by 0), SLURM job 7_1",
                               2: "lost by the scheduler: not in squeue or sacct, SLURM job 7_2"}
    assert len(calls) >= 2  # lost only after a second poll


def test_a_failed_squeue_decides_nothing_and_a_live_task_is_waited_for(tmp_path, monkeypatch):
    def answers(call):
        if call <= 3:
            return slurm.Poll(squeue={}, sacct={}, ok=False)        # squeue failed: nobody is lost
        if call <= 5:
            return slurm.Poll(squeue={"7_0": "PENDING"}, sacct={}, ok=True)
        return slurm.Poll(squeue={"7_0": "TIMEOUT"}, sacct={"7_0": "TIMEOUT"}, ok=True)
    w, launcher, calls = watch(tmp_path, monkeypatch, answers, n=1)
    w.run()
    assert launcher.failed == {0: "ended by the scheduler without results (TIMEOUT), SLURM job 7_0"}
    assert len(calls) >= 6


def test_after_ctrl_c_only_finished_jobs_come_back_and_nothing_is_failed(tmp_path, monkeypatch):
    def answers(call):
        if call == 1:
            w.cancel()  # Ctrl-C while the first poll runs
            return slurm.Poll(squeue={"7_0": "RUNNING", "7_1": "PENDING"}, sacct={}, ok=True)
        return slurm.Poll(squeue={"7_0": "CANCELLED"}, sacct={}, ok=True)
    w, launcher, calls = watch(tmp_path, monkeypatch, answers, n=2)
    (tmp_path / "7_1_0_result.pkl").write_text("x")  # job 1 finished just before
    returns = w.run()
    assert [r.overrides for r in returns] == [["job=7_1"]]
    assert launcher.failed == {}
