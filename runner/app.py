"""The Hydra entry point: compose, hand the config to runner.job.task, turn bad input into one line."""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator

import hydra
from omegaconf import DictConfig

import runner
from runner.configstore import register_configs
from runner.errors import describe_exception

CONFIG_DIR = str(runner.CONFIG_DIR)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def _hydra_main(cfg: DictConfig) -> int:
    from runner.job.task import run_task  # torch is imported only when a job runs, not for --help
    return run_task(cfg)


@contextmanager
def _hydra_raises() -> Iterator[None]:
    """Let Hydra raise (HYDRA_FULL_ERROR=1) while it runs, so the message is ours to format; the
    variable is restored afterwards."""
    before = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = before


def fail(message: str, code: int = 2) -> None:
    """The one way tensorprobe's commands end on bad input: one line on stderr, a non-zero exit."""
    print(f"tensorprobe: error: {message}", file=sys.stderr)
    sys.exit(code)


OWN_MODEL = ("python -m runner variant=model variant.model._target_=mypkg.MyModule "
             "variant.input_shape=[4,3] (keywords: +variant.model.hidden=8)")


def _own_model_hint(argv, exc: BaseException) -> str:
    """Setting variant.model on a variant that has none (variant=generic) makes OmegaConf fail on the
    empty node ("Unexpected type for root: NoneType"): say which spelling names one's own module."""
    import re
    touches = [a for a in argv if re.match(r"^\+{0,2}variant\.model(\.|=)", a)]
    if touches and "NoneType" in f"{exc} {exc.__cause__ or ''}":
        return (f"{touches[0]}: the chosen variant has no model to set (a generic variant declares attributes); "
                f"allowed: {OWN_MODEL}")
    return ""


def main() -> None:
    """Run the app; without HYDRA_FULL_ERROR=1, any error is one line on stderr and exit code 2."""
    register_configs()
    if sys.argv[1:] in (["--help"], ["-h"]):
        from runner.apphelp import render_help
        print(render_help(CONFIG_DIR))
        return
    wants_traceback = os.environ.get("HYDRA_FULL_ERROR") == "1"
    from runner.sweep.interrupt import resume_hint, state, unfinished_line
    state.reset()
    try:
        with _hydra_raises():
            _hydra_main()
    except KeyboardInterrupt:
        print(resume_hint() if state.sweep_dir else "tensorprobe: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the boundary where errors become messages
        if wants_traceback:
            raise
        fail(_own_model_hint(sys.argv[1:], exc) or describe_exception(exc))
    if state.requested:
        print(resume_hint(), file=sys.stderr)
        sys.exit(130)
    if state.unfinished:
        print(unfinished_line(), file=sys.stderr)
        sys.exit(1)
