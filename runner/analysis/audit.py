"""`python -m runner.audit SWEEP_DIR`: findings a user acts on, from the measured cells of a sweep.

Each finding names a tensor (empty: the module as a whole), a severity (error, warning, info), what
was found, the evidence (the job and the cells it comes from) and the fix. Only measured cells count:
an empty cell never supports a finding. Exit status: 0 when no finding reaches --fail-on (default
warning), 1 when one does, 2 on bad input; usable as a CI check of a model.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, List, Optional

import pandas as pd

from runner.analysis.markdown import md_table
from runner.table.columns import NOT_MEASURED_VALUES
from runner.table.csvfile import RESULTS_FILE, TableError, read_table, write_rows_atomic

SEVERITIES = ("error", "warning", "info")
AUDIT_COLUMNS = ["tensor", "severity", "finding", "evidence", "fix"]
ONNX = ("onnx_dynamo", "onnx_legacy")
IN_GRAPH = ("initializer", "input", "constant", "folded")  # ONNX roles: the exported model depends on it


@dataclass
class Finding:
    tensor: str
    severity: str
    finding: str
    evidence: str
    fix: str


def _measured(rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """Rows of jobs that ran, where `column` holds a measured value."""
    if column not in rows.columns:
        return rows.iloc[0:0]
    return rows[rows["status"].isin(["ok", "partial"]) & (rows[column] != "")]


def _first(rows: pd.DataFrame, column: str, value: Optional[str] = None) -> Optional[pd.Series]:
    hit = _measured(rows, column)
    if value is not None and not hit.empty:  # a table without the column (older tables) has no such row
        hit = hit[hit[column] == value]
    return None if hit.empty else hit.iloc[0]


# The swept columns of the table being audited: a job is named by its values of these.
_LABEL: List[str] = []


def _short(value: str) -> str:
    """A cell as evidence: its first sentence (exporters' messages run long)."""
    return value.split(". ")[0]


def _cell(row: pd.Series, *columns: str) -> str:
    job = ",".join(f"{g}={row[g]}" for g in _LABEL) or "every job"
    return f"({job}) " + ", ".join(f"{c}={_short(str(row[c]))}" for c in columns)


def _read_by_forward(rows: pd.DataFrame) -> Optional[pd.Series]:
    """A row proving that forward reads the tensor: a gradient, or an ONNX graph that depends on it."""
    grad = _first(rows, "grad", "nonzero")
    if grad is not None:
        return grad
    onnx = _measured(rows[rows["export"].isin(ONNX)], "export_role")
    onnx = onnx[onnx["export_role"].isin(IN_GRAPH)]
    return None if onnx.empty else onnx.iloc[0]


def _never_read(rows: pd.DataFrame) -> Optional[pd.Series]:
    """A row showing forward does not read the tensor: no gradient though it requires one, and every
    ONNX export that was measured left it out (`absent`)."""
    grads = _measured(rows, "grad")
    onnx = _measured(rows[rows["export"].isin(ONNX)], "export_role")
    onnx = onnx[~onnx["export_role"].isin(NOT_MEASURED_VALUES)]
    if grads.empty or (grads["grad"] == "nonzero").any() or onnx.empty or (onnx["export_role"] != "absent").any():
        return None
    return onnx.iloc[0]


def tensor_findings(name: str, rows: pd.DataFrame) -> List[Finding]:
    """What one tensor's rows (every job of the sweep) show."""
    first = rows.iloc[0]
    out: List[Finding] = []
    declared, requires_grad = first["declared_as"], first["requires_grad"] == "true"
    if declared == "tensor":
        read = _read_by_forward(rows)
        if read is not None and not requires_grad:
            evidence = [_cell(read, "grad" if read["grad"] == "nonzero" else "export_role")]
            stays = _first(rows, "follows_device", "false")
            if stays is not None:
                evidence.append(_cell(stays, "follows_device", "move_device"))
            unsaved = _first(rows, "in_state_dict", "false")
            if unsaved is not None:
                evidence.append(_cell(unsaved, "in_state_dict"))
            baked = _measured(rows[rows["export"].isin(ONNX)], "export_role")
            baked = baked[baked["export_role"].isin(IN_GRAPH)].drop_duplicates("export")
            evidence += [_cell(r, "export_role") for _, r in baked.iterrows()]
            out.append(Finding(name, "error", "plain tensor attribute read by forward: it does not move with "
                               ".to(device), is not saved in state_dict" + _in_export(baked),
                               "; ".join(dict.fromkeys(evidence)), f"self.register_buffer('{name.rsplit('.', 1)[-1]}', "
                               "tensor) (persistent=False if it should not be saved)"))
        stays = _first(rows, "follows_device", "false")
        if read is None and stays is not None and stays["move_device"] not in ("", "meta", "cpu"):
            device = stays["move_device"]
            failing = rows[rows["status"].eq("partial") & rows["reason"].str.contains(DEVICE_MISMATCH, regex=False)]
            evidence = [_cell(stays, "follows_device", "move_device")]
            evidence += [_cell(failing.iloc[0], "reason")] if not failing.empty else []
            out.append(Finding(name, "error" if not failing.empty else "warning",
                               f"plain tensor attribute does not move with .to({device}): it stays where it was "
                               f"built, so a forward that reads it fails on {device}"
                               + (" (this sweep's forward did)" if not failing.empty else ""),
                               "; ".join(evidence), f"self.register_buffer('{name.rsplit('.', 1)[-1]}', tensor)"))
        if requires_grad:
            grad = _first(rows, "grad", "nonzero")
            listed = _first(rows, "in_parameters", "false")
            if listed is not None:
                what = "receives gradients that no optimizer applies" if grad is not None else \
                    "requires grad but is not a parameter"
                ev = [_cell(listed, "in_parameters", "in_state_dict")]
                ev += [_cell(grad, "grad", "updated")] if grad is not None else []
                stays = _first(rows, "follows_device", "false")
                ev += [_cell(stays, "follows_device", "move_device")] if stays is not None else []
                out.append(Finding(name, "error" if grad is not None else "warning",
                                   f"plain tensor with requires_grad=True is never in parameters(): it {what}; "
                                   "no optimizer or zero_grad() sees it, .to(device) leaves it and state_dict "
                                   "does not save it", "; ".join(ev),
                                   f"self.{name.rsplit('.', 1)[-1]} = nn.Parameter(tensor)"))
    if declared == "parameter" and requires_grad:
        unused = _never_read(rows)
        if unused is not None:
            grad = _first(rows, "grad")
            out.append(Finding(name, "warning", "Parameter never read by forward: it gets no gradient, exporters "
                               "drop it, and DistributedDataParallel needs find_unused_parameters=True",
                               f"{_cell(grad, 'grad')}; {_cell(unused, 'export_role')}",
                               "remove it, or use it in forward"))
    # A non-persistent buffer alone is a design (rotary inv_freq, position ids: recomputed by every build),
    # not a finding: `restored=false` only says the state_dict does not carry it. A finding needs a measured
    # hazard that follows from it (the lifecycle stages' meta-device loading).
    alias = first.get("alias_of", "")
    if alias:
        refused = _first(rows, "safetensors_error")
        named = _measured(rows[rows["export"].isin(ONNX)], "export_name")
        ev = [f"alias_of={alias}"]
        if refused is not None:
            ev.append(_cell(refused, "safetensors_error"))
        ev += [_cell(r, "export_name") for _, r in named.drop_duplicates("export").iterrows()]
        # tying is a design (lm_head/wte): what handles it is named, nothing needs fixing
        out.append(Finding(name, "info",
                           f"tied weight: the same tensor as {alias}; exporters keep one copy under one name"
                           + ("; safetensors.torch.save_file refuses the state_dict (shared memory), while "
                              "safetensors.torch.save_model / load_model and transformers' save_pretrained "
                              "de-duplicate ties" if refused is not None else ""),
                           "; ".join(ev), ""))
    out += lifecycle_findings(name, rows)
    out += distributed_findings(name, rows)
    mutated = _first(rows, "mutated_by_export", "true")
    if mutated is not None:
        out.append(Finding(name, "warning", f"exporting with {mutated['export']} changed this tensor's value "
                           "in the module (the exporter ran forward)", _cell(mutated, "mutated_by_export"),
                           "export a copy (copy.deepcopy(model)) or the model in eval mode"))
    return out


def lifecycle_findings(name: str, rows: pd.DataFrame) -> List[Finding]:
    """What the lifecycle.* columns show about one tensor: meta-device loading and torch.compile."""
    out: List[Finding] = []
    first, attr = rows.iloc[0], name.rsplit(".", 1)[-1]
    garbage = _first(rows, "meta_init", "uninitialized")
    if garbage is not None:
        evidence = [_cell(garbage, "meta_init")]
        stays = _first(rows, "assign_kind", "on_meta")
        evidence += [_cell(stays, "assign_kind")] if stays is not None else []
        what = ("non-persistent buffer is uninitialised memory" if first["declared_as"] == "buffer" else
                f"{first['declared_as']} holds neither its trained nor a freshly built value")
        out.append(Finding(name, "warning", f"{what} after meta-device loading "
                           "(build on meta, to_empty, load_state_dict): it is not in the state_dict and to_empty "
                           "does not run __init__ again" + (", and load_state_dict(assign=True) leaves it on meta"
                                                           if stays is not None else ""),
                           "; ".join(evidence), f"compute '{attr}' again once the module holds memory (a "
                           "reset_parameters()/_init_weights()-style hook called after to_empty), or register it "
                           "persistent so the checkpoint carries it"))
    if first["declared_as"] == "tensor":
        on_meta = _first(rows, "meta_init", "on_meta")
        if on_meta is not None:
            evidence = [_cell(on_meta, "meta_init")]
            failing = _first(rows, "meta_forward_error")
            evidence += [_cell(failing, "meta_forward_error")] if failing is not None else []
            out.append(Finding(name, "warning", "plain tensor attribute stays on meta after meta-device loading: "
                               "to_empty and load_state_dict touch parameters and buffers only",
                               "; ".join(evidence), f"self.register_buffer('{attr}', tensor) (persistent=False if "
                               "it should not be saved, then recompute it after to_empty)"))
    for change in ("inplace", "rebind"):
        missed = _first(rows, f"compile_sees_{change}", "false")
        if missed is not None:
            how = "changed in place" if change == "inplace" else "rebound to a new tensor"
            out.append(Finding(name, "warning", f"a torch.compile'd module does not see this tensor {how} after "
                               "its first call: it keeps computing with the old value",
                               _cell(missed, f"compile_sees_{change}", f"compile_recompiles_{change}"),
                               "register it as a buffer or parameter and change it in place (tensor.copy_), or "
                               "call torch._dynamo.reset() and compile again after the change"))
    recompiles = _measured(rows, "compile_recompiles_rebind")
    if not recompiles.empty and (recompiles["compile_recompiles_rebind"] != "0").any():
        row = recompiles[recompiles["compile_recompiles_rebind"] != "0"].iloc[0]
        out.append(Finding(name, "info", f"rebinding this tensor makes a torch.compile'd module recompile "
                           f"({row['compile_recompiles_rebind']} new frames); an in-place update (tensor.copy_ "
                           "under torch.no_grad()) reuses the compiled code", _cell(row, "compile_recompiles_rebind"),
                           ""))
    return out


def _wrapped_by(rows: pd.DataFrame, mode: str) -> pd.DataFrame:
    """Rows of the jobs whose distributed option wraps with `mode` (ddp also covers ddp_find_unused)."""
    if "distributed" not in rows.columns:
        return rows.iloc[0:0]
    return rows[rows["distributed"].str.startswith(mode)]


def _either(a: Optional[pd.Series], b: Optional[pd.Series]) -> Optional[pd.Series]:
    return a if a is not None else b


def distributed_findings(name: str, rows: pd.DataFrame) -> List[Finding]:
    """What the dist_* columns show about one tensor: values that differ across ranks where users
    expect them equal (DDP syncs parameters and, at forward entry, buffers; FSDP2 only parameters)."""
    out: List[Finding] = []
    declared, attr = rows.iloc[0]["declared_as"], name.rsplit(".", 1)[-1]
    ddp, fsdp2 = _wrapped_by(rows, "ddp"), _wrapped_by(rows, "fsdp2")
    if declared == "tensor":
        apart = _either(_first(ddp, "dist_equal_in_forward", "false"), _first(ddp, "dist_equal_at_start", "false"))
        if apart is not None:
            out.append(Finding(name, "warning", "plain tensor attribute differs across DDP ranks: DDP synchronises "
                               "parameters and buffers only, so each rank computes with its own value",
                               _cell(apart, "dist_equal_at_start", "dist_equal_in_forward"),
                               f"self.register_buffer('{attr}', tensor) (DDP then gives every rank rank 0's "
                               "value at each forward)"))
    if declared == "buffer":
        drifts = _first(ddp[ddp["dist_equal_in_forward"] == "true"] if "dist_equal_in_forward" in ddp else ddp,
                        "dist_equal_after_step", "false")
        if drifts is not None:
            out.append(Finding(name, "warning", "buffer changed inside forward differs across DDP ranks after the "
                               "step: DDP broadcasts rank 0's buffers when the next forward starts, so what the "
                               "other ranks computed (e.g. running statistics) is discarded",
                               _cell(drifts, "dist_equal_in_forward", "dist_equal_after_step"),
                               "torch.nn.SyncBatchNorm.convert_sync_batchnorm(model) for norm statistics, or "
                               f"all_reduce '{attr}' across ranks where it is updated"))
        unsynced = _either(_first(fsdp2, "dist_equal_at_start", "false"),
                           _first(fsdp2, "dist_equal_after_step", "false"))
        if unsynced is not None:
            out.append(Finding(name, "warning", "FSDP2 leaves this buffer a plain tensor and never synchronises it: "
                               "ranks keep different values (DDP would broadcast rank 0's)",
                               _cell(unsynced, "dist_wrapped_as", "dist_equal_at_start", "dist_equal_after_step"),
                               f"initialise '{attr}' identically on every rank (same seed, or "
                               "torch.distributed.broadcast from rank 0 once) and all_reduce it where forward "
                               "updates it"))
    return out


UNUSED_IN_DDP = "Expected to have finished reduction in the prior iteration"


def distributed_module_findings(table: pd.DataFrame) -> List[Finding]:
    """One finding per distributed option whose ranks failed: the wrapper's or a rank's error."""
    out: List[Finding] = []
    if "dist_error" not in table.columns:
        return out
    failed = table[table["status"].isin(["ok", "partial"]) & (table["dist_error"] != "")]
    for option, rows in failed.groupby("distributed", sort=False):
        row = rows.iloc[0]
        if UNUSED_IN_DDP in row["dist_error"]:
            out.append(Finding("", "error", f"distributed={option}: DistributedDataParallel stops at the second "
                               "iteration because a Parameter gets no gradient (forward never reads it)",
                               _cell(row, "dist_error"), "distributed.find_unused_parameters=true "
                               "(DistributedDataParallel(..., find_unused_parameters=True)), or use or remove the "
                               "Parameter"))
        else:
            out.append(Finding("", "warning", f"distributed={option} fails on this module: {_short(row['dist_error'])}",
                               _cell(row, "dist_error"), "see the ranks' message"))
    return out


def module_findings(table: pd.DataFrame) -> List[Finding]:
    """Findings about the module as a whole: exporters that fail, training that could not run."""
    out: List[Finding] = []
    failed = table[table["export_role"] == "error"] if "export_role" in table else table.iloc[0:0]
    for exporter, rows in failed.groupby("export", sort=False):
        row = rows.iloc[0]
        out.append(Finding("", "warning", f"{exporter} fails on this module: {row['export_error']}",
                           _cell(row, "export_role"), "see the exporter's message; another exporter may work"))
    stopped = table[table["status"].isin(["partial", "failed"])].drop_duplicates("job")
    for reason, rows in stopped.groupby("reason", sort=False):  # one finding per distinct reason
        more = f" (and {len(rows) - 1} more jobs)" if len(rows) > 1 else ""
        fix = ("a tensor forward reads did not move with the module: register plain tensors as buffers"
               if DEVICE_MISMATCH in reason else "see the reason")
        out.append(Finding("", "error", f"the job could not run to the end: {reason}",
                           _cell(rows.iloc[0], "status") + more, fix))
    return out + distributed_module_findings(table)


DEVICE_MISMATCH = "Expected all tensors to be on the same device"


def _in_export(baked: pd.DataFrame) -> str:
    """What the ONNX exports measured did with the tensor, in their own words: baked (constant), folded, or
    stored as an initializer/input; nothing when no export was measured."""
    said = []
    for role, what in (("constant", "baked into the graph"), ("folded", "folded into the graph"),
                       ("initializer", "stored as an initializer"), ("input", "taken as a graph input")):
        exporters = baked.loc[baked["export_role"] == role, "export"].tolist()
        if exporters:
            said.append(f"{what} by {' and '.join(exporters)}")
    return f", and on export its value is {', '.join(said)}" if said else ""


def audit(table: pd.DataFrame) -> List[Finding]:
    """Every finding of a sweep table: the module's, then each tensor's (in the table's order)."""
    _LABEL[:] = [c for c in ("variant", "optimizer", "update", "device", "export", "distributed", "seed")
                 if c in table and table[c].nunique() > 1]
    findings = module_findings(table)
    ran = table[table["tensor"] != ""]
    for name in dict.fromkeys(ran["tensor"]):
        findings += tensor_findings(name, ran[ran["tensor"] == name])
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: order[f.severity])


def write_audit(sweep_dir: Path, findings: Iterable[Finding]) -> Path:
    """audit.csv and audit.md in the sweep directory; returns the markdown path."""
    findings = list(findings)
    write_rows_atomic([asdict(f) for f in findings], sweep_dir / "audit.csv", AUDIT_COLUMNS)
    frame = pd.DataFrame([asdict(f) for f in findings], columns=AUDIT_COLUMNS)
    counts = ", ".join(f"{sum(f.severity == s for f in findings)} {s}" for s in SEVERITIES)
    text = ["# tensorprobe audit", "", f"{len(findings)} findings ({counts}).", "",
            md_table(frame) if findings else "No findings.", "",
            "Columns and how each cell was measured: docs/columns.md in the tensorprobe repository.", ""]
    path = sweep_dir / "audit.md"
    path.write_text("\n".join(text), encoding="utf-8")
    return path


def render(findings: Iterable[Finding]) -> str:
    return "\n".join(f"{f.severity:<7} {f.tensor or '(module)'}: {f.finding}. Fix: {f.fix}. [{f.evidence}]"
                     for f in findings)


def fails(findings: Iterable[Finding], level: str) -> bool:
    return any(SEVERITIES.index(f.severity) <= SEVERITIES.index(level) for f in findings)


def load_sweep_table(path: Path) -> pd.DataFrame:
    path = Path(path)
    if path.is_dir():
        if not (path / RESULTS_FILE).is_file():
            from runner.table.collect import collect
            return collect(path).table
        path = path / RESULTS_FILE
    return read_table(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.audit", description=__doc__.splitlines()[0],
                                     epilog="exit status: 0 no finding at --fail-on or above, 1 some, 2 bad input")
    parser.add_argument("sweep_dir", type=Path, help="a sweep directory (or its results.csv)")
    parser.add_argument("--fail-on", choices=SEVERITIES, default="warning",
                        help="the lowest severity that makes the exit status 1 (default: warning)")
    args = parser.parse_args(argv)
    try:
        table = load_sweep_table(args.sweep_dir)
        required = {"status", "tensor", "declared_as", "requires_grad", "export"}
        if not required <= set(table.columns):
            raise TableError(f"{args.sweep_dir}: not a tensorprobe results table (missing "
                             f"{', '.join(sorted(required - set(table.columns)))})")
    except TableError as exc:
        print(f"tensorprobe: error: {exc}", file=sys.stderr)
        return 2
    findings = audit(table)
    if args.sweep_dir.is_dir():
        write_audit(args.sweep_dir, findings)
    print(render(findings) if findings else "no findings")
    return 1 if fails(findings, args.fail_on) else 0


if __name__ == "__main__":
    sys.exit(main())
