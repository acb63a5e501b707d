"""Job keys as parts, and the one option two tables differ in: so that `compare` of a dynamo and a legacy
sweep (or CPU vs CUDA, torch 2.12 vs 2.13 with a changed option) joins row to row without the user
naming `--ignore-key`. Plain strings, no pandas: a key is what runner/job/identity.py writes."""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence, Tuple


def key_parts(job: str) -> List[str]:
    """The comma-joined parts of a job key, commas inside brackets kept (`variant.input_shape=[4,3]`)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(job):
        if char in "[{(":
            depth += 1
        elif char in "]})":
            depth = max(depth - 1, 0)
        elif char == "," and depth == 0:
            parts.append(job[start:i])
            start = i + 1
    parts.append(job[start:])
    return [p for p in parts if p]


def option_of(part: str) -> str:
    """The option a key part sets: `export` for `export=onnx_legacy` and `export.opset=18`, `steps` for
    `steps=3`, `experiment` for `+experiment=seeds`, `variant` for `~variant.attributes.b`."""
    name = part.lstrip("+~").split("=", 1)[0]
    return name.split(".", 1)[0]


def drop_options(job: str, options: Sequence[str]) -> str:
    """The job key without the parts that set these options (for joining tables across them)."""
    return ",".join(p for p in key_parts(job) if option_of(p) not in options)


def kept_parts(job: str, options: Sequence[str]) -> str:
    """The parts of the key that `drop_options` drops, as `export: onnx_dynamo` or `a=1, b=2`."""
    parts = [p for p in key_parts(job) if option_of(p) in options]
    if len(parts) == 1 and option_of(parts[0]) == parts[0].split("=", 1)[0] and "=" in parts[0]:
        return parts[0].split("=", 1)[1]
    return ", ".join(parts) or "(unset)"


def find_alignment(old_jobs: Iterable[str], new_jobs: Iterable[str]) -> Optional[Tuple[str, Dict[str, str]]]:
    """The one option without which the two sets of job keys are the same, one to one, and with which
    they share no key; with the map old job -> new job. None when no option, or more than one, does."""
    old, new = sorted(set(old_jobs)), sorted(set(new_jobs))
    if not old or not new or set(old) & set(new):
        return None
    options = sorted({option_of(p) for job in old + new for p in key_parts(job)})
    found = []
    for option in options:
        a = {drop_options(j, [option]): j for j in old}
        b = {drop_options(j, [option]): j for j in new}
        if len(a) == len(old) and len(b) == len(new) and a.keys() == b.keys():
            found.append((option, {a[k]: b[k] for k in a}))
    return found[0] if len(found) == 1 else None


def varying_parts(jobs: Iterable[str]) -> List[str]:
    """The key parts not shared by all these jobs: what tells their rows apart in a label."""
    keys = [set(key_parts(j)) for j in jobs]
    return sorted(set().union(*keys) - set.intersection(*keys)) if keys else []


def row_label(job: str, tensor: str, varying: Sequence[str]) -> str:
    """`seed_notebook/my_tensor`, or `seed_notebook/update=data/my_tensor` where more than the variant varies:
    the varying parts of the key (a variant by its name), then the tensor."""
    parts = [p for p in key_parts(job) if p in set(varying)]
    parts.sort(key=lambda p: (option_of(p) != "variant", p))
    return "/".join([p.split("=", 1)[1] if p.startswith("variant=") else p for p in parts] + [tensor])
