"""The certificate report: what the Markdown and the HTML say, how they escape user text, the
comparison with the previous run, the summary, the plots (and, where Chromium is installed,
the HTML as a browser renders it)."""

import base64
import io
import re
import subprocess

import pytest
from markdown_it import MarkdownIt

from browser import chromium
from browser import flags as browser_flags
from verify import report
from verify.store import Store
from verify.verdict import Status, Verdict

HOSTILE = "<b>html</b>*star*"
FORMULA = "2*x*y + x**2*y**2 + 3*Abs(y)"
LONG = "z" * 150 + "|end-of-the-note"          # longer than any cut the report used to make


def claim(item, f=FORMULA, modulus="5"):
    return {"id": item, "kind": "sharp-minimizer", "source": "c.toml:claim[0]",
            "variables": ["x", "y"], "f": f, "point": ["0", "0"], "modulus": modulus,
            "norm": "2"}


def refuted(item, **kw):
    return Verdict(id=item, kind="sharp-minimizer", status=Status.REFUTED,
                   method="z3 model, re-checked in ball arithmetic",
                   message=f"f(x) < f(point) + 5*||x - point|| at x = ['0', '1'] ({item})",
                   claim=claim(item), counterexample={"x": ["0", "1"], "note": LONG},
                   certificate={"kind": "point", "x": ["0", "1"]}, **kw)


def evidence(item):
    return Verdict(id=item, kind="conserved-quantity", status=Status.EVIDENCE, method="sampling",
                   message="held at 10 points", sample_size=10,
                   claim={"id": item, "kind": "conserved-quantity", "variables": ["x", "y"],
                          "f": "x*y", "quantity": "x**2 - y**2"})


@pytest.fixture
def two_runs(tmp_path):
    """Run 1 and run 2 of one conjecture file: run 2 has an item run 1 did not have, and run 1
    one that run 2 dropped."""
    store = Store(tmp_path / "r.db")
    first = store.begin_run(command="check", target="/c.toml")
    store.add_verdict(first, evidence("kept"))
    store.add_verdict(first, evidence("dropped"))
    store.finish_run(first, "complete")
    second = store.begin_run(command="check", target="/c.toml")
    store.add_verdict(second, evidence("kept"))
    store.add_verdict(second, refuted(HOSTILE))
    store.finish_run(second, "complete")
    yield store
    store.close()


def test_markdown_escapes_formulas_and_user_text(two_runs):
    """Regression: `*` in formulas and messages turned into italics and lost its
    multiplication signs; raw HTML from claim ids went through."""
    md = report.render(report.build(two_runs), "md")
    html = MarkdownIt("commonmark").enable("table").render(md)
    assert "<em>" not in html                       # no `*` became emphasis
    assert "<b>" not in html and "&lt;b&gt;html&lt;/b&gt;*star*" in html
    text = re.sub(r"<[^>]+>", "", html)
    assert FORMULA in text.replace("&gt;", ">")      # the formula whole, signs and all
    assert "5*||x - point||" in text                 # in a message, inside a table cell


def test_the_changes_never_say_none(two_runs):
    """Regression: an item new in this run showed `None` in the "before" column."""
    data = report.build(two_runs)
    for fmt in ("md", "html"):
        text = report.render(data, fmt)
        changes = text[text.index("Changes since the previous run"):text.index("Verdicts")]
        assert "None" not in changes and "(not in run 1)" in changes and "(removed)" in changes
    for fmt in ("md", "html"):            # nor anywhere else (a verdict without a seed...)
        assert "None" not in report.render(data, fmt)
    md = report.render(data, "md")
    assert "| item | run 1 | run 2 | note |" in md      # the refuted item is a new failure
    assert "| new failure |" in md


def test_counterexamples_are_tables_and_never_cut_mid_string(two_runs):
    data = report.build(two_runs)
    md = report.render(data, "md")
    section = md[md.index("#### Counterexample"):]
    assert "| entry | value |" in section and "{" not in section.split("####")[1]
    assert LONG.replace("|", "\\|") in section
    html = report.render(data, "html")
    assert LONG in html


def test_check_runs_are_summarized_by_kind(two_runs):
    """Regression: a check run's summary had a "paper" column holding kinds."""
    data = report.build(two_runs)
    assert data["summary_by"] == "kind"
    assert data["summary"] == {"conserved-quantity": {"evidence": 1},
                               "sharp-minimizer": {"refuted": 1}}
    md = report.render(data, "md")
    assert "## Summary by claim kind" in md and "| claim kind | proved |" in md
    assert "| paper" not in md


def test_formulas_are_mathml_and_the_html_loads_nothing(two_runs):
    html = report.render(report.build(two_runs), "html")
    assert "<math" in html and re.search(r"<mo>(&#x2265;|≥)</mo>", html)
    body = html.split("<body>")[1]
    assert "http://" not in body and "https://" not in body and "<script" not in body
    assert "&lt;b&gt;html&lt;/b&gt;*star*" in body and "<b>html</b>" not in body


def _pngs(html):
    return [base64.b64decode(m) for m in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)",
                                                     html)]


def test_plots_are_150_dpi_with_the_legend_off_the_bars(two_runs, monkeypatch):
    from PIL import Image

    html = report.render(report.build(two_runs), "html")
    (chart,) = _pngs(html)
    dpi = Image.open(io.BytesIO(chart)).info["dpi"]
    assert min(dpi) >= 149.5
    figures = []
    monkeypatch.setattr(report, "_png", lambda fig: figures.append(fig) or "")
    report._summary_plot(report.build(two_runs))
    (fig,) = figures
    fig.canvas.draw()
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    for bar in ax.patches:
        box = bar.get_window_extent(renderer)
        assert legend.y0 >= box.y1 or legend.y1 <= box.y0 or legend.x0 >= box.x1 \
            or legend.x1 <= box.x0, "the legend covers a bar"
    lo, hi = ax.get_xlim()
    assert lo == 0 and hi >= 1


def test_the_html_report_in_a_browser(two_runs, tmp_path):
    """Chromium (Debian's `chromium`, headless) renders the report with no console errors;
    skipped where no Chromium is installed."""
    browser = chromium()
    page = tmp_path / "report.html"
    page.write_text(report.render(report.build(two_runs), "html"), encoding="utf-8")
    shot = tmp_path / "report.png"
    flags = browser_flags(tmp_path)
    res = subprocess.run([browser, *flags, "--enable-logging=stderr", "--v=0",
                          "--window-size=1200,2000", f"--screenshot={shot}", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000, res.stderr[-2000:]
    console = [line for line in res.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    res = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=120)
    dom = res.stdout
    assert "sharpflat certificate report" in dom and "<math" in dom
    assert "<b>html</b>" not in dom and "&lt;b&gt;html&lt;/b&gt;*star*" in dom
