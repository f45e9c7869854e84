"""What the command-line tests share: running `compete fit` with a debug preset, reading the one error line."""

from __future__ import annotations

from competitions.commands.cli import main


def fit(slug, data_dir, *extra: str) -> int:
    return main(["fit", slug, "--config", "debug", "--data-dir", str(data_dir), *extra])


def error_line(capsys) -> str:
    """The single 'error:' line a failed command printed (and no traceback)."""
    err = capsys.readouterr().err.strip().splitlines()
    lines = [line for line in err if line.startswith("error:")]
    assert len(lines) == 1 and not any("Traceback" in line for line in err), err
    return lines[0]
