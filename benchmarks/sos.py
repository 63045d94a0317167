"""Exact SOS certificates: numerics.sos against SumOfSquares.py, side by side in one process.

Run: .venv/bin/python benchmarks/sos.py [--seeds 3] [--no-large] [--part all|peer|sweep]
Needs the peer: .venv/bin/python -m pip install sumofsquares picos (PyPI; SumOfSquares.py
solves through PICOS with CVXOPT here; it is imported by this script only, never by numerics/).

For each polynomial (classic SOS and non-SOS examples, random SOS families in 2..6 variables of
degree 4: full rank, low rank (2 squares), sparse), both tools search for a Gram matrix; ours
rounds and checks it exactly (Peyrl and Parrilo 2008), and SumOfSquares.py's floating-point Gram
matrix goes through the *same* rounding, exact projection and exact check
(numerics.sos.round_sos_gram). A row counts as certified only when the exact checker accepts.
Times are wall-clock seconds on this machine (2 shared cores), after a warm-up of both tools.
Then Positivstellensatz rows (ours only: the sharpness piece with Abs and the 2-norm lifted,
and upper bounds of a variation on a ball, with SumOfSquares.py's floating-point bound beside
ours where it has one).
Writes benchmarks/results/sos.md and benchmarks/results/sos.json.

The sweep (``--part sweep``; ``--part all`` runs both): sharp-minimizer claims on the nonconvex
family of :mod:`theorems.sharp.nonconvex` (alpha* known by construction, attained at a point
at a distance, not in the limit at the minimizer) in 2..6 variables, a rotated instance in the
2-norm and a permuted one in the 1- or inf-norm per dimension, each claimed true at
alpha* (1 - delta) and false at alpha* (1 + delta), decided by ``decide_sharp`` twice: the SOS
path (the default order of :mod:`theorems.sharp.sos_case`) and the z3-only path
(``use_sos(False)``), both with the same small z3 budget. Decided = proved when true, refuted
when false; wrong = the opposite decision (must be 0). Writes benchmarks/results/sos_sweep.md
and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from pathlib import Path

import numpy as np
import sympy as sp

from numerics import sos


def mono(vs, e):
    return sp.Mul(*[v**k for v, k in zip(vs, e)])


def random_sos(nvars, seed, squares=None, terms=None, degree=2):
    """Sum of squares of random integer polynomials of degree ``degree`` (as many squares as
    monomials unless ``squares`` is given; ``terms`` monomials each when given)."""
    rng = random.Random(seed)
    vs = list(sp.symbols(f"v1:{nvars + 1}"))
    monos = sos.monomials_upto(nvars, degree)
    p = sp.Integer(0)
    for _ in range(squares or len(monos)):
        use = monos if terms is None else rng.sample(monos, terms)
        p += sum(rng.randint(-3, 3) * mono(vs, e) for e in use) ** 2
    return sp.expand(p), vs


def problems(seeds: int, large: bool) -> list:
    x, y, z = sp.symbols("x y z")
    motzkin = x**4 * y**2 + x**2 * y**4 - 3 * x**2 * y**2 + 1
    robinson = (x**6 + y**6 + z**6 - (x**4 * y**2 + x**2 * y**4 + x**4 * z**2 + x**2 * z**4
                                      + y**4 * z**2 + y**2 * z**4) + 3 * x**2 * y**2 * z**2)
    choi_lam = x**4 * y**2 + y**4 * z**2 + z**4 * x**2 - 3 * x**2 * y**2 * z**2
    s3 = x**2 + y**2 + z**2
    out = [
        ("(x^2-y^2)^2", "classic", (x**2 - y**2) ** 2, [x, y], True),
        ("x^2-xy^2+y^4", "classic", x**2 - x * y**2 + y**4, [x, y], True),
        ("Motzkin", "not SOS", motzkin, [x, y], False),
        ("Motzkin*(x^2+y^2+1)", "classic", sp.expand(motzkin * (x**2 + y**2 + 1)), [x, y], True),
        ("Robinson", "not SOS", robinson, [x, y, z], False),
        ("Robinson*(x^2+y^2+z^2)", "classic", sp.expand(robinson * s3), [x, y, z], True),
        ("Choi-Lam S", "not SOS", choi_lam, [x, y, z], False),
        ("Choi-Lam S*(x^2+y^2+z^2)", "classic", sp.expand(choi_lam * s3), [x, y, z], True),
    ]
    for n in range(2, 7):
        for s in range(seeds):
            seed = 1000 * n + s
            p, vs = random_sos(n, seed)
            out.append((f"random n={n} seed={seed}", f"random full n={n}", p, vs, True))
            p, vs = random_sos(n, seed, squares=2)
            out.append((f"low-rank n={n} seed={seed}", f"random low-rank n={n}", p, vs, True))
            p, vs = random_sos(n, seed, squares=4, terms=3)
            out.append((f"sparse n={n} seed={seed}", f"random sparse n={n}", p, vs, True))
    if large:
        for n, seed in ((8, 8001), (10, 10001)):
            p, vs = random_sos(n, seed)
            out.append((f"random n={n} seed={seed}", f"large n={n} degree 4", p, vs, True))
        p, vs = random_sos(4, 4601, degree=3)
        out.append(("random n=4 degree 6 seed=4601", "large n=4 degree 6", p, vs, True))
    return out


def run_ours(p, vs) -> dict:
    t0 = time.perf_counter()
    r = sos.find_sos(p, vs)
    wall = time.perf_counter() - t0
    row = {"ok": bool(r.ok and r.check()), "seconds": wall,
           "status": r.solver_status, "solve_s": r.timings.get("solve_s"),
           "round_s": r.timings.get("round_s"), "check_s": r.timings.get("check_s")}
    if r.ok:
        row.update(basis=len(r.basis), denominator=r.denominator, facial_steps=r.facial_steps)
    else:
        row.update(reason=r.reason)
    return row


def run_peer(p, vs) -> dict:
    from SumOfSquares import SOSProblem

    svs = sorted(vs, key=str)  # SumOfSquares.py orders variables by name
    t0 = time.perf_counter()
    note = ""
    try:
        try:
            prob = SOSProblem()
            const = prob.add_sos_constraint(p, svs, sparse=True)
        except Exception as exc:  # its Newton reduction (scipy ConvexHull) fails on flat hulls
            note = f" (sparse=True raised {type(exc).__name__}: full basis)"
            prob = SOSProblem()
            const = prob.add_sos_constraint(p, svs, sparse=False)
        sol = prob.solve(solver="cvxopt")
        status = str(sol.claimedStatus)
        Q = np.array(const.Qval, dtype=float)
        basis = [tuple(int(k) for k in m) for m in const.basis.monoms]
    except Exception as exc:  # the peer raises on infeasible problems
        return {"ok": False, "seconds": time.perf_counter() - t0,
                "status": f"{type(exc).__name__}: {str(exc)[:60]}{note}"}
    wall = time.perf_counter() - t0
    t1 = time.perf_counter()
    r = sos.round_sos_gram(p, svs, basis, Q, solver="SumOfSquares.py/cvxopt")
    row = {"ok": bool(r.ok and r.check()), "seconds": wall, "status": status + note,
           "basis": len(basis), "round_check_s": time.perf_counter() - t1,
           "min_eig": float(np.linalg.eigvalsh((Q + Q.T) / 2)[0])}
    if r.ok:
        row["denominator"] = r.denominator
    else:
        row["reason"] = r.reason
    return row


def psatz_rows() -> list:
    rows = []
    x1, x2, s1, s2, t = sp.symbols("x1 x2 s1 s2 t")
    V = [x1, x2, s1, s2, t]
    f = s1 + s2 + x1**2 + x2**2
    hs = [s1**2 - x1**2, s2**2 - x2**2, t**2 - x1**2 - x2**2]
    for m in (sp.Rational(9, 10), sp.Integer(1), sp.Rational(11, 10)):
        for form in ("putinar", "stengle"):
            t0 = time.perf_counter()
            r = sos.find_psatz(f - m * t, [x1, x2, s1, s2, t], V, 4, hs=hs, products=True,
                               form=form)
            rows.append({"problem": f"sharpness piece, m={m}", "form": form, "vars": 5,
                         "ok": bool(r.ok and r.check()), "seconds": time.perf_counter() - t0,
                         "solve_s": r.timings.get("solve_s"), "check_s": r.timings.get("check_s"),
                         "detail": (f"D={r.denominator}, facial steps {r.facial_steps}, "
                                    f"{len(r.blocks)} blocks") if r.ok else r.reason[:70]})
    for n in (4, 5, 6):
        xs = sp.symbols(f"x1:{n + 1}")
        us = list(sp.symbols(f"u1:{n + 1}"))
        fx = (sum(v**4 for v in xs) - 2 * sum(v**2 for v in xs)
              + sum(xs[i] * xs[i + 1] for i in range(n - 1)) + xs[0] * xs[1] * xs[2])
        x0 = [sp.Rational((-1) ** i * (i + 1), 4) for i in range(n)]
        df = sp.expand(fx.subs({xs[i]: x0[i] + us[i] for i in range(n)}, simultaneous=True)
                       - fx.subs(dict(zip(xs, x0))))
        ball = sp.Rational(1, 4) - sum(u**2 for u in us)
        t0 = time.perf_counter()
        r = sos.prove_bound(df, [ball], us, 4, sense="upper")
        ours = time.perf_counter() - t0
        peer = "n/a"
        try:
            from SumOfSquares import poly_opt_prob

            t1 = time.perf_counter()
            prob = poly_opt_prob(us, -df, ineqs=[ball], deg=2)
            prob.solve(solver="cvxopt")
            peer = f"{-float(prob.value):.6f} in {time.perf_counter() - t1:.2f}s"
        except Exception as exc:  # pragma: no cover
            peer = f"{type(exc).__name__}"
        rows.append({"problem": f"variation on a ball, n={n}", "form": "putinar", "vars": n,
                     "ok": bool(r.ok and r.check()), "seconds": ours,
                     "solve_s": r.timings.get("solve_s"), "check_s": r.timings.get("check_s"),
                     "detail": (f"f(x0+u)-f(x0) <= {float(sp.Rational(r.bound)):.6f} (exact "
                                f"{r.bound}); SumOfSquares.py float bound {peer}")
                     if r.ok else r.reason[:70]})
    return rows


def eig(v):
    return "-" if v is None else f"{v:.1e}"


def fmt(v, nd=3):
    return "-" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def sweep_rows(dims: list, instances: int, delta: sp.Rational, z3_budget: int) -> list:
    from theorems.sharp import deciders, sos_case
    from theorems.sharp.nonconvex import nonconvex_sharp
    from verify.verdict import Status

    rows = []
    for dim in dims:
        for i in range(instances):
            fams = [(nonconvex_sharp(np.random.default_rng(100 * dim + i), dim), "2"),
                    (nonconvex_sharp(np.random.default_rng(100 * dim + i), dim, rotate=False),
                     "1" if (dim + i) % 2 == 0 else "inf")]
            for known, norm in fams:
                alpha = known.modulus[norm]
                for factor, want in ((1 - delta, Status.PROVED), (1 + delta, Status.REFUTED)):
                    for path in ("sos", "z3-only"):
                        t0 = time.perf_counter()
                        with sos_case.use_sos(path == "sos"):
                            v = deciders.decide_sharp(known.problem(norm), alpha * factor,
                                                      budget=z3_budget)
                        got = v.status
                        rows.append({"dim": dim, "norm": norm, "family": known.name,
                                     "alpha": str(alpha), "want": want.value, "path": path,
                                     "got": got.value, "seconds": time.perf_counter() - t0,
                                     "certificate": (v.certificate or {}).get("kind"),
                                     "method": v.method})
                        r = rows[-1]
                        print(f"sweep dim {dim} {norm:>3}-norm {want.value:8s} {path:7s} -> "
                              f"{r['got']:12s} {r['seconds']:6.2f}s {r['certificate']}",
                              flush=True)
    return rows


def sweep_table(rows: list) -> list:
    md = ["| dim | path | claims | decided | wrong | median s | max s | certificates |",
          "|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["dim"], r["path"]) for r in rows}) + \
        [("all", p) for p in sorted({r["path"] for r in rows})]
    for dim, path in keys:
        sel = [r for r in rows if r["path"] == path and (dim == "all" or r["dim"] == dim)]
        decided = sum(r["got"] == r["want"] for r in sel)
        wrong = sum(r["got"] in ("proved", "refuted") and r["got"] != r["want"] for r in sel)
        secs = [r["seconds"] for r in sel]
        kinds = sorted({r["certificate"] for r in sel if r["certificate"]})
        md.append(f"| {dim} | {path} | {len(sel)} | {decided}/{len(sel)} | {wrong} | "
                  f"{float(np.median(secs)):.2f} | {max(secs):.2f} | {', '.join(kinds)} |")
    return md


def run_sweep(args: argparse.Namespace) -> None:
    lo, hi = (int(v) for v in args.sweep_dims.split("-"))
    delta = sp.Rational(args.delta)
    t0 = time.perf_counter()
    rows = sweep_rows(list(range(lo, hi + 1)), args.sweep_instances, delta, args.z3_budget)
    total = time.perf_counter() - t0
    machine = f"{platform.platform()}, {platform.processor() or platform.machine()}, " \
              f"{os.cpu_count()} cores visible"
    md = ["# Nonconvex sharp-minimizer claims: SOS path vs z3-only path", "",
          f"Machine: {machine}. delta = {delta}, z3 budget {args.z3_budget} resource units "
          f"per claim (both paths), {args.sweep_instances} instance(s) per dimension and "
          f"family; total {total:.0f} s.", ""] + sweep_table(rows)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "sos_sweep.md").write_text("\n".join(md) + "\n")
    (out / "sos_sweep.json").write_text(json.dumps({"machine": machine, "delta": str(delta),
                                                    "z3_budget": args.z3_budget,
                                                    "total_s": total, "rows": rows}, indent=1))
    print("\n".join(md))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--no-large", action="store_true")
    parser.add_argument("--part", choices=("all", "peer", "sweep"), default="all")
    parser.add_argument("--sweep-dims", default="2-6")
    parser.add_argument("--sweep-instances", type=int, default=1)
    parser.add_argument("--delta", default="1/1000")
    parser.add_argument("--z3-budget", type=int, default=300_000)
    args = parser.parse_args()
    if args.part in ("all", "sweep"):
        run_sweep(args)
    if args.part == "sweep":
        return
    x = sp.symbols("x")
    run_ours(sp.expand((x**2 - 1) ** 2 + 1), [x])  # warm-up: imports, first compilation
    run_peer(sp.expand((x**2 - 1) ** 2 + 1), [x])
    rows = []
    for name, family, p, vs, is_sos in problems(args.seeds, not args.no_large):
        ours = run_ours(p, vs)
        peer = run_peer(p, vs)
        rows.append({"name": name, "family": family, "vars": len(vs), "sos": is_sos,
                     "ours": ours, "peer": peer})
        print(f"{name:28s} ours {'CERT' if ours['ok'] else 'fail'} {ours['seconds']:7.3f}s  "
              f"SoS.py {'CERT' if peer['ok'] else 'fail'} {peer['seconds']:7.3f}s "
              f"({peer['status']})", flush=True)
    wrong = [r["name"] for r in rows if not r["sos"] and (r["ours"]["ok"] or r["peer"]["ok"])]
    assert not wrong, f"a non-SOS polynomial was certified: {wrong}"  # would be a soundness bug
    prows = psatz_rows()
    for r in prows:
        print(f"{r['problem']:32s} {r['form']:8s} {'CERT' if r['ok'] else 'fail'} "
              f"{r['seconds']:6.2f}s {r['detail']}", flush=True)

    fams: dict = {}
    for r in rows:
        f = fams.setdefault(r["family"], {"n": 0, "ours_ok": 0, "peer_ok": 0, "ours_s": [],
                                          "peer_s": [], "ours_check_s": [], "vars": set(),
                                          "sos": r["sos"], "ours_basis": [], "peer_basis": []})
        f["vars"].add(r["vars"])
        f["n"] += 1
        f["ours_ok"] += r["ours"]["ok"]
        f["peer_ok"] += r["peer"]["ok"]
        f["ours_s"].append(r["ours"]["seconds"])
        f["peer_s"].append(r["peer"]["seconds"])
        if r["ours"].get("check_s") is not None:
            f["ours_check_s"].append(r["ours"]["check_s"])
        if r["ours"].get("basis"):
            f["ours_basis"].append(r["ours"]["basis"])
        if r["peer"].get("basis"):
            f["peer_basis"].append(r["peer"]["basis"])
    machine = (f"{platform.platform()}, {platform.processor() or platform.machine()}, "
               f"{os.cpu_count()} cores visible (2 shared with other jobs)")
    md = ["# Exact SOS certificates: numerics.sos vs SumOfSquares.py", "",
          f"Machine: {machine}. Python {platform.python_version()}.", "",
          "Ours: cvxpy + Clarabel, max-min-eigenvalue objective, Newton polytope basis, "
          "Peyrl-Parrilo rounding + exact projection + exact LDL^T, facial reduction on faces. "
          "SumOfSquares.py 1.3 (PICOS + CVXOPT, `sparse=True` Newton reduction, feasibility "
          "problem): its floating-point Gram matrix is put through our exact rounding and check "
          "(`round_sos_gram`). Certified = accepted by the exact checker. Times are wall-clock "
          "seconds: for ours, the whole search (basis, SDP, rounding, exact check); for "
          "SumOfSquares.py, model + solve only (its rounding time is in the JSON).", "",
          "## Per family (median seconds)", "",
          "| family | vars | SOS? | count | basis (ours/peer) | ours certified | ours median s "
          "| ours exact check median s | SoS.py certified after our rounding "
          "| SoS.py median s |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    med = lambda v: float(np.median(v)) if v else None  # noqa: E731
    for name, f in fams.items():
        nv = "-".join(str(v) for v in sorted({min(f["vars"]), max(f["vars"])}))
        md.append(f"| {name} | {nv} | {'yes' if f['sos'] else 'no'} | {f['n']} | "
                  f"{fmt(med(f['ours_basis']), 0)}/{fmt(med(f['peer_basis']), 0)} | "
                  f"{f['ours_ok']}/{f['n']} | {fmt(med(f['ours_s']))} | "
                  f"{fmt(med(f['ours_check_s']), 4)} | {f['peer_ok']}/{f['n']} | "
                  f"{fmt(med(f['peer_s']))} |")
    md += ["", "## Every polynomial", "",
           "| polynomial | ours | s | solve s | round s | check s | D | facial | SoS.py status "
           "| SoS.py s | SoS.py min eig | SoS.py Gram after our rounding |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        o, q = r["ours"], r["peer"]
        md.append(f"| {r['name']} | {'certified' if o['ok'] else 'no'} | {fmt(o['seconds'])} | "
                  f"{fmt(o.get('solve_s'))} | {fmt(o.get('round_s'))} | "
                  f"{fmt(o.get('check_s'), 4)} | {o.get('denominator', '-')} | "
                  f"{o.get('facial_steps', '-')} | {q['status'][:40]} | {fmt(q['seconds'])} | "
                  f"{eig(q.get('min_eig'))} | "
                  f"{'certified D=' + str(q['denominator']) if q['ok'] else 'no'} |")
    md += ["", "## Positivstellensatz (ours)", "",
           "| problem | form | vars | certified | s | solve s | check s | detail |",
           "|---|---|---|---|---|---|---|---|"]
    for r in prows:
        md.append(f"| {r['problem']} | {r['form']} | {r['vars']} | {'yes' if r['ok'] else 'no'} "
                  f"| {fmt(r['seconds'])} | {fmt(r['solve_s'])} | {fmt(r['check_s'], 4)} | "
                  f"{r['detail']} |")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "sos.md").write_text("\n".join(md) + "\n")
    (out / "sos.json").write_text(json.dumps({"machine": machine, "rows": rows,
                                              "psatz": prows}, indent=1, default=str))
    print("\n".join(md[:len(fams) + 10]))


if __name__ == "__main__":
    main()
