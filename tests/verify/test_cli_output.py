"""What the command line prints: user text as plain text, plain output off a terminal, tables
that fit, progress lines, --json everywhere, the options' conventions and the exit codes."""

import argparse
import io
import json
import re
import subprocess
import sys
import textwrap

import pytest
from rich.cells import cell_len

from verify import cli
from verify.console import Column, Output, shorten
from verify.session import ExitCode
from verify.store import Store

BOX = re.compile("[\u2500-\u257f\u2580-\u259f]")     # box drawing and block characters
ANSI = re.compile("\x1b\\[")


def sharpflat(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def conserved(claim_id, f="x**2 + y**2", q="x*y"):
    return textwrap.dedent(f"""
        [[claim]]
        id = {json.dumps(claim_id)}
        kind = "conserved-quantity"
        variables = ["x", "y"]
        f = "{f}"
        quantity = "{q}"
    """)


PROVED = dict(f="(x*y - 1)**2", q="x**2 - y**2")         # conserved; the default is not
MARKUP_IDS = ("a[/b]", "[bold red]x[/bold red]", ":smile:", "<b>html</b>")


@pytest.fixture
def marked(tmp_path):
    """A conjecture file whose ids look like Rich markup, emoji codes and HTML."""
    path = tmp_path / "marked.toml"
    path.write_text("".join(conserved(i, **PROVED) if n % 2 else conserved(i)
                            for n, i in enumerate(MARKUP_IDS)))
    return path


def test_user_text_is_printed_as_written_never_as_markup(capsys, tmp_path, marked):
    """Regression: an id `a[/b]` crashed `check` after its verdicts were stored (and `show` on
    that run from then on); `[bold red]x[/bold red]` was printed in colour."""
    db = tmp_path / "r.db"
    code, out, err = sharpflat(capsys, "check", marked, "--db", db)
    assert code == ExitCode.REFUTED, err
    for item in MARKUP_IDS:
        assert item in out
    code, out, err = sharpflat(capsys, "show", "latest", "--db", db)
    assert code == 0 and all(item in out for item in MARKUP_IDS), err
    code, out, err = sharpflat(capsys, "show", "latest", "a[/b]", "--db", db)
    assert code == 0 and "a[/b]" in out
    # the same table on a terminal: styled only where sharpflat styles it
    buf = io.StringIO()
    Output(stdout=buf, terminal=True, width=100).table(
        "t [/x]", cli.VERDICT_COLUMNS, [(i, "refuted", "m", "1.00", "[red]msg[/red]")
                                        for i in MARKUP_IDS])
    text = buf.getvalue()
    plain = ANSI.sub("", re.sub("\x1b\\[[0-9;]*m", "", text))
    for item in MARKUP_IDS + ("[red]msg[/red]", "t [/x]"):
        assert item in plain
    assert "\x1b[1;31mx" not in text and "\U0001f604" not in text


def test_error_messages_keep_their_brackets(capsys, tmp_path):
    """Regression: `no [[claim]] tables found` was printed as `no [] tables found`."""
    (tmp_path / "empty.toml").write_text("# nothing yet\n")
    code, out, err = sharpflat(capsys, "check", tmp_path / "empty.toml", "--db",
                               tmp_path / "r.db")
    assert code == ExitCode.NO_CHECKS and "no [[claim]] tables found" in err


def test_runs_shows_targets_with_brackets(capsys, tmp_path):
    """Regression: the target `theorems[sharp]` was shown as `theorems`."""
    db = tmp_path / "r.db"
    store = Store(db)
    store.finish_run(store.begin_run(command="run", target="theorems[sharp]"), "complete")
    store.close()
    code, out, err = sharpflat(capsys, "runs", "--db", db)
    assert code == 0 and "theorems[sharp]" in out


def test_plain_output_has_no_box_drawing_and_one_line_per_verdict(capsys, tmp_path, marked):
    db = tmp_path / "r.db"
    code, out, err = sharpflat(capsys, "check", marked, "--db", db)
    for stream in (out, err):
        assert not BOX.search(stream) and not ANSI.search(stream)
    lines = out.splitlines()
    for item in MARKUP_IDS:
        assert sum(line.startswith(item + " ") for line in lines) == 1, out
    # progress off a terminal: one line per finished claim (id, status, seconds)
    progress = [line for line in err.splitlines() if re.match(r"\[\d/4\] ", line)]
    assert len(progress) == 4
    assert all(re.search(r" (proved|refuted)  \d+\.\d s$", line) for line in progress)
    for command in (("runs",), ("show", "latest"), ("list", "--module", "tiny_checks"),
                    ("kinds",)):
        code, out, err = sharpflat(capsys, *command, "--db", db) if command[0] in (
            "runs", "show") else sharpflat(capsys, *command)
        assert code == 0 and not BOX.search(out + err) and not ANSI.search(out + err)


def test_conjecture_files_keep_their_order(capsys, tmp_path):
    path = tmp_path / "order.toml"
    ids = ["zeta", "alpha", "mid", "beta"]
    bad = '\n[[claim]]\nid = "beta"\nkind = "conserved-quantity"\nvariables = ["x"]\n'
    path.write_text(conserved("zeta") + conserved("alpha") + conserved("mid") + bad)
    db = tmp_path / "r.db"
    code, out, err = sharpflat(capsys, "check", path, "--db", db, "--workers", "2",
                               "--json", tmp_path / "v.json")
    assert code == ExitCode.ERROR          # beta lacks f and quantity
    for text in (out, sharpflat(capsys, "show", "latest", "--db", db)[1]):
        rows = [line.split()[0] for line in text.splitlines() if line.split()
                and line.split()[0] in ids]
        assert rows == ids
    assert [v["id"] for v in json.loads((tmp_path / "v.json").read_text())] == ids


def test_terminal_tables_fit_the_width_and_cut_only_with_an_ellipsis():
    rows = [("a-rather-long-claim-identifier", "inconclusive", "exact", "interval subdivision with "
             "the mean-value form", "12.34", "word " * 80)]
    for width in (60, 100, 160):
        buf = io.StringIO()
        Output(stdout=buf, terminal=True, width=width).table("title", cli.VERDICT_COLUMNS,
                                                              rows)
        lines = re.sub("\x1b\\[[0-9;]*m", "", buf.getvalue()).splitlines()
        assert lines and max(cell_len(line) for line in lines) <= width
        assert "…" in buf.getvalue()            # the 400-character message was cut, visibly
    buf = io.StringIO()
    Output(stdout=buf, terminal=False, verbose=True).table("t", cli.VERDICT_COLUMNS, rows)
    assert ("word " * 80).strip() in buf.getvalue()      # --verbose: never cut
    assert shorten("a b\nc", 10) == "a b c" and shorten("x" * 20, 10) == "x" * 9 + "…"


def test_progress_bar_on_a_terminal(tmp_path):
    err = io.StringIO()
    output = Output(stderr=err, terminal=True, width=80)
    with output.progress(2, "check") as progress:
        progress.start("first")
        progress.finished("first", "proved", 0.5)
        progress.finished("second", "refuted", 0.5)
    assert "[1/2]" not in err.getvalue() and "2/2" in err.getvalue()
    quiet = io.StringIO()
    with Output(stderr=quiet, quiet=True).progress(1) as progress:
        progress.finished("x", "proved", 1.0)
    assert quiet.getvalue() == ""


def test_json_dash_is_standard_output_on_every_command(capsys, tmp_path, monkeypatch):
    """Regression: `--json -` wrote a file named `-`."""
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "r.db"
    (tmp_path / "c.toml").write_text(conserved("one", **PROVED))
    code, out, err = sharpflat(capsys, "check", "c.toml", "--db", db, "--json", "-")
    assert code == 0 and [v["id"] for v in json.loads(out)] == ["one"]
    assert not (tmp_path / "-").exists()
    assert "one" in err and "1 proved" in err          # the summary went to standard error
    assert "run 1: 1 claim from c.toml" in err
    for command in (("list", "--module", "tiny_checks"), ("kinds",), ("runs", "--db", db),
                    ("show", "latest", "--db", db), ("show", "latest", "one", "--db", db),
                    ("recheck", "latest", "--db", db), ("report", "--db", db)):
        code, out, err = sharpflat(capsys, *command, "--json", "-")
        assert code == 0, (command, err)
        json.loads(out)
        code, out, err = sharpflat(capsys, *command, "--json", tmp_path / "o.json")
        assert code == 0
        json.loads((tmp_path / "o.json").read_text())
    assert not (tmp_path / "-").exists()
    code, out, err = sharpflat(capsys, "check", "c.toml", "--db", db, "--json", "c.toml")
    assert code == ExitCode.USAGE and "overwrite" in err


def _subcommands(parser):
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_every_option_has_help_and_names_its_default(capsys):
    parser = cli.build_parser()
    codes = [f"\n  {code.value}  " for code in ExitCode]
    assert all(c in parser.format_help() for c in codes)
    for name, sub in _subcommands(parser).items():
        text = sub.format_help()
        assert "exit status:" in text and all(c in text for c in codes), name
        assert "5  nothing selected" in text
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, (name, action.dest)
            # a default of 0 is a default too (0 == False: compared by identity)
            if not (action.default is None or action.default is False
                    or action.default == argparse.SUPPRESS):
                assert f"(default: {action.default})" in " ".join(text.split()), \
                    (name, action.dest)
        for option in ("--quiet", "--verbose", "--debug", "--json"):
            assert option in text, (name, option)


def test_version(capsys):
    code, out, err = sharpflat(capsys, "--version")
    assert code == 0 and re.fullmatch(r"sharpflat \S+\n", out)


def test_quiet_and_verbose(capsys, tmp_path):
    db = tmp_path / "r.db"
    args = ("run", "--module", "tiny_checks", "--only", "tiny.ok*", "--db", db)
    code, out, err = sharpflat(capsys, *args, "--quiet")
    assert code == 0 and err == "" and out.strip() == "1 evidence  1 proved"
    code, out, err = sharpflat(capsys, *args, "--verbose")
    assert "started tiny.ok.identity" in err and "tiny.ok.identity" in out
    code, out, err = sharpflat(capsys, "list", "--module", "tiny_checks", "-q")
    assert out.split() == ["tiny.bad.crash", "tiny.bad.raises", "tiny.bad.refuted",
                           "tiny.full.gpu", "tiny.ok.identity", "tiny.ok.sampled",
                           "tiny.par.rendezvous", "tiny.slow.sleep"]
    code, out, err = sharpflat(capsys, "--quiet", "runs", "--db", db)   # before the command
    assert out.split() == ["2", "1"]
    assert sharpflat(capsys, "runs", "-q", "-v", "--db", db)[0] == ExitCode.USAGE


def test_a_closed_pipe_ends_quietly(cli_env, tmp_path):
    """`sharpflat list | head` exits without a BrokenPipeError."""
    proc = subprocess.Popen([sys.executable, "-m", "verify", "list", "--module",
                             "tiny_checks"], env=cli_env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()                  # the reader is gone before anything is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and err == ""


def test_a_failure_of_sharpflat_itself_exits_3_in_one_line(capsys, monkeypatch):
    """Regression: an unexpected exception exited 1 (the code of "refuted") with a traceback."""
    from verify import registry

    def broken(packages):
        raise TypeError("boom in discovery")

    monkeypatch.setattr(registry, "discover", broken)
    code, out, err = sharpflat(capsys, "list")
    assert code == ExitCode.ERROR == 3 and "Traceback" not in err
    assert "TypeError: boom in discovery" in err and "--debug" in err
    assert len(err.strip().splitlines()) == 1
    code, out, err = sharpflat(capsys, "list", "--debug")
    assert code == 3 and "Traceback" in err and "boom in discovery" in err


def test_a_json_file_that_cannot_be_written(capsys, tmp_path, monkeypatch):
    """Regression: `--json` under a file, or on a full disk, was "a bug in sharpflat" (exit 3)
    after the whole run. A path that cannot be written is refused before anything runs; a
    write that fails after the run says so and where the verdicts are."""
    import errno
    import pathlib

    monkeypatch.chdir(tmp_path)
    db = tmp_path / "r.db"
    (tmp_path / "c.toml").write_text(conserved("one", **PROVED))
    (tmp_path / "afile").write_text("")
    (tmp_path / "afolder").mkdir()
    for target, message in (("afile/v.json", "afile is not a writable folder"),
                            ("afolder", "is a folder")):
        for command in (("check", "c.toml"), ("run", "--module", "tiny_checks", "--only",
                                              "tiny.ok.identity")):
            code, out, err = sharpflat(capsys, *command, "--db", db, "--json", target)
            assert code == ExitCode.USAGE and message in err, err
    assert not db.exists()                                   # nothing ran
    code, out, err = sharpflat(capsys, "check", "c.toml", "--db", db, "--json", "new/v.json")
    assert code == 0 and json.loads((tmp_path / "new/v.json").read_text())[0]["id"] == "one"

    def full(self, target):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "replace", full)
    code, out, err = sharpflat(capsys, "check", "c.toml", "--db", db, "--json", "v.json")
    assert code == ExitCode.USAGE and "Traceback" not in err
    assert "cannot write the JSON file v.json (No space left on device)" in err
    assert "sharpflat show 2 --json -" in err and not (tmp_path / "v.json.tmp").exists()
    code, out, err = sharpflat(capsys, "runs", "--db", db, "--json", "r.json")
    assert code == ExitCode.USAGE and "cannot write the JSON file r.json" in err
    code, out, err = sharpflat(capsys, "report", "--db", db, "--out", "afile/r.html")
    assert code == ExitCode.USAGE and "cannot write the report to afile/r.html" in err
