"""docs/notebooks/tensor_vs_parameter.ipynb runs top to bottom in a real Jupyter kernel (nbclient +
ipykernel), and its outputs say what the reference notebook's study measures; it is committed without outputs."""
from __future__ import annotations

import pytest
import torch

from .conftest import ROOT

NOTEBOOK = ROOT / "docs" / "notebooks" / "tensor_vs_parameter.ipynb"


def _tagged(nb, tag):
    (cell,) = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
    return cell


def _text(cell, mime="text/plain") -> str:
    return "".join(o["data"][mime] for o in cell.outputs if o.get("output_type") == "execute_result")


def _frame(text: str):
    """A displayed DataFrame's text/plain (indexed by tensor, no spaces in cells, possibly wrapped into
    blocks of columns) as {tensor: {column: value}}."""
    rows: dict = {}
    for block in text.strip().split("\n\n"):
        lines = [line.rstrip(" \\").split() for line in block.splitlines()]
        header, body = lines[0], [line for line in lines[1:] if len(line) == len(lines[0]) + 1]
        if header[0] == "export":  # a pivot: the columns' name comes first
            header = header[1:]
            body = [line for line in lines[1:] if len(line) == len(header) + 1]
        for line in body:
            rows.setdefault(line[0], {}).update(zip(header, line[1:]))
    return rows


def test_the_notebook_is_committed_without_outputs():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert any("class ExperimentModel(nn.Module)" in c.source for c in code)


@pytest.mark.slow
def test_the_notebook_runs_in_a_kernel_and_shows_the_measured_facts(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    table = _frame(_text(_tagged(nb, "table")))
    assert table["my_tensor"]["in_state_dict"] == "false" and table["my_tensor"]["declared_as"] == "tensor"
    assert table["my_param"]["in_state_dict"] == "true" and table["my_param"]["updated"] == "true"
    onnx = _frame(_text(_tagged(nb, "onnx")))
    assert onnx["my_param"] == {"onnx_dynamo": "initializer", "onnx_legacy": "initializer"}
    # every shown cell is the one this process measures for the importable copy of the class
    import runner as tp
    from experiments.seed_notebook import ExperimentModel
    here = tp.sweep(ExperimentModel, torch.randn(1), grid={"export": ["onnx_dynamo", "onnx_legacy"]}, progress=False)
    for _, row in here.iterrows():
        assert onnx[row["tensor"]][row["export"]] == row["export_role"], row["tensor"]
        assert all(table[row["tensor"]][c] == row[c] for c in table[row["tensor"]]), row["tensor"]
    assert set(onnx) == set(here["tensor"]) == set(table)
    audit = _text(_tagged(nb, "audit"), "text/html")
    assert "my_tensor" in audit and "exit code 1" in audit and "#c62828" in audit
    assert list(tmp_path.iterdir()) == []  # nothing written beside the notebook
