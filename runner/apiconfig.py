"""runner.api's arguments as the command line would spell them: a model, inputs and options become
override lines, composed by Hydra exactly as `python -m runner` composes them.

So a job of the API has the CLI's config, key and hash: `tp.probe(MyModule(), torch.randn(4, 3),
optimizer="adam")` is `variant=model variant.model._target_=mymodule.MyModule variant.input_shape=[4,3]
optimizer=adam`, with the module itself handed to the pipeline instead of being imported.
"""
from __future__ import annotations

import copy
import re
import sys
from dataclasses import fields
from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

from runner.errors import ConfigError, describe_exception, exception_text
from runner.schema import GROUPS, Config, DType

_NOT_OPTIONS = ("variant", "dry_run")  # the model argument is the variant; a dry run runs nothing
OPTIONS = tuple(g for g in GROUPS if g not in _NOT_OPTIONS) + tuple(
    f.name for f in fields(Config) if f.name not in GROUPS and f.name not in _NOT_OPTIONS)
_BARE = re.compile(r"^[A-Za-z_][\w.\-/]*$")


def hydra_value(value: Any) -> str:
    """A Python value in Hydra's override grammar (what one would type after `key=`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        if _BARE.match(value) and value.lower() not in ("true", "false", "null"):
            return value
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    if type(value).__module__ == "torch" and type(value).__name__ == "dtype":  # torch.float64 -> float64
        return str(value).removeprefix("torch.")
    raise ConfigError(repr(value), f"{type(value).__name__} has no config spelling; allowed: None, bool, int, "
                      "float, str, lists and dicts of them")


def option_lines(options: Mapping[str, Any], raw: Sequence[str] = ()) -> List[str]:
    """Keyword options (`optimizer="adam"`, `steps=2`, `**{"optimizer.lr": 0.01}`) and raw override
    lines (`"optimizer.lr=0.01"`) as override lines; names the CLI would refuse are refused here too."""
    lines = []
    for name, value in options.items():
        _check_name(name)
        lines.append(f"{name}={hydra_value(value)}")
    for line in raw:
        if not isinstance(line, str) or "=" not in line and not line.startswith("~"):
            raise ConfigError(repr(line), "not an override; allowed: 'key=value' as on the command line, "
                              "e.g. 'optimizer.lr=0.01'")
        _check_name(line.split("=", 1)[0].lstrip("+~"))
        lines.append(line)
    return lines


def _check_name(name: str) -> None:
    top = name.split(".")[0]
    if top == "variant" and name != "variant.dtype":
        raise ConfigError(name, "the module and its inputs are the model and inputs arguments; allowed: "
                          "variant.dtype, " + ", ".join(OPTIONS))
    if top not in OPTIONS and top != "experiment":
        raise ConfigError(name, f"unknown option; allowed: {', '.join(OPTIONS)} (and their dotted keys, "
                          "e.g. optimizer.lr)")


def input_spec(value: Any, where: str) -> Any:
    """One input: a tensor becomes the spec the configs accept (shape, dtype; integers with low/high
    from its values), a spec mapping stays as it is."""
    import torch
    if isinstance(value, torch.Tensor):
        dtype = str(value.dtype).removeprefix("torch.")
        if dtype not in DType.__members__:
            raise ConfigError(where, f"a {dtype} tensor; allowed dtypes: {', '.join(DType.__members__)}")
        spec: Dict[str, Any] = {"shape": list(value.shape)}
        if dtype != "float32":
            spec["dtype"] = dtype
        if not value.is_floating_point() and value.dtype != torch.bool:
            spec["low"], spec["high"] = (int(value.min()), int(value.max()) + 1) if value.numel() else (0, 1)
        return spec
    if isinstance(value, Mapping):
        return dict(value)
    raise ConfigError(where, f"{type(value).__name__} is not an input; allowed: a tensor, or a spec such as "
                      "{'shape': [4, 3], 'dtype': 'int64', 'low': 0, 'high': 10}")


def input_lines(inputs: Any, kwargs: Mapping[str, Any] = None) -> List[str]:
    """forward's inputs as the variant's `input_shape` (one float32 tensor: the README's short form)
    or `inputs`, and its keyword arguments as `kwargs` (tensors as specs, other values as they are).
    The pipeline draws the values from `seed` as for the CLI, so the rows are the CLI's."""
    import torch
    single = isinstance(inputs, (torch.Tensor, Mapping))
    items = [inputs] if single else list(inputs) if isinstance(inputs, (list, tuple)) else None
    if items is None:
        raise ConfigError("inputs", f"{type(inputs).__name__}; allowed: a tensor, a tuple of tensors, or "
                          "input specs ({'shape': [4, 3]})")
    specs = [input_spec(v, f"inputs[{i}]") for i, v in enumerate(items)]
    if len(specs) == 1 and set(specs[0]) == {"shape"} and isinstance(items[0], torch.Tensor):
        lines = [f"variant.input_shape={hydra_value(specs[0]['shape'])}"]
    else:
        lines = [f"variant.inputs={hydra_value(specs)}"]
    if kwargs:
        spelled = {k: input_spec(v, f"kwargs.{k}") if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
        lines.append(f"variant.kwargs={hydra_value(spelled)}")
    return lines


def qualified_name(obj: Any) -> str:
    """The import path a `_target_` would name (`mymodule.MyModule`; a notebook's `__main__.MyModule`),
    the shortest one that reaches the same object through modules already imported: `torch.nn.Linear`,
    as one types it, rather than where it is defined (`torch.nn.modules.linear.Linear`)."""
    target = getattr(obj, "func", obj)  # functools.partial
    module = getattr(target, "__module__", None) or "__main__"
    name = getattr(target, "__qualname__", type(target).__name__)
    parts = module.split(".")
    for end in range(1, len(parts)):
        prefix = ".".join(parts[:end])
        if "." not in name and getattr(sys.modules.get(prefix), name, None) is target:
            return f"{prefix}.{name}"
    return f"{module}.{name}"


def module_source(model: Any) -> Tuple[Callable[[], Any], List[str]]:
    """(make, lines): a builder of the module under test and the variant lines naming it, as the CLI
    names the same module: `variant=model variant.model._target_=<import path>`, plus a
    functools.partial's keywords as `+variant.model.<keyword>=<value>`.

    An instance is copied once now (the caller's module is never touched again) without its
    gradients, as a built module has none; make() deep-copies that copy, so every stage that builds
    a module (training, and the fresh module restore loads into) starts from the caller's values."""
    import functools

    from torch import nn
    if isinstance(model, nn.Module):
        try:
            template = copy.deepcopy(model)
        except Exception as exc:  # noqa: BLE001 - whatever deepcopy raises is the reason
            raise ConfigError("model", f"{type(model).__name__} cannot be deep-copied ({exception_text(exc)}); "
                              "allowed: a module copy.deepcopy can copy, or a zero-argument callable that returns "
                              "a fresh one") from None
        for t in [*template.parameters(), *template.buffers()]:
            t.grad = None
        # a partial, not a lambda: the distributed stage pickles it for its rank processes
        return functools.partial(copy.deepcopy, template), model_lines(qualified_name(type(model)))
    if not callable(model):
        raise ConfigError("model", f"{type(model).__name__} is not a module; allowed: an nn.Module, or a "
                          "zero-argument callable that returns one")
    lines = model_lines(qualified_name(model))
    if isinstance(model, functools.partial):
        if model.args:
            raise ConfigError("model", "a functools.partial with positional arguments has no config spelling; "
                              "allowed: keywords only, e.g. functools.partial(MyModule, hidden=8)")
        lines += [f"+variant.model.{k}={hydra_value(v)}" for k, v in model.keywords.items()]
    return model, lines


def model_lines(label: str) -> List[str]:
    return ["variant=model", f"variant.model._target_={hydra_value(label)}"]


def compose_job(lines: Sequence[str]):
    """(config without hydra, group choices, task override lines) for these override lines, by Hydra's
    compose API over the same config tree as the CLI; a bad value is the CLI's one-line ConfigError."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    import runner
    from runner.configstore import register_configs
    register_configs()
    outer = GlobalHydra.instance().hydra if GlobalHydra.instance().is_initialized() else None
    GlobalHydra.instance().clear()  # the caller's own Hydra (a Hydra app, a test) is put back below
    try:
        with initialize_config_dir(config_dir=str(runner.CONFIG_DIR), version_base="1.3"):
            cfg = compose("config", overrides=list(lines), return_hydra_config=True)
    except Exception as exc:  # noqa: BLE001 - formatted as runner.app formats it
        message = describe_exception(exc)
        where, _, rest = message.partition(": ")
        raise ConfigError(where, rest) if rest else ConfigError("options", message) from None
    finally:
        if outer is not None:
            GlobalHydra.instance().initialize(outer)
    from runner.job.identity import job_choices
    choices = job_choices(cfg.hydra.runtime.choices)
    task = list(cfg.hydra.overrides.task)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, choices, task
