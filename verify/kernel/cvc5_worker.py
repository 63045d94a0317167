"""A cvc5 process of the kernel's own: one SMT-LIB2 text per line of JSON on standard input,
one answer per line on standard output.

cvc5 runs in a process apart because its cylindrical algebraic coverings do not always stop at
their resource or time limits; the kernel kills the process when its wall-clock safety net
fires (the text then counts as not confirmed) and starts a new one for the next text.
"""

from __future__ import annotations

import json
import sys


def check(text: str, rlimit: int) -> str:
    import cvc5

    tm = cvc5.TermManager()
    s = cvc5.Solver(tm)
    # coverings only (no incremental linearization): complete for nonlinear real arithmetic,
    # and much faster than the default mix on the case-split sharpness queries
    s.setOption("nl-cov", "true")
    s.setOption("nl-ext", "none")
    s.setOption("rlimit-per", str(int(rlimit)))
    parser = cvc5.InputParser(s)
    parser.setStringInput(cvc5.InputLanguage.SMT_LIB_2_6, text, "sharpflat")
    symbols = parser.getSymbolManager()
    result = "unknown (no answer)"
    while True:
        command = parser.nextCommand()
        if command.isNull():
            break
        out = command.invoke(s, symbols)
        if out and out.strip():
            result = out.strip()
    return result


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = check(request["text"], request["rlimit"])
        except Exception as exc:  # noqa: BLE001 - a parse error is an answer, not a crash
            answer = f"unknown (error: {type(exc).__name__}: {exc})"
        sys.stdout.write(json.dumps({"result": answer}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
