"""The Python API: the functions the `compete` verbs call, for notebooks and scripts.

    from competitions import fit, predict, validate, ensemble, submit, runs, show
    run = fit("cifar-10", data_dir="data/cifar-10", config="debug", overrides={"trainer.max_epochs": 3})
    run.cv["oof"], run.oof.head(), run.path
    submission = predict(run)                # validated submission.csv; submission.frame is what was written
    runs("cifar-10")                         # a DataFrame, best first
    show("cifar-10", data_dir="data/cifar-10")   # a matplotlib Figure (inline in Jupyter)

Errors raise the project's exceptions (competitions.core.errors: DataError, RunExistsError,
SubmissionError, KaggleError, all CompeteError); the CLI turns each into one line and an exit code.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from competitions.catalog import COMPETITIONS, all_competitions, get_competition
from competitions.core.errors import CompeteError
from competitions.core.layout import DEFAULT_RUNS_DIR
from competitions.pipeline.results import Run, Submission


def list_competitions() -> pd.DataFrame:
    """The supported competitions: task, metric, id and target columns, classes, presets."""
    return pd.DataFrame([spec.summary() for spec in all_competitions().values()]).set_index("slug")


def demo_data(workdir: str | Path = "demo") -> tuple[Path, Path]:
    """The `compete demo` data: a miniature cifar-10 (real handwritten digits, Kaggle's layout) in
    WORKDIR/data/cifar-10, and the held-out labels of its test set; returns both paths."""
    from competitions.pipeline.demo import build_digits_competition

    return build_digits_competition(workdir)


def fit_argv(
    *,
    data_dir: str | Path | None = None,
    experiment: str | None = None,
    config: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    runs_dir: str | Path | None = None,
    folds: str | Sequence[int] | None = None,
    n_folds: int | None = None,
    seed: int | None = None,
    resume: bool = False,
    logger: str | None = None,
    patience: int | None = None,
) -> list[str]:
    """The `compete fit` options that say the same as these keyword arguments."""
    from competitions.pipeline.config import overrides_to_argv

    if folds is not None and not isinstance(folds, str):
        folds = ",".join(map(str, folds))
    named = {"--config": config, "--data-dir": data_dir, "--experiment": experiment, "--runs-dir": runs_dir,
             "--folds": folds, "--n-folds": n_folds, "--seed": seed, "--logger": logger, "--patience": patience}  # fmt: skip
    argv = [f"{flag}={value}" for flag, value in named.items() if value is not None]
    return [*argv, *(["--resume"] if resume else []), *overrides_to_argv(overrides)]


def fit(slug: str, *, data_dir: str | Path | None = None, experiment: str | None = None,
        config: str | Path | None = None, overrides: dict[str, Any] | None = None, args: Sequence[str] = (),
        **options) -> Run | None:  # fmt: skip
    """Train every fold of an experiment and return the Run (None on DDP ranks other than 0).

    ``config``: a preset name (``debug``, ``default``, ...) or a YAML file. ``overrides``: dotted
    settings, e.g. ``{"trainer.max_epochs": 3, "model.lr": 0.05, "data.batch_size": 64}``.
    ``options``: runs_dir, folds, n_folds, seed, resume, logger, patience (as `compete fit`).
    ``args``: `compete fit` command-line options, appended last (what the verb passes).
    """
    from competitions.pipeline.stacking import fit_or_stack

    spec = get_competition(slug)
    argv = [*fit_argv(data_dir=data_dir, experiment=experiment, config=config, overrides=overrides, **options), *args]
    return fit_or_stack(spec, argv)


def tune(slug: str, *, family: str = "lightgbm", trials: int | None = None, timeout: str | float | None = None,
         storage: str | None = None, study: str | None = None, data_dir: str | Path | None = None,
         experiment: str | None = None, config: str | Path | None = None, overrides: dict[str, Any] | None = None,
         args: Sequence[str] = (), **options):  # fmt: skip
    """Search ``family``'s hyper-parameters with Optuna on the competition's folds; returns the result
    (``study``, ``best_value``, ``best_params``, ``preset``: a best.yaml that ``fit(config=...)`` takes).

    Budget: ``trials`` (finished or pruned trials of the study, whoever ran them) and/or ``timeout``
    (seconds, or "10m"). ``storage``: an Optuna storage URL (default: SQLite in RUNS_DIR/SLUG/tune-FAMILY).
    """
    from competitions.pipeline.budget import parse_duration
    from competitions.pipeline.config import parse_fit_args
    from competitions.pipeline.tuning import tune as run_tune

    spec = get_competition(slug)
    argv = [*fit_argv(data_dir=data_dir, experiment=experiment or f"tune-{family}", config=config,
                      overrides=overrides, **options), f"--family={family}", *args]  # fmt: skip
    _, cfg = parse_fit_args(spec, argv)
    seconds = parse_duration(timeout, "timeout") if isinstance(timeout, str) else timeout
    return run_tune(spec, cfg, trials, seconds, storage, study)


def init(slug: str, data_dir: str | Path, *, metric: str | None = None, target: str | None = None,
         task: str | None = None, out: str | Path | None = None, force: bool = False) -> tuple[Path, dict]:  # fmt: skip
    """Inspect a downloaded competition folder and write its spec file (default ./competitions.d/SLUG.yaml);
    returns (path, the spec as written). Undecided fields are FILL_ME: fit refuses until they are set."""
    from competitions.catalog.spec_files import USER_SPEC_DIR, load_spec_file, write_spec_file
    from competitions.core.errors import RunExistsError
    from competitions.pipeline.inspection import propose_spec

    if slug in COMPETITIONS:
        raise CompeteError(f"{slug} is built in; compete fit {slug} works as it is")
    path = Path(out) if out else Path(USER_SPEC_DIR) / f"{slug}.yaml"
    if path.exists() and not force:
        raise RunExistsError(f"{path} already exists; edit it, or set `force` to write it again")
    spec = propose_spec(slug, data_dir, metric, target, task)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_spec_file(path, spec)
    load_spec_file(path)  # what was written loads
    return path, spec


def _inline(figure):
    """In Jupyter, make a returned matplotlib Figure display as a picture (without pyplot, so it is shown
    once, as the cell's value)."""
    import sys

    if "IPython" in sys.modules:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            from IPython.core.pylabtools import print_figure
            from matplotlib.figure import Figure

            shell.display_formatter.formatters["image/png"].for_type(Figure, lambda f: print_figure(f, "png"))
    return figure


def _run_path(run: Run | str | Path) -> Path:
    return run.path if isinstance(run, Run) else Path(run)


def _slug_of(run: Run | str | Path, slug: str | None) -> str:
    if slug:
        return slug
    if isinstance(run, Run):
        return run.slug
    parent = _run_path(run).resolve().parent.name
    if parent in COMPETITIONS or parent in all_competitions():
        return parent
    raise CompeteError(f"{run}: cannot tell the competition from the path; pass slug=")


def predict(run: Run | str | Path, *, slug: str | None = None, tta: str | list[str] | None = None, **options) -> Submission | None:
    """Predict the test set with every fold of ``run``, average the folds, write and validate submission.csv.

    ``tta``: None (the run's recipe), "none", "auto" (chosen on the OOF predictions) or view names.
    ``options``: folds, checkpoint (best/last), calibrate (auto/none), data_dir, accelerator, devices,
    strategy, precision, threads, batch_size, num_workers.
    """
    from competitions.pipeline.predicting import PredictOptions, predict_run

    spec = get_competition(_slug_of(run, slug))
    return predict_run(spec, _run_path(run), PredictOptions(tta=tta, **options))


def validate(slug: str, path: str | Path, *, data_dir: str | Path | None = None):
    """Check a submission CSV as Kaggle would; returns a Validation (raises SubmissionError when invalid)."""
    from competitions.pipeline.kaggle import validate_path

    return validate_path(get_competition(slug), path, data_dir)


def ensemble(slug: str, runs: Sequence[Run | str | Path], *, weights: str = "oof", name: str = "ensemble",
             data_dir: str | Path | None = None) -> Submission:  # fmt: skip
    """Blend experiments (after predict) into RUNS_DIR/SLUG/NAME/submission.csv; ``submission.details``
    holds each member's OOF score and weight and the blend's."""
    from competitions.pipeline.ensembling import ensemble_runs

    return ensemble_runs(get_competition(slug), [_run_path(r) for r in runs], weights, name, data_dir)


def submit(slug: str, path: str | Path, message: str, **options) -> dict:
    """Validate, check the daily limit, record in the ledger, upload with the Kaggle API and wait for the
    score; returns the ledger entry. ``options``: data_dir, runs_dir, dry_run, again, timeout, poll."""
    from competitions.pipeline.kaggle import submit_file

    return submit_file(get_competition(slug), path, message, **options)


def submissions(slug: str, *, runs_dir: str | Path = DEFAULT_RUNS_DIR, offline: bool = False) -> pd.DataFrame:
    """The ledger of submission attempts, scores filled in from Kaggle's list (unless ``offline``)."""
    from competitions.pipeline.kaggle import list_submissions

    entries, _ = list_submissions(get_competition(slug), runs_dir, offline)
    return pd.DataFrame(entries)


def download(slug: str, *, data_dir: str | Path | None = None, keep_archives: bool = False, limits=None) -> Path:
    """Download and extract the competition with the Kaggle API (nothing to do when complete); its folder.
    ``limits``: a ``submissions.archives.Limits`` (unpacked bytes, members, unpacked/packed ratio)."""
    from competitions.pipeline.kaggle import download_competition

    data_dir = Path(data_dir or f"data/{slug}")
    download_competition(get_competition(slug), data_dir, keep_archives, limits)
    return data_dir


def runs(slug: str, *, runs_dir: str | Path = DEFAULT_RUNS_DIR) -> pd.DataFrame:
    """The experiments of a competition, best first: CV, per-fold scores, public score, settings that differ."""
    from competitions.pipeline.experiments import collect, runs_frame

    spec = get_competition(slug)
    experiments = collect(spec, Path(runs_dir))
    if not experiments:
        raise CompeteError(f"{Path(runs_dir) / slug}: no experiment with a cv.json yet; run compete fit")
    return runs_frame(spec, experiments)


def plot_runs(slug: str, *, runs_dir: str | Path = DEFAULT_RUNS_DIR):
    """A matplotlib Figure: CV against public score, per-fold scores, every fold's validation curve."""
    from competitions.pipeline.experiments import collect, figure

    spec = get_competition(slug)
    experiments = collect(spec, Path(runs_dir))
    if not experiments:
        raise CompeteError(f"{Path(runs_dir) / slug}: no experiment with a cv.json yet; run compete fit")
    return _inline(figure(spec, experiments))


def show(slug: str, *, data_dir: str | Path | None = None, config: str | Path | None = None,
         overrides: dict[str, Any] | None = None, n: int = 32, runs_dir: str | Path | None = None, seed: int | None = None):  # fmt: skip
    """A matplotlib Figure of ``n`` augmented training images as training sees them (inline in Jupyter)."""
    from competitions.pipeline.config import parse_fit_args
    from competitions.pipeline.pictures import figure_for_config

    spec = get_competition(slug)
    argv = fit_argv(data_dir=data_dir, config=config, overrides=overrides, runs_dir=runs_dir, seed=seed)
    _, cfg = parse_fit_args(spec, argv, prog=f"show({slug!r})")
    return _inline(figure_for_config(spec, cfg, n))
