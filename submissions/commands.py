"""`compete validate`, `compete submit`, `compete submissions` and `compete download`."""

from __future__ import annotations

import json
import sys
import time
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from jsonargparse import ArgumentParser

from competitions.cli import verb_parser
from competitions.errors import CompeteError, DataError
from competitions.spec import CompetitionSpec
from submissions.kaggle_api import Kaggle, KaggleError, Submission
from submissions.ledger import earlier_uploads, ledger_path, read_ledger, record, sha256
from submissions.validate import validate_file


# ---- where a submission file comes from ----------------------------------------------------
def run_of(path: Path) -> Path | None:
    """The run directory holding ``path`` (runs/<slug>/<experiment>/submission.csv), if any."""
    for folder in [path.parent, *path.parent.parents][:3]:
        if (folder / "config.yaml").is_file():
            return folder
    return None


def data_dir_for(spec: CompetitionSpec, path: Path, data_dir: str | None) -> Path:
    if data_dir:
        return Path(data_dir)
    run = run_of(path)
    if run is not None:
        from competitions.artifacts import read_yaml

        recorded = (read_yaml(run / "config.yaml") or {}).get("data_dir")
        if recorded:
            return Path(recorded)
    return Path("data") / spec.slug


def cv_of(path: Path) -> dict | None:
    run = run_of(path)
    if run is None or not (run / "cv.json").is_file():
        return None
    return json.loads((run / "cv.json").read_text())


def validate(spec: CompetitionSpec, path: Path, data_dir: Path) -> None:
    """Check ``path`` against the competition's sample submission (and its classes) in ``data_dir``."""
    sample = data_dir / spec.sample_submission
    if not sample.is_file():
        raise DataError(f"{sample}: not found; pass --data-dir, the competition folder with {spec.sample_submission}")
    classes = spec.classes
    if spec.task == "classification" and not classes:  # classify-leaves: the labels of train.csv
        classes = spec.datamodule_class()(data_dir=str(data_dir)).class_names
    validate_file(spec, path, sample, classes)


def _common(parser: ArgumentParser, spec: CompetitionSpec) -> None:
    parser.add_argument(
        "--data-dir",
        type=str | None,
        default=None,
        help=f"the competition folder (default: the run's, else data/{spec.slug})",
    )


# ---- compete validate --------------------------------------------------------------------
def run_validate(spec: CompetitionSpec, argv: list[str]) -> None:
    parser = verb_parser(
        "validate", spec, "Check a submission CSV the way Kaggle would, against the sample submission."
    )
    parser.add_argument("file", type=str, help="the submission CSV")
    _common(parser, spec)
    args = parser.parse_args(argv)
    path = Path(args.file)
    data_dir = data_dir_for(spec, path, args.data_dir)
    validate(spec, path, data_dir)
    print(f"{path}: valid {spec.slug} submission (checked against {data_dir / spec.sample_submission})")


# ---- compete submit ----------------------------------------------------------------------
def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cv_text(spec: CompetitionSpec, cv: dict | None) -> str:
    if not cv:
        return "no CV score (not a compete run)"
    return f"CV {spec.metric.name} {cv['mean']:.4f} ± {cv['std']:.4f} (pooled OOF {cv['oof']:.4f})"


def run_submit(spec: CompetitionSpec, argv: list[str]) -> None:
    parser = verb_parser(
        "submit",
        spec,
        "Validate, check the daily limit, upload with the Kaggle API, wait for the score, "
        "and record the attempt in RUNS_DIR/SLUG/ledger.jsonl.",
    )
    parser.add_argument("file", type=str, help="the submission CSV, e.g. runs/SLUG/EXPERIMENT/submission.csv")
    parser.add_argument("-m", "--message", type=str, required=True, help="the submission's description on Kaggle")
    _common(parser, spec)
    parser.add_argument("--runs-dir", type=str, default="runs", help="where the ledger lives (RUNS_DIR/SLUG)")
    parser.add_argument("--dry-run", action="store_true", help="validate and show what would be sent; no upload")
    parser.add_argument("--again", action="store_true", help="upload a file that was already submitted")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the score")
    parser.add_argument("--poll", type=float, default=5.0, help="first wait between score checks (then x1.5, <= 60)")
    args = parser.parse_args(argv)
    path = Path(args.file)
    data_dir = data_dir_for(spec, path, args.data_dir)
    validate(spec, path, data_dir)
    digest = sha256(path)
    run = run_of(path)
    cv = cv_of(path)
    ledger = ledger_path(args.runs_dir, spec.slug)
    earlier = earlier_uploads(ledger, digest)
    if earlier and not args.again:
        last = earlier[-1]
        raise CompeteError(
            f"{path}: this exact file (sha256 {digest[:12]}) was already submitted on {last['time']} "
            f"(ref {last.get('ref') or '?'}, status {last['status']}); see `compete submissions {spec.slug}`, "
            "or pass --again to upload it once more"
        )
    entry = {
        "attempt": f"{_now()}-{uuid.uuid4().hex[:8]}",
        "time": _now(),
        "slug": spec.slug,
        "file": str(path),
        "sha256": digest,
        "bytes": path.stat().st_size,
        "experiment": run.name if run else None,
        "cv": {k: cv[k] for k in ("metric", "mean", "std", "oof")} if cv else None,
        "message": args.message,
        "ref": None,
        "status": "checking",
        "public_score": None,
        "error": None,
    }
    summary = f"{path} ({entry['bytes']} bytes, sha256 {digest[:12]}), {_cv_text(spec, cv)}, message {args.message!r}"
    if args.dry_run:
        print(f"dry run: valid; would submit {summary} to {spec.slug}; nothing sent")
        return
    try:
        client = Kaggle(spec.slug)
        left = client.submissions_left()
        if left <= 0:
            raise KaggleError(f"no submissions left today on {spec.slug} (Kaggle's daily limit); nothing uploaded")
        entry["status"] = "uploading"
        record(ledger, entry)  # before the upload: a crash now still blocks an accidental second upload
        entry["ref"] = client.submit(path, args.message)
        entry["status"] = "submitted"
        record(ledger, entry)
        print(
            f"submitted {summary}: ref {entry['ref']} ({left - 1} left today); waiting for the score", file=sys.stderr
        )
        result = wait_for_score(client, entry["ref"], args.timeout, args.poll)
    except CompeteError as err:
        entry["status"] = "error" if entry["status"] in ("checking", "uploading") else entry["status"]
        entry["error"] = str(err)
        record(ledger, entry)
        raise
    entry["status"] = result.status
    entry["public_score"] = result.public_score or None
    entry["error"] = result.error or None
    record(ledger, entry)
    if result.status == "ERROR":
        raise KaggleError(f"Kaggle could not score submission {entry['ref']}: {result.error or 'no reason given'}")
    if result.status != "COMPLETE":
        print(
            f"still {result.status} after {args.timeout:g}s; `compete submissions {spec.slug}` shows it when scored",
            file=sys.stderr,
        )
        return
    print(f"public score {result.public_score}  |  {_cv_text(spec, cv)}  |  ref {entry['ref']}")
    if run is not None:
        from competitions.tracking import log_quietly

        log_quietly(run, {"public_score": _number(result.public_score), "public_ref": entry["ref"]})


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def wait_for_score(client: Kaggle, ref: int, timeout: float, poll: float):
    """Poll the submission list until ``ref`` is COMPLETE or ERROR (bounded, with backoff)."""
    deadline = time.monotonic() + timeout
    wait = max(0.0, poll)
    while True:
        found = next((s for s in client.submissions() if s.ref == ref), None)
        if found is not None and found.status in ("COMPLETE", "ERROR"):
            return found
        if time.monotonic() + wait > deadline:
            return found or Submission(ref, "PENDING", "", "", "", "", "", "")
        time.sleep(wait)
        wait = min(60.0, wait * 1.5)


# ---- compete submissions -----------------------------------------------------------------
def run_submissions(spec: CompetitionSpec, argv: list[str]) -> None:
    parser = verb_parser(
        "submissions",
        spec,
        "The ledger of submission attempts, joined with Kaggle's list (scores filled in when known).",
    )
    parser.add_argument("--runs-dir", type=str, default="runs")
    parser.add_argument("--offline", action="store_true", help="the ledger only; do not ask Kaggle")
    args = parser.parse_args(argv)
    ledger = ledger_path(args.runs_dir, spec.slug)
    entries = read_ledger(ledger)
    remote: dict[int, object] = {}
    if not args.offline:
        try:
            remote = {s.ref: s for s in Kaggle(spec.slug).submissions()}
        except KaggleError as err:
            print(f"warning: {err}; showing the ledger only", file=sys.stderr)
    # A score learnt now is written back to the ledger.
    for entry in entries:
        found = remote.get(entry.get("ref"))
        if found is not None and (entry.get("status"), entry.get("public_score")) != (
            found.status,
            found.public_score or None,
        ):
            entry.update(status=found.status, public_score=found.public_score or None, error=found.error or None)
            record(ledger, entry)
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{spec.slug}: submissions ({ledger})")
    for column in ("time", "experiment", "file", "sha256", "CV", "message", "ref", "status", "public", "error"):
        table.add_column(column, no_wrap=column in ("time", "sha256", "ref"))
    known = set()
    for entry in entries:
        known.add(entry.get("ref"))
        cv = entry.get("cv")
        table.add_row(
            entry.get("time", ""),
            entry.get("experiment") or "-",
            Path(entry.get("file", "")).name,
            entry.get("sha256", "")[:12],
            f"{cv['mean']:.4f}" if cv else "-",
            entry.get("message", ""),
            str(entry.get("ref") or "-"),
            entry.get("status", ""),
            entry.get("public_score") or "-",
            (entry.get("error") or "")[:60],
        )
    for ref, sub in remote.items():
        if ref not in known:  # made elsewhere (the website, another machine)
            table.add_row(sub.date, "(not in ledger)", sub.file_name, "-", "-", sub.description, str(ref),
                          sub.status, sub.public_score or "-", sub.error[:60])  # fmt: skip
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    if not entries and not remote:
        print(f"no submissions yet; `compete submit {spec.slug} FILE -m MESSAGE` records them in {ledger}")


# ---- compete download --------------------------------------------------------------------
def safe_extract_zip(archive: Path, target: Path) -> list[str]:
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        for name in names:
            resolved = (target / name).resolve()
            if not resolved.is_relative_to(target.resolve()):
                raise DataError(f"{archive}: member {name!r} would be written outside {target}; refusing")
        zf.extractall(target)
    return names


def extract_7z(archive: Path, target: Path) -> None:
    import py7zr

    with py7zr.SevenZipFile(archive, mode="r") as sz:
        for name in sz.getnames():
            if not (target / name).resolve().is_relative_to(target.resolve()):
                raise DataError(f"{archive}: member {name!r} would be written outside {target}; refusing")
        sz.extractall(path=target)


def run_download(spec: CompetitionSpec, argv: list[str]) -> None:
    parser = verb_parser(
        "download",
        spec,
        "Download the competition's files with the Kaggle API, unzip them (and cifar-10's .7z "
        "archives), and check the layout. Does nothing when the folder is already complete.",
    )
    parser.add_argument("--data-dir", type=str, default=f"data/{spec.slug}", help="where the files go")
    parser.add_argument("--keep-archives", action="store_true", help="keep the .zip/.7z files after extracting")
    args = parser.parse_args(argv)
    data_dir = Path(args.data_dir)
    datamodule = spec.datamodule_class()(data_dir=str(data_dir))
    try:
        datamodule.check_layout()
    except DataError:
        pass
    else:
        present = ", ".join(spec.expected_files)
        print(f"{data_dir}: already complete ({present}); nothing to download")
        return
    started = time.time()
    archive = Kaggle(spec.slug).download(data_dir)
    print(
        f"downloaded {archive} ({archive.stat().st_size / 1e6:.1f} MB) in {time.time() - started:.0f}s", file=sys.stderr
    )
    archives = [archive]
    names = safe_extract_zip(archive, data_dir)
    for inner in sorted(n for n in names if n.endswith(".7z") and "/" not in n):
        print(f"extracting {inner} ...", file=sys.stderr)
        extract_7z(data_dir / inner, data_dir)
        archives.append(data_dir / inner)
    datamodule.check_layout()  # names whatever is still missing
    if not args.keep_archives:
        for path in archives:
            path.unlink()
    print(f"{data_dir}: {spec.slug} ready ({', '.join(spec.expected_files)})")
