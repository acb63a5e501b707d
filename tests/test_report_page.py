"""The report as a page: summary first, one linkable section per claim with the rows that decide it,
self-contained (the figure a data: URI, no network), --out keeps the sweep's own report, --against adds
a comparison; and, in headless Chromium, no element wider than the viewport at 1400 px or on a phone."""
import base64
import json
import re
import shutil

import pytest

from runner.analysis.browser import dump_dom, find_chromium
from runner.analysis.report import main, write_report
from runner.analysis.reportpage import COUNTEREXAMPLES, anchor

from tests.conftest import read_csv

pytestmark = pytest.mark.slow

OWN = """claims:
  - {id: nowhere, statement: a claim about a module this sweep does not have, source: me,
     where: {variant: recurrent}, expect: {in_parameters: true}}
  - {id: tensor-constant, statement: 'plain tensor is a constant', source: me,
     where: {tensor: my_tensor, export: onnx_*}, expect: {export_role: constant}}
  - {id: every-role-initializer, statement: 'every exported tensor is an initializer', source: me,
     where: {export: onnx_*}, expect: {export_role: initializer}}
"""


@pytest.fixture(scope="module")
def page(export_sweep, tmp_path_factory):
    """A report of the shared export sweep written elsewhere (--out), judging a claim file of our own."""
    out = tmp_path_factory.mktemp("page")
    (out / "own.yaml").write_text(OWN)
    before = (export_sweep / "report.md").read_bytes()
    report = write_report(export_sweep, [out / "own.yaml"], out_dir=out / "report")
    assert (export_sweep / "report.md").read_bytes() == before  # the sweep's own report is kept
    return report


def _verdicts(report):
    return dict(zip(report.verdicts.id, report.verdicts.verdict))


def test_summary_first_then_a_section_per_claim_refuted_first(page):
    text = page.html.read_text()
    verdict = _verdicts(page)
    assert page.about == {"tensor-constant", "every-role-initializer"}  # no row is about `nowhere`
    summary, claims = text.index('id="summary"'), text.index('id="claims"')
    assert summary < claims < text.index('id="reproduce"') < text.index('id="environment"')
    positions = {}
    for claim_id in page.about:
        section = re.search(rf'<section class="claim v-(\w+)" id="{anchor(claim_id)}">', text)
        assert section and section.group(1) == verdict[claim_id]
        assert f'<span class="badge {verdict[claim_id]}">{verdict[claim_id]}</span>' in text[section.start():]
        positions[claim_id] = section.start()
    assert f'id="{anchor("nowhere")}"' not in text and "1 claims of own.yaml are about rows or stages" in text
    order = sorted(page.about, key=positions.get)
    ranks = {"refuted": 0, "depends": 1, "holds": 2, "untested": 3}
    assert [ranks[verdict[c]] for c in order] == sorted(ranks[verdict[c]] for c in order)


def test_counterexamples_are_rows_of_the_table(page, export_sweep):
    table = read_csv(export_sweep / "results.csv")
    exported = table[table.export.str.startswith("onnx_")]
    failing = exported[exported.export_role != "initializer"]
    assert len(failing)  # the legacy exporter bakes my_tensor into a constant: the claim is refuted
    assert _verdicts(page)["every-role-initializer"] == "refuted"
    text = page.html.read_text()
    section = text.split(f'id="{anchor("every-role-initializer")}"', 1)[1].split("</section>", 1)[0]
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>.*?</td><td>(.*?)</td><td>(.*?)</td></tr>", section)
    assert len(rows) == min(COUNTEREXAMPLES, len(failing))
    for variant, tensor, expected, measured in rows:
        assert expected == "export_role=initializer"
        role = measured.split("=", 1)[1]
        assert ((failing.variant == variant) & (failing.tensor == tensor) & (failing.export_role == role)).any()
    assert f"{len(exported)} rows counted, 0 not measured" in section
    first = re.search(r"<dt>found</dt><dd>(.*?)</dd>", section).group(1)
    assert f"e.g. {rows[0][0]}/{rows[0][1]}: " in first
    assert not any(job in first for job in set(table.job))  # no long job key in the text


def test_page_is_self_contained(page):
    text = page.html.read_text()
    uri = re.search(r'<img src="(data:image/png;base64,[^"]+)"', text).group(1)
    assert base64.b64decode(uri.split(",", 1)[1]) == page.figure.read_bytes()
    assert not re.search(r'(?:src|href)\s*=\s*["\']?(?:https?:)?//', text, re.I)
    assert "<script" not in text and "<link" not in text


def test_markdown_reads_top_down(page):
    md = page.markdown.read_text()
    heads = [line for line in md.splitlines() if line.startswith("## ")]
    assert heads[:2] == ["## Summary", "## Claims"]
    assert heads.index("## Reproduce") < heads.index("## Environment") < heads.index("## Outcomes per tensor")
    assert md.index("**refuted** [every-role-initializer](#claim-every-role-initializer)") < md.index("## Claims")


def test_cli_out_against_and_exit_codes(export_sweep, tmp_path, capsys):
    table = read_csv(export_sweep / "results.csv")
    table.loc[table.tensor == "my_param", "restored"] = "false"
    table.to_csv(tmp_path / "other.csv", index=False)
    assert main([str(export_sweep), "--out", str(tmp_path / "r"), "--against", str(tmp_path / "other.csv")]) == 0
    assert "more about rows or stages this sweep does not have" in capsys.readouterr().out
    md = (tmp_path / "r" / "report.md").read_text()
    n = int((table.tensor == "my_param").sum())
    assert f"restored: false → true — {n} rows" in md.split("## Comparison", 1)[1]
    assert main([str(tmp_path / "missing")]) == 2


MEASURE = """<script>addEventListener('load', function () {
  var w = innerWidth, wide = [];
  document.querySelectorAll('body *').forEach(function (e) {
    if (e.getBoundingClientRect().right > w + 1) wide.push(e.tagName + '.' + e.className); });
  var img = document.querySelector('img'), p = document.createElement('pre');
  p.id = 'measured';
  p.textContent = JSON.stringify({scrollWidth: document.documentElement.scrollWidth, innerWidth: w,
    wide: wide.slice(0, 5), image: img ? img.naturalWidth : -1,
    summaryTop: document.getElementById('summary').getBoundingClientRect().top,
    claimsTop: document.getElementById('claims').getBoundingClientRect().top});
  document.body.appendChild(p); });</script>"""


@pytest.fixture(scope="module")
def chromium():
    if find_chromium() is None:
        pytest.skip("Chromium is not installed (make chromium installs Debian's chromium where we are root)")


@pytest.mark.parametrize("window", ["1400,900", "500,900"])  # 500: headless Chromium's narrowest window
def test_page_fits_the_window_in_a_real_browser(chromium, page, tmp_path, window):
    probe = tmp_path / "measure.html"
    probe.write_text(page.html.read_text().replace("</body>", MEASURE + "</body>"))
    dom = dump_dom(probe, window)
    measured = json.loads(re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S).group(1))
    assert measured["innerWidth"] == int(window.split(",")[0])
    assert measured["scrollWidth"] <= measured["innerWidth"] and measured["wide"] == [], measured
    assert measured["image"] > 0  # the embedded figure decoded
    assert measured["summaryTop"] < measured["claimsTop"]
    for claim_id in page.about:
        assert f'id="{anchor(claim_id)}"' in dom


def test_screenshot_option_writes_a_png(chromium, export_sweep, tmp_path, capsys):
    assert main([str(export_sweep), "--out", str(tmp_path), "--screenshot"]) == 0
    png = tmp_path / "report.png"
    assert f"screenshot: {png}" in capsys.readouterr().out
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(data[16:20], "big") == 1400


def test_screenshot_without_chromium_is_a_one_line_error(export_sweep, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main([str(export_sweep), "--out", str(tmp_path), "--screenshot"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--screenshot needs Chromium" in err[0]
