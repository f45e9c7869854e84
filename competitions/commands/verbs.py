"""The verbs: each parses its options, calls the Python API (and only it), and reports."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from competitions import api
from competitions.commands.parsing import add_data_dir, add_runs_dir, read_run_arguments, verb_parser
from competitions.commands.report import cv_table, ensemble_table, experiments_table, submissions_table
from competitions.core.artifacts import save_png
from competitions.core.console import cv_text, describe, info, out
from competitions.core.errors import CompeteError
from competitions.core.layout import DEFAULT_DATA_DIR, ledger_path
from competitions.core.spec import CompetitionSpec


def fit(spec: CompetitionSpec, argv: list[str]) -> None:
    args = read_run_arguments(spec, argv, "fit")
    run = api.fit(spec.slug, config=args.configs, family=args.family, overrides=args.overrides, command=args.command)
    if run is not None:  # rank 0 reports
        cv_table(spec, run.path, run.cv)


def init(argv: list[str]) -> int:
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(prog="compete init", exit_on_error=False,
                            description="Inspect a downloaded competition folder (sample submission, training CSV, "
                            "image folders) and write its spec, so compete fit/predict/submit work on it without "
                            "new code. Images and a labels CSV, one folder of images per class, pixel-column CSVs, "
                            "or a table (train and test CSVs: classification or regression).")  # fmt: skip
    parser.add_argument("slug", type=str, help="the competition's Kaggle slug")
    parser.add_argument("--data-dir", type=str, required=True, help="the unzipped competition folder")
    parser.add_argument("--metric", type=str | None, default=None,
                        help="the competition's metric (accuracy, log_loss, f1_micro, ...); unset: FILL_ME in the spec")  # fmt: skip
    parser.add_argument("--target", type=str | None, default=None, help="the label column, when init cannot tell")
    parser.add_argument("--task", type=Literal["classification", "regression"] | None, default=None,
                        help="a table's task, when its target's values would say otherwise (e.g. counts)")  # fmt: skip
    parser.add_argument("--labels", type=str | None, default=None,
                        help="images: the CSV of training ids and labels, when several CSVs have the id column")  # fmt: skip
    parser.add_argument("--out", type=str | None, default=None, help="the spec file (default: competitions.d/SLUG.yaml)")
    parser.add_argument("--force", action="store_true", help="write the spec again over an existing one")
    args = parser.parse_args(argv)
    path, spec = api.init(args.slug, args.data_dir, metric=args.metric, target=args.target, task=args.task,
                          labels=args.labels, out=args.out, force=args.force)  # fmt: skip
    out(path.read_text().rstrip())
    unfilled = [k for k, v in spec.items() if v == "FILL_ME"]
    if unfilled:
        info(f"wrote {path}: set {', '.join(unfilled)} (FILL_ME) before compete fit")
    else:
        presets = "stack, lightgbm, default" if spec.get("shape") == "tabular" else "fast, default"
        info(f"wrote {path}; next: compete fit {args.slug} --data-dir {args.data_dir} --config debug (or {presets})")
    return 0


def tune(spec: CompetitionSpec, argv: list[str]) -> None:
    def extra(parser) -> None:
        add = parser.add_argument
        add("--trials", type=int | None, default=None, help="stop when the study has this many finished or pruned trials")
        add("--timeout", type=str | None, default=None, help="stop starting trials after this long, e.g. 10m, 1h")
        add("--storage", type=str | None, default=None,
            help="an Optuna storage URL shared by several machines (default: SQLite in RUNS_DIR/SLUG/EXPERIMENT)")  # fmt: skip
        add("--study", type=str | None, default=None, help="the study's name (default: SLUG-FAMILY)")

    description = ("Search a model family's hyper-parameters with Optuna on the competition's folds (pruning "
                   "trials whose first folds are worse than the median), then write the best as a preset "
                   "(RUNS_DIR/SLUG/EXPERIMENT/best.yaml) for compete fit --config. Run it again to continue "
                   "the study. Takes compete fit's --family, --config, --data.* and --model.* options.")  # fmt: skip
    default = lambda configs, family: api.tune_family(spec.slug, config=configs, family=family)  # noqa: E731
    args = read_run_arguments(spec, argv, "tune", extra=extra, description=description, help_run_options=True,
                              choose_family=default)  # fmt: skip
    own = args.pop("trials", "timeout", "storage", "study")
    result = api.tune(spec.slug, config=args.configs, family=args.family, overrides=args.overrides, **own)
    family = result.family
    out(f"best pooled OOF {spec.metric.name} {result.best_value:.4f} of {result.trials_done} completed trials "
        f"({result.trials_pruned} more pruned): "
        + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.best_params.items()))
    out(f"preset: {result.preset}\n  compete fit {spec.slug} --config {result.preset} --experiment {family}-tuned")


def predict(spec: CompetitionSpec, argv: list[str]) -> None:
    parser = verb_parser("predict", spec, "Predict the test set with every fold of a run, average the folds, "
                         "write a validated submission.csv.")  # fmt: skip
    add = parser.add_argument
    add("--run", type=str, required=True, help=f"the run directory, e.g. runs/{spec.slug}/baseline")
    add("--data-dir", type=str | None, default=None, help="competition folder (default: the one the run was trained on)")
    add("--folds", type=str, default="all", help="folds to use: all, or e.g. 0,2")
    add("--checkpoint", type=Literal["best", "last"], default="best", help="which checkpoint of each fold")
    add("--tta", type=str | None, default=None,
        help="test-time views: the run's model.tta (default), none, auto (chosen on the out-of-fold predictions: a "
        "view group is kept only if it improves the pooled OOF score), or a list like hflip,five_crop")  # fmt: skip
    add("--calibrate", type=Literal["auto", "none"], default="auto",
        help="log-loss competitions: fit a temperature and a probability floor on the out-of-fold predictions and "
        "apply them to the test probabilities (auto); none keeps the raw probabilities")  # fmt: skip
    add("--trainer.accelerator", type=str | None, default=None, help="cpu, gpu, ... (default: the run's)")
    add("--trainer.devices", type=int | str, default=1, help="processes to predict with")
    add("--trainer.strategy", type=str, default="auto", help="ddp to predict with several processes")
    add("--trainer.precision", type=str | None, default=None, help="default: the run's")
    add("--threads", type=int | None, default=None,
        help="CPU threads per process (default: torch's choice; under DDP on CPU Lightning gives each process "
        "cores/processes). CPU kernels round differently with other thread counts: fix this to get bit-identical "
        "predictions from runs with different numbers of processes")  # fmt: skip
    add("--data.batch_size", type=int | None, default=None, help="default: the run's")
    add("--data.num_workers", type=int | None, default=None, help="default: the run's")
    args = parser.parse_args(argv)
    api.predict(args.run, slug=spec.slug, tta=args.tta, folds=args.folds, checkpoint=args.checkpoint,
                calibrate=args.calibrate, data_dir=args.data_dir, threads=args.threads,
                accelerator=args.trainer.accelerator, devices=args.trainer.devices, strategy=args.trainer.strategy,
                precision=args.trainer.precision, batch_size=args.data.batch_size,
                num_workers=args.data.num_workers)  # fmt: skip


def ensemble(spec: CompetitionSpec, argv: list[str]) -> None:
    parser = verb_parser("ensemble", spec, "Blend several experiments of one competition into one validated submission.")
    parser.add_argument("runs", type=str, nargs="+", help="run directories (after compete predict)")
    parser.add_argument("--weights", type=Literal["equal", "cv", "oof", "caruana", "linear", "auto"], default="oof",
                        help="equal; cv (by each member's pooled OOF score); oof (non-negative weights fitted on "
                        "the pooled OOF predictions); caruana (greedy selection with replacement on the metric); "
                        "linear (a second-level ridge / logistic model on the OOF predictions); "
                        "auto (caruana, oof or linear: the simplest within one standard error of the best nested OOF score)")  # fmt: skip
    parser.add_argument("--name", type=str, default="ensemble", help="output: RUNS_DIR/SLUG/NAME/")
    parser.add_argument("--data-dir", type=str | None, default=None, help="default: the first run's")
    args = parser.parse_args(argv)
    submission = api.ensemble(spec.slug, args.runs, weights=args.weights, name=args.name, data_dir=args.data_dir)
    ensemble_table(spec, submission.details, submission.path)


def validate(spec: CompetitionSpec, argv: list[str]) -> None:
    parser = verb_parser("validate", spec, "Check a submission CSV the way Kaggle would, against the sample submission.")
    parser.add_argument("file", type=str, help="the submission CSV")
    add_data_dir(parser, spec)
    args = parser.parse_args(argv)
    result = api.validate(spec.slug, args.file, data_dir=args.data_dir)
    out(f"{result.path}: valid {spec.slug} submission (checked against {result.sample})")


def submit(spec: CompetitionSpec, argv: list[str]) -> None:
    parser = verb_parser("submit", spec, "Validate, check the daily limit, upload with the Kaggle API, wait for the "
                         "score, and record the attempt in RUNS_DIR/SLUG/ledger.jsonl. A code competition: --kernel "
                         "OWNER/NAME --version N submits that notebook version's output instead of a file.")  # fmt: skip
    add = parser.add_argument
    add("file", type=str | None, nargs="?", default=None, help="the submission CSV, e.g. runs/SLUG/EXPERIMENT/submission.csv")
    add("-m", "--message", type=str, required=True, help="the submission's description on Kaggle")
    add("--kernel", type=str | None, default=None, help="code competitions: the notebook, OWNER/NAME")
    add("--version", type=int | None, default=None, help="code competitions: the notebook's version")
    add("--file-name", type=str, default="submission.csv", help="code competitions: the notebook's output file")
    add_data_dir(parser, spec)
    add_runs_dir(parser, "where the ledger lives (RUNS_DIR/SLUG)")
    add("--dry-run", action="store_true", help="validate and show what would be sent; no upload")
    add("--again", action="store_true", help="upload a file that was already submitted")
    add("--timeout", type=float, default=600.0, help="seconds to wait for the score")
    add("--poll", type=float, default=5.0, help="first wait between score checks (then x1.5, <= 60)")
    args = parser.parse_args(argv)
    common = {"runs_dir": args.runs_dir, "dry_run": args.dry_run, "again": args.again, "timeout": args.timeout,
              "poll": args.poll}  # fmt: skip
    if args.kernel is not None or args.version is not None:
        if args.file is not None or args.kernel is None or args.version is None:
            raise CompeteError("submit either a FILE, or a notebook with --kernel OWNER/NAME and --version N")
        entry = api.submit_kernel(spec.slug, args.kernel, args.version, args.message, file_name=args.file_name, **common)
    elif args.file is None:
        raise CompeteError(f"name the submission: compete submit {spec.slug} FILE.csv -m MESSAGE (or --kernel and --version)")
    else:
        entry = api.submit(spec.slug, args.file, args.message, data_dir=args.data_dir, **common)
    if entry["status"] == "dry-run":
        out(f"dry run: valid; would submit {describe(spec, entry)} to {spec.slug}; nothing sent")
    elif entry["status"] != "COMPLETE":
        info(f"still {entry['status']} after {args.timeout:g}s; `compete submissions {spec.slug}` shows it when scored")
    else:
        out(f"public score {entry['public_score']}  |  {cv_text(spec, entry['cv'])}  |  ref {entry['ref']}")


def package(spec: CompetitionSpec, argv: list[str]) -> None:
    parser = verb_parser("package", spec, "Make runs ready for a code competition (a notebook Kaggle runs offline "
                         "against a hidden test set): OUT/dataset, a Kaggle dataset of the runs' fold models, compete's "
                         "wheel and the wheels Kaggle's image lacks; OUT/notebook, an inference notebook (internet off) "
                         "that installs from those wheels only and writes submission.csv. Times a sample prediction and "
                         "estimates the notebook's runtime on Kaggle. --push uploads both and runs the notebook.")  # fmt: skip
    add = parser.add_argument
    add("--run", type=str, required=True, action="append",
        help="a run directory (after compete predict); a blend or stack packages its members; several are blended")  # fmt: skip
    add("--out", type=str, required=True, help="the folder of the package (OUT/dataset, OUT/notebook)")
    add("--owner", type=str | None, default=None, help="Kaggle user name (default: KAGGLE_USERNAME or kaggle.json's)")
    add("--dataset", type=str | None, default=None, help=f"the dataset's slug (default: compete-{spec.slug}-models)")
    add("--kernel", type=str | None, default=None, help=f"the notebook's slug (default: compete-{spec.slug}-inference)")
    add("--weights", type=Literal["equal", "cv", "oof", "caruana", "linear", "auto"], default="oof",
        help="several runs: how they are blended")  # fmt: skip
    add("--name", type=str, default="ensemble", help="several runs: the blend's experiment name")
    add("--with", type=str, default=[], action="append", dest="with_packages",
        help="also bundle this installed distribution's wheel (repeat for more)")  # fmt: skip
    add("--wheels", type=str | None, default=None, help="a folder of wheels to bundle before packing installed ones")
    add("--gpu", type=Literal["auto", "on", "off"], default="auto", help="the notebook's GPU (auto: as the runs trained)")
    add("--max-dataset-gb", type=float, default=100.0, help="refuse a package larger than this (Kaggle's limit)")
    add("--test-rows", type=int | None, default=None, help="the hidden test set's rows, for the runtime estimate")
    add("--no-estimate", action="store_true", help="skip the timed sample prediction")
    add("--force", action="store_true", help="write OUT again (its old contents go once the new package is there)")
    add("--push", action="store_true", help="then create or version the dataset, push the notebook, wait for its run "
        "and fetch its output (the real kaggle client)")  # fmt: skip
    add("--notes", type=str, default="compete package", help="--push: the dataset version's notes")
    add("--timeout", type=float, default=3600.0, help="--push: seconds to wait for the notebook's run")
    add("--poll", type=float, default=10.0, help="--push: first wait between status checks (then x1.5, <= 60)")
    args = parser.parse_args(argv)
    runs, extra = list(args.run), list(args.with_packages or [])
    made = api.package(spec.slug, runs, args.out, owner=args.owner, dataset=args.dataset, kernel=args.kernel,
                       weights=args.weights, name=args.name, with_packages=extra,
                       wheels_from=Path(args.wheels) if args.wheels else None, gpu=args.gpu,
                       max_dataset_gb=args.max_dataset_gb, estimate=not args.no_estimate, test_rows=args.test_rows,
                       force=args.force)  # fmt: skip
    if not args.push:
        out(f"{made.dataset}  (kaggle datasets create -p {made.dataset} --dir-mode zip)\n{made.notebook}  (kaggle "
            f"kernels push -p {made.notebook}); or run compete package again with --push")  # fmt: skip
        return
    push_package(spec, made, args)


def push_package(spec: CompetitionSpec, made, args) -> None:
    """`compete package ... --push`: refuse a package whose estimate is over the limit, then push it."""
    if made.estimate is not None and not made.estimate["fits"] and not args.force:
        raise CompeteError(f"{made.notebook}: the estimate ({made.estimate['kaggle_hours']:.1f} h) is over the "
                           f"competition's limit of {made.estimate['limit_hours']:g} h; not pushed (--force pushes anyway)")  # fmt: skip
    result = api.push(spec.slug, made, notes=args.notes, timeout=args.timeout, poll=args.poll)
    out(f"{result['kernel']} version {result['version']}: {result['status']}; output in {result['output']}\n"
        f"submit it: compete submit {spec.slug} --kernel {result['kernel']} --version {result['version']} -m MESSAGE")  # fmt: skip


def submissions(spec: CompetitionSpec, argv: list[str]) -> None:
    parser = verb_parser("submissions", spec, "The ledger of submission attempts, joined with Kaggle's list "
                         "(scores filled in when known).")  # fmt: skip
    add_runs_dir(parser)
    parser.add_argument("--offline", action="store_true", help="the ledger only; do not ask Kaggle")
    args = parser.parse_args(argv)
    ledger = ledger_path(args.runs_dir, spec.slug)
    table = api.submissions(spec.slug, runs_dir=args.runs_dir, offline=args.offline)
    submissions_table(spec, ledger, table)
    if table.empty:
        out(f"no submissions yet; `compete submit {spec.slug} FILE -m MESSAGE` records them in {ledger}")


def download(spec: CompetitionSpec, argv: list[str]) -> None:
    parser = verb_parser("download", spec, "Download the competition's files with the Kaggle API, unzip them (and "
                         "cifar-10's .7z archives), and check the layout. Does nothing when the folder is already complete.")  # fmt: skip
    parser.add_argument("--data-dir", type=str, default=f"{DEFAULT_DATA_DIR}/{spec.slug}", help="where the files go")
    parser.add_argument("--keep-archives", action="store_true", help="keep the .zip/.7z files after extracting")
    parser.add_argument("--max-gb", type=float, default=64.0, help="refuse an archive that unpacks to more (GiB)")
    parser.add_argument("--max-members", type=int, default=1_000_000, help="refuse an archive with more files")
    parser.add_argument("--max-ratio", type=float, default=200.0, help="refuse an archive that unpacks to more than "
                        "this many times its size (a zip bomb)")  # fmt: skip
    args = parser.parse_args(argv)
    if api.data_ready(spec.slug, args.data_dir):
        out(f"{args.data_dir}: already complete ({', '.join(spec.expected_files)}); nothing to download")
        return
    api.download(spec.slug, data_dir=args.data_dir, keep_archives=args.keep_archives,
                 limits=api.ArchiveLimits(int(args.max_gb * 2**30), args.max_members, args.max_ratio))  # fmt: skip
    out(f"{args.data_dir}: {spec.slug} ready ({', '.join(spec.expected_files)})")


def runs(spec: CompetitionSpec, argv: list[str]) -> None:
    parser = verb_parser("runs", spec, "Compare the experiments of a competition: CV, public scores and the settings "
                         "that differ.")  # fmt: skip
    add_runs_dir(parser)
    parser.add_argument("--plot", type=str | None, default=None,
                        help="also draw a PNG: CV vs public, per-fold scores, every fold's validation curve")  # fmt: skip
    args = parser.parse_args(argv)
    experiments_table(spec, api.runs(spec.slug, runs_dir=args.runs_dir))
    if args.plot:
        save_png(api.plot_runs(spec.slug, runs_dir=args.runs_dir), Path(args.plot))
        info(f"wrote {args.plot}")


def show(spec: CompetitionSpec, argv: list[str]) -> None:
    def extra(parser) -> None:
        parser.add_argument("--n", type=int, default=32, help="how many images")
        parser.add_argument("--out", type=str | None, default=None, help="PNG file (default: SLUG-augmented.png)")

    description = ("Draw a labelled grid of augmented training images as the DataModule (and mixup/CutMix) produce "
                   "them. Takes the same --config, --data.* and --model.* options as compete fit.")  # fmt: skip
    if spec.tabular:
        raise CompeteError(f"compete show draws image competitions; {spec.slug} is tabular")
    args = read_run_arguments(spec, argv, "show", extra=extra, description=description)
    own = args.pop("n", "out")
    figure = api.show(spec.slug, config=args.configs, overrides=args.overrides, n=own["n"] or 32)
    path = save_png(figure, own["out"] or f"{spec.slug}-augmented.png")
    info(f"wrote {path}")
