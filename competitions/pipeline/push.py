"""`compete package ... --push`: the package's dataset created (or versioned) on Kaggle, its notebook pushed,
its run waited for, its output and log fetched into OUT/output/v<version>/. Each push is recorded in
OUT/pushes.jsonl (kernel, version, status), so `compete submit --kernel` has the version to name."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from competitions.core.artifacts import read_json
from competitions.core.console import info
from competitions.core.errors import CompeteError, KaggleError
from competitions.core.spec import CompetitionSpec
from submissions.kaggle_api import Kaggle

FINISHED = ("COMPLETE", "ERROR", "CANCEL_ACKNOWLEDGED")


def poll(check, timeout: float, wait: float, what: str):
    """``check()`` until it returns something other than None, with backoff, within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    wait = max(0.0, wait)
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() + wait > deadline:
            raise KaggleError(f"{what}: still not done after {timeout:g}s; run the same command again later")
        time.sleep(wait)
        wait = min(60.0, max(wait, 0.01) * 1.5)


STALE_SECONDS = 120.0  # a finished status this long after a push is the new run's, even if no run was seen


def new_run_status(client: Kaggle, kernel: str, version: int):
    """A poll check that returns the (status, failure) of the pushed version's run once it has finished.
    Right after a push Kaggle may still report the previous version's finished run: a finished status
    counts once the new run was seen queued or running (or for a first version, or after STALE_SECONDS)."""
    pushed, seen = time.monotonic(), {"running": version <= 1}

    def check():
        status = client.kernel_status(kernel)
        if status[0] not in FINISHED:
            seen["running"] = True
            return None
        return status if seen["running"] or time.monotonic() - pushed > STALE_SECONDS else None

    return check


def last_log_lines(folder: Path, count: int = 3) -> list[str]:
    """The last lines of a fetched notebook log (Kaggle's JSON list of stream records, or plain text)."""
    logs = sorted(folder.glob("*.log"))
    if not logs:
        return []
    text = logs[0].read_text(errors="replace")
    try:
        lines = "".join(str(record.get("data", "")) for record in json.loads(text)).splitlines()
    except (ValueError, AttributeError):
        lines = text.splitlines()
    return [line.strip() for line in lines if line.strip()][-count:]


def record_push(folder: Path, entry: dict) -> None:
    with open(folder / "pushes.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


def push_package(spec: CompetitionSpec, folder: Path, notes: str, timeout: float, wait: float) -> dict:
    """Upload OUT/dataset, push OUT/notebook, wait for its run and fetch its output; the push's record."""
    dataset, notebook = folder / "dataset", folder / "notebook"
    for needed in (dataset / "dataset-metadata.json", notebook / "kernel-metadata.json"):
        if not needed.is_file():
            raise CompeteError(f"{needed}: not found; push a folder written by compete package")
    if read_json(dataset / "compete-bundle.json").get("competition") != spec.slug:
        raise CompeteError(f"{folder}: a package of another competition than {spec.slug}")
    ref = read_json(dataset / "dataset-metadata.json")["id"]
    client = Kaggle(spec.slug)
    new = client.dataset_ready(ref) is None
    started = time.time()
    client.upload_dataset(dataset, new, notes)
    info(f"dataset {ref}: {'created' if new else 'new version'} ({time.time() - started:.0f}s); waiting until Kaggle has processed it")  # fmt: skip
    poll(lambda: True if client.dataset_ready(ref) else None, timeout, wait, f"dataset {ref}")
    kernel, version = client.push_kernel(notebook)
    info(f"notebook {kernel} version {version} pushed; waiting for its run on Kaggle")
    status, failure = poll(new_run_status(client, kernel, version), timeout, wait, f"notebook {kernel} version {version}")
    output = folder / "output" / f"v{version}"
    files = client.kernel_output(kernel, output)
    entry = {"time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "dataset": ref, "kernel": kernel,
             "version": version, "status": status, "failure": failure or None, "output": str(output)}  # fmt: skip
    record_push(folder, entry)
    if status != "COMPLETE":
        tail = " | ".join(last_log_lines(output))
        raise KaggleError(f"notebook {kernel} version {version} ended {status} on Kaggle"
                          f"{': ' + failure if failure else ''}{'; last log lines: ' + tail if tail else ''} "
                          f"(log in {output})")  # fmt: skip
    return {**entry, "files": [str(f) for f in files]}
