"""`compete runs SLUG`: every experiment of a competition, best first, with what differs between them.

Reads each RUNS_DIR/SLUG/<experiment>/cv.json and config.yaml, and the public scores from
RUNS_DIR/SLUG/ledger.jsonl. ``--plot`` draws CV against public score for every scored submission,
the per-fold scores of each experiment, and every fold's validation curve (from its CSV log).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from competitions.core.artifacts import read_yaml
from competitions.core.layout import RunLayout, competition_dir, ledger_path
from competitions.core.settings import flatten
from competitions.core.spec import CompetitionSpec
from submissions.ledger import read_ledger

IGNORED = ("meta", "history", "data_dir", "experiment", "runs_dir", "config", "folds", "resume", "force", "logger")


def flat_settings(config: dict) -> dict:
    """A config's settings as dotted keys, lists as JSON text (so they compare and show as one value)."""
    return {k: json.dumps(v) if isinstance(v, (list, tuple)) else v for k, v in flatten(config).items()}


def collect(spec: CompetitionSpec, runs_dir: Path) -> list[dict]:
    """One record per experiment with a cv.json: scores, public scores, flattened config."""
    root = competition_dir(runs_dir, spec.slug)
    ledger = read_ledger(ledger_path(runs_dir, spec.slug))
    experiments = []
    for cv_file in sorted(root.glob("*/cv.json")):
        run = cv_file.parent
        cv = json.loads(cv_file.read_text())
        config = read_yaml(run / "config.yaml") if (run / "config.yaml").exists() else {}
        public = [
            {"cv": cv["oof"], "public": float(e["public_score"]), "time": e["time"]}
            for e in ledger
            if e.get("experiment") == run.name and e.get("public_score") not in (None, "")
        ]
        experiments.append(
            {
                "name": run.name,
                "path": run,
                "cv": cv,
                "public": public,
                "config": {k: v for k, v in flat_settings(config).items() if k.split(".")[0] not in IGNORED},
            }
        )
    reverse = spec.metric.direction == "max"
    return sorted(experiments, key=lambda e: e["cv"]["oof"], reverse=reverse)


def differing(experiments: list[dict]) -> list[str]:
    """The settings to show: ``family`` when the experiments are of several, and every other setting that
    two experiments having it set differently (a setting only one family has is part of its family)."""
    keys = sorted({k for e in experiments for k in e["config"]}, key=lambda k: (k != "family", k))
    shown = []
    for key in keys:
        values = [json.dumps(e["config"][key], default=str) for e in experiments if key in e["config"]]
        if key == "family" and len(set(values) | ({"-"} if len(values) < len(experiments) else set())) > 1:
            shown.append(key)
        elif key != "family" and len(values) > 1 and len(set(values)) > 1:
            shown.append(key)
    return shown


def runs_frame(spec: CompetitionSpec, experiments: list[dict]) -> pd.DataFrame:
    """One row per experiment, best first: CV mean and std, pooled OOF, per-fold scores, best public
    score, and the settings that differ between the experiments."""
    changed = differing(experiments)
    rows = []
    for e in experiments:
        cv = e["cv"]
        row = {"experiment": e["name"], "cv_mean": cv["mean"], "cv_std": cv["std"], "oof": cv["oof"],
               "folds": list(cv.get("folds", {}).values()), "complete": cv.get("complete", True),
               "n_folds": cv.get("n_folds", len(cv.get("folds", {}))),
               "public": spec.metric.best(p["public"] for p in e["public"])}  # fmt: skip
        row.update({key: e["config"].get(key) for key in changed})
        rows.append(row)
    return pd.DataFrame(rows).set_index("experiment")


def figure(spec: CompetitionSpec, experiments: list[dict]):
    """A matplotlib Figure: CV against public score, per-fold scores, validation curves."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(16, 4.5), dpi=100)
    left, right, curves = fig.subplots(1, 3)
    scored = [(e["name"], p) for e in experiments for p in e["public"]]
    for name, point in scored:
        left.scatter(point["cv"], point["public"], s=30)
        left.annotate(name, (point["cv"], point["public"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if scored:
        low = min(min(p["cv"], p["public"]) for _, p in scored)
        high = max(max(p["cv"], p["public"]) for _, p in scored)
        left.plot([low, high], [low, high], color="grey", linewidth=0.8, linestyle="--", label="public = CV")
        left.legend(fontsize=7)
    else:
        left.text(0.5, 0.5, "no scored submission yet\n(compete submit)", ha="center", va="center",
                  transform=left.transAxes)  # fmt: skip
    left.set_xlabel(f"pooled OOF {spec.metric.name}")
    left.set_ylabel(f"public {spec.metric.name}")
    left.set_title("CV against the public leaderboard, per submission", fontsize=9)
    for i, e in enumerate(experiments):
        scores = list(e["cv"].get("folds", {}).values())  # an ensemble has none
        right.scatter([i] * len(scores), scores, s=18, alpha=0.8)
        right.scatter([i], [e["cv"]["mean"]], marker="_", s=400, color="black")
    right.set_xticks(range(len(experiments)), [e["name"] for e in experiments], rotation=30, ha="right", fontsize=7)
    right.set_ylabel(spec.metric.name)
    right.set_title("per-fold scores (bar: mean), best experiment first", fontsize=9)
    draw_curves(curves, spec, experiments)
    fig.suptitle(spec.slug, fontsize=10)
    fig.tight_layout()
    return fig


def validation_curve(log: Path, monitor: str) -> pd.DataFrame | None:
    """(epoch, monitored value) rows of one fold's CSV log; None when the fold logged none."""
    if not log.is_file():
        return None
    frame = pd.read_csv(log)
    if monitor not in frame.columns or "epoch" not in frame.columns:
        return None
    return frame.dropna(subset=[monitor]).groupby("epoch", as_index=False)[monitor].last()


def draw_curves(ax, spec: CompetitionSpec, experiments: list[dict]) -> None:
    """The monitored validation metric per epoch, one line per fold, one colour per experiment."""
    colours = [f"C{i % 10}" for i in range(len(experiments))]
    drawn = 0
    for colour, e in zip(colours, experiments, strict=True):
        layout = RunLayout(e["path"])
        folds = layout.done_folds()
        for k in folds:
            curve = validation_curve(layout.fold_log(k), spec.monitor)
            if curve is None or curve.empty:
                continue
            ax.plot(curve["epoch"], curve[spec.monitor], color=colour, alpha=0.75, linewidth=1, marker=".",
                    label=e["name"] if k == folds[0] else None)  # fmt: skip
            drawn += 1
    if drawn:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no logged validation epochs", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("epoch")
    ax.set_ylabel(spec.monitor)
    ax.set_title(f"validation {spec.monitor} per fold (one line per fold)", fontsize=9)
