"""Certificate reports of a stored run: HTML (one self-contained file), Markdown and JSON.

Per item: statement, source, verdict, method, evidence, bounds, counterexample, timings and
environment; a summary by paper and status; a comparison with the previous run of the same
command and target (new failures first).

Plots: a status summary, plus any figure a check attaches to its evidence under ``"plots"`` as
``[{"title", "xlabel", "ylabel", "x": [...], "lines": {name: [...]}, "logx", "logy"}]``. They
are rendered with matplotlib (Agg) and embedded as base64 PNG, so the HTML needs no network.
"""

from __future__ import annotations

import base64
import html
import io
import json
import platform
from typing import Any

from verify.store import RunInfo, Store
from verify.verdict import FAILING, Status, Verdict

_ORDER = [s.value for s in Status]


def build(store: Store, ref: str | int = "latest") -> dict[str, Any]:
    """The report's data: the run, its verdicts, summaries and the comparison."""
    run = store.run(ref)
    verdicts = store.verdicts(run.id)
    previous = store.previous_run(run)
    before = {v.id: v for v in store.verdicts(previous.id)} if previous else {}
    changes = []
    for v in verdicts:
        old = before.get(v.id)
        old_status = old.status.value if old else None
        if old_status != v.status.value:
            changes.append({"id": v.id, "before": old_status, "after": v.status.value,
                            "new_failure": v.status in FAILING and (old is None or
                                                                     old.status not in FAILING)})
    for item_id in sorted(set(before) - {v.id for v in verdicts}):
        changes.append({"id": item_id, "before": before[item_id].status.value, "after": None,
                        "new_failure": False})
    changes.sort(key=lambda c: (not c["new_failure"], c["id"]))
    by_paper: dict[str, dict[str, int]] = {}
    for v in verdicts:
        paper = v.claim.get("paper") or v.kind
        row = by_paper.setdefault(paper, {})
        row[v.status.value] = row.get(v.status.value, 0) + 1
    return {"run": run.to_dict(), "previous_run": previous.id if previous else None,
            "verdicts": [v.to_dict() for v in verdicts], "by_paper": by_paper,
            "changes": changes, "environment": _environment(verdicts)}


def _environment(verdicts: list[Verdict]) -> dict[str, Any]:
    env = {"platform": platform.platform(), "machine": platform.machine()}
    if verdicts:
        env.update(verdicts[0].versions)
    return env


def render(data: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, allow_nan=False)
    if fmt == "md":
        return _markdown(data)
    if fmt == "html":
        return _html(data)
    raise ValueError(f"unknown report format {fmt!r}; use html, md or json")


def _statement(v: dict[str, Any]) -> str:
    c = v.get("claim", {})
    if c.get("paper"):
        return f"{c.get('paper')}, {c.get('statement')}: {c.get('summary', '')}"
    keys = [k for k in c if k not in ("id", "kind", "source")]
    return "; ".join(f"{k} = {c[k]}" for k in keys)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _markdown(data: dict[str, Any]) -> str:
    run = data["run"]
    lines = [f"# sharpflat certificate report: run {run['id']}", "",
             f"- command: `{run['command']}` on `{run['target']}`"
             f" (profile {run['profile'] or '-'}, seed {run['seed']})",
             f"- status: **{run['status']}**; verdicts: "
             + ", ".join(f"{k} {n}" for k, n in sorted(run["counts"].items())),
             f"- previous run: {data['previous_run'] or 'none'}", "", "## Summary by paper", "",
             "| paper | " + " | ".join(_ORDER) + " |", "|---" * (len(_ORDER) + 1) + "|"]
    for paper, row in sorted(data["by_paper"].items()):
        lines.append(f"| {paper} | " + " | ".join(str(row.get(s, 0)) for s in _ORDER) + " |")
    lines += ["", "## Changes since the previous run", ""]
    if data["changes"]:
        lines += ["| item | before | after | |", "|---|---|---|---|"]
        for c in data["changes"]:
            flag = "**new failure**" if c["new_failure"] else ""
            lines.append(f"| {c['id']} | {c['before']} | {c['after']} | {flag} |")
    else:
        lines.append("No changes." if data["previous_run"] else "No previous run to compare.")
    lines += ["", "## Verdicts", "", "| item | status | method | elapsed (s) | message |",
              "|---|---|---|---|---|"]
    for v in data["verdicts"]:
        msg = str(v.get("message", "")).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {v['id']} | {v['status']} | {v['method']} | "
                     f"{_fmt(v.get('elapsed'))} | {msg[:300]} |")
    for v in data["verdicts"]:
        lines += ["", f"### {v['id']}: {v['status']}", "", f"- statement: {_statement(v)}",
                  f"- method: {v['method']}"]
        if v.get("bounds") is not None:
            lines.append(f"- bounds: [{_fmt(v['bounds'][0])}, {_fmt(v['bounds'][1])}]")
        if v.get("confidence") is not None:
            lines.append(f"- confidence: {v['confidence']}")
        if v.get("sample_size") is not None:
            lines.append(f"- sample size: {v['sample_size']}")
        for a in v.get("assumptions", []):
            lines.append(f"- assumption {a['name']}: {a['holds']} ({a.get('how', '')})")
        if v.get("counterexample"):
            lines.append(f"- counterexample: `{json.dumps(v['counterexample'])[:500]}`")
        lines.append(f"- seed {v.get('seed')}, elapsed {_fmt(v.get('elapsed'))} s")
        lines.append(f"- message: {v.get('message', '')}")
    lines += ["", "## Environment", ""]
    lines += [f"- {k}: {val}" for k, val in data["environment"].items()]
    return "\n".join(lines) + "\n"


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _summary_plot(data: dict[str, Any]) -> str | None:
    if not data["by_paper"]:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    papers = sorted(data["by_paper"])
    colors = {"proved": "#1a7f37", "certified": "#2da44e", "evidence": "#8fd19e",
              "refuted": "#cf222e", "inconclusive": "#bf8700", "error": "#6e7781"}
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(papers)))
    left = [0] * len(papers)
    for status in _ORDER:
        counts = [data["by_paper"][p].get(status, 0) for p in papers]
        ax.barh(papers, counts, left=left, color=colors[status], label=status)
        left = [a + b for a, b in zip(left, counts)]
    ax.set_xlabel("verdicts")
    ax.legend(loc="lower right", fontsize=7)
    return _png(fig)


def _evidence_plots(v: dict[str, Any]) -> list[str]:
    plots = v.get("evidence", {}).get("plots") or []
    if not plots:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    for spec in plots:
        try:
            fig, ax = plt.subplots(figsize=(6, 3.5))
            for name, ys in spec.get("lines", {}).items():
                xs = spec.get("x") or list(range(len(ys)))
                ax.plot(xs[:len(ys)], [float(y) for y in ys], label=name)
            ax.set_title(spec.get("title", ""))
            ax.set_xlabel(spec.get("xlabel", ""))
            ax.set_ylabel(spec.get("ylabel", ""))
            if spec.get("logx"):
                ax.set_xscale("log")
            if spec.get("logy"):
                ax.set_yscale("log")
            if spec.get("lines"):
                ax.legend(fontsize=7)
            out.append(_png(fig))
        except (TypeError, ValueError):
            plt.close("all")
            continue
    return out


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#1f2328}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #d0d7de;padding:4px 8px;
text-align:left;vertical-align:top;font-size:14px}.proved,.certified{color:#1a7f37;font-weight:600}
.evidence{color:#4d7c0f}.refuted{color:#cf222e;font-weight:700}.inconclusive{color:#9a6700}
.error{color:#6e7781;font-weight:700}pre{background:#f6f8fa;padding:8px;overflow-x:auto;
font-size:12px;max-height:300px}details{margin:0.5em 0}.new{color:#cf222e;font-weight:700}
"""


def _html(data: dict[str, Any]) -> str:
    from jinja2 import Environment

    env = Environment(autoescape=True)
    template = env.from_string(_HTML_TEMPLATE)
    verdicts = []
    for v in data["verdicts"]:
        ev = dict(v.get("evidence", {}))
        ev.pop("plots", None)
        verdicts.append({**v, "statement": _statement(v), "plots": _evidence_plots(v),
                         "evidence_json": json.dumps(ev, indent=1)[:20000],
                         "counter_json": json.dumps(v.get("counterexample"), indent=1)
                         if v.get("counterexample") else None})
    return template.render(data=data, run=data["run"], order=_ORDER, verdicts=verdicts,
                           summary_plot=_summary_plot(data), css=_CSS, fmt=_fmt,
                           escape=html.escape)


_HTML_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>sharpflat report: run {{ run.id }}</title><style>{{ css }}</style></head><body>
<h1>sharpflat certificate report: run {{ run.id }}</h1>
<p>command <code>{{ run.command }}</code> on <code>{{ run.target }}</code>,
profile {{ run.profile or '-' }}, seed {{ run.seed }}; status <b>{{ run.status }}</b>;
previous run: {{ data.previous_run or 'none' }}</p>
<h2>Summary by paper</h2>
<table><tr><th>paper</th>{% for s in order %}<th class="{{ s }}">{{ s }}</th>{% endfor %}</tr>
{% for paper, row in data.by_paper|dictsort %}<tr><td>{{ paper }}</td>
{% for s in order %}<td>{{ row.get(s, 0) }}</td>{% endfor %}</tr>{% endfor %}</table>
{% if summary_plot %}<img alt="status summary" src="{{ summary_plot }}">{% endif %}
<h2>Changes since the previous run</h2>
{% if data.changes %}<table><tr><th>item</th><th>before</th><th>after</th><th></th></tr>
{% for c in data.changes %}<tr><td>{{ c.id }}</td><td class="{{ c.before }}">{{ c.before }}</td>
<td class="{{ c.after }}">{{ c.after }}</td><td>{% if c.new_failure %}<span class="new">new
failure</span>{% endif %}</td></tr>{% endfor %}</table>
{% else %}<p>{{ 'No changes.' if data.previous_run else 'No previous run to compare.' }}</p>{% endif %}
<h2>Verdicts</h2>
<table><tr><th>item</th><th>status</th><th>method</th><th>elapsed (s)</th><th>message</th></tr>
{% for v in verdicts %}<tr><td><a href="#{{ v.id }}">{{ v.id }}</a></td>
<td class="{{ v.status }}">{{ v.status }}</td><td>{{ v.method }}</td>
<td>{{ fmt(v.elapsed) }}</td><td>{{ v.message[:300] }}</td></tr>{% endfor %}</table>
{% for v in verdicts %}<h3 id="{{ v.id }}">{{ v.id }}: <span class="{{ v.status }}">{{ v.status }}</span></h3>
<p><b>Statement.</b> {{ v.statement }}</p><p><b>Method.</b> {{ v.method }}.
<b>Message.</b> {{ v.message }}</p>
<ul>{% if v.bounds is not none %}<li>bounds: [{{ fmt(v.bounds[0]) }}, {{ fmt(v.bounds[1]) }}]</li>{% endif %}
{% if v.confidence is not none %}<li>confidence: {{ v.confidence }}</li>{% endif %}
{% if v.sample_size is not none %}<li>sample size: {{ v.sample_size }}</li>{% endif %}
{% for a in v.assumptions %}<li>assumption {{ a.name }}: {{ a.holds }} ({{ a.how }})</li>{% endfor %}
<li>seed {{ v.seed }}, elapsed {{ fmt(v.elapsed) }} s</li></ul>
{% for p in v.plots %}<img alt="plot for {{ v.id }}" src="{{ p }}">{% endfor %}
{% if v.counter_json %}<details open><summary>counterexample</summary><pre>{{ v.counter_json }}</pre></details>{% endif %}
<details><summary>evidence</summary><pre>{{ v.evidence_json }}</pre></details>
{% endfor %}
<h2>Environment</h2><ul>{% for k, val in data.environment|dictsort %}<li>{{ k }}: {{ val }}</li>{% endfor %}</ul>
</body></html>
"""
