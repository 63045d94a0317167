"""The HTML report of a model certificate in a real browser: headless Chromium loads the report
(with a checking script added to a copy of it) and says what it rendered: every plot decoded,
the density plot, the per-layer table and the landscape with its flatness numbers shown.
Skipped, with the reason, where no Chromium is installed (CI installs it: .ci/run)."""

import json
import re
import subprocess

from browser import chromium, flags
from verify.cli import ExitCode, main

MODEL = """
import torch
torch.manual_seed(0)
X = torch.randn(60, 5, dtype=torch.float64)
Y = torch.randn(60, 2, dtype=torch.float64)
model = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.Tanh(),
                            torch.nn.Linear(6, 2)).double()
loss_fn = lambda out, y: ((out - y) ** 2).sum(dim=1).mean() / 2
data = (X, Y)
name = "mlp"
"""

#: added to a copy of the report: what the browser rendered, as JSON in the page title
CHECK = """<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  document.title = JSON.stringify({
    images: imgs.length,
    decoded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    widths: imgs.map(i => i.getBoundingClientRect().width),
    alts: imgs.map(i => i.alt),
    headings: Array.from(document.querySelectorAll("h4, h5, summary")).map(h => h.textContent),
    text: document.body.innerText.length,
  });
});
</script>"""


def test_the_model_report_renders_its_plots_and_tables_in_a_browser(tmp_path):
    browser = chromium()
    model = tmp_path / "model.py"
    model.write_text(MODEL)
    db = str(tmp_path / "r.db")
    code = main(["certify-model", str(model), "--optimizer", "gd", "--alpha", "0.1",
                 "--views", "all", "--landscape-grid", "9", "--threads", "1", "--db", db])
    assert code in (ExitCode.OK, ExitCode.REFUTED)
    report = tmp_path / "report.html"
    assert main(["report", "latest", "--format", "html", "--out", str(report),
                 "--db", db]) == ExitCode.OK
    checked = tmp_path / "checked.html"
    checked.write_text(report.read_text().replace("</body>", CHECK + "</body>"))
    res = subprocess.run([browser, *flags(tmp_path), "--virtual-time-budget=10000",
                          "--dump-dom", checked.as_uri()],
                         capture_output=True, text=True, timeout=180)
    title = re.search(r"<title>(.*?)</title>", res.stdout, re.S)
    assert title, res.stderr[-2000:]
    seen = json.loads(title.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    # the status chart, the density, the 1-D landscape, the sharpest direction, the 2-D contour
    assert seen["images"] >= 5 and seen["decoded"] == seen["images"], seen
    assert all(w > 100 for w in seen["widths"]), seen["widths"]
    assert sum("mlp.density" in a for a in seen["alts"]) == 1
    assert sum("mlp.landscape" in a for a in seen["alts"]) == 3
    headings = " | ".join(seen["headings"])
    for table in ("per-layer curvature of the Hessian", "flatness numbers of the model"):
        assert table in headings, headings
