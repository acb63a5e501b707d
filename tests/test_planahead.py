"""runner.planahead: planning in a forked child returns the child's result, or None on any failure."""
import sys

import pytest

from runner.sweep import planahead

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="plan-ahead forks only on Linux")


@linux_only
def test_child_result_comes_back_and_warm_runs_here():
    warmed = []
    got = planahead.run(lambda: {"plans": [1, 2, 3], "pid": __import__("os").getpid()},
                        warm=lambda: warmed.append(True))
    assert got["plans"] == [1, 2, 3]
    assert got["pid"] != __import__("os").getpid()  # it really ran in another process
    assert warmed == [True]


@linux_only
def test_failures_in_the_child_give_none():
    def boom():
        raise ValueError("composition failed")
    assert planahead.run(boom, warm=lambda: None) is None
    assert planahead.run(lambda: (lambda: 0), warm=lambda: None) is None  # a result that does not pickle


@linux_only
def test_a_failing_warm_up_is_left_to_the_job():
    def warm():
        raise ImportError("no torch here")
    assert planahead.run(lambda: 7, warm=warm) == 7


def test_not_after_torch_is_imported():
    import torch  # noqa: F401 - the test process has it; forking now is what PyTorch warns against
    assert planahead.possible() is False
