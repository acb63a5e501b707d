"""Register the schema with Hydra's ConfigStore, so every composed config is validated against it."""
from hydra.core.config_store import ConfigStore

from .schema import Config


def register_configs() -> None:
    """`tensorprobe_schema` is the first entry of conf/config.yaml's defaults list."""
    ConfigStore.instance().store(name="tensorprobe_schema", node=Config)
