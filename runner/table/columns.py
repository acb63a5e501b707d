"""The columns of the results table, in order: the contract ones, then the extra ones (docs/columns.md)."""
from __future__ import annotations

KEY_COLUMNS = ["job", "variant", "optimizer", "update", "device", "export", "seed"]
CONTRACT_COLUMNS = KEY_COLUMNS + [
    "status", "reason", "tensor",
    "declared_as", "persistent", "requires_grad", "dtype", "shape",
    "in_parameters", "in_buffers", "in_state_dict",
    "grad", "updated", "update_error",
    "follows_dtype", "follows_device", "restored",
    "export_role", "export_name", "export_error", "mutated_by_export", "ort_max_abs_diff",
    "torch_version", "onnx_version", "onnxruntime_version", "python_version", "platform",
    "job_seconds",
]
# Further columns, after the contract ones: details that explain an outcome.
EXTRA_COLUMNS = [
    "model",             # the module's _target_ (variant.model._target_; empty for generic variants): group by it
    "alias_of",          # first path of the same tensor object (tied weights), else empty
    "listed_as",         # the name named_parameters()/named_buffers() lists this object under, if not its own path
    "has_is_param",      # the tensor carries the _is_param attribute
    "grad_requires_grad",  # .grad itself requires grad (is tracked by autograd)
    "grad_after_zero_grad",  # none|zero|nonzero after optimizer.zero_grad() (model.zero_grad() for manual styles)
    "grad_accumulates",  # steps >= 2: the previous step's gradient survived zero_grad, so backward added to it
    "leaf_after_update",  # after the update stage the tensor is still a leaf without grad_fn
    "train_error_at",    # setup | forward | loss | backward | update: where update_error was raised
    "loss",              # the last training loss (non-finite stops training, see update_error)
    "move_device",       # the device of the follows_device probe (move_to, with auto resolved)
    "move_error",        # an exception from module.to(...)
    "restore_error",     # an exception from the state_dict round trip
    "restored_safetensors",  # checkpoint=true: survives safetensors save_file(state_dict) + load_file
    "safetensors_error",     # checkpoint=true: the exception of that round trip (e.g. tied weights)
    "restored_save_model",   # checkpoint=true: survives safetensors save_model + load_model
    "save_model_error",      # checkpoint=true: the exception of that round trip
    "meta_init",         # lifecycle.meta_init: restored|uninitialized|recomputed|on_meta|error after a meta build,
                         # to_empty(device) and load_state_dict(trained state_dict)
    "meta_init_error",   # lifecycle.meta_init: the exception of that build or load
    "meta_forward_error",  # lifecycle.meta_init: forward's exception after that load (empty: forward worked)
    "assign_kind",       # lifecycle.meta_init: parameter|buffer|tensor|on_meta after load_state_dict(assign=True)
    "assign_requires_grad",  # lifecycle.meta_init: requires_grad of what the slot holds after assign=True
    "assign_error",      # lifecycle.meta_init: the exception of the meta build or the assign=True load
    "strict_false_as_parameter",  # lifecycle.strict_false: loading into a copy where this tensor is a Parameter:
                                  # missing|unexpected|loaded|ignored|error (empty for its own kind)
    "strict_false_as_buffer",     # ... where it is a persistent buffer
    "strict_false_as_nonpersistent",  # ... where it is a non-persistent buffer
    "strict_false_as_tensor",     # ... where it is a plain tensor attribute
    "strict_false_error",         # lifecycle.strict_false: the exceptions of those conversions or loads
    "compile_sees_inplace",   # lifecycle.compile: a compiled copy's output follows an in-place change after its
                              # first call (equals the changed eager copy's); empty if the change moves no output
    "compile_recompiles_inplace",  # lifecycle.compile: frames dynamo compiled because of that change
    "compile_sees_rebind",    # lifecycle.compile: the same for a rebind to a new tensor of the same shape
    "compile_recompiles_rebind",   # lifecycle.compile: frames dynamo compiled because of that rebind
    "compiled_state_dict_key",  # lifecycle.compile: the compiled wrapper's state_dict key for it (_orig_mod.<path>)
    "compile_error",          # lifecycle.compile: exceptions of those runs, `inplace:`/`rebind:`/`control:` prefixed
    "distributed",       # the distributed group's choice (conf/distributed/: none, ddp, ddp_find_unused, fsdp2)
    "dist_wrapped_as",   # distributed: what the slot holds right after wrapping, on each rank: dtensor | tensor
    "dist_equal_at_start",  # distributed: bitwise equal on all ranks right after wrapping, before any forward
    "dist_equal_in_forward",  # distributed: equal on all ranks as the module's forward sees it at entry on the last
                              # step (after DDP's buffer broadcast); empty while the slot holds a DTensor
    "dist_grad_equal",   # distributed: .grad equal on all ranks after the last backward, before the update
                         # (false: only some ranks have one; empty: none has)
    "dist_equal_after_step",  # distributed: equal on all ranks after the last update
    "dist_error",        # distributed: the ranks' exceptions, a rank's death or the timeout (one line per job)
    "resolved_device",   # the torch device the job ran on (device=auto resolves here)
    "export_file",       # the artifact written into the job directory
    "export_seconds",    # wall time of the export stage: copy, export call, locating, verifying
    "export_call_seconds",  # wall time of the bare exporter call (torch.export.export / torch.onnx.export)
    "onnx_opset",        # ONNX: the default-domain opset model.onnx declares (opset_import), as written
    "export_provenance_exports",  # ONNX: how many perturbed exports proving the roles took
    "export_provenance_replays",  # dynamo: how many of them replayed the exporter's optimizer only
    "ort_outputs_compared",  # ONNX verify: how many tensor outputs ort_max_abs_diff was taken over
    "config_hash",       # hash of the job's resolved config (resume, dedup)
]
COLUMNS = CONTRACT_COLUMNS + EXTRA_COLUMNS
ENVIRONMENT_COLUMNS = ["torch_version", "onnx_version", "onnxruntime_version", "python_version", "platform"]
TIMING_COLUMNS = ["job_seconds"]

# What each column may hold, for checking claim files (runner.analysis.claims) against the same vocabulary
# docs/columns.md states (tests/test_claims.py holds the two together). A tuple lists every value; BOOL is
# true/false; INT/FLOAT a number; a column not listed holds free text (names, paths, messages). An empty cell
# ("not measured") is always possible.
BOOL, INT, FLOAT = ("true", "false"), "int", "float"
STATUSES = ("ok", "partial", "failed", "skipped", "config_error")
TORCH_EXPORT_ROLES = ("parameter", "buffer", "constant_tensor", "absent")
ONNX_ROLES = ("initializer", "input", "constant", "folded", "absent", "unproven")
NOT_MEASURED_VALUES = ("error", "unproven")  # a stage could not measure it: no claim counts it unless it expects it
GRAD_STATES = ("none", "zero", "nonzero")
META_INIT = ("restored", "uninitialized", "recomputed", "on_meta", "error")
ASSIGN_KINDS = ("parameter", "buffer", "tensor", "on_meta")
STRICT_FALSE = ("missing", "unexpected", "loaded", "ignored", "error")
VALUES = {
    "seed": INT, "status": STATUSES, "declared_as": ("parameter", "buffer", "tensor"),
    "persistent": BOOL, "requires_grad": BOOL, "in_parameters": BOOL, "in_buffers": BOOL,
    "in_state_dict": BOOL, "grad": GRAD_STATES, "updated": BOOL, "follows_dtype": BOOL,
    "follows_device": BOOL, "restored": BOOL,
    "export_role": tuple(dict.fromkeys(TORCH_EXPORT_ROLES + ONNX_ROLES + ("error",))),
    "mutated_by_export": BOOL, "ort_max_abs_diff": FLOAT, "job_seconds": FLOAT, "has_is_param": BOOL,
    "grad_requires_grad": BOOL, "grad_after_zero_grad": GRAD_STATES, "grad_accumulates": BOOL,
    "leaf_after_update": BOOL, "train_error_at": ("setup", "forward", "loss", "backward", "update"),
    "loss": FLOAT, "restored_safetensors": BOOL, "restored_save_model": BOOL, "export_seconds": FLOAT,
    "export_call_seconds": FLOAT, "onnx_opset": INT, "ort_outputs_compared": INT, "export_provenance_exports": INT,
    "export_provenance_replays": INT,
    "meta_init": META_INIT, "assign_kind": ASSIGN_KINDS, "assign_requires_grad": BOOL,
    "strict_false_as_parameter": STRICT_FALSE, "strict_false_as_buffer": STRICT_FALSE,
    "strict_false_as_nonpersistent": STRICT_FALSE, "strict_false_as_tensor": STRICT_FALSE,
    "compile_sees_inplace": BOOL, "compile_sees_rebind": BOOL, "compile_recompiles_inplace": INT,
    "compile_recompiles_rebind": INT,
    "dist_wrapped_as": ("dtensor", "tensor"), "dist_equal_at_start": BOOL, "dist_equal_in_forward": BOOL,
    "dist_grad_equal": BOOL, "dist_equal_after_step": BOOL,
}
