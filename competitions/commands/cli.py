"""The `compete` command: `compete <verb> SLUG [options]`.

Verbs parse their own options (jsonargparse), so `compete fit cifar-10 --help` lists every
trainer/model/data setting of that competition. Errors the user can fix end with one line on
stderr and a non-zero exit code (see competitions/core/errors.py).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable

from competitions.core.errors import CompeteError
from competitions.core.interrupts import counting_interrupts, interrupts_received, terminated

USAGE = """usage: compete <verb> [SLUG] [options]

From Kaggle's downloaded files to a validated, fold-ensembled submission.

verbs:
  list [--spec FILE]        the supported competitions (built in, ./competitions.d/*.yaml, --spec), metric, presets
  init SLUG --data-dir D    inspect a competition's files (images + labels CSV, a folder per class, pixel CSVs, multi-label
                            tags, train/test tables) and write its spec: competitions.d/SLUG.yaml
                                                     compete init titanic --data-dir data/titanic --metric accuracy
  fit SLUG [options]        k-fold training          compete fit cifar-10 --data-dir data/cifar-10 --config debug
                            tables: --family mlp|tabm|lightgbm|catboost|ridge (linear for init's tables), or --config stack (blended)
  tune SLUG --family F      Optuna on the folds (--trials N, --timeout 10m) -> a best.yaml preset for fit
                                                     compete tune california-house-prices --family lightgbm --trials 50
  predict SLUG --run DIR    fold-ensembled test predictions + validated submission.csv
                                                     compete predict cifar-10 --run runs/cifar-10/baseline
  ensemble SLUG RUN RUN...  blend experiments (--weights equal|cv|oof) into one validated submission
                                                     compete ensemble cifar-10 runs/cifar-10/a runs/cifar-10/b
  validate SLUG FILE        check a submission CSV as Kaggle would  compete validate cifar-10 runs/cifar-10/baseline/submission.csv
  download SLUG             Kaggle API download + unzip (+ .7z) + layout check   compete download classify-leaves
  submit SLUG FILE -m MSG   validate, check today's limit, upload, wait for the public score, record it in the ledger
                                                     compete submit cifar-10 runs/cifar-10/baseline/submission.csv -m "resnet18"
  package SLUG --run DIR --out D   a code competition's offline inference: a Kaggle dataset (fold models, wheels) and a
                            notebook (internet off) that writes submission.csv; --push uploads and runs it on Kaggle
                                                     compete package cifar-10 --run runs/cifar-10/baseline --out pkg --push
  submissions SLUG          the ledger joined with Kaggle's list      compete submissions cifar-10
  runs SLUG [--plot F.png]  the experiments, best first: CV, public score, what differs   compete runs cifar-10
  show SLUG [--n 32]        a grid of augmented training images as training sees them
                                                     compete show classify-leaves --model.cutmix_alpha=1
  demo [--workdir DIR]      a miniature cifar-10 from scikit-learn's digits: fit, predict, score (~2 min on CPU)

`compete <verb> --help` explains a verb; `compete fit SLUG --help` lists the options of SLUG (the dotted
--model.*, --data.* and the common --trainer.* overrides); `compete fit SLUG --help-all` lists every one.
Python: `from competitions import fit, predict, ...` calls the same functions (see README, "Python API").
exit codes: 0 ok, 1 usage or run error, 2 bad option, 3 bad competition data, 4 run exists, 5 invalid submission,
            6 Kaggle refused, failed or could not be reached
"""

VERB_HELP = {
    "fit": "usage: compete fit SLUG [--config PRESET|FILE] [--data-dir D] [--experiment NAME] [--folds all|0,2] "
    "[--resume] [--trainer.* --model.* --data.*]\n\nrun `compete fit SLUG --help` for every option of SLUG",
    "tune": "usage: compete tune SLUG [--family lightgbm|catboost|ridge] [--trials N] [--timeout 10m] [--storage URL] "
    "[--config PRESET|FILE] [--data-dir D] [--model.* --data.*]\n\nrun `compete tune SLUG --help` for every option",
    "predict": "usage: compete predict SLUG --run DIR [--data-dir D] [--folds all|0,2] [--checkpoint best|last]\n\n"
    "run `compete predict SLUG --help` for every option",
    "validate": "usage: compete validate SLUG FILE.csv [--data-dir D]",
    "ensemble": "usage: compete ensemble SLUG RUN_DIR RUN_DIR... [--weights equal|cv|oof] [--name NAME]",
    "download": "usage: compete download SLUG [--data-dir D] [--keep-archives]",
    "submit": "usage: compete submit SLUG FILE.csv -m MESSAGE [--dry-run] [--again] [--data-dir D] [--timeout S]\n"
    "       compete submit SLUG --kernel OWNER/NAME --version N -m MESSAGE   (a code competition's notebook)",
    "package": "usage: compete package SLUG --run DIR [--run DIR ...] --out D [--owner NAME] [--push] [--with PKG]\n\n"
    "run `compete package SLUG --help` for every option",
    "submissions": "usage: compete submissions SLUG [--runs-dir DIR] [--offline]",
    "runs": "usage: compete runs SLUG [--runs-dir DIR] [--plot FILE.png]",
    "show": "usage: compete show SLUG [--data-dir D] [--n 32] [--out FILE.png] [--config PRESET] [--data.* --model.*]",
}


# What a Ctrl-C leaves, and how to go on, per verb.
INTERRUPTED = {
    "fit": "finished folds and files are intact; continue with --resume",
    "predict": "the run's earlier predictions and submission are as they were; run compete predict again",
    "tune": "finished trials are in the study; run the same command again to continue it",
    "ensemble": "no file was left half-written; run compete ensemble again",
    "submit": "the attempt is in the ledger; run the same command again: it looks for the file in Kaggle's list "
    "first and uploads only if Kaggle does not have it",
    "download": "run compete download again (the download starts over)",
    "demo": "run compete demo again (the data is reused)",
    "init": "no spec file was written; run compete init again",
    "package": "no package folder was left half-written; run compete package again (a push already started "
    "continues on Kaggle: `compete package ... --push` versions it again)",
}


def _list(argv: list[str]) -> int:
    from competitions import api
    from competitions.commands.report import competitions_table

    competitions_table(api.competitions().values(), api.broken_spec_files())
    return 0


def _init(argv: list[str]) -> int:
    from competitions.commands.verbs import init

    return init(argv)


def take_spec_files(argv: list[str]) -> list[str]:
    """Take every ``--spec FILE`` out of argv; the files join the spec files of this process (and of the
    DDP processes it starts)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--spec", action="append", default=[])
    known, rest = parser.parse_known_args(argv)
    if known.spec:
        from competitions import api

        api.add_spec_files(known.spec)
    return rest


def _with_slug(verb: str) -> Callable[[list[str]], int]:
    """``compete VERB SLUG ...``: look up SLUG, then run the verb of competitions.commands.verbs."""

    def command(argv: list[str]) -> int:
        from competitions import api

        if not argv or argv[0].startswith("-"):
            asked = bool(argv) and argv[0] in ("-h", "--help")
            print(VERB_HELP[verb], file=sys.stdout if asked else sys.stderr)
            print(f"\ncompetitions: {', '.join(api.competitions())}")
            return 0 if asked else 2
        from competitions.commands import verbs

        getattr(verbs, verb)(api.competition(argv[0]), argv[1:])
        return 0

    return command


def _demo(argv: list[str]) -> int:
    from competitions.commands.demo import demo

    return demo(argv)


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "list": _list,
    "init": _init,
    **{verb: _with_slug(verb) for verb in VERB_HELP},
    "demo": _demo,
}


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["fit"]:  # a shell's `compete fit`: --budget counts from now on
        from competitions.core.clock import count_from_process_start

        count_from_process_start()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    verb, rest = argv[0], argv[1:]
    if verb not in COMMANDS:
        print(f"compete: unknown verb {verb!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    os.environ.setdefault("WANDB_SILENT", "true")
    start = interrupts_received()
    try:
        with counting_interrupts():
            return COMMANDS[verb](take_spec_files(rest))
    except KeyboardInterrupt:
        return _interrupted(verb)
    except Exception as err:
        if interrupts_received() > start:  # a library turned the Ctrl-C into an error of its own
            return _interrupted(verb)
        return _error_line(err)


def _interrupted(verb: str) -> int:
    """The interrupt's line; exit 130 for Ctrl-C, 143 for SIGTERM (as a shell reports them)."""
    word, code = ("terminated (SIGTERM)", 143) if terminated() else ("interrupted", 130)
    print(f"{word}: {INTERRUPTED.get(verb, 'no file was left half-written')}", file=sys.stderr)
    return code


def _error_line(err: Exception) -> int:
    """One line and the exit code for an error the user can fix; anything else is raised (a bug). Notes
    the pipeline added (``stack family mlp``) come first."""
    where = "".join(f"{note}: " for note in getattr(err, "__notes__", []))
    if isinstance(err, CompeteError):
        print(f"error: {where}{cli_words(str(err))}", file=sys.stderr)
        return err.exit_code
    if isinstance(err, OSError) and err.filename is not None:  # a file or folder that cannot be read or written
        print(f"error: {where}{err.filename}: {err.strerror or err}", file=sys.stderr)
        return 1
    if _is_user_error(err):  # argument and Lightning configuration errors: one line, not a traceback
        print(f"error: {where}{one_line(str(err))}", file=sys.stderr)
        return 2
    raise err


def cli_words(message: str) -> str:
    """Library messages name settings as they are called in the API and config files (`n_folds`,
    `model.pretrained_path`); on the command line they are options (--n-folds, --model.pretrained_path)."""

    def flag(match: re.Match) -> str:
        name = match.group(1)
        return f"--{name if '.' in name else name.replace('_', '-')}"

    return re.sub(r"`([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)?)`", flag, message)


def one_line(message: str) -> str:
    """A configuration error in one line: which option, the value given, and what is allowed."""
    key = re.search(r'Parser key "([^"]+)"', message)
    given = re.search(r"(?:Given|Got) value: (.*)", message)
    if key and given:
        allowed = []
        for literal in re.findall(r"Literal\[([^\]]*)\]", message):
            allowed += [item.strip().strip("'\"") for item in literal.split(",")]
        for kind in re.findall(r"Expected a <class '(\w+)'>", message):
            allowed.append({"NoneType": "null", "int": "an integer", "float": "a number", "bool": "true/false",
                            "str": "text"}.get(kind, kind))  # fmt: skip
        allowed = list(dict.fromkeys(allowed))  # once each, in order
        choices = f"; allowed: {', '.join(allowed)}" if allowed else ""
        return f"--{key.group(1)}={given.group(1).strip()} is not a valid value{choices}"
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return " ".join(lines) if len(message) <= 400 else lines[0]  # long library messages: the first line says it


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
