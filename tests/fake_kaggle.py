"""A fake Kaggle API server on 127.0.0.1, for driving the real `kaggle` client offline.

The client is pointed at it with ``KAGGLE_API_ENVIRONMENT=LOCALHOST`` (it then calls
``http://localhost/api/v1/...``) and ``HTTP_PROXY``/``HTTPS_PROXY`` set to this server, so every
request arrives here in absolute form; CONNECT (the start of any HTTPS request) is refused, so
nothing can reach the real Kaggle. Every request is recorded in ``server.requests``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

API = "/api/v1/"  # then <service>/<Method>, e.g. competitions.CompetitionApiService/CreateSubmission


@dataclass
class Recorded:
    method: str
    url: str
    host: str
    path: str
    body: bytes
    authorization: str


@dataclass
class FakeKaggle:
    """State and behaviour of the fake: competitions' files, submissions, limits, injected errors."""

    files: dict[str, bytes] = field(default_factory=dict)  # slug -> the competition zip
    allowed_per_day: int = 5
    used_today: int = 0
    polls_until_complete: int = 2  # ListSubmissions calls before a new submission is scored
    score: str = "0.91234"
    # (slug, uploaded CSV bytes) -> public score; None: every submission scores ``score``
    scorer: Callable[[str, bytes], str] | None = None
    final_status: str = "COMPLETE"
    error_description: str = ""
    errors: dict[str, tuple[int, str]] = field(default_factory=dict)  # method -> (status, message), once
    persistent_errors: dict[str, tuple[int, str]] = field(default_factory=dict)  # method -> (status, message)
    valid_keys: set[str] = field(default_factory=lambda: {"test-key"})
    upload_delay: float = 0.0  # seconds the blob upload hangs (to kill a client mid-upload)
    # method -> status, or "drop" (close the connection unanswered), once: the request takes effect first
    fail_after: dict[str, int | str] = field(default_factory=dict)
    hang: dict[str, float] = field(default_factory=dict)  # method -> seconds before answering (every time)
    uploads: dict[str, bytes] = field(default_factory=dict)  # token -> bytes
    submissions: list[dict] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    # Datasets and notebooks (code competitions): "owner/slug" -> state
    datasets: dict[str, dict] = field(default_factory=dict)
    dataset_polls_until_ready: int = 1  # GetDatasetStatus calls before a new version is READY
    kernels: dict[str, dict] = field(default_factory=dict)
    kernel_polls_until_done: int = 2  # GetKernelSessionStatus calls before a pushed version finishes
    kernel_final_status: str = "COMPLETE"  # or ERROR
    stale_status_polls: int = 0  # after a push of version >= 2, the previous run's status is reported this often
    kernel_failure: str = ""
    kernel_output: dict[str, bytes] = field(default_factory=lambda: {"submission.csv": b"id,label\n"})
    kernel_log: str = '[{"stream_name":"stdout","time":1.0,"data":"total: 12.3s\\n"}]'
    port: int = 0
    _polls: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- API methods -------------------------------------------------------------------
    def call(self, method: str, body: dict) -> tuple[int, dict | None, dict]:
        """(status, JSON body or None, extra headers)."""
        slug = body.get("competitionName", "")
        if method == "StartSubmissionUpload":
            token = f"blob-{len(self.uploads) + 1}"
            self.uploads[token] = b""
            return 200, {"token": token, "createUrl": f"http://localhost/upload/{token}"}, {}
        if method == "CreateSubmission":
            token = body.get("blobFileTokens", "")
            if token not in self.uploads:
                return 400, {"code": 400, "message": f"unknown blob token {token!r}"}, {}
            if self.used_today >= self.allowed_per_day:
                return 429, {"code": 429, "message": "Submission limit reached for today"}, {}
            self.used_today += 1
            ref = 1000 + len(self.submissions)
            self.submissions.append(
                {
                    "ref": ref,
                    "competition": slug,
                    "fileName": body.get("_fileName", "submission.csv"),
                    "date": "2026-11-22T08:00:00Z",
                    "description": body.get("submissionDescription", ""),
                    "status": "PENDING",
                    "publicScore": "",
                    "privateScore": "",
                    "token": token,
                }
            )
            self._polls[ref] = 0
            return 200, {"message": "Successfully submitted to the competition", "ref": ref}, {}
        if method == "GetSubmissionLimits":
            left = max(0, self.allowed_per_day - self.used_today)
            return 200, {"numToday": self.used_today, "numTotal": len(self.submissions), "numAllowedNow": left}, {}
        if method == "ListSubmissions":
            listed = []
            for sub in reversed(self.submissions):
                if sub["competition"] != slug:
                    continue
                self._polls[sub["ref"]] += 1
                if sub["status"] == "PENDING" and self._polls[sub["ref"]] >= self.polls_until_complete:
                    sub["status"] = self.final_status
                    if self.final_status == "COMPLETE":
                        scored = self.scorer(sub["competition"], self.uploads[sub["token"]]) if self.scorer else None
                        sub["publicScore"] = scored or self.score
                    else:
                        sub["errorDescription"] = self.error_description
                listed.append({k: v for k, v in sub.items() if k not in ("competition", "token", "kernel", "kernelVersion")})
            return 200, {"submissions": listed, "nextPageToken": ""}, {}
        if method == "CreateCodeSubmission":
            if self.used_today >= self.allowed_per_day:
                return 429, {"code": 429, "message": "Submission limit reached for today"}, {}
            kernel = f"{body.get('kernelOwner')}/{body.get('kernelSlug')}"
            versions = (self.kernels.get(kernel) or {}).get("versions", [])
            if not 1 <= int(body.get("kernelVersion") or 0) <= len(versions):
                return 404, {"code": 404, "message": f"Notebook {kernel} version {body.get('kernelVersion')} not found"}, {}
            self.used_today += 1
            ref = 1000 + len(self.submissions)
            token = f"kernel-{ref}"
            self.uploads[token] = self.kernel_output.get(body.get("fileName") or "submission.csv", b"")
            self.submissions.append({"ref": ref, "competition": slug, "fileName": body.get("fileName") or "",
                                     "date": "2026-11-22T08:00:00Z", "description": body.get("submissionDescription", ""),
                                     "status": "PENDING", "publicScore": "", "privateScore": "", "token": token,
                                     "kernel": kernel, "kernelVersion": int(body["kernelVersion"])})  # fmt: skip
            self._polls[ref] = 0
            return 200, {"message": "Successfully submitted", "ref": ref}, {}
        if method == "StartBlobUpload":
            token = f"blob-{len(self.uploads) + 1}"
            self.uploads[token] = b""
            return 200, {"token": token, "createUrl": f"http://localhost/upload/{token}"}, {}
        if method in ("GetDatasetStatus", "CreateDataset", "CreateDatasetVersion"):
            return self.dataset_call(method, body)
        if method in ("SaveKernel", "GetKernelSessionStatus", "ListKernelSessionOutput"):
            return self.kernel_call(method, body)
        if method in ("DownloadDataFiles", "DownloadDataFile"):
            if slug not in self.files:
                return 404, {"code": 404, "message": f"Competition {slug} not found"}, {}
            return 302, None, {"Location": f"http://localhost/files/{slug}.zip"}
        return 404, {"code": 404, "message": f"no such method {method}"}, {}


    def dataset_call(self, method: str, body: dict) -> tuple[int, dict | None, dict]:
        payload = body.get("body") or body  # CreateDatasetVersion nests the files in "body"
        ref = f"{body.get('ownerSlug')}/{body.get('datasetSlug') or body.get('slug')}"
        known = self.datasets.get(ref)
        if method == "GetDatasetStatus":
            if known is None:
                return 404, {"code": 404, "message": f"Dataset {ref} not found"}, {}
            known["polls"] += 1
            ready = known["polls"] >= self.dataset_polls_until_ready
            return 200, {"status": "READY" if ready else "BLOBS_RECEIVED"}, {}
        tokens = [f.get("token") for f in payload.get("files") or []]
        if any(t not in self.uploads for t in tokens):
            return 400, {"code": 400, "message": "unknown blob token"}, {}
        files = [self.uploads[t] for t in tokens]
        if method == "CreateDataset":
            if known is not None:
                return 200, {"status": "error", "error": f"The dataset {ref} already exists"}, {}
            self.datasets[ref] = {"versions": [files], "private": body.get("isPrivate"), "polls": 0}
        else:
            if known is None:
                return 404, {"code": 404, "message": f"Dataset {ref} not found"}, {}
            known["versions"].append(files)
            known["polls"] = 0
        return 200, {"ref": ref, "url": f"https://www.kaggle.com/datasets/{ref}", "status": "ok", "error": ""}, {}

    def kernel_call(self, method: str, body: dict) -> tuple[int, dict | None, dict]:
        ref = body.get("slug") or f"{body.get('userName')}/{body.get('kernelSlug')}"
        if method == "SaveKernel":
            missing = [d for d in body.get("datasetDataSources") or [] if d not in self.datasets]
            if missing:
                return 200, {"ref": "", "url": "", "error": "", "invalidDatasetSources": missing}, {}
            kernel = self.kernels.setdefault(ref, {"versions": []})
            kernel["versions"].append(body)
            kernel["polls"] = 0
            number = len(kernel["versions"])
            return 200, {"ref": f"/code/{ref}", "url": f"https://www.kaggle.com/code/{ref}", "versionNumber": number}, {}
        kernel = self.kernels.get(ref)
        if kernel is None:
            return 404, {"code": 404, "message": f"Notebook {ref} not found"}, {}
        if method == "GetKernelSessionStatus":
            kernel["polls"] += 1
            if len(kernel["versions"]) > 1 and kernel["polls"] <= self.stale_status_polls:
                return 200, {"status": self.kernel_final_status, "failureMessage": self.kernel_failure}, {}
            if kernel["polls"] < self.kernel_polls_until_done + self.stale_status_polls * (len(kernel["versions"]) > 1):
                return 200, {"status": "RUNNING"}, {}
            return 200, {"status": self.kernel_final_status, "failureMessage": self.kernel_failure}, {}
        files = [{"url": f"http://localhost/kernel-output/{ref}/{name}", "fileName": name} for name in self.kernel_output]
        return 200, {"files": files, "log": self.kernel_log, "nextPageToken": ""}, {}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _record(self, body: bytes) -> Recorded:
        url = self.path
        parts = urlsplit(url)
        rec = Recorded(
            self.command,
            url,
            parts.hostname or self.headers.get("Host", ""),
            parts.path if parts.scheme else url,
            body,
            self.headers.get("Authorization", ""),
        )
        with self.server.fake._lock:
            self.server.fake.requests.append(rec)
        return rec

    def _send(self, status: int, payload: dict | bytes | None = None, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode() if isinstance(payload, dict) else (payload or b"")
        self.send_response(status)
        if isinstance(payload, dict):
            self.send_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authorised(self, rec: Recorded) -> bool:
        if not rec.authorization.startswith("Basic "):
            return False
        user_key = base64.b64decode(rec.authorization[6:]).decode()
        return user_key.split(":", 1)[-1] in self.server.fake.valid_keys

    def do_CONNECT(self) -> None:  # noqa: N802 - HTTPS through the proxy: never
        self._record(b"")
        self._send(405, {"code": 405, "message": "the fake Kaggle server refuses CONNECT"})

    def do_POST(self) -> None:  # noqa: N802
        rec = self._record(self._read_body())
        fake = self.server.fake
        if rec.host != "localhost" or not rec.path.startswith(API) or rec.path.count("/") != 4:
            self._send(404, {"code": 404, "message": f"unexpected request {rec.url}"})
            return
        method = rec.path.rsplit("/", 1)[-1]
        if not self._authorised(rec):
            self._send(401, {"code": 401, "message": "Unauthenticated"})
            return
        with fake._lock:
            if method in fake.errors:
                status, message = fake.errors.pop(method)
                self._send(status, {"code": status, "message": message})
                return
            if method in fake.persistent_errors:
                status, message = fake.persistent_errors[method]
                self._send(status, {"code": status, "message": message})
                return
            status, payload, headers = fake.call(method, json.loads(rec.body or b"{}"))
            after = fake.fail_after.pop(method, None)
        if method in fake.hang:
            time.sleep(fake.hang[method])
        if after == "drop":  # the request took effect; the reply is lost
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if after is not None:
            status, payload, headers = int(after), {"code": int(after), "message": f"fake {after} after storing"}, {}
        self._send(status, payload, headers)

    def do_PUT(self) -> None:  # noqa: N802 - the blob upload
        rec = self._record(self._read_body())
        if self.server.fake.upload_delay:
            time.sleep(self.server.fake.upload_delay)
        token = rec.path.rsplit("/", 1)[-1]
        fake = self.server.fake
        if rec.host != "localhost" or not rec.path.startswith("/upload/") or token not in fake.uploads:
            self._send(404, {"code": 404, "message": f"unexpected upload {rec.url}"})
            return
        fake.uploads[token] = rec.body
        self._send(200, {})

    def do_GET(self) -> None:  # noqa: N802 - the data download, a notebook's output files
        rec = self._record(b"")
        if rec.path.startswith("/kernel-output/"):
            data = self.server.fake.kernel_output.get(rec.path.rsplit("/", 1)[-1])
            if rec.host != "localhost" or data is None:
                self._send(404, {"code": 404, "message": f"unexpected download {rec.url}"})
                return
            self._send(200, data, {"Content-Type": "application/octet-stream", "Last-Modified": formatdate(usegmt=True)})
            return
        slug = rec.path.removeprefix("/files/").removesuffix(".zip")
        data = self.server.fake.files.get(slug)
        if rec.host != "localhost" or data is None:
            self._send(404, {"code": 404, "message": f"unexpected download {rec.url}"})
            return
        headers = {"Content-Type": "application/zip", "Last-Modified": formatdate(usegmt=True)}
        self._send(200, data, headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeKaggle

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):  # a client that gave up
            super().handle_error(request, client_address)


@contextlib.contextmanager
def serve(fake: FakeKaggle) -> Iterator[FakeKaggle]:
    """Run ``fake`` on 127.0.0.1 on a free port (``fake.port``) for the duration of the block."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = fake
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def client_environment(port: int, home: str) -> dict[str, str]:
    """Environment variables that send the real client to the fake server and nowhere else."""
    proxy = f"http://127.0.0.1:{port}"
    return {
        "KAGGLE_API_ENVIRONMENT": "LOCALHOST",
        "HTTP_PROXY": proxy,
        "HTTPS_PROXY": proxy,
        "http_proxy": proxy,
        "https_proxy": proxy,
        "NO_PROXY": "",
        "no_proxy": "",
        "HOME": home,
        "KAGGLE_CONFIG_DIR": f"{home}/.kaggle",
    }


def main() -> None:
    """Run the fake by hand, to try `compete download/submit` offline:

    python -m tests.fake_kaggle --zip cifar-10=/path/cifar-10.zip   (prints the variables to export)
    """
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--zip", action="append", default=[], help="SLUG=FILE: the zip `download` gets")
    parser.add_argument("--home", default="/tmp/fake-kaggle-home", help="the HOME the client should use")
    args = parser.parse_args()
    files = {}
    for item in args.zip:
        slug, _, path = item.partition("=")
        with open(path, "rb") as handle:
            files[slug] = handle.read()
    fake = FakeKaggle(files=files)
    with serve(fake):
        env = {**client_environment(fake.port, args.home), "KAGGLE_USERNAME": "tester", "KAGGLE_KEY": "test-key"}
        print("\n".join(f"export {k}={v!r}" for k, v in env.items()), flush=True)
        print(f"# fake Kaggle on 127.0.0.1:{fake.port}; Ctrl-C to stop", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
