"""Every command the README's shell blocks and `python -m runner --help` show is run here.

COMMANDS is the table: each shown command, as written (comments stripped, continuation lines joined),
with how it is run and the exit code it must give. A command added to the README or the help
without a row here fails `test_every_shown_command_has_a_row`. Placeholders (`<dir>`, `OLD.csv`, ...)
are replaced by the tables and sweeps of the `made` fixture. `runner` commands run as a subprocess
(the CLI is the point: Hydra's parsing, exit codes); the table tools run in-process through their
`main(argv)`.
"""
import re
import shlex
from pathlib import Path

import pytest

from runner.analysis.browser import find_chromium

from .conftest import ROOT, NO_REPORT, read_csv, run_cli

RUN, DRY, SKIP = "run", "dry run", "skip"

# command as shown -> (how, expected exit code or the reason it is not run here)
COMMANDS = {
    "make demo": (SKIP, "the set-up itself: CI's bash .ci/run makes the same venv; `python -m runner` is run below"),
    "make test": (SKIP, "CI runs it (bash .ci/run)"),
    "make install && .venv/bin/python -m runner -m +experiment=seeds": (DRY, 0),
    "python -m runner -m +experiment=audit variant=seed_notebook": (RUN, 0),  # findings are runner.audit's exit code
    "python -m runner.audit outputs/multirun/<dir>": (RUN, 1),
    "python -m runner -m +experiment=audit variant=model variant.model._target_=torch.nn.Linear "
    "+variant.model.in_features=3 +variant.model.out_features=2 variant.input_shape=[4,3]": (RUN, 0),
    "python -m runner variant=bilinear variant.dtype=float64": (RUN, 0),
    "python -m runner variant=seed_notebook lifecycle.meta_init=true lifecycle.strict_false=true": (RUN, 0),
    "python -m runner -m +experiment=lifecycle": (DRY, 0),
    "python -m runner variant=batchnorm distributed=ddp steps=2": (RUN, 0),
    "python -m runner -m +experiment=distributed": (DRY, 0),  # run for real by tests/test_distributed.py (slow)  # run for real by tests/test_lifecycle.py (slow)
    "python -m runner variant=generic '+variant.attributes.w={kind: parameter}' "
    "'+variant.attributes.b={kind: buffer, persistent: false}' variant.attributes.w.requires_grad=false": (RUN, 0),
    "python -m runner variant=buffer '~variant.attributes.b'": (RUN, 0),
    "python -m runner": (RUN, 0),
    "python -m runner variant=buffer_nonpersistent update=no_grad steps=3": (RUN, 0),
    "python -m runner -m variant=tensor,parameter,buffer optimizer=sgd,adam": (RUN, 0),
    "python -m runner.collect outputs/multirun/<dir>": (RUN, 0),
    "python -m runner --help": (RUN, 0),
    "python -m runner --cfg job variant=batchnorm": (RUN, 0),
    "python -m runner -m variant=seed_notebook,custom_linear export=torch_export,onnx_dynamo,onnx_legacy": (DRY, 0),
    "python -m runner variant=custom_linear export=onnx_legacy export.do_constant_folding=false": (RUN, 0),
    "python -m runner.report outputs/multirun/<dir> --claims mine.yaml --out myreport": (RUN, 0),
    "python -m runner.report outputs/multirun/<dir> --against OLD.csv --screenshot": (RUN, 0 if find_chromium() else 2),
    "python -m runner.compare OLD.csv NEW.csv": (RUN, 1),
    "python -m runner.compare cpu_sweep/ gpu_sweep/ --ignore-key device": (RUN, 0),
    "python -m runner.compare dyn.csv legacy.csv --format md --output diff.md": (RUN, 1),
    "python -m runner.compare dyn.csv legacy.csv --cells": (RUN, 1),
    "python -m runner -m variant=tensor,parameter,buffer hydra.launcher.n_jobs=8": (DRY, 0),
    "python -m runner -m variant=tensor,parameter,buffer hydra/launcher=basic": (DRY, 0),
    "python -m runner -m variant=tensor,parameter,buffer hydra/launcher=joblib hydra.launcher.n_jobs=2": (DRY, 0),
    "python -m runner -m variant=tensor,parameter,buffer hydra/launcher=submitit_local": (DRY, 0),
    "python -m runner -m variant=tensor,parameter,buffer hydra/launcher=slurm hydra.launcher.partition=cpu": (DRY, 0),
    "python -m runner -m variant=tensor,parameter export=none,onnx_dynamo dry_run=true": (RUN, 0),
    "python -m runner -m ... hydra.sweep.dir=outputs/study": (SKIP, "`...` stands for a sweep; resume is "
                                                               "tests/test_sweeps.py"),
    "make slurm-up": (SKIP, "make test-slurm (CI) starts the cluster"),
    "export SLURM_CONF=/var/tmp/tensorprobe-slurm/etc/slurm.conf": (SKIP, "make test-slurm's environment"),
    "python -m runner -m variant=parameter,buffer hydra/launcher=slurm hydra.launcher.partition=cpu "
    "hydra.launcher.timeout_min=5 hydra.launcher.cpus_per_task=1": (SKIP, "needs the cluster of make slurm-up: "
                                                                    "tests/slurm runs this sweep"),
    "sinfo; squeue; sacct": (SKIP, "SLURM's own tools, on the cluster of make slurm-up"),
    "cat outputs/multirun/<dir>/claims.csv": (SKIP, "reads a file the +experiment=seeds row writes"),
    "make test-slurm": (SKIP, "CI runs it after make test"),
    "make slurm-down": (SKIP, "make test-slurm's clean-up"),
    "python -m runner --config-dir myconf -m +experiment=audit variant=tiny_llama": (
        SKIP, "needs the README's myconf/: tests/test_real_models.py runs this sweep on the same variant"),
    # --help's examples
    "python -m runner variant=model variant.model._target_=torch.nn.Linear +variant.model.in_features=3 "
    "+variant.model.out_features=2 variant.input_shape=[4,3]": (RUN, 0),
    "python -m runner -m +experiment=audit variant=seed_notebook findings of a model (audit.md)": (RUN, 0),
    "python -m runner.collect outputs/multirun/<dir> rebuild a sweep table": (RUN, 0),
    "python -m runner one job, default variant (seed_notebook)": (RUN, 0),
}


def readme_commands():
    """Shell lines of the README's ```bash blocks: comments stripped, continuations joined."""
    commands, block = [], None
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("```"):
            block = [] if line.strip() in ("```bash", "```sh") and block is None else None
            continue
        if block is not None and line.strip():
            block.append(line)
            if not line.rstrip().endswith("\\"):
                text = " ".join(part.rstrip().rstrip("\\").strip() for part in block)
                commands.append(re.sub(r"\s+#.*$", "", text))
                block.clear()
    return commands


def help_commands():
    """The example lines of `python -m runner --help` (a trailing description kept: it is part of the line)."""
    from runner import CONFIG_DIR
    from runner.apphelp import render_help
    text = render_help(str(CONFIG_DIR))
    examples = text.split("Examples", 1)[1].splitlines()[1:]
    return [" ".join(line.split()) for line in examples if line.startswith("  python -m")]


def test_every_shown_command_has_a_row():
    shown = [" ".join(shlex.split(c, posix=False)) for c in readme_commands() + help_commands()]
    table = {" ".join(shlex.split(c, posix=False)) for c in COMMANDS}
    assert not [c for c in shown if c not in table], "add these to COMMANDS"
    assert not table - set(shown), "COMMANDS has rows no longer shown"


def test_the_help_is_generated_from_the_schema_and_the_tree():
    from dataclasses import fields

    from runner import CONFIG_DIR
    from runner.apphelp import render_help
    from runner.schema import GROUPS, OPTIONAL_GROUPS, Config
    text = render_help(str(CONFIG_DIR))
    keys = text.split("== Top-level keys", 1)[1].split("\n", 1)[1].split("==", 1)[0]
    assert [line.split()[0] for line in keys.strip().splitlines()] == [f.name for f in fields(Config)
                                                                      if f.name not in GROUPS
                                                                      and f.name not in OPTIONAL_GROUPS]
    section = text.split("== Config groups", 1)[1].split("\n", 1)[1].split("==", 1)[0]
    groups = dict(line.split(": ", 1) for line in section.splitlines()
                  if re.match(r"^\+?\w+: ", line))
    for folder in Path(CONFIG_DIR).iterdir():
        if folder.is_dir() and folder.name not in ("hydra", "claims"):
            name = "+experiment" if folder.name == "experiment" else folder.name
            assert groups[name].split(", ") == sorted(p.stem for p in folder.glob("*.yaml"))
    assert "claims" not in groups  # claim files are not a group: `claims=seeds` is no option


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """What the placeholders stand for: a finished sweep, two tables that differ, two sweeps equal but for a key."""
    tmp = tmp_path_factory.mktemp("made")
    base = tmp / "base"
    assert run_cli("runner", "-m", "variant=pitfalls", NO_REPORT, f"hydra.sweep.dir={base}").returncode == 0
    other = tmp / "other"
    assert run_cli("runner", "-m", "variant=pitfalls", "steps=3", NO_REPORT,
                   f"hydra.sweep.dir={other}").returncode == 0
    old, new = read_csv(base / "results.csv"), read_csv(other / "results.csv")
    new["job"] = old["job"]  # same jobs, other measurements: a difference to show
    old.to_csv(tmp / "OLD.csv", index=False)
    new.to_csv(tmp / "NEW.csv", index=False)
    dyn, legacy = tmp / "dyn", tmp / "legacy"
    for where, exporter in ((dyn, "onnx_dynamo"), (legacy, "onnx_legacy")):
        assert run_cli("runner", "-m", "variant=custom_linear", f"export={exporter}", NO_REPORT,
                       f"hydra.sweep.dir={where}").returncode == 0
    (tmp / "dyn.csv").write_bytes((dyn / "results.csv").read_bytes())
    (tmp / "legacy.csv").write_bytes((legacy / "results.csv").read_bytes())
    mine = tmp / "mine.yaml"
    mine.write_text("claims:\n  - {id: mine, statement: s, source: me, where: {}, expect: {in_state_dict: true}}\n")
    cpu, auto = tmp / "cpu_sweep", tmp / "gpu_sweep"
    for where, device in ((cpu, "cpu"), (auto, "auto")):
        assert run_cli("runner", "-m", "variant=parameter", f"device={device}", NO_REPORT,
                       f"hydra.sweep.dir={where}").returncode == 0
    return {"outputs/multirun/<dir>": str(base), "OLD.csv": str(tmp / "OLD.csv"), "NEW.csv": str(tmp / "NEW.csv"),
            "dyn.csv": str(tmp / "dyn.csv"), "legacy.csv": str(tmp / "legacy.csv"),
            "cpu_sweep/": str(cpu), "gpu_sweep/": str(auto), "diff.md": str(tmp / "diff.md"),
            "mine.yaml": str(mine)}


def _strip_description(command: str) -> str:
    """--help lines end with a description after the command: keep the arguments only."""
    return re.split(r"\s(?=findings|rebuild|one job)", command)[0]


RUNNABLE = [(c, how, code) for c, (how, code) in COMMANDS.items() if how != SKIP]


@pytest.mark.slow
@pytest.mark.parametrize("command,how,code", RUNNABLE, ids=[c[:70] for c, _, _ in RUNNABLE])
def test_shown_command_runs(command, how, code, made, tmp_path):
    words = [made.get(w, w) for w in shlex.split(_strip_description(command.split("&&")[-1].strip()))]
    module, args = words[words.index("-m") + 1], words[words.index("-m") + 2:]
    if module == "runner" and not {"--help", "--cfg"} & set(args):
        args += ["dry_run=true"] if how == DRY and "dry_run=true" not in args else []
        args += [f"hydra.sweep.dir={tmp_path / 'sweep'}", f"hydra.run.dir={tmp_path / 'run'}"]
    r = run_cli(module, *args, cwd=tmp_path)
    assert r.returncode == code, (command, r.stdout[-2000:], r.stderr[-2000:])
    if module == "runner" and how == RUN and "dry_run=true" not in args and "--help" not in args \
            and "--cfg" not in args:
        table = read_csv(next((tmp_path / d / "results.csv" for d in ("sweep", "run")
                               if (tmp_path / d / "results.csv").is_file())))
        assert len(table) and set(table.status) <= {"ok", "partial"}, table.status.tolist()
