"""The run record: one object owns a run's config.yaml, what it was created with and its history.

``config.yaml`` holds the settings the run was created with and ``history``: one entry per
`compete fit` of the run (created / resumed, when, the command, the folds asked for, the settings a
resume changed, and how it ended: finished, failed (with the error), interrupted (Ctrl-C), or
interrupted when a later resume found it still running, as a kill -9 leaves it).
A resume may change how training runs (epochs, devices, patience, callbacks), but not what makes the
folds comparable (the model, the data settings, n_folds, seed) unless it is forced.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

from competitions.core.artifacts import read_yaml, write_yaml
from competitions.core.errors import CompeteError
from competitions.core.settings import flatten

NOT_SETTINGS = ("meta", "history", "experiment", "runs_dir", "data_dir")
INCOMPARABLE_PREFIXES = ("model.", "data.")
INCOMPARABLE_KEYS = ("n_folds", "n_repeats", "seed")
RUN_SHAPE = ("n_repeats",)  # a forced resume that changes these changes which folds the run has: recorded on top
# when that fit finishes (RunRecord.finish), not before: a resume that fails leaves the run as it was
ADDED_LATER = {"n_repeats": 1}  # settings a run made before they existed had at their default


def changes(created: dict, now: dict) -> dict[str, list]:
    """Settings whose value differs between two configs: key -> [before, now]."""
    before, after = flatten(created, skip=NOT_SETTINGS), flatten(now, skip=NOT_SETTINGS)
    before = {**{k: v for k, v in ADDED_LATER.items() if k in after}, **before}
    keys = sorted(set(before) | set(after))
    same = lambda a, b: json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)  # noqa: E731
    return {k: [before.get(k), after.get(k)] for k in keys if not same(before.get(k), after.get(k))}


def budget_plans(history: list[dict] | None) -> list[dict]:
    """The budget plans of a run's fits, oldest first (each fit's history entry ``budget``)."""
    return [h["budget"] for h in history or [] if h.get("budget")]


def check_resume(changed: dict[str, list], force: bool, history: list[dict] | None = None) -> None:
    """Refuse a resume that changes what makes the folds comparable, unless ``force``."""
    bad = [k for k in changed if k.startswith(INCOMPARABLE_PREFIXES) or k in INCOMPARABLE_KEYS]
    if bad and not force:
        shown = ", ".join(f"{k} {changed[k][0]!r} -> {changed[k][1]!r}" for k in bad[:4])
        stepped = {k: v for plan in budget_plans(history) for k, v in (plan.get("model") or {}).items()}
        hint = " ".join(f"--{k}={v}" for k, v in stepped.items() if k in bad)
        raise CompeteError(
            f"`resume` would change {shown}: the finished folds were trained otherwise, so their OOF scores and "
            "the new folds' would not be comparable; "
            + (f"the budget plan stepped down to that model: resume with {hint}, " if hint else "")
            + "start a new `experiment`, or set `force` to resume anyway"
        )


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def entry(event: str, command: str, folds: list[int], changed: dict | None = None) -> dict:
    out = {"event": event, "time": now(), "command": command, "folds": folds, "status": "running",
           "pid": os.getpid(), "host": socket.gethostname()}  # fmt: skip
    if changed:
        out["changed"] = changed
    return out


def still_running(item: dict) -> bool:
    """Whether the fit of a 'running' entry may still be at work: its process lives (on this machine; on
    another one nobody here can tell, so it may). Entries of older versions name no process."""
    if item.get("pid") is None:
        return False
    if item.get("host") != socket.gethostname():
        return True
    if int(item["pid"]) == os.getpid():
        return False  # an earlier fit in this very process (a notebook) that never ended
    try:
        os.kill(int(item["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def settle_interrupted(history: list[dict]) -> list[dict]:
    """Entries still 'running' whose fit never ended were interrupted (a kill -9); those of fits still at
    work (another job training other folds of the run) stay as they are."""
    return [{**h, "status": "interrupted"} if h.get("status") == "running" and not still_running(h) else h
            for h in history]  # fmt: skip


def own_entry(history: list[dict]) -> int:
    """The index of this process's entry (the last one it opened; the last one in older records)."""
    mine = [i for i, h in enumerate(history) if h.get("pid") == os.getpid() and h.get("host") == socket.gethostname()]
    return mine[-1] if mine else len(history) - 1


def finish(history: list[dict], done: list[int]) -> list[dict]:
    """This process's entry ended normally, with these folds done."""
    i = own_entry(history)
    return [*history[:i], {**history[i], "status": "finished", "ended": now(), "folds_done": done}, *history[i + 1:]]


class RunRecord:
    """config.yaml of one run (create, resume, note, finish, fail); every write is a whole new file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def read(self) -> dict:
        return read_yaml(self.path)

    def open(self, config: dict, command: str, folds: list[int], resume: bool, force: bool = False) -> None:
        """A new run's settings and its first history entry; or, resuming, the run's own settings with this
        fit appended (refused when it changes what makes the folds comparable, unless ``force``)."""
        if not resume:
            write_yaml(self.path, {**config, "history": [entry("created", command, folds)]})
            return
        with self.locked():
            created = self.read()
            changed = changes(created, config)
            check_resume(changed, force, created.get("history"))
            past = settle_interrupted(created.get("history") or [])
            write_yaml(self.path, {**created, "history": [*past, entry("resumed", command, folds, changed)]})

    @contextlib.contextmanager
    def locked(self):
        """One read-modify-write of config.yaml at a time (fits of other folds of the run may end at once)."""
        from filelock import FileLock

        with FileLock(str(self.path.parent / f".{self.path.name}.lock")):
            yield

    def replace(self, **sections) -> None:
        """Replace settings the run was created with (a budget plan's smaller model, before any fold trains)."""
        with self.locked():
            write_yaml(self.path, {**self.read(), **sections})

    def note(self, **fields) -> None:
        """Add to this fit's history entry (e.g. the budget plan)."""
        with self.locked():
            stored = self.read()
            history = list(stored["history"])
            i = own_entry(history)
            history[i] = {**history[i], **fields}
            write_yaml(self.path, {**stored, "history": history})

    def finish(self, done: list[int], seconds: float, shape: dict | None = None) -> None:
        """This fit ended well; ``shape`` (RUN_SHAPE settings a forced resume changed: which folds the run
        has) goes on top, now that those folds exist, for predict to read."""
        with self.locked():
            stored = self.read()
            ended = finish(stored["history"], done)
            ended[own_entry(ended)]["seconds"] = round(seconds, 1)
            write_yaml(self.path, {**stored, **(shape or {}), "history": ended})

    def fail(self, err: BaseException) -> None:
        """Mark this fit as interrupted (Ctrl-C) or failed, with the error (a kill -9 leaves it 'running':
        the next resume says interrupted). Never raises: the error being raised matters more."""
        status = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
        with contextlib.suppress(Exception):
            fields = {"status": status, "ended": now()}
            if status == "failed":
                fields["error"] = f"{err.__class__.__name__}: {err}"[:300]
            self.note(**fields)


def run_competition(layout) -> str | None:
    """The competition a run (or blend) was made for: recorded in its config.yaml's meta, or, for runs made
    before compete recorded it, the folder it sits in (RUNS_DIR/SLUG/EXPERIMENT). None: not a run."""
    if not layout.config.is_file():
        return None
    recorded = ((read_yaml(layout.config) or {}).get("meta") or {}).get("competition")
    return str(recorded) if recorded else layout.root.resolve().parent.name
