"""The real `kaggle` client, imported lazily and wrapped so that every failure is one clear line.

``import kaggle`` authenticates at import time (printing help to stdout, or calling the network),
so it happens only here, inside a function, with stdout captured. No credential is ever printed,
logged or put in an error message: errors are built from status codes and Kaggle's own messages.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

from competitions.core.errors import KaggleError


def credentials_present() -> bool:
    """Whether the client will find credentials (it calls exit(1) when it does not)."""
    config_dir = Path(os.environ.get("KAGGLE_CONFIG_DIR") or Path.home() / ".kaggle")
    if os.environ.get("KAGGLE_API_TOKEN"):
        return True
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return True
    return any((config_dir / name).is_file() for name in ("kaggle.json", "access_token", "credentials.json"))


def explain(err: BaseException, slug: str, action: str) -> KaggleError:
    """One line for what went wrong, from the status code (never from request headers)."""
    import requests

    status = getattr(getattr(err, "response", None), "status_code", None)
    detail = str(err.args[0]) if getattr(err, "args", None) else ""
    if len(detail) > 200 or "Authorization" in detail:
        detail = ""
    hints = {
        401: "Kaggle refused the credentials (401): check ~/.kaggle/kaggle.json or KAGGLE_USERNAME/KAGGLE_KEY",
        403: f"Kaggle refused access (403): accept the competition rules at https://www.kaggle.com/c/{slug}/rules",
        404: f"Kaggle has no competition {slug!r} visible to you (404)",
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
class Submission:
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
        quiet = io.StringIO()
        try:
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                from kaggle.api.kaggle_api_extended import KaggleApi

                api = KaggleApi()
                api.authenticate()
        except SystemExit:
            raise KaggleError("the Kaggle client found no usable credentials (~/.kaggle/kaggle.json)") from None
        except Exception as err:  # noqa: BLE001 - import-time network calls fail in many ways
            raise explain(err, slug, "authenticating with Kaggle") from None
        self.api = api

    def _call(self, action: str, fn, *args, **kwargs):
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                return fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001
            raise explain(err, self.slug, action) from None

    def submissions_left(self) -> int:
        limits = self._call("reading the submission limits", self.api.competition_get_submission_limits, self.slug)
        return int(limits.num_allowed_now or 0)

    def submit(self, path: Path, message: str) -> int:
        response = self._call("submitting", self.api.competition_submit, str(path), message, self.slug, quiet=True)
        ref = int(getattr(response, "ref", 0) or 0)
        if not ref:
            text = getattr(response, "message", "") or "no submission reference returned"
            raise KaggleError(f"submitting: the upload did not go through ({text})")
        return ref

    def submissions(self) -> list[Submission]:
        listed = self._call("listing submissions", self.api.competition_submissions, self.slug)
        out = []
        for item in listed or []:
            if item is None:
                continue
            status = getattr(item.status, "name", str(item.status or "PENDING"))
            out.append(
                Submission(
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
        self._call("downloading", self.api.competition_download_files, self.slug, path=str(folder), quiet=True)
        target = folder / f"{self.slug}.zip"
        if target.exists():
            return target
        new = sorted(set(folder.glob("*.zip")) - before)
        if not new:
            raise KaggleError(f"downloading: no zip arrived in {folder}")
        return new[0]
