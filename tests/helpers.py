"""What the tests share: running `compete fit` (in this process or as a command), reading the one error line."""

from __future__ import annotations

import sys

from competitions.commands.cli import main


def fit(slug, data_dir, *extra: str, config: str | None = "debug") -> int:
    """`compete fit SLUG --config debug --data-dir DIR ...` in this process; its exit code."""
    return main(["fit", slug, *(["--config", config] if config else []), "--data-dir", str(data_dir), *extra])


def fit_command(slug, data_dir, *extra: str, config: str = "debug") -> list[str]:
    """The same as a command line for a subprocess."""
    return [sys.executable, "-m", "competitions", "fit", slug, "--config", config, "--data-dir", str(data_dir), *extra]


def error_line(capsys) -> str:
    """The single 'error:' line a failed command printed (and no traceback)."""
    err = capsys.readouterr().err.strip().splitlines()
    lines = [line for line in err if line.startswith("error:")]
    assert len(lines) == 1 and not any("Traceback" in line for line in err), err
    return lines[0]

