"""The real `kaggle` client, imported lazily and wrapped so that every failure is one clear line.

``import kaggle`` authenticates at import time (printing help to stdout, or calling the network),
so it happens only here, inside a function, with stdout captured. No credential is ever printed,
logged or put in an error message: errors are built from status codes and Kaggle's own messages.

Every request has a connect and a read timeout (the client sets none, so a silent server would hang
it forever); reads (limits, the submission list, downloads) are retried a bounded number of times
with exponential backoff on a lost connection, a timeout or a 5xx. Creating a submission is never
retried: when its reply is lost, the outcome is unknown (``KaggleOutcomeUnknown``), and the caller
reconciles with Kaggle's submission list before it uploads again.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from competitions.core.console import warn
from competitions.core.errors import KaggleError

# Seconds: connect, read. COMPETE_KAGGLE_TIMEOUT overrides the read timeout (and caps the connect one).
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
READ_ATTEMPTS = 3  # a read is tried at most this many times
BACKOFF = 1.0  # seconds before the first retry (COMPETE_KAGGLE_BACKOFF overrides); then doubled


class KaggleOutcomeUnknown(KaggleError):
    """The request may or may not have taken effect on Kaggle (its reply was lost, or a 5xx came back)."""


def timeouts() -> tuple[float, float]:
    read = float(os.environ.get("COMPETE_KAGGLE_TIMEOUT") or READ_TIMEOUT)
    return min(CONNECT_TIMEOUT, read), read


@contextlib.contextmanager
def request_timeouts(connect: float, read: float) -> Iterator[None]:
    """Give every HTTP request made inside the block a (connect, read) timeout when it has none.

    The kaggle client builds its own sessions (and one per upload) and passes no timeout; requests'
    transport adapter is the one place all of them go through.
    """
    from requests.adapters import HTTPAdapter

    original = HTTPAdapter.send

    def send(self, request, stream=False, timeout=None, **kwargs):
        from urllib3.util.retry import Retry

        if isinstance(self.max_retries, Retry) and self.max_retries.read != 0:
            # The client's upload session retries up to 10 times, a timed-out read included: a hung
            # server would cost eleven timeouts. Connection failures may still be retried.
            self.max_retries = self.max_retries.new(read=0)
        return original(self, request, stream=stream, timeout=timeout or (connect, read), **kwargs)

    HTTPAdapter.send = send
    try:
        yield
    finally:
        HTTPAdapter.send = original


def status_of(err: BaseException) -> int | None:
    return getattr(getattr(err, "response", None), "status_code", None)


def transient(err: BaseException) -> bool:
    """A lost connection, a timeout or a server error: worth another try for a read."""
    import requests

    status = status_of(err)
    return isinstance(err, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)) or (
        status is not None and status >= 500
    )


def refused(err: BaseException) -> bool:
    """Kaggle answered with a 4xx: it refused the request, so it did not take effect."""
    status = status_of(err)
    return status is not None and 400 <= status < 500


def creating(err: BaseException) -> bool:
    """Whether the failed request was the one that creates the submission (or cannot be told)."""
    request = getattr(err, "request", None) or getattr(getattr(err, "response", None), "request", None)
    url = str(getattr(request, "url", "") or "")
    return not url or "CreateSubmission" in url or "CreateCodeSubmission" in url


def config_file() -> Path:
    return Path(os.environ.get("KAGGLE_CONFIG_DIR") or Path.home() / ".kaggle") / "kaggle.json"


def warn_if_readable_by_others() -> None:
    """The client prints its own warning to stdout, which is captured here: say it on stderr instead."""
    path = config_file()
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        warn(f"{path} is readable by other users of this machine; protect your Kaggle key with: chmod 600 {path}")


def credentials_present() -> bool:
    """Whether the client will find credentials (it calls exit(1) when it does not)."""
    config_dir = Path(os.environ.get("KAGGLE_CONFIG_DIR") or Path.home() / ".kaggle")
    if os.environ.get("KAGGLE_API_TOKEN"):
        return True
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return True
    return any((config_dir / name).is_file() for name in ("kaggle.json", "access_token", "credentials.json"))


def explain(err: BaseException, slug: str, action: str, not_found: str | None = None) -> KaggleError:
    """One line for what went wrong, from the status code (never from request headers). ``not_found``: what a
    404 means for this request (default: the competition)."""
    import requests

    status = getattr(getattr(err, "response", None), "status_code", None)
    detail = str(err.args[0]) if getattr(err, "args", None) else ""
    if len(detail) > 200 or "Authorization" in detail:
        detail = ""
    hints = {
        401: "Kaggle refused the credentials (401): check ~/.kaggle/kaggle.json or KAGGLE_USERNAME/KAGGLE_KEY",
        403: f"Kaggle refused access (403): accept the competition rules at https://www.kaggle.com/c/{slug}/rules",
        404: not_found or f"Kaggle has no competition {slug!r} visible to you (404)",
        429: "Kaggle's limit was reached (429): no submissions left today, or too many requests; try again later",
    }
    if isinstance(err, requests.exceptions.ConnectionError):
        return KaggleError(f"{action}: cannot reach Kaggle (connection refused or no network)")
    if isinstance(err, requests.exceptions.Timeout):
        return KaggleError(f"{action}: Kaggle did not answer in time; try again later")
    if status in hints:
        message = hints[status]
    elif status is not None and status >= 500:
        message = f"Kaggle's server failed ({status}); nothing is wrong on your side, try again later"
    else:
        message = f"Kaggle answered {status or 'with an error'}"
    return KaggleError(f"{action}: {message}{f' - {detail}' if detail and status != 401 else ''}")


@dataclass
class KaggleSubmission:
    ref: int
    status: str  # PENDING, COMPLETE, ERROR
    public_score: str
    private_score: str
    date: str
    description: str
    file_name: str
    error: str


class Kaggle:
    """The few calls `compete` needs, with the real client underneath."""

    def __init__(self, slug: str) -> None:
        self.slug = slug
        if not credentials_present():
            raise KaggleError(
                "no Kaggle credentials: create an API token at https://www.kaggle.com/settings and save it as "
                "~/.kaggle/kaggle.json (chmod 600), or set KAGGLE_USERNAME and KAGGLE_KEY"
            )
        warn_if_readable_by_others()
        quiet = io.StringIO()
        try:
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                from kaggle.api.kaggle_api_extended import KaggleApi

                api = KaggleApi()
                # The client fixes its config folder when it is first imported; use the one this process
                # names now (KAGGLE_CONFIG_DIR set later in a notebook), the one checked above.
                named = config_file()
                api.config_dir, api.config = str(named.parent), str(named)
                api.authenticate()
        except SystemExit:
            raise KaggleError("the Kaggle client found no usable credentials (~/.kaggle/kaggle.json)") from None
        except Exception as err:  # noqa: BLE001 - import-time network calls fail in many ways
            raise explain(err, slug, "authenticating with Kaggle") from None
        self.api = api

    def _call(self, action: str, fn, *args, attempts: int = 1, not_found: str | None = None, **kwargs):
        """``fn(*args, **kwargs)`` with timeouts; transient failures retried up to ``attempts`` times."""
        wait = float(os.environ.get("COMPETE_KAGGLE_BACKOFF") or BACKOFF)
        for attempt in range(1, attempts + 1):
            try:
                with contextlib.redirect_stdout(io.StringIO()), request_timeouts(*timeouts()):
                    return fn(*args, **kwargs)
            except Exception as err:  # noqa: BLE001
                if attempt < attempts and transient(err):
                    time.sleep(wait)
                    wait *= 2
                    continue
                raise explain(err, self.slug, action, not_found) from None
        raise AssertionError("unreachable")

    def submissions_left(self) -> int:
        limits = self._call("reading the submission limits", self.api.competition_get_submission_limits, self.slug,
                            attempts=READ_ATTEMPTS)
        return int(limits.num_allowed_now or 0)

    def submit(self, path: Path, message: str) -> int:
        """Upload ``path`` as a submission described by ``message``; its ref. Never retried: a lost reply
        from the step that creates the submission raises KaggleOutcomeUnknown."""
        try:
            with contextlib.redirect_stdout(io.StringIO()), request_timeouts(*timeouts()):
                response = self.api.competition_submit(str(path), message, self.slug, quiet=True)
        except Exception as err:  # noqa: BLE001
            known = explain(err, self.slug, "submitting")
            if refused(err) or not creating(err):
                raise known from None
            raise KaggleOutcomeUnknown(f"{known}; Kaggle may have stored the submission anyway") from None
        ref = int(getattr(response, "ref", 0) or 0)
        if not ref:
            text = getattr(response, "message", "") or "no submission reference returned"
            raise KaggleError(f"submitting: the upload did not go through ({text})")
        return ref

    def submissions(self) -> list[KaggleSubmission]:
        listed = self._call("listing submissions", self.api.competition_submissions, self.slug, attempts=READ_ATTEMPTS)
        out = []
        for item in listed or []:
            if item is None:
                continue
            status = getattr(item.status, "name", str(item.status or "PENDING"))
            out.append(
                KaggleSubmission(
                    ref=int(item.ref or 0),
                    status=status,
                    public_score=str(item.public_score or ""),
                    private_score=str(item.private_score or ""),
                    date=str(item.date or ""),
                    description=str(item.description or ""),
                    file_name=str(item.file_name or ""),
                    error=str(getattr(item, "error_description", "") or ""),
                )
            )
        return out

    def download(self, folder: Path) -> Path:
        """The competition's zip, downloaded into ``folder``; returns its path."""
        folder.mkdir(parents=True, exist_ok=True)
        before = set(folder.glob("*.zip"))
        self._call("downloading", self.api.competition_download_files, self.slug, path=str(folder), quiet=True,
                   attempts=READ_ATTEMPTS)
        target = folder / f"{self.slug}.zip"
        if target.exists():
            return target
        new = sorted(set(folder.glob("*.zip")) - before)
        if not new:
            raise KaggleError(f"downloading: no zip arrived in {folder}")
        return new[0]

    # ---- code competitions: a dataset, a notebook, its runs, a submission of its output -----------------
    def dataset_ready(self, ref: str) -> bool | None:
        """Whether the dataset's latest version is processed (None: Kaggle has no such dataset)."""
        import requests

        try:
            with contextlib.redirect_stdout(io.StringIO()), request_timeouts(*timeouts()):
                status = self.api.dataset_status(ref)
        except requests.exceptions.HTTPError as err:
            if status_of(err) == 404:
                return None
            raise explain(err, self.slug, f"reading dataset {ref}'s status") from None
        except Exception as err:  # noqa: BLE001
            raise explain(err, self.slug, f"reading dataset {ref}'s status") from None
        if status == "failed":
            raise KaggleError(f"dataset {ref}: Kaggle could not process its files (status failed)")
        return status == "ready"

    def upload_dataset(self, folder: Path, new: bool, notes: str) -> None:
        """Create the dataset of ``folder`` (its dataset-metadata.json), or a new version of it; folders are
        uploaded as zips, which Kaggle unpacks."""
        action = "creating the dataset" if new else "versioning the dataset"
        if new:
            response = self._call(action, self.api.dataset_create_new, str(folder), public=False, quiet=True,
                                  dir_mode="zip")  # fmt: skip
        else:
            response = self._call(action, self.api.dataset_create_version, str(folder), notes, quiet=True,
                                  dir_mode="zip", not_found="Kaggle has no such dataset of yours (404)")  # fmt: skip
        error = getattr(response, "error", None)
        if error:
            raise KaggleError(f"{action}: {error}")

    def push_kernel(self, folder: Path) -> tuple[str, int]:
        """Push the notebook of ``folder`` (its kernel-metadata.json); (owner/slug, the new version)."""
        response = self._call("pushing the notebook", self.api.kernels_push, str(folder))
        problems = [f"{name}: {', '.join(values)}" for name in ("invalid_dataset_sources", "invalid_competition_sources",
                    "invalid_kernel_sources", "invalid_tags") if (values := getattr(response, name, None))]  # fmt: skip
        if getattr(response, "error", None) or problems or not getattr(response, "ref", ""):
            detail = getattr(response, "error", None) or "; ".join(problems) or "no reference returned"
            raise KaggleError(f"pushing the notebook: Kaggle refused it ({detail})")
        ref = str(response.ref).removeprefix("/code/").removeprefix("/")
        return ref, int(response.version_number or 0)

    def kernel_status(self, kernel: str) -> tuple[str, str]:
        """(QUEUED, RUNNING, COMPLETE, ERROR, ..., the failure message) of the notebook's latest run."""
        response = self._call("reading the notebook's status", self.api.kernels_status, kernel, attempts=READ_ATTEMPTS,
                              not_found=f"Kaggle has no notebook {kernel!r} visible to you (404)")  # fmt: skip
        return getattr(response.status, "name", str(response.status)), str(response.failure_message or "")

    def kernel_output(self, kernel: str, folder: Path) -> list[Path]:
        """Download the notebook's output files and its log (KERNEL.log) into ``folder``."""
        files, _ = self._call("fetching the notebook's output", self.api.kernels_output, kernel, str(folder),
                              force=True, quiet=True, attempts=READ_ATTEMPTS)  # fmt: skip
        return [Path(f) for f in files]

    def submit_kernel(self, kernel: str, version: int, file_name: str, message: str) -> int:
        """Submit a code competition's notebook version (its output ``file_name``); the ref. Never retried."""
        try:
            with contextlib.redirect_stdout(io.StringIO()), request_timeouts(*timeouts()):
                response = self.api.competition_submit_code(file_name, message, self.slug, kernel, version, quiet=True)
        except Exception as err:  # noqa: BLE001
            known = explain(err, self.slug, "submitting the notebook", None if status_of(err) != 404 else
                            f"Kaggle has no notebook {kernel} version {version} for {self.slug} (404)")  # fmt: skip
            if refused(err) or not creating(err):
                raise known from None
            raise KaggleOutcomeUnknown(f"{known}; Kaggle may have stored the submission anyway") from None
        ref = int(getattr(response, "ref", 0) or 0)
        if not ref:
            raise KaggleError(f"submitting the notebook: {getattr(response, 'message', '') or 'no reference returned'}")
        return ref
