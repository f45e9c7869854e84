"""`compete runs SLUG`: every experiment of a competition, best first, with what differs between them.

Reads each RUNS_DIR/SLUG/<experiment>/cv.json and config.yaml, and the public scores from
RUNS_DIR/SLUG/ledger.jsonl. ``--plot`` draws CV against public score for every scored submission,
and the per-fold scores of each experiment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from competitions.artifacts import atomic_path, read_yaml
from competitions.cli import verb_parser
from competitions.errors import CompeteError
from competitions.spec import CompetitionSpec
from submissions.ledger import ledger_path, read_ledger

IGNORED = ("meta", "data_dir", "experiment", "runs_dir", "config", "folds", "resume", "logger")


def flatten(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = json.dumps(value) if isinstance(value, (list, tuple)) else value
    return out


def collect(spec: CompetitionSpec, runs_dir: Path) -> list[dict]:
    """One record per experiment with a cv.json: scores, public scores, flattened config."""
    root = runs_dir / spec.slug
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
                "cv": cv,
                "public": public,
                "config": {k: v for k, v in flatten(config).items() if k.split(".")[0] not in IGNORED},
            }
        )
    reverse = spec.metric.direction == "max"
    return sorted(experiments, key=lambda e: e["cv"]["oof"], reverse=reverse)


def differing(experiments: list[dict]) -> list[str]:
    keys = sorted({k for e in experiments for k in e["config"]})
    return [k for k in keys if len({json.dumps(e["config"].get(k), default=str) for e in experiments}) > 1]


def run_runs(spec: CompetitionSpec, argv: list[str]) -> None:
    parser = verb_parser(
        "runs", spec, "Compare the experiments of a competition: CV, public scores and the settings that differ."
    )
    parser.add_argument("--runs-dir", type=str, default="runs")
    parser.add_argument("--plot", type=str | None, default=None, help="also draw a PNG: CV vs public, per-fold scores")
    args = parser.parse_args(argv)
    experiments = collect(spec, Path(args.runs_dir))
    if not experiments:
        raise CompeteError(f"{Path(args.runs_dir) / spec.slug}: no experiment with a cv.json yet; run compete fit")
    print_table(spec, experiments)
    if args.plot:
        plot(spec, experiments, Path(args.plot))
        print(f"wrote {args.plot}", file=sys.stderr)


def print_table(spec: CompetitionSpec, experiments: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    better = "higher" if spec.metric.direction == "max" else "lower"
    table = Table(title=f"{spec.slug}: experiments by pooled OOF {spec.metric.name} ({better} is better)")
    for column in ("experiment", "CV mean ± std", "pooled OOF", "folds", "public"):
        table.add_column(column, justify="left" if column in ("experiment", "folds") else "right")
    changed = differing(experiments)
    for key in changed:
        table.add_column(key)
    for e in experiments:
        cv = e["cv"]
        folds = " ".join(f"{v:.4f}" for v in cv["folds"].values())
        done = "" if cv.get("complete", True) else f" ({len(cv['folds'])}/{cv['n_folds']})"
        best = (max if spec.metric.direction == "max" else min)((p["public"] for p in e["public"]), default=None)
        table.add_row(
            e["name"],
            f"{cv['mean']:.4f} ± {cv['std']:.4f}",
            f"{cv['oof']:.4f}",
            folds + done,
            "-" if best is None else f"{best:.5f}",
            *(str(e["config"].get(k, "-")) for k in changed),
        )
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def plot(spec: CompetitionSpec, experiments: list[dict], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=100)
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
        scores = list(e["cv"]["folds"].values())
        right.scatter([i] * len(scores), scores, s=18, alpha=0.8)
        right.scatter([i], [e["cv"]["mean"]], marker="_", s=400, color="black")
    right.set_xticks(range(len(experiments)), [e["name"] for e in experiments], rotation=30, ha="right", fontsize=7)
    right.set_ylabel(spec.metric.name)
    right.set_title("per-fold scores (bar: mean), best experiment first", fontsize=9)
    fig.suptitle(spec.slug, fontsize=10)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return out
