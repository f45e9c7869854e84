"""The `compete` command: `compete <verb> SLUG [options]`.

Verbs parse their own options (jsonargparse), so `compete fit cifar-10 --help` lists every
trainer/model/data setting of that competition. Errors the user can fix end with one line on
stderr and a non-zero exit code (see competitions/errors.py).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from competitions.errors import CompeteError

USAGE = """usage: compete <verb> [SLUG] [options]

From Kaggle's downloaded files to a validated, fold-ensembled submission.

verbs:
  list                      the supported competitions, their metric and presets
  fit SLUG [options]        k-fold training          compete fit cifar-10 --data-dir data/cifar-10 --config debug
  predict SLUG --run DIR    fold-ensembled test predictions + validated submission.csv
                                                     compete predict cifar-10 --run runs/cifar-10/baseline
  ensemble SLUG RUN RUN...  blend experiments (--weights equal|cv|oof) into one validated submission
                                                     compete ensemble cifar-10 runs/cifar-10/a runs/cifar-10/b
  validate SLUG FILE        check a submission CSV as Kaggle would  compete validate cifar-10 runs/cifar-10/baseline/submission.csv
  download SLUG             Kaggle API download + unzip (+ .7z) + layout check   compete download classify-leaves
  submit SLUG FILE -m MSG   validate, check today's limit, upload, wait for the public score, record it in the ledger
                                                     compete submit cifar-10 runs/cifar-10/baseline/submission.csv -m "resnet18"
  submissions SLUG          the ledger joined with Kaggle's list      compete submissions cifar-10
  runs SLUG [--plot F.png]  the experiments, best first: CV, public score, what differs   compete runs cifar-10
  show SLUG [--n 32]        a grid of augmented training images as training sees them
                                                     compete show classify-leaves --model.cutmix_alpha=1
  demo [--workdir DIR]      a miniature cifar-10 from scikit-learn's digits: fit, predict, score (~2 min on CPU)

`compete <verb> --help` explains a verb; `compete fit SLUG --help` lists every option of SLUG,
including the dotted overrides --trainer.*, --model.*, --data.* .
exit codes: 0 ok, 1 usage or run error, 2 bad option, 3 bad competition data, 4 run exists, 5 invalid submission,
            6 Kaggle refused, failed or could not be reached
"""

VERB_HELP = {
    "fit": "usage: compete fit SLUG [--config PRESET|FILE] [--data-dir D] [--experiment NAME] [--folds all|0,2] "
    "[--resume] [--trainer.* --model.* --data.*]\n\nrun `compete fit SLUG --help` for every option of SLUG",
    "predict": "usage: compete predict SLUG --run DIR [--data-dir D] [--folds all|0,2] [--checkpoint best|last]\n\n"
    "run `compete predict SLUG --help` for every option",
    "validate": "usage: compete validate SLUG FILE.csv [--data-dir D]",
    "ensemble": "usage: compete ensemble SLUG RUN_DIR RUN_DIR... [--weights equal|cv|oof] [--name NAME]",
    "download": "usage: compete download SLUG [--data-dir D] [--keep-archives]",
    "submit": "usage: compete submit SLUG FILE.csv -m MESSAGE [--dry-run] [--again] [--data-dir D] [--timeout S]",
    "submissions": "usage: compete submissions SLUG [--runs-dir DIR] [--offline]",
    "runs": "usage: compete runs SLUG [--runs-dir DIR] [--plot FILE.png]",
    "show": "usage: compete show SLUG [--data-dir D] [--n 32] [--out FILE.png] [--config PRESET] [--data.* --model.*]",
}


def _cmd_list(argv: list[str]) -> int:
    from rich.console import Console
    from rich.table import Table

    from competitions.registry import COMPETITIONS

    table = Table(title="competitions")
    columns = ["slug", "task", "metric", "id", "target", "classes", "submission", "presets"]
    for column in columns:
        table.add_column(column, no_wrap=column in ("slug", "metric", "presets"))
    for spec in COMPETITIONS.values():
        summary = spec.summary()
        table.add_row(*(str(summary[c]) for c in columns))
    Console(width=None if sys.stdout.isatty() else 180).print(table)
    return 0


def _with_slug(run: Callable[..., object], verb: str) -> Callable[[list[str]], int]:
    def command(argv: list[str]) -> int:
        if not argv or argv[0].startswith("-"):
            print(VERB_HELP[verb], file=sys.stdout if argv and argv[0] in ("-h", "--help") else sys.stderr)
            from competitions.registry import COMPETITIONS

            print(f"\ncompetitions: {', '.join(COMPETITIONS)}")
            return 0 if argv and argv[0] in ("-h", "--help") else 2
        from competitions.registry import get_competition

        spec = get_competition(argv[0])
        run(spec, argv[1:])
        return 0

    return command


def _cmd_fit(argv: list[str]) -> int:
    from competitions.fit import run_fit

    return _with_slug(run_fit, "fit")(argv)


def _cmd_predict(argv: list[str]) -> int:
    from competitions.predict import run_predict

    return _with_slug(run_predict, "predict")(argv)


def _cmd_ensemble(argv: list[str]) -> int:
    from submissions.blend import run_ensemble

    return _with_slug(run_ensemble, "ensemble")(argv)


def verb_parser(verb: str, spec, description: str):
    """The parser of `compete VERB SLUG`: errors raise (and become one line and exit 2), never exit()."""
    from jsonargparse import ArgumentParser

    return ArgumentParser(prog=f"compete {verb} {spec.slug}", description=description, exit_on_error=False)


def _submission_verb(name: str) -> Callable[[list[str]], int]:
    def command(argv: list[str]) -> int:
        from submissions import commands

        return _with_slug(getattr(commands, f"run_{name}"), name)(argv)

    return command


def _lazy(module: str, function: str, verb: str) -> Callable[[list[str]], int]:
    import importlib

    return _with_slug(getattr(importlib.import_module(module), function), verb)


def _cmd_demo(argv: list[str]) -> int:
    from competitions.demo import run_demo_cli

    return run_demo_cli(argv)


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "list": _cmd_list,
    "fit": _cmd_fit,
    "predict": _cmd_predict,
    "ensemble": _cmd_ensemble,
    "validate": _submission_verb("validate"),
    "download": _submission_verb("download"),
    "submit": _submission_verb("submit"),
    "submissions": _submission_verb("submissions"),
    "runs": lambda argv: _lazy("competitions.runs", "run_runs", "runs")(argv),
    "show": lambda argv: _lazy("competitions.show", "run_show", "show")(argv),
    "demo": _cmd_demo,
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    verb, rest = argv[0], argv[1:]
    if verb not in COMMANDS:
        print(f"compete: unknown verb {verb!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    os.environ.setdefault("WANDB_SILENT", "true")
    _quiet_library_noise()
    try:
        return COMMANDS[verb](rest)
    except CompeteError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted: finished folds and files are intact; continue with --resume", file=sys.stderr)
        return 130
    except Exception as err:  # argument and Lightning configuration errors: one line, not a traceback
        if _is_user_error(err):
            message = str(err)
            if len(message) > 400:  # long library messages: their first line says what is wrong
                message = message.splitlines()[0]
            print(f"error: {message}", file=sys.stderr)
            return 2
        raise


def _quiet_library_noise() -> None:
    """Drop messages from libraries that say nothing about the user's run."""
    import logging
    import warnings

    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    # Each fold directory holds its logs beside the checkpoints; that is by design.
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")

    class _NoAdverts(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "litlogger" not in record.getMessage()

    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch"):
        logging.getLogger(name).addFilter(_NoAdverts())


def _is_user_error(err: Exception) -> bool:
    from jsonargparse import ArgumentError

    try:
        from lightning.fabric.utilities.exceptions import MisconfigurationException
    except ImportError:  # pragma: no cover
        MisconfigurationException = ()  # noqa: N806
    return isinstance(err, (ArgumentError, MisconfigurationException))


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
