"""`python -m runner --help`, generated from the schema and the config tree so it cannot drift.

The template (conf/hydra/help/tensorprobe.yaml) takes its lists from the `tensorprobe_help` resolver:
the top-level keys with types, defaults and help from :class:`runner.schema.Config`, and the config
groups with their options from the directories of runner.CONFIG_DIR. Hydra's own rendering
(`--help` with overrides) resolves the same interpolations, so both print the same text.

Hydra's app help also computes the option lists of all ~80 `hydra/*` groups, which the template does
not show: about a second of work. :func:`render_help` renders the same template without that pass.
"""
from __future__ import annotations

import string
from dataclasses import MISSING as NO_DEFAULT
from dataclasses import fields
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

NOT_GROUPS = ("hydra", "claims")  # Hydra's own settings (--hydra-help); claim files, listed apart
ADDED_WITH_PLUS = {"experiment"}  # not in the defaults list: +experiment=NAME


def keys_text() -> str:
    """One line per top-level key of the schema: name (type, default): what it does."""
    from runner.schema import GROUPS, OPTIONAL_GROUPS, Config
    rows = []
    for f in fields(Config):
        if f.name in GROUPS or f.name in OPTIONAL_GROUPS:  # groups: listed with the conf tree
            continue
        default = "" if f.default is NO_DEFAULT else f", default {str(f.default).lower() if isinstance(f.default, bool) else f.default}"
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        rows.append(f"  {f.name:<11}({kind}{default}) {f.metadata.get('help', '')}")
    return "\n".join(rows)


def groups_text(config_dir=None) -> str:
    """Each config group of the tree with its options (one line each) and what it chooses."""
    import runner
    from runner.schema import GROUP_HELP
    root = Path(config_dir or runner.CONFIG_DIR)
    lines = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in NOT_GROUPS):
        name = f"+{folder.name}" if folder.name in ADDED_WITH_PLUS else folder.name
        options = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
        lines.append(f"{name}: {options}")
        if folder.name in GROUP_HELP:
            lines.append(f"    {GROUP_HELP[folder.name]}")
    claims = ", ".join(sorted(f"conf/claims/{p.name}" for p in (root / "claims").glob("*.yaml")))
    if claims:
        lines.append(f"(not a group) {claims}: claim files for python -m runner.report --claims FILE")
    return "\n".join(lines)


def help_part(which: str) -> str:
    """The `tensorprobe_help` resolver: ${tensorprobe_help:keys} or ${tensorprobe_help:groups}."""
    parts = {"keys": keys_text, "groups": groups_text}
    if which not in parts:
        raise ValueError(f"tensorprobe_help: unknown part {which!r}; allowed: {', '.join(parts)}")
    return parts[which]()


def register_resolver() -> None:
    if not OmegaConf.has_resolver("tensorprobe_help"):
        OmegaConf.register_new_resolver("tensorprobe_help", help_part)


def render_help(config_dir: str) -> str:
    register_resolver()
    with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
        cfg = compose("config", return_hydra_config=True)
        help_cfg = cfg.hydra.help
        task_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
        template = string.Template(help_cfg.template)
        return template.safe_substitute(CONFIG=OmegaConf.to_yaml(task_cfg),
                                        HYDRA_CONFIG_GROUPS="(see --hydra-help)", FLAGS_HELP="(see --hydra-help)")
