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
from competitions.core.layout import DEFAULT_DATA_DIR, DEFAULT_RUNS_DIR
from competitions.core.spec import CompetitionSpec
from competitions.pipeline.records import Run, Submission
from submissions.archives import Limits as ArchiveLimits


def competitions() -> dict[str, CompetitionSpec]:
    """Every competition compete knows: the built-ins, ./competitions.d/*.yaml and the spec files added."""
    return all_competitions()


def broken_spec_files() -> dict[str, str]:
    """Spec files of ./competitions.d/ that could not be read (path -> why); the others work as they are."""
    from competitions.catalog.spec_files import BROKEN

    all_competitions()
    return dict(BROKEN)


def competition(slug: str) -> CompetitionSpec:
    """One competition's spec (files, columns, metric, presets); CompeteError naming the known ones."""
    return get_competition(slug)


def add_spec_files(paths: Sequence[str | Path]) -> None:
    """Make the competitions of these spec files known to this process (and the DDP processes it starts)."""
    from competitions.catalog.spec_files import add_spec_files as add

    add(paths)


def list_competitions() -> pd.DataFrame:
    """The supported competitions: task, metric, id and target columns, classes, presets."""
    return pd.DataFrame([spec.summary() for spec in all_competitions().values()]).set_index("slug")


def demo_data(workdir: str | Path = "demo") -> tuple[Path, Path]:
    """The `compete demo` data: a miniature cifar-10 (real handwritten digits, Kaggle's layout) in
    WORKDIR/data/cifar-10, and the held-out labels of its test set; returns both paths."""
    from competitions.pipeline.demo import build_digits_competition

    return build_digits_competition(workdir)


def _settings(overrides: dict[str, Any] | None, **named: Any) -> dict[str, Any]:
    """The run settings these keyword arguments name (None: not set), then the dotted ``overrides``."""
    from competitions.core.settings import flatten

    folds = named.get("folds")
    if folds is not None and not isinstance(folds, str):
        named["folds"] = ",".join(map(str, folds))
    if named.get("resume") is False:
        named.pop("resume")
    return {**{k: v for k, v in named.items() if v is not None}, **flatten(overrides or {})}


def _configs(config: str | Path | Sequence[str | Path] | None) -> list[str | Path]:
    if config is None:
        return []
    return [config] if isinstance(config, (str, Path)) else list(config)


def _call(name: str, slug: str, **kwargs: Any) -> str:
    """How a run was asked for, for its history: the Python call."""
    shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if v not in (None, False, {}, ()))
    return f"competitions.{name}({slug!r}{', ' if shown else ''}{shown})"


def demo(workdir: str | Path = "demo", overrides: dict[str, Any] | None = None) -> dict:
    """`compete demo`: build the digits competition in WORKDIR, fit it (the cifar-10 ``demo`` preset, then
    ``overrides``), predict, and score against the held-out labels; the figures and paths (empty on DDP
    ranks other than 0)."""
    from competitions.pipeline.demo import run_demo

    return run_demo(workdir, overrides)


def resolve(slug: str, *, config: str | Path | Sequence[str | Path] | None = None, family: str | None = None,
            overrides: dict[str, Any] | None = None, command: str | None = None, **settings: Any):  # fmt: skip
    """The RunConfig a fit with these arguments would train with (``run.cfg``: every setting, resolved)."""
    from competitions.pipeline.run_config import resolve_run

    return resolve_run(get_competition(slug), _configs(config), family, _settings(overrides, **settings),
                       command or _call("fit", slug, config=config, family=family, overrides=overrides, **settings))  # fmt: skip


def options_parser(slug: str, *, config: str | Path | Sequence[str | Path] | None = None, family: str | None = None,
                   settings: dict[str, Any] | None = None, **parser_options: Any):  # fmt: skip
    """The jsonargparse parser of a fit's options for the family these configs choose (what `compete fit
    SLUG --help` prints and the command line's overrides are read with)."""
    from competitions.pipeline.run_config import options_parser as parser_for

    return parser_for(get_competition(slug), _configs(config), family, settings, **parser_options)


def fit(slug: str, *, config: str | Path | Sequence[str | Path] | None = None, family: str | None = None,
        overrides: dict[str, Any] | None = None, command: str | None = None, **settings: Any) -> Run | None:  # fmt: skip
    """Train every fold of an experiment and return the Run (None on DDP ranks other than 0).

    ``config``: a preset name (``debug``, ``default``, ...), a YAML file, or a list of them (later ones win);
    a stack preset fits every family and blends them. ``family``: a table's model family. ``overrides``:
    dotted settings, e.g. ``{"trainer.max_epochs": 3, "model.lr": 0.05, "data.batch_size": 64}``.
    ``settings``: data_dir, experiment, runs_dir, folds, n_folds, n_repeats, seed, resume, force, budget, budget_min_epochs,
    budget_ladder, on_gpu, logger, patience (as `compete fit`). ``command``: what the run's history records (the CLI passes its line).
    """
    from competitions.pipeline.stack import fit_or_stack

    return fit_or_stack(resolve(slug, config=config, family=family, overrides=overrides, command=command, **settings))


def tune_family(slug: str, *, config: str | Path | Sequence[str | Path] | None = None, family: str | None = None):
    """The family compete tune searches: the one asked for, else the one a config names, else lightgbm."""
    from competitions.pipeline.run_config import named_family

    spec = get_competition(slug)
    if family is None and "lightgbm" in spec.families and named_family(spec, _configs(config)) is None:
        return "lightgbm"
    return family


def tune(slug: str, *, family: str | None = None, trials: int | None = None, timeout: str | float | None = None,
         storage: str | None = None, study: str | None = None, config: str | Path | Sequence[str | Path] | None = None,
         overrides: dict[str, Any] | None = None, **settings: Any):  # fmt: skip
    """Search ``family``'s hyper-parameters with Optuna on the competition's folds; returns the result
    (``study``, ``best_value``, ``best_params``, ``preset``: a best.yaml that ``fit(config=...)`` takes).

    Budget: ``trials`` (finished or pruned trials of the study, whoever ran them) and/or ``timeout``
    (seconds, or "10m"). ``storage``: an Optuna storage URL (default: SQLite in RUNS_DIR/SLUG/tune-FAMILY).
    ``family`` defaults to lightgbm where the competition has model families.
    """
    from competitions.pipeline.fit_budget import parse_duration
    from competitions.pipeline.tune import tune as run_tune

    spec = get_competition(slug)
    family = tune_family(slug, config=config, family=family)
    run = resolve(slug, config=config, family=family, overrides=overrides, **settings)
    if "experiment" not in run.overrides:
        run = run.replace(experiment=f"tune-{run.family}")
    seconds = parse_duration(timeout, "timeout") if isinstance(timeout, str) else timeout
    return run_tune(spec, run.cfg, trials, seconds, storage, study)


def init(slug: str, data_dir: str | Path, *, metric: str | None = None, target: str | None = None,
         task: str | None = None, labels: str | None = None, out: str | Path | None = None,
         force: bool = False) -> tuple[Path, dict]:  # fmt: skip
    """Inspect a downloaded competition folder and write its spec file (default ./competitions.d/SLUG.yaml);
    returns (path, the spec as written). Undecided fields are FILL_ME: fit refuses until they are set."""
    from competitions.catalog.inference import propose_spec
    from competitions.catalog.spec_files import USER_SPEC_DIR, load_spec_file, write_spec_file
    from competitions.core.errors import RunExistsError

    if slug in COMPETITIONS:
        raise CompeteError(f"{slug} is built in; compete fit {slug} works as it is")
    path = Path(out) if out else Path(USER_SPEC_DIR) / f"{slug}.yaml"
    if path.exists() and not force:
        raise RunExistsError(f"{path} already exists; edit it, or set `force` to write it again")
    spec = propose_spec(slug, data_dir, metric, target, task, labels)
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
    from competitions.pipeline.predict import PredictOptions, predict_run

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
    from competitions.pipeline.ensemble import ensemble_runs

    return ensemble_runs(get_competition(slug), [_run_path(r) for r in runs], weights, name, data_dir)


def submit(slug: str, submission: Submission | str | Path, message: str, **options) -> dict:
    """Validate, check the daily limit, record in the ledger, upload with the Kaggle API and wait for the
    score; returns the ledger entry. ``submission``: what predict or ensemble returned, or a CSV path.
    ``options``: data_dir, runs_dir, dry_run, again, timeout, poll."""
    from competitions.pipeline.kaggle import submit_file

    path = submission.path if isinstance(submission, Submission) else submission
    return submit_file(get_competition(slug), path, message, **options)


def package(slug: str, runs: Sequence[Run | str | Path], out: str | Path, **options):
    """Make ``runs`` ready for a code competition: OUT/dataset (a Kaggle dataset of the runs' fold models,
    compete's wheel and the wheels Kaggle's image lacks) and OUT/notebook (an inference notebook with the
    internet off that writes submission.csv), then time a sample prediction and estimate Kaggle's runtime.
    A blend (ensemble, stack) packages its members and blends them as it did; several runs are blended with
    ``weights``. ``options``: owner, dataset, kernel, weights, name, with_packages, wheels_from, gpu
    (auto/on/off), max_dataset_gb, estimate, test_rows, force. Returns a Package (paths, bundle, estimate)."""
    from competitions.pipeline.package import PackageOptions, package_runs

    return package_runs(get_competition(slug), [_run_path(r) for r in runs], PackageOptions(out=Path(out), **options))


def push(slug: str, package, *, notes: str = "compete package", timeout: float = 3600.0, poll: float = 10.0) -> dict:
    """Upload a package with the Kaggle API: create its dataset (or a new version), push the notebook, wait
    until its run completes or fails, fetch its output and log. ``package``: what ``package`` returned, or
    its OUT folder. Returns the kernel's ref, version, status and the fetched files."""
    from competitions.pipeline.push import push_package

    folder = package.dataset.parent if hasattr(package, "dataset") else Path(package)
    return push_package(get_competition(slug), folder, notes, timeout, poll)


def predict_bundle(bundle: str | Path, *, data_dir: str | Path, working: str | Path = ".") -> Submission:
    """What a package's notebook runs: predict the competition in ``data_dir`` with the packaged runs in
    ``bundle`` (the dataset's folder), blend them as packaged, write WORKING/submission.csv."""
    from competitions.pipeline.packaged import predict_bundle as run

    return run(bundle, data_dir, working)


def submit_kernel(slug: str, kernel: str, version: int, message: str, **options) -> dict:
    """A code competition's submission: notebook ``kernel`` (OWNER/NAME) at ``version`` (what `compete package
    --push` printed), with the ledger, daily limit, lost-reply reconciliation and score wait of ``submit``.
    ``options``: file_name (the notebook's output, default submission.csv), runs_dir, dry_run, again, timeout, poll."""
    from competitions.pipeline.kaggle import submit_kernel as send

    return send(get_competition(slug), kernel, version, message, **options)


def submissions(slug: str, *, runs_dir: str | Path = DEFAULT_RUNS_DIR, offline: bool = False) -> pd.DataFrame:
    """The ledger of submission attempts, scores filled in from Kaggle's list (unless ``offline``), then
    Kaggle's submissions made elsewhere (the website, another machine: experiment "(not in ledger)")."""
    from competitions.pipeline.kaggle import list_submissions

    entries, remote = list_submissions(get_competition(slug), runs_dir, offline)
    known = {entry.get("ref") for entry in entries}
    elsewhere = [{"time": s.date, "experiment": "(not in ledger)", "file": s.file_name, "message": s.description,
                  "ref": ref, "status": s.status, "public_score": s.public_score or None, "error": s.error}
                 for ref, s in remote.items() if ref not in known]  # fmt: skip
    return pd.DataFrame([*entries, *elsewhere])


def data_ready(slug: str, data_dir: str | Path | None = None) -> bool:
    """Whether the competition folder (default data/SLUG) holds every file the competition ships."""
    from competitions.pipeline.kaggle import data_complete

    return data_complete(get_competition(slug), Path(data_dir or f"{DEFAULT_DATA_DIR}/{slug}"))


def download(slug: str, *, data_dir: str | Path | None = None, keep_archives: bool = False,
             limits: ArchiveLimits | None = None) -> Path:  # fmt: skip
    """Download and extract the competition with the Kaggle API (nothing to do when complete); its folder.
    ``limits``: an ArchiveLimits (unpacked bytes, members, unpacked/packed ratio)."""
    from competitions.pipeline.kaggle import download_competition

    data_dir = Path(data_dir or f"{DEFAULT_DATA_DIR}/{slug}")
    download_competition(get_competition(slug), data_dir, keep_archives, limits)
    return data_dir


def runs(slug: str, *, runs_dir: str | Path = DEFAULT_RUNS_DIR) -> pd.DataFrame:
    """The experiments of a competition, best first: CV, per-fold scores, public score, settings that differ."""
    from competitions.pipeline.runs import collect, runs_frame

    spec = get_competition(slug)
    experiments = collect(spec, Path(runs_dir))
    if not experiments:
        raise CompeteError(f"{Path(runs_dir) / slug}: no experiment with a cv.json yet; run compete fit")
    return runs_frame(spec, experiments)


def plot_runs(slug: str, *, runs_dir: str | Path = DEFAULT_RUNS_DIR):
    """A matplotlib Figure: CV against public score, per-fold scores, every fold's validation curve."""
    from competitions.pipeline.runs import collect, figure

    spec = get_competition(slug)
    experiments = collect(spec, Path(runs_dir))
    if not experiments:
        raise CompeteError(f"{Path(runs_dir) / slug}: no experiment with a cv.json yet; run compete fit")
    return _inline(figure(spec, experiments))


def show(slug: str, *, config: str | Path | Sequence[str | Path] | None = None, overrides: dict[str, Any] | None = None,
         n: int = 32, **settings: Any):  # fmt: skip
    """A matplotlib Figure of ``n`` augmented training images as training sees them (inline in Jupyter).
    ``settings``: data_dir, runs_dir, seed (as fit)."""
    from competitions.pipeline.show import figure_for_config

    spec = get_competition(slug)
    run = resolve(slug, config=config, overrides=overrides, **settings)
    return _inline(figure_for_config(spec, run.cfg, n))
