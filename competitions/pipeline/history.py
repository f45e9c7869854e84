"""A run's history in its config.yaml: what it was created with stays; every resume is appended.

``config.yaml`` holds the settings the run was created with and ``history``: one entry per
`compete fit` of the run (created / resumed, when, the command, the folds asked for, the settings a
resume changed, and how it ended: finished, failed (with the error), interrupted (Ctrl-C), or
interrupted when a later resume found it still running, as a kill -9 leaves it).
A resume may change how training runs (epochs, devices, patience, callbacks), but not what makes the
folds comparable (the model, the data settings, n_folds, seed) unless it is forced.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from competitions.core.errors import CompeteError

NOT_SETTINGS = ("meta", "history", "experiment", "runs_dir", "data_dir")
INCOMPARABLE_PREFIXES = ("model.", "data.")
INCOMPARABLE_KEYS = ("n_folds", "seed")


def flat(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        if not prefix and key in NOT_SETTINGS:
            continue
        if isinstance(value, dict) and not {"class_path", "init_args"} & set(value):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def changes(created: dict, now: dict) -> dict[str, list]:
    """Settings whose value differs between two configs: key -> [before, now]."""
    before, after = flat(created), flat(now)
    keys = sorted(set(before) | set(after))
    same = lambda a, b: json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)  # noqa: E731
    return {k: [before.get(k), after.get(k)] for k in keys if not same(before.get(k), after.get(k))}


def check_resume(changed: dict[str, list], force: bool) -> None:
    """Refuse a resume that changes what makes the folds comparable, unless ``force``."""
    bad = [k for k in changed if k.startswith(INCOMPARABLE_PREFIXES) or k in INCOMPARABLE_KEYS]
    if bad and not force:
        shown = ", ".join(f"{k} {changed[k][0]!r} -> {changed[k][1]!r}" for k in bad[:4])
        raise CompeteError(
            f"`resume` would change {shown}: the finished folds were trained otherwise, so their OOF scores and "
            "the new folds' would not be comparable; start a new `experiment`, or set `force` to resume anyway"
        )


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def entry(event: str, command: list[str], folds: list[int], changed: dict | None = None) -> dict:
    out = {"event": event, "time": now(), "command": " ".join(["compete", *command]), "folds": folds,
           "status": "running"}  # fmt: skip
    if changed:
        out["changed"] = changed
    return out


def settle_interrupted(history: list[dict]) -> list[dict]:
    """Entries still 'running' belong to a fit that never ended: it was interrupted."""
    return [{**h, "status": "interrupted"} if h.get("status") == "running" else h for h in history]


def finish(history: list[dict], done: list[int]) -> list[dict]:
    """The last entry ended normally, with these folds done."""
    return [*history[:-1], {**history[-1], "status": "finished", "ended": now(), "folds_done": done}]
