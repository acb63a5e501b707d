"""Real models built from their config classes (transformers, no weights): the audit knows their designs.

Skipped where transformers is not installed (it is not a dependency of the package)."""
import textwrap

import pytest

from .conftest import NO_REPORT, read_csv, run_cli

transformers = pytest.importorskip("transformers")

SMALL = {"num_hidden_layers": 1, "hidden_size": 16, "intermediate_size": 32, "num_attention_heads": 2,
         "num_key_value_heads": 2, "vocab_size": 50, "max_position_embeddings": 16}


def variant_file(conf, name, model_class, config_class, config, use_cache=False):
    lines = "\n".join(f"    {k}: {v}" for k, v in config.items())
    kwargs = "kwargs: {use_cache: false}" if not use_cache else "kwargs: {}"
    (conf / "variant").mkdir(parents=True, exist_ok=True)
    (conf / "variant" / f"{name}.yaml").write_text(textwrap.dedent(f"""\
        description: a small {model_class} from its config class
        model:
          _target_: transformers.{model_class}
          config:
            _target_: transformers.{config_class}
        """) + lines + "\n" + "inputs:\n  - {shape: [1, 6], dtype: int64, low: 0, high: 50}\n" + kwargs + "\n")


@pytest.fixture(scope="module")
def hf_conf(tmp_path_factory):
    conf = tmp_path_factory.mktemp("hf_conf")
    variant_file(conf, "tiny_llama", "LlamaForCausalLM", "LlamaConfig", {**SMALL, "tie_word_embeddings": True})
    variant_file(conf, "tiny_gpt2", "GPT2LMHeadModel", "GPT2Config",
                 {"n_layer": 1, "n_embd": 16, "n_head": 2, "vocab_size": 50, "n_positions": 16})
    variant_file(conf, "tiny_llama_cache", "LlamaForCausalLM", "LlamaConfig", SMALL, use_cache=True)
    return conf


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["tiny_llama", "tiny_gpt2"])
def test_the_audit_of_a_transformers_model_knows_ties_and_rotary_buffers(hf_conf, tmp_path, variant):
    r = run_cli("runner", "--config-dir", str(hf_conf), "-m", "+experiment=audit", f"variant={variant}",
                "checkpoint=true", NO_REPORT, f"hydra.sweep.dir={tmp_path}")
    assert r.returncode == 0, r.stderr[-3000:]
    table = read_csv(tmp_path / "results.csv")
    assert set(table.status) == {"ok"}, table.reason.unique()
    findings = read_csv(tmp_path / "audit.csv")
    tied = table[table.alias_of != ""]
    assert len(tied)  # both models tie lm_head.weight to the input embedding: the table says so
    # save_file refuses the tie (measured), save_model handles it (measured): a design, never a warning
    assert (tied.safetensors_error != "").all() and (tied.restored_save_model == "true").all()
    about_tie = findings[findings.tensor.isin(tied.tensor)]
    assert len(about_tie) and set(about_tie.severity) == {"info"} and (about_tie.fix == "").all()
    assert about_tie.finding.str.contains("save_pretrained").all()
    rotary = table[table.tensor.str.endswith("inv_freq")]
    if variant == "tiny_llama":  # non-persistent by design, recomputed from the config by every build
        assert set(rotary.persistent) == {"false"} and set(rotary.in_state_dict) == {"false"}
    assert not findings.fix.str.contains("persistent").any()
    assert findings[findings.tensor.isin(rotary.tensor)].empty  # no hazard measured: no finding


@pytest.mark.slow
def test_a_cache_object_in_the_output_gets_a_hint(hf_conf, tmp_path):
    r = run_cli("runner", "--config-dir", str(hf_conf), "variant=tiny_llama_cache", "export=torch_export",
                f"hydra.run.dir={tmp_path}")
    table = read_csv(tmp_path / "results.csv")
    if (table.export_role != "error").all():
        pytest.skip("this torch exports a DynamicCache output: nothing to hint at")
    assert r.returncode == 0, r.stderr[-2000:]  # an export_error is a measured outcome
    assert table.export_error.str.contains("DynamicCache").all()
    assert table.export_error.str.contains("use_cache: false").all()
