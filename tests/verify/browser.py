"""The headless browser of the report tests: Chromium where it is installed (Debian's
`chromium`; .ci/run installs it), else the test is skipped with the reason."""

import shutil

import pytest

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium() -> str:
    """The path of a Chromium-family browser, or skip the calling test saying why."""
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no headless browser installed (chromium: apt-get install chromium; CI's "
                ".ci/run installs it)")


def flags(tmp_path) -> list[str]:
    """Headless flags, with a profile of the test's own (two browsers never share one)."""
    return ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-extensions", f"--user-data-dir={tmp_path / 'profile'}"]
