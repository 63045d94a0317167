"""certify-model on the README's digits MLP with 1 and 2 CPU threads, on the machine as it is
and beside two CPU-bound jobs (the question of a shared machine).

Run from the repository root:

    .venv/bin/python benchmarks/threads.py --rounds 3

Each run is ``sharpflat certify-model examples/digits_model.py --optimizer gd --alpha 0.05``
in a fresh process with ``--threads 1``, ``--threads 2``, ``--threads auto`` (the default) and
``--threads 2`` with ``OMP_WAIT_POLICY=PASSIVE`` (OpenMP threads that sleep instead of spinning
while they wait), and with ``--before DIR`` an older source tree with its own defaults. Conditions: ``as is`` (whatever else runs on the machine: the load average is
recorded before each run) and ``loaded`` (two ``python -c 'while True: pass'`` processes at
nice 0 beside it). Settings alternate within each round so that a change of load falls on all
of them alike; medians are reported, with each run's stage times (the model file's own training,
``load``, and the certificate's stages) read from the command's progress lines.

Writes ``benchmarks/results/threads-cpu.json`` and ``.md``. The figure of merit is the ratio of
each setting's time to ``--threads 1`` in the same condition.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MODEL = ROOT / "examples" / "digits_model.py"
SETTINGS = {"1": {"threads": "1"}, "2": {"threads": "2"}, "auto": {"threads": "auto"},
            "2, passive": {"threads": "2", "env": {"OMP_WAIT_POLICY": "PASSIVE"}}}
STAGE = re.compile(r"^(.*?)  done  ([0-9.]+) s$")


def run_once(threads: str | None, env_extra: dict[str, str], source: Path = ROOT) -> dict:
    """One certify-model run in a fresh process (``threads`` None: the command's own default,
    for a ``--before`` source tree that has no --threads)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(source), **env_extra)
        env.pop("OMP_NUM_THREADS", None)
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        option = [] if threads is None else ["--threads", threads]
        proc = subprocess.run([sys.executable, "-m", "verify", "certify-model", str(MODEL),
                               "--optimizer", "gd", "--alpha", "0.05", *option,
                               "--db", f"{tmp}/r.db", "--json", f"{tmp}/v.json"],
                              cwd=tmp, env=env, capture_output=True, text=True, timeout=1800)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"certify-model failed ({proc.returncode}): {proc.stderr[-2000:]}")
        statuses = {v["id"]: v["status"] for v in json.loads(Path(f"{tmp}/v.json").read_text())}
    stages = {}
    for line in proc.stderr.splitlines():
        m = STAGE.match(line.strip())
        if m:
            stages[m.group(1)] = float(m.group(2))
    load_s = sum(s for name, s in stages.items() if name.startswith("load "))
    return {"wall": wall, "load_s": load_s, "certificate_s": sum(stages.values()) - load_s,
            "stages": stages, "loadavg_before": load, "statuses": statuses}


def burners(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen(["nice", "-n", "0", sys.executable, "-c", "while True: pass"])
            for _ in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conditions", default="as is,loaded")
    ap.add_argument("--settings", default=None, metavar="LIST",
                    help="only these settings (comma-separated names of the table)")
    ap.add_argument("--out", default="threads-cpu", help="results file name, without suffix")
    ap.add_argument("--before", type=Path, metavar="DIR",
                    help="also run the source tree DIR (e.g. `git archive REV | tar -x -C DIR`) "
                         "with its own default threads, as the setting 'before'")
    args = ap.parse_args()
    if args.before:
        SETTINGS["before"] = {"threads": None, "source": args.before.resolve()}
    if args.settings:
        for name in set(SETTINGS) - set(args.settings.split(",")):
            del SETTINGS[name]
    results: dict[str, dict[str, list[dict]]] = {}
    for condition in args.conditions.split(","):
        jobs = burners(2) if condition == "loaded" else []
        try:
            time.sleep(1.0 if jobs else 0.0)
            runs = results.setdefault(condition, {name: [] for name in SETTINGS})
            names = list(SETTINGS)
            for r in range(args.rounds):
                for name in names[r % len(names):] + names[:r % len(names)]:
                    spec = SETTINGS[name]
                    out = run_once(spec["threads"], spec.get("env", {}),
                                   spec.get("source", ROOT))
                    runs[name].append(out)
                    print(f"{condition:7} threads {name:10} round {r}: {out['wall']:6.1f} s "
                          f"(file {out['load_s']:.1f} s, certificate {out['certificate_s']:.1f} "
                          f"s, load average {out['loadavg_before']:.2f})", flush=True)
        finally:
            for p in jobs:
                p.kill()
                p.wait()
    write(results, args.rounds, args.out)


def write(results: dict, rounds: int, name: str = "threads-cpu") -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.platform(), "cores": os.cpu_count(), "rounds": rounds,
            "python": platform.python_version()}
    try:
        import torch

        meta["torch"] = torch.__version__
    except ImportError:  # pragma: no cover
        pass
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "results": results},
                                                         indent=1) + "\n")
    lines = ["# certify-model on the digits MLP: threads on a shared machine", "",
             f"{meta['machine']}, {meta['cores']} cores, torch {meta.get('torch')}, "
             f"{rounds} interleaved rounds, medians (seconds). `loaded`: two CPU-bound "
             "`python -c 'while True: pass'` beside each run; `as is`: the machine's own "
             "load (load average before the runs in the last column).", "",
             "| condition | threads | wall | model file (training) | certificate | "
             "wall / 1 thread | certificate / 1 thread | load average |",
             "|---|---|---|---|---|---|---|---|"]
    for condition, runs in results.items():
        base = statistics.median(r["wall"] for r in runs["1"])
        base_c = statistics.median(r["certificate_s"] for r in runs["1"])
        for setting, rs in runs.items():
            wall = statistics.median(r["wall"] for r in rs)
            cert = statistics.median(r["certificate_s"] for r in rs)
            load = statistics.median(r["loadavg_before"] for r in rs)
            lines.append(f"| {condition} | {setting} | {wall:.1f} | "
                         f"{statistics.median(r['load_s'] for r in rs):.1f} | {cert:.2f} | "
                         f"{wall / base:.2f} | {cert / base_c:.2f} | {load:.1f} |")
    statuses = {json.dumps(r["statuses"], sort_keys=True) for c in results.values()
                for rs in c.values() for r in rs}
    same = "yes" if len(statuses) == 1 else f"NO ({len(statuses)} different sets)"
    lines += ["", f"Verdict statuses identical in every run: {same}."]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
