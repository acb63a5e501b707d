"""Property: any generated variant file either runs to a table or fails with a one-line error."""
import yaml
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from omegaconf import open_dict

from runner.app import CONFIG_DIR
from runner.errors import ConfigError, describe_exception
from runner.job.validate import typed_config

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
    from runner.job.pipeline import run_job
    from runner.job.task import optimizer_factory
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
        typed = typed_config(cfg, "variant/gen.yaml")
    except ConfigError as exc:  # our checks of the variant's declarations
        message = describe_exception(exc)
        event("declaration error")
    except ConfigCompositionException as exc:  # Hydra merging the file into the schema (e.g. input_shape: "3")
        message = describe_exception(exc)
        event("schema error")
    else:
        message = None
    if message is not None:  # the CLI's line: names the file and the variant key that is wrong
        assert "\n" not in message and message.startswith("variant/gen.yaml: variant."), message
        return
    ident = JobIdentity("k", {"variant": "gen", "optimizer": "sgd", "update": "optimizer", "device": "cpu",
                              "export": "none"}, "h")
    table = to_frame(run_job(typed, ident, tmp_path_factory.mktemp("out"), optimizer_factory(cfg.optimizer)))
    assert len(table) >= 1 and set(table.status) <= {"ok", "partial", "failed"}
    event(f"ran: {'/'.join(sorted(set(table.status)))}")
    if table.tensor.iloc[0] != "":
        assert set(table.tensor) == set(variant["attributes"])
        has_parameter = any(a["kind"] == "parameter" for a in variant["attributes"].values())
        # SGD takes the module's parameters: without any, its setup fails and the job is partial
        assert set(table.status) == ({"ok"} if has_parameter else {"partial"}) or \
            table.train_error_at.iloc[0] in ("forward", "loss", "backward"), table.reason.tolist()
    else:
        assert len(table) == 1 and table.status.iloc[0] == "failed"
        assert table.reason.iloc[0] and "\n" not in table.reason.iloc[0]
