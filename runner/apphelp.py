"""`python -m runner --help`, rendered from conf/hydra/help/tensorprobe.yaml without Hydra's full help pass.

Hydra's app help computes every substitution of its template, including the option lists of all
~80 `hydra/*` groups, which our template does not show: about a second of work. This renders the
same template with Hydra's own config loader, for the substitutions it uses. `--help` together
with overrides, and `--hydra-help`, still go to Hydra.
"""
from __future__ import annotations

import string

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf


def render_help(config_dir: str) -> str:
    with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
        cfg = compose("config", return_hydra_config=True)
        loader = GlobalHydra.instance().config_loader()
        groups = sorted(g for g in loader.list_groups("") if g != "hydra")
        lines = "".join(f"{g}: {', '.join(sorted(loader.get_group_options(g)))}\n" for g in groups)
        help_cfg = cfg.hydra.help
        task_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
        template = string.Template(help_cfg.template)
        return template.safe_substitute(APP_CONFIG_GROUPS=lines, CONFIG=OmegaConf.to_yaml(task_cfg),
                                        HYDRA_CONFIG_GROUPS="(see --hydra-help)", FLAGS_HELP="(see --hydra-help)")
