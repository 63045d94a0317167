"""The README's first session prints what the tool prints: its files are decided again and the
statuses, methods and exit codes must match the excerpts."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _session_blocks() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## A first session", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S)


def _rows(console: str) -> dict[str, tuple[str, str]]:
    """item -> (status, method) of the table rows in a console excerpt."""
    rows = {}
    for line in console.splitlines():
        m = re.match(r"(\S+)\s+(proved|refuted|certified|evidence|inconclusive|error)\s+"
                     r"(?:(?:exact|solvers|probabilistic)\s+)?(.+?)\s+\d+\.\d\d\s", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


def test_the_first_session_excerpts_match_the_tool(cli_env, tmp_path):
    blocks = _session_blocks()
    toml = next(body for lang, body in blocks if lang == "toml")
    script = next(body for lang, body in blocks if lang == "python")
    (tmp_path / "first.toml").write_text(toml)
    (tmp_path / "first.py").write_text(script)
    consoles = [body for lang, body in blocks if lang == "console"]
    checked = 0
    for console in consoles:
        for command in re.findall(r"^\$ sharpflat (check \S+(?: --failed)?)$", console, re.M):
            if command.endswith("--failed"):
                continue          # it needs the edited file and the store of the steps before
            args = command.split()
            res = subprocess.run([sys.executable, "-m", "verify", *args, "--db",
                                  str(tmp_path / "r.db")], cwd=tmp_path, env=cli_env,
                                 capture_output=True, text=True, timeout=600)
            shown = _rows(console.split(f"$ sharpflat {command}", 1)[1].split("$ ", 1)[0])
            assert shown and _rows(res.stdout) == shown, (command, res.stdout, res.stderr)
            want_code = 1 if any(s == "refuted" for s, _ in shown.values()) else 0
            assert res.returncode == want_code
            checked += 1
    assert checked == 2


def _section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_the_python_api_example_runs_and_recheck_accepts_its_json(cli_env, tmp_path):
    """The notebook API section: its script runs on torch objects, prints the statuses the
    README shows, and `sharpflat recheck` accepts the JSON it writes."""
    section = _section("From Python and notebooks")
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S)
    script = next(body for lang, body in blocks if lang == "python")
    console = next(body for lang, body in blocks if lang == "console")
    (tmp_path / "certify_digits.py").write_text(script)
    env = dict(cli_env, OMP_NUM_THREADS="1")   # the script's own training, as in a quiet shell
    res = subprocess.run([sys.executable, "certify_digits.py"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    shown = console.split("$ python certify_digits.py\n", 1)[1].split("$ ", 1)[0]
    statuses = [line.split()[:2] for line in shown.splitlines() if line.startswith("model.")]
    assert [line.split()[:2] for line in res.stdout.splitlines()
            if line.startswith("model.")] == statuses
    bound = [line.split()[0] for line in shown.splitlines() if not line.startswith("model.")]
    assert [line.split()[0] for line in res.stdout.splitlines()
            if not line.startswith("model.")] == bound
    assert (tmp_path / "certificate.html").read_text().count("data:image/png;base64") >= 4
    command, expected = re.search(r"^\$ sharpflat (recheck \S+)\n(.*)$", console, re.M).groups()
    res = subprocess.run([sys.executable, "-m", "verify", *command.split()], cwd=tmp_path,
                         env=cli_env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip() == expected.strip()
