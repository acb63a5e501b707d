"""The dynamo exporter's optimizer replayed on its own unoptimized translation gives the files that full
perturbed exports give (issue 20), and is refused where the translation reads a value."""
import copy
import random

import onnx
import pytest
import torch

from experiments.export_cases import BakedGain
from experiments.structures import ConvBNStack
from runner.probes.discover import discover
from runner.probes.exporting import aliases
from runner.probes.onnx_graph import aligned, changed_places, parse
from runner.probes.onnx_perturb import units_of
from runner.probes.onnx_replay import Replaying, capturing
from runner.probes.onnx_scopes import module_of

pytestmark = pytest.mark.filterwarnings("ignore")


def replaying(module, args, tmp_path):
    """A Replaying of module's perturbed exports, as export_and_locate builds one, and the real file."""
    translations = []
    with capturing(translations):
        torch.onnx.export(copy.deepcopy(module), args, str(tmp_path / "real.onnx"), dynamo=True)
    real = onnx.load(str(tmp_path / "real.onnx"))
    refs = discover(module)
    units = units_of(module, refs, aliases(module, refs))

    def export(copied):
        torch.onnx.export(copied, args, str(tmp_path / "perturbed.onnx"), dynamo=True)
        return onnx.load(str(tmp_path / "perturbed.onnx"))
    assert len(translations) == 1
    members = [i for i, u in enumerate(units) if u.perturbed is not None]
    return Replaying(module, units, export, real=real, real_translation=translations[0]), members, real


def same_file(a, b):
    ga, gb = parse(a), parse(b)
    return aligned(ga, gb) and not changed_places(ga, gb)


def test_a_replay_of_any_subset_is_the_full_export_of_it(tmp_path):
    torch.manual_seed(0)
    module, args = ConvBNStack(3, 4).eval(), (torch.randn(2, 3, 8, 8),)
    replay, members, real = replaying(module, args, tmp_path)
    first = replay(members)  # a full export, and the proof
    assert replay.slots is not None and replay.replays == 0
    assert same_file(replay.replay(members), first)
    rng = random.Random(0)
    for k in (1, 3, len(members) // 2):  # subsets the proof never saw
        subset = sorted(rng.sample(members, k))
        replayed, full = replay.replay(subset), replay.full(subset)
        assert same_file(replayed, full), subset
        assert changed_places(parse(real), parse(replayed)), subset  # the perturbation shows
    replay(members[:2])
    assert replay.replays == 1


def test_no_replay_where_the_translation_reads_a_value(tmp_path):
    torch.manual_seed(0)
    module, args = BakedGain(3, 2).eval(), (torch.randn(4, 3),)
    replay, members, _ = replaying(module, args, tmp_path)
    replay(members)
    assert replay.slots is None  # float(self.gain) is a Constant of the translation: not an initializer
    replay(members[:1])
    assert replay.replays == 0


def test_jobs_replay_where_proved(run):
    conv = run("variant=conv_bn", "steps=0", "export=onnx_dynamo")
    exports, replays = int(conv.export_provenance_exports.iloc[0]), int(conv.export_provenance_replays.iloc[0])
    assert exports > 2 and replays == exports - 1  # only the first perturbed export is a full one
    baked = run("variant=baked_gain", "steps=0", "export=onnx_dynamo")
    assert int(baked.export_provenance_exports.iloc[0]) > 2 and set(baked.export_provenance_replays) == {"0"}
    legacy = run("variant=conv_bn", "steps=0", "export=onnx_legacy")
    assert set(legacy.export_provenance_replays) == {"0"}  # its passes run inside the TorchScript exporter


@pytest.mark.parametrize("exporter", ["onnx_dynamo", "onnx_legacy"])
def test_guessed_causes_cut_the_exports_to_the_log_of_the_groups(run, exporter):
    # conv_bn_trained: 3 conv+BN groups of 5 tensors (conv weight, BN weight, bias, running stats), guessed
    # from the dynamo translation (upstream of each fused Conv) or the legacy node names (the Conv's module
    # and the node-less BatchNorm after it): one export per code position of the groups, one per group
    # member, the first export; the bit search over all 20 tensors would take more than that
    blocks = 3
    conv = run("variant=conv_bn_trained", "steps=0", f"export={exporter}")  # no BatchNorm is the identity
    exports = int(conv.export_provenance_exports.iloc[0])
    members = 5 if exporter == "onnx_dynamo" else 6  # legacy: num_batches_tracked is of the BatchNorm's module
    assert exports <= 1 + 3 + members  # 3 groups: codes {0}, {1}, {2}
    assert set(conv.loc[[f"features.{3 * b}.weight" for b in range(blocks)], "export_role"]) == {"folded"}


def test_legacy_node_names_give_the_module():
    assert module_of("/layer1/layer1.0/conv1/Conv") == "layer1.0.conv1"
    assert module_of("/features/features.0/Conv") == "features.0"
    assert module_of("/layer2/layer2.0/downsample/downsample.0/Conv") == "layer2.0.downsample.0"
    assert module_of("/head/Gemm") == "head" and module_of("/Constant") is None
    assert module_of("node_Conv_0") is None  # not a scoped name: no guess
