"""The Hydra entry point: compose, hand the config to runner.job.task, turn bad input into one line."""
from __future__ import annotations

import os
import sys

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


def main() -> None:
    """Run the app; without HYDRA_FULL_ERROR=1, any error is one line on stderr and exit code 2."""
    register_configs()
    if sys.argv[1:] in (["--help"], ["-h"]):
        from runner.apphelp import render_help
        print(render_help(CONFIG_DIR))
        return
    wants_traceback = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let Hydra raise, so the message is ours to format
    from runner.sweep import interrupt
    try:
        _hydra_main()
    except KeyboardInterrupt:
        print(interrupt.resume_hint() if interrupt.sweep_dir else "tensorprobe: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the boundary where errors become messages
        if wants_traceback:
            raise
        print(f"tensorprobe: error: {describe_exception(exc)}", file=sys.stderr)
        sys.exit(2)
    if interrupt.requested:
        print(interrupt.resume_hint(), file=sys.stderr)
        sys.exit(130)
