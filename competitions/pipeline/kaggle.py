"""The Kaggle round trip: validate a file, submit it (ledger first), list submissions, download data."""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from competitions.core.artifacts import read_json, read_yaml
from competitions.core.console import describe, info, warn
from competitions.core.errors import CompeteError, DataError, KaggleError, SubmissionError
from competitions.core.layout import DEFAULT_DATA_DIR, DEFAULT_RUNS_DIR, RunLayout, ledger_path
from competitions.core.spec import CompetitionSpec
from competitions.pipeline.factory import build_datamodule, class_names
from competitions.pipeline.run_record import run_competition
from submissions.archives import Limits, extract_7z, extract_zip
from submissions.kaggle_api import Kaggle, KaggleOutcomeUnknown, KaggleSubmission
from submissions.ledger import UNSETTLED, earlier_uploads, read_ledger, record, sha256, submission_tag
from submissions.validate import validate_file


# ---- where a submission file comes from ----------------------------------------------------
@dataclass(frozen=True)
class Provenance:
    """Where a submission file comes from, read once: the run (or blend) whose folder holds it, the folder
    that run was trained on, its CV (what the ledger records beside the public score)."""

    run: RunLayout | None
    data_dir: Path | None
    cv: dict | None
    competition: str | None = None

    @property
    def experiment(self) -> str | None:
        return self.run.root.name if self.run is not None else None


def provenance(path: Path) -> Provenance:
    """The Provenance of ``path`` (runs/SLUG/EXPERIMENT/submission.csv); an empty one for any other file."""
    for folder in [path.parent, *path.parent.parents][:3]:
        run = RunLayout(folder)
        if not run.config.is_file():
            continue
        recorded = (read_yaml(run.config) or {}).get("data_dir")
        cv = read_json(run.cv) if run.cv.is_file() else None
        return Provenance(run, Path(recorded) if recorded else None, cv, run_competition(run))
    return Provenance(None, None, None)


def data_dir_for(spec: CompetitionSpec, path: Path, data_dir: str | Path | None) -> Path:
    """``data_dir`` if given, else the folder the file's run was trained on, else data/SLUG. A file made by a
    run of another competition is refused (it would be checked against, and spend a submission of, the wrong one)."""
    origin = provenance(path)
    if origin.competition not in (None, spec.slug):
        raise SubmissionError(
            f"{path}: made by a run of {origin.competition} ({origin.run.root}), not of {spec.slug}; "
            f"submit it with `compete submit {origin.competition} ...`, or a file of a {spec.slug} run"
        )
    if data_dir:
        return Path(data_dir)
    return origin.data_dir or Path(DEFAULT_DATA_DIR) / spec.slug


@dataclass
class Validation:
    """A file that Kaggle would accept: what was checked, against what."""

    path: Path
    sample: Path
    rows: int
    valid: bool = True


def validate_path(spec: CompetitionSpec, path: str | Path, data_dir: str | Path | None = None) -> Validation:
    """Check ``path`` against the competition's sample submission (and its classes); raise SubmissionError if not."""
    path = Path(path)
    data_dir = data_dir_for(spec, path, data_dir)
    sample = data_dir / spec.sample_submission
    if not sample.is_file():
        raise DataError(f"{sample}: not found; set `data_dir` to the competition folder with {spec.sample_submission}")
    frame = validate_file(spec, path, sample, class_names(spec, data_dir))
    return Validation(path, sample, len(frame))


# ---- submit ------------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_attempt(spec: CompetitionSpec, path: Path | None, message: str, digest: str) -> dict:
    origin = provenance(path) if path is not None else Provenance(None, None, None)
    cv = origin.cv
    return {
        "attempt": f"{_now()}-{uuid.uuid4().hex[:8]}",
        "time": _now(),
        "slug": spec.slug,
        "file": str(path),
        "sha256": digest,
        "bytes": path.stat().st_size if path is not None else None,
        "experiment": origin.experiment,
        "cv": {k: cv[k] for k in ("metric", "mean", "std", "oof")} if cv else None,
        "message": message,
        "ref": None,
        "status": "checking",
        "public_score": None,
        "error": None,
    }


def submit_file(spec: CompetitionSpec, path: str | Path, message: str, *, data_dir: str | Path | None = None,
                runs_dir: str | Path = DEFAULT_RUNS_DIR, dry_run: bool = False, again: bool = False, timeout: float = 600.0,
                poll: float = 5.0) -> dict:  # fmt: skip
    """Validate, refuse a file Kaggle already has (unless ``again``), reconcile attempts whose outcome is
    unknown with Kaggle's list, check the daily limit, record the attempt in the ledger *before*
    uploading, upload (the description carries the file's tag), wait for the score; returns the entry."""
    path = Path(path)
    validate_path(spec, path, data_dir)
    entry = new_attempt(spec, path, message, sha256(path))
    send = lambda client, description: client.submit(path, description)  # noqa: E731
    return submit_attempt(spec, entry, send, str(path), runs_dir, dry_run, again, timeout, poll, provenance(path).run)


def submit_kernel(spec: CompetitionSpec, kernel: str, version: int, message: str, *, file_name: str = "submission.csv",
                  runs_dir: str | Path = DEFAULT_RUNS_DIR, dry_run: bool = False, again: bool = False,
                  timeout: float = 600.0, poll: float = 5.0) -> dict:  # fmt: skip
    """A code competition's submission: the output ``file_name`` of notebook ``kernel`` (OWNER/NAME) at
    ``version``, with the ledger, the daily limit, the reconciliation after a lost reply and the score wait
    of a CSV upload (the ledger's sha256 is that of the kernel, version and file named)."""
    import hashlib

    if kernel.count("/") != 1 or not all(kernel.split("/")):
        raise CompeteError(f"--kernel {kernel}: name the notebook as OWNER/NAME (as compete package --push prints it)")
    if version < 1:
        raise CompeteError(f"--version {version}: a notebook's versions count from 1")
    what = f"notebook {kernel} version {version} ({file_name})"
    digest = hashlib.sha256(what.encode()).hexdigest()
    entry = {**new_attempt(spec, None, message, digest), "file": what, "kernel": kernel, "kernel_version": version}
    send = lambda client, description: client.submit_kernel(kernel, version, file_name, description)  # noqa: E731
    return submit_attempt(spec, entry, send, what, runs_dir, dry_run, again, timeout, poll, None)


def submit_attempt(spec: CompetitionSpec, entry: dict, send, what: str, runs_dir: str | Path, dry_run: bool, again: bool,
                   timeout: float, poll: float, run: RunLayout | None) -> dict:  # fmt: skip
    """The part every submission shares: the earlier-upload check, the ledger, reconciliation, the limit, the
    upload (``send(client, description)`` -> ref), the score wait."""
    digest = entry["sha256"]
    ledger = ledger_path(runs_dir, spec.slug)
    earlier = earlier_uploads(ledger, digest)
    if earlier and not again:
        last = earlier[-1]
        raise CompeteError(
            f"{what}: this exact {'file' if 'kernel' not in entry else 'submission'} (sha256 {digest[:12]}) was "
            f"already submitted on {last['time']} (ref {last.get('ref') or '?'}, status {last['status']}); see "
            f"`compete submissions {spec.slug}`, or set `again` to upload it once more"
        )
    if dry_run:
        return {**entry, "status": "dry-run"}
    try:
        with submit_lock(ledger):  # from the search of Kaggle's list until the ref is recorded
            client = Kaggle(spec.slug)
            if not again and reconcile(client, ledger, entry):
                info(f"{what} is already on Kaggle as ref {entry['ref']} ({entry['status']}); recorded, nothing uploaded")
            else:
                upload(spec, client, ledger, entry, send)
        result = wait_for_score(client, entry["ref"], timeout, poll)
    except CompeteError as err:
        settle_failed(ledger, entry, err)
        raise
    entry.update(status=result.status, public_score=result.public_score or None, error=result.error or None)
    record(ledger, entry)
    if result.status == "ERROR":
        raise KaggleError(f"Kaggle could not score submission {entry['ref']}: {result.error or 'no reason given'}")
    if result.status == "COMPLETE" and run is not None:
        from competitions.pipeline.tracking import log_quietly

        log_quietly(run, {"public_score": _number(result.public_score), "public_ref": entry["ref"]})
    return entry


@contextlib.contextmanager
def submit_lock(ledger: Path):
    """One upload at a time per competition (two at once could both find nothing and upload the same file)."""
    from filelock import FileLock, Timeout

    ledger.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(ledger) + ".submit.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise CompeteError(f"{ledger}: another compete submit of this competition is running; try again when it ends") from None
    try:
        yield
    finally:
        lock.release()


def reconcile(client: Kaggle, ledger: Path, entry: dict) -> bool:
    """Search Kaggle's list for the file's tag. Found: ``entry`` becomes that submission (True). Not
    found: earlier attempts of the file whose outcome was unknown are marked ``not-submitted``."""
    tag = submission_tag(entry["sha256"])
    found = next((s for s in client.submissions() if tag in s.description), None)
    unsettled = earlier_uploads(ledger, entry["sha256"], UNSETTLED)
    if found is None:
        for earlier in unsettled:
            record(ledger, {**earlier, "status": "not-submitted", "error": "not in Kaggle's list (checked before a new upload)"})
        return False
    entry.update(ref=found.ref, status=found.status, reconciled=True)
    if unsettled:  # the lost attempt is the one Kaggle has
        entry["attempt"] = unsettled[-1]["attempt"]
    record(ledger, entry)
    return True


def upload(spec: CompetitionSpec, client: Kaggle, ledger: Path, entry: dict, send) -> None:
    left = client.submissions_left()
    if left <= 0:
        raise KaggleError(f"no submissions left today on {spec.slug} (Kaggle's daily limit); nothing uploaded")
    entry["status"] = "uploading"
    record(ledger, entry)  # before the upload: a crash now leaves a trace the next submit reconciles
    entry["ref"] = send(client, f"{entry['message']} {submission_tag(entry['sha256'])}")
    entry["status"] = "submitted"
    record(ledger, entry)
    info(f"submitted {describe(spec, entry)}: ref {entry['ref']} ({left - 1} left today); waiting for the score")


def settle_failed(ledger: Path, entry: dict, err: CompeteError) -> None:
    """Record a failed attempt: ``unknown`` when Kaggle may have it (a lost reply), else ``error``."""
    if isinstance(err, KaggleOutcomeUnknown):
        entry["status"] = "unknown"
        err.args = (f"{err}; run the same command again: it looks for this file in Kaggle's list first and "
                    "uploads only if Kaggle does not have it",)  # fmt: skip
    elif entry["status"] in ("checking", "uploading"):
        entry["status"] = "error"
    entry["error"] = str(err)
    record(ledger, entry)


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def wait_for_score(client: Kaggle, ref: int, timeout: float, poll: float) -> KaggleSubmission:
    """Poll the submission list until ``ref`` is COMPLETE or ERROR (bounded, with backoff)."""
    deadline = time.monotonic() + timeout
    wait = max(0.0, poll)
    while True:
        found = next((s for s in client.submissions() if s.ref == ref), None)
        if found is not None and found.status in ("COMPLETE", "ERROR"):
            return found
        if time.monotonic() + wait > deadline:
            return found or KaggleSubmission(ref, "PENDING", "", "", "", "", "", "")
        time.sleep(wait)
        wait = min(60.0, wait * 1.5)


# ---- submissions -------------------------------------------------------------------------
def list_submissions(spec: CompetitionSpec, runs_dir: str | Path = DEFAULT_RUNS_DIR, offline: bool = False):
    """(ledger entries, Kaggle's submissions by ref); a score learnt now is written back to the ledger."""
    ledger = ledger_path(runs_dir, spec.slug)
    entries = read_ledger(ledger)
    remote: dict[int, KaggleSubmission] = {}
    if not offline:
        try:
            remote = {s.ref: s for s in Kaggle(spec.slug).submissions()}
        except KaggleError as err:
            warn(f"{err}; showing the ledger only")
    for entry in entries:
        found = remote.get(entry.get("ref"))
        if found is not None and (entry.get("status"), entry.get("public_score")) != (found.status, found.public_score or None):
            entry.update(status=found.status, public_score=found.public_score or None, error=found.error or None)
            record(ledger, entry)
    return entries, remote


# ---- download ----------------------------------------------------------------------------
def data_complete(spec: CompetitionSpec, data_dir: Path) -> bool:
    """Whether ``data_dir`` holds every file of the competition's layout."""
    try:
        build_datamodule(spec, data_dir).check_layout()
    except DataError:
        return False
    return True


def download_competition(
    spec: CompetitionSpec, data_dir: str | Path, keep_archives: bool = False, limits: Limits | None = None
) -> bool:
    """Download and extract the competition into ``data_dir`` (within ``limits``); False when it was complete."""
    data_dir = Path(data_dir)
    if data_complete(spec, data_dir):
        return False
    limits = limits or Limits()
    started = time.time()
    archive = Kaggle(spec.slug).download(data_dir)
    info(f"downloaded {archive} ({archive.stat().st_size / 1e6:.1f} MB) in {time.time() - started:.0f}s")
    archives = [archive]
    for inner in sorted(n for n in extract_zip(archive, data_dir, limits) if n.endswith(".7z") and "/" not in n):
        info(f"extracting {inner} ...")
        extract_7z(data_dir / inner, data_dir, limits)
        archives.append(data_dir / inner)
    build_datamodule(spec, data_dir).check_layout()  # names whatever is still missing
    if not keep_archives:
        for path in archives:
            path.unlink()
    return True
