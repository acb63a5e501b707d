"""The Python and notebook API, `import runner as tp`: tp.probe, tp.sweep, tp.audit, tp.read_table, tp.compare.

One call returns the table the CLI writes: the options become the CLI's override lines
(runner.apiconfig), Hydra composes them, runner.job.validate and runner.job.identity check and name
each job, and runner.job.pipeline.run_job runs it. The one difference is where the module comes from:
the caller's instance (deep-copied, never touched) or zero-argument factory, so a class defined in a
notebook cell works; `job` names it as `variant.model._target_=<module>.<class>`. Nothing is written
unless out_dir is given, and the process-wide state a job changes is put back (runner.apistate).
"""
from __future__ import annotations

import itertools
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence

from runner.apiaudit import Audit
from runner.apiconfig import compose_job, input_lines, module_source, option_lines
from runner.errors import ConfigError, exception_text

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["probe", "sweep", "audit", "read_table", "compare", "Audit"]
AUDIT_GRID = {"update": ["optimizer", "no_grad"], "export": ["torch_export", "onnx_dynamo", "onnx_legacy"]}


@dataclass
class _Job:
    """One planned job: its override lines, composed config, typed config and identity."""
    lines: List[str]
    label: str   # the grid's part of its overrides (progress lines)
    cfg: Any
    typed: Any
    ident: Any


def _plan(lines: List[str], grid: Optional[Mapping[str, Sequence[Any]]]) -> List[_Job]:
    """Every job of the grid's cross product, composed, validated and named before any runs (a bad value
    anywhere is a ConfigError); a job whose key repeats runs once, as in a CLI sweep."""
    from runner.job.identity import identify
    from runner.job.validate import typed_config
    grid = dict(grid or {})
    for name, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ConfigError(f"grid.{name}", f"{values!r} is not a list of values; allowed: a non-empty list, "
                              f"e.g. grid={{'{name}': [...]}}")
    jobs: Dict[str, _Job] = {}
    dropped = []
    for combo in itertools.product(*grid.values()):
        own = option_lines(dict(zip(grid, combo)))
        job_lines = lines + own
        cfg, choices, task = compose_job(job_lines)
        typed = typed_config(cfg, "variant/model.yaml")
        ident = identify(cfg, choices, task)
        if ident.key in jobs:
            dropped.append(ident.key)
            continue
        jobs[ident.key] = _Job(job_lines, " ".join(own) or ident.key, cfg, typed, ident)
    if dropped:
        print(f"tensorprobe: {len(dropped)} repeated jobs dropped (each runs once): {'; '.join(dropped[:3])}",
              file=sys.stderr)
    return list(jobs.values())


def _run(job: _Job, make: Callable[[], Any], output_dir: Path) -> List[dict]:
    """run_job as runner.job.task runs it: a defect of ours becomes the job's `failed` row."""
    from runner.job.pipeline import run_job
    from runner.job.task import error_row, optimizer_factory
    try:
        return run_job(job.typed, job.ident, output_dir, optimizer_factory(job.cfg.optimizer), make_module=make)
    except Exception as exc:  # noqa: BLE001 - recorded in the job's row, as the CLI does
        return [error_row(job.ident, job.cfg.seed, "failed", f"tensorprobe: {exception_text(exc)}")]


def _base_lines(model: Any, inputs: Any, overrides: Sequence[str], kwargs, options) -> tuple:
    make, lines = module_source(model)
    return make, lines + input_lines(inputs, kwargs) + option_lines(options, overrides)


def _out_dir(out_dir) -> Optional[Path]:
    if out_dir is None:
        return None
    path = Path(out_dir)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ConfigError("out_dir", f"{path} already holds files; allowed: a new or empty directory")
    path.mkdir(parents=True, exist_ok=True)
    return path


def probe(model: Any, inputs: Any, *overrides: str, kwargs: Optional[Mapping[str, Any]] = None,
          out_dir=None, **options: Any) -> "pd.DataFrame":
    """One job on `model` (an nn.Module, probed on deep copies, or a zero-argument callable returning a
    fresh one) called as model(*inputs, **kwargs): the CLI's results table for the same config.

    `inputs`: a tensor, a tuple of tensors, or input specs ({'shape': [4, 3], 'dtype': 'int64', 'low': 0,
    'high': 10}); tensors give shapes and dtypes, and the values are drawn from `seed` as the CLI draws
    them. Options are the config's names: optimizer="adam", update="no_grad", export="onnx_dynamo",
    device="cpu", steps=2, seed=0, checkpoint=True, **{"optimizer.lr": 0.01}, or override strings
    ("optimizer.lr=0.01"). out_dir: also write results.csv (and the exported model) there.
    """
    from runner.apistate import preserved
    from runner.table.csvfile import RESULTS_FILE, to_frame, write_rows_atomic
    make, lines = _base_lines(model, inputs, overrides, kwargs, options)
    (job,) = _plan(lines, None)
    target = _out_dir(out_dir)
    with preserved(), tempfile.TemporaryDirectory(prefix="tensorprobe-") as tmp:
        rows = _run(job, make, target or Path(tmp))
    if target is not None:
        write_rows_atomic(rows, target / RESULTS_FILE)
    return to_frame(rows)


def sweep(model: Any, inputs: Any, *overrides: str, grid: Optional[Mapping[str, Sequence[Any]]] = None,
          kwargs: Optional[Mapping[str, Any]] = None, n_jobs: int = 1, out_dir=None, progress: bool = True,
          **options: Any) -> "pd.DataFrame":
    """The cross product of `grid` (option name -> list of values) on top of the options, planned and
    de-duplicated like a CLI sweep, one table. n_jobs > 1 runs CPU jobs in forked workers (a class
    defined in __main__ works there too). out_dir: write the sweep directory a CLI sweep writes (job
    directories, results.csv, report, claims), which python -m runner.report/compare/audit read."""
    return _sweep(model, inputs, overrides, grid, kwargs, n_jobs, out_dir, progress, options).table


def audit(model: Any, inputs: Any, *overrides: str, kwargs: Optional[Mapping[str, Any]] = None, n_jobs: int = 1,
          out_dir=None, fail_on: str = "warning", progress: bool = False, **options: Any) -> Audit:
    """The `+experiment=audit` sweep (update optimizer,no_grad x export torch_export,onnx_dynamo,onnx_legacy,
    checkpoint, move_to=auto, device=auto) for one module: its findings, table and the exit code
    `python -m runner.audit --fail-on FAIL_ON` would return."""
    from runner.analysis.audit import SEVERITIES
    if fail_on not in SEVERITIES:
        raise ConfigError("fail_on", f"{fail_on!r}; allowed: {', '.join(SEVERITIES)}")
    ran = _sweep(model, inputs, ("+experiment=audit", *overrides), AUDIT_GRID, kwargs, n_jobs, out_dir, progress,
                 options, with_audit=True)
    return Audit.of(ran.table, fail_on, ran.out_dir)


@dataclass
class _Swept:
    table: "pd.DataFrame"
    out_dir: Optional[Path]


def _sweep(model, inputs, overrides, grid, kwargs, n_jobs, out_dir, progress, options, with_audit=False) -> _Swept:
    from runner.apistate import preserved
    from runner.table.csvfile import RESULTS_FILE, to_frame, write_rows_atomic
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ConfigError("n_jobs", f"{n_jobs!r}; allowed: an int >= 1")
    make, lines = _base_lines(model, inputs, overrides, kwargs, options)
    jobs = _plan(lines, grid)
    target = _out_dir(out_dir)
    bar = _progress(len(jobs)) if progress else None
    with preserved(), tempfile.TemporaryDirectory(prefix="tensorprobe-") as tmp:
        root = target or Path(tmp)
        results = _run_all(jobs, make, root, n_jobs, bar)
    if bar is not None:
        bar.close()
    rows = [r for idx in range(len(jobs)) for r in results[idx]]
    if target is not None:
        for idx in range(len(jobs)):
            write_rows_atomic(results[idx], target / str(idx) / RESULTS_FILE)
        _write_sweep_files(target, with_audit)
    return _Swept(to_frame(rows), target)


def _run_all(jobs: List[_Job], make, root: Path, n_jobs: int, bar) -> Dict[int, List[dict]]:
    """{job index: rows}: CPU jobs in a warm pool of forked workers when n_jobs > 1 (runner.sweep.pool),
    the others (an accelerator, or no fork here) in this process, in job order."""
    from runner.job.task import error_row
    from runner.sweep import pool
    results: Dict[int, List[dict]] = {}

    def done(idx: int, rows: List[dict]) -> None:
        if bar is not None:
            bar.job_done(jobs[idx].label, rows[0].get("status", "?"), float(rows[0].get("job_seconds") or 0))

    in_pool = []
    if n_jobs > 1 and pool.possible() and pool.fork_safe():
        accelerator = pool.accelerator_present()
        in_pool = [i for i, j in enumerate(jobs)
                   if j.typed.device.type.value == "cpu" or (j.typed.device.type.value == "auto" and not accelerator)]
    if in_pool:
        pool.warm_up({jobs[i].typed.export.exporter.value for i in in_pool} - {"none"})
        worker = pool.WarmPool(min(n_jobs, len(in_pool)), lambda idx: _run(jobs[idx], make, root / str(idx)),
                               lambda idx, reason: [error_row(jobs[idx].ident, jobs[idx].cfg.seed, "failed", reason)])
        results.update(worker.map([(i, i) for i in in_pool], lambda: False, done))
    for idx, job in enumerate(jobs):
        if idx not in results:
            results[idx] = _run(job, make, root / str(idx))
            done(idx, results[idx])
    return results


def _write_sweep_files(sweep_dir: Path, with_audit: bool) -> None:
    """The sweep table, report and claims (and the audit) a CLI multirun writes at its end."""
    from runner.analysis.report import write_report
    from runner.table.collect import collect
    table = collect(sweep_dir).table
    write_report(sweep_dir)
    if with_audit:
        from runner.analysis.audit import audit as findings_of, write_audit
        write_audit(sweep_dir, findings_of(table))


class _TextProgress:
    """One line per finished job (runner.sweep.progress), where tqdm is not installed."""

    def __init__(self, total: int) -> None:
        from runner.sweep.progress import Progress
        self._progress = Progress(total)

    def job_done(self, label: str, status: str, seconds: float) -> None:
        self._progress.job_done(label, status, seconds)

    def close(self) -> None:
        pass


class _TqdmProgress:
    """tqdm's bar (tqdm.auto: the notebook widget in Jupyter), one tick per finished job."""

    def __init__(self, total: int, tqdm) -> None:
        self._bar = tqdm(total=total, unit="job")

    def job_done(self, label: str, status: str, seconds: float) -> None:
        self._bar.set_postfix_str(f"{status}: {label}"[:60])
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()


def _progress(total: int):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _TextProgress(total)
    return _TqdmProgress(total, tqdm)


def read_table(path) -> "pd.DataFrame":
    """A results.csv (or a sweep directory holding one) as the CLI wrote it: every cell a string, an empty
    string where nothing was measured; TableError (one line) for a file that is not a results table."""
    from runner.analysis.compare import load
    return load(Path(path))


def compare(a, b, ignore: Sequence[str] = (), only: Sequence[str] = (),
            ignore_key: Sequence[str] = ()) -> "pd.DataFrame":
    """Differences between two tables (frames, CSV files or sweep directories) as `python -m runner.compare`
    finds them: one row per changed cell (`change=changed`) or per row found in one table only
    (`only_a`, `only_b`); environment and timing columns are ignored unless named in `only`. Empty: equal."""
    import pandas as pd

    from runner.analysis.compare import DEFAULT_IGNORED, compare as diff_of
    frames = [t if isinstance(t, pd.DataFrame) else read_table(t) for t in (a, b)]
    diff = diff_of(frames[0], frames[1], ignore=DEFAULT_IGNORED + list(ignore), only=only, ignore_key=ignore_key)
    rows = [{"change": "changed", **c} for c in diff.changes]
    rows += [{"change": "only_a", **r, "column": "", "old": "", "new": ""} for r in diff.only_old]
    rows += [{"change": "only_b", **r, "column": "", "old": "", "new": ""} for r in diff.only_new]
    return pd.DataFrame(rows, columns=["change", "job", "tensor", "column", "old", "new"], dtype=str)
