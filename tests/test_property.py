"""Property: any generated variant file either runs to a table or fails with a one-line error."""
import yaml
from hydra import compose, initialize_config_dir
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from omegaconf import open_dict

from runner.app import CONFIG_DIR
from runner.errors import ConfigError, describe_exception
from runner.job.task import typed_config

from tests.conftest import run_config  # noqa: F401 - registers configs

KINDS = st.sampled_from(["parameter", "buffer", "tensor", "parmeter"])
DTYPES = st.sampled_from(["float32", "float64", "int64", "bool", "float16", "complex"])
SHAPES = st.one_of(st.lists(st.integers(-1, 4), max_size=3), st.just("3"), st.just([1.5]))
ATTRIBUTE = st.fixed_dictionaries({"kind": KINDS}, optional={
    "shape": SHAPES, "dtype": DTYPES, "requires_grad": st.booleans(), "persistent": st.booleans(),
    "via": st.sampled_from(["assign", "register", "glue"]), "used": st.booleans()})
VARIANT = st.fixed_dictionaries({
    "attributes": st.dictionaries(st.sampled_from(["w", "b", "t", "x1"]), ATTRIBUTE, min_size=1, max_size=3),
    "input_shape": st.one_of(st.just([3]), st.lists(st.integers(0, 3), min_size=1, max_size=2))})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(variant=VARIANT)
def test_generated_variant_runs_or_fails_in_one_line(tmp_path_factory, variant):
    from hydra.utils import instantiate

    from runner.job.pipeline import run_job
    from runner.job.identity import JobIdentity
    from runner.table.csvfile import to_frame
    folder = tmp_path_factory.mktemp("conf")
    (folder / "variant").mkdir()
    (folder / "variant" / "gen.yaml").write_text(yaml.safe_dump(variant))
    try:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            cfg = compose("config", overrides=["variant=gen", f"hydra.searchpath=[file://{folder}]"])
        with open_dict(cfg):
            cfg.pop("hydra", None)
        typed = typed_config(cfg, "gen")
    except ConfigError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith("variant/gen.yaml: variant.")
        event("cross-field error")
        return
    except Exception as exc:  # composition errors, shown by the CLI through describe_exception
        message = describe_exception(exc)
        assert "\n" not in message and "variant" in message, message
        event("schema error")
        return
    ident = JobIdentity("k", {"variant": "gen", "optimizer": "sgd", "update": "optimizer", "device": "cpu",
                              "export": "none"}, "h")
    table = to_frame(run_job(typed, ident, tmp_path_factory.mktemp("out"),
                             instantiate(cfg.optimizer, _partial_=True)))
    assert len(table) >= 1 and set(table.status) <= {"ok", "failed"}
    event(f"ran: {'/'.join(sorted(set(table.status)))}")
    if (table.status == "ok").all():
        assert set(table.tensor) == set(variant["attributes"])
    else:
        assert len(table) == 1 and table.reason.iloc[0] and "\n" not in table.reason.iloc[0]
