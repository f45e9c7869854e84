"""Tables the verbs print: CV of a fit, an ensemble's members, the experiments, the submissions."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from rich.table import Table

from competitions.core.console import info, out, show
from competitions.core.spec import CompetitionSpec


def cv_table(spec: CompetitionSpec, run_path: Path, summary: dict) -> None:
    table = Table(title=f"{spec.slug} / {run_path.name}: {spec.metric.name} ({spec.metric.better_word} is better)")
    table.add_column("fold")
    table.add_column(spec.metric.name, justify="right")
    for k, score in summary["folds"].items():
        table.add_row(k, f"{score:.4f}")
    table.add_row("mean ± std", f"{summary['mean']:.4f} ± {summary['std']:.4f}")
    table.add_row("pooled OOF", f"{summary['oof']:.4f}")
    show(table, stderr=True)
    if not summary["complete"]:
        info(f"{len(summary['folds'])} of {summary['n_folds']} folds done; finish with --resume --folds <the rest>")
    fitted = "model.joblib" if any(Path(run_path).glob("fold*/model.joblib")) else "best.ckpt"
    info(f"artifacts: {run_path}{os.sep}  (config.yaml, folds.csv, fold<k>/{fitted}, oof.csv, cv.json)")


def ensemble_table(spec: CompetitionSpec, summary: dict, submission: Path) -> None:
    table = Table(title=f"{spec.slug}: ensemble ({summary['weights_by']} weights), pooled OOF {spec.metric.name}")
    table.add_column("member")
    table.add_column(spec.metric.name, justify="right")
    table.add_column("weight", justify="right")
    for member in summary["members"]:
        table.add_row(member["run"], f"{member['oof']:.4f}", f"{member['weight']:.3f}")
    table.add_row("blend (weights fitted on these rows)", f"{summary['oof']:.4f}", "1.000")
    if summary.get("oof_nested") is not None:
        table.add_row("blend (nested: each fold's weights fitted on the other folds)", f"{summary['oof_nested']:.4f}", "")
    show(table, stderr=True)
    if summary["calibration"]:
        c = summary["calibration"]
        info(f"calibrated: temperature {c['temperature']:.3f}, floor {c['clip']:g}, OOF {c['log_loss_after']:.4f}")
    info(f"submission: {submission} (validated)  details: {submission.parent / 'ensemble.json'}")


def experiments_table(spec: CompetitionSpec, frame: pd.DataFrame) -> None:
    table = Table(title=f"{spec.slug}: experiments by pooled OOF {spec.metric.name} ({spec.metric.better_word} is better)")
    for column in ("experiment", "CV mean ± std", "pooled OOF", "folds", "public"):
        table.add_column(column, justify="left" if column in ("experiment", "folds") else "right")
    changed = [c for c in frame.columns if c not in ("cv_mean", "cv_std", "oof", "folds", "complete", "n_folds", "public")]
    for key in changed:
        table.add_column(key)
    for name, row in frame.iterrows():
        folds = " ".join(f"{v:.4f}" for v in row["folds"])
        done = "" if row["complete"] else f" ({len(row['folds'])}/{row['n_folds']})"
        public = row["public"]
        table.add_row(
            str(name),
            f"{row['cv_mean']:.4f} ± {row['cv_std']:.4f}",
            f"{row['oof']:.4f}",
            folds + done,
            "-" if public is None or pd.isna(public) else f"{public:.5f}",
            *("-" if row[k] is None or (isinstance(row[k], float) and pd.isna(row[k])) else str(row[k]) for k in changed),
        )
    show(table)


def submissions_table(spec: CompetitionSpec, ledger: Path, submissions: pd.DataFrame) -> None:
    table = Table(title=f"{spec.slug}: submissions ({ledger})")
    for column in ("time", "experiment", "file", "sha256", "CV", "message", "ref", "status", "public", "error"):
        table.add_column(column, no_wrap=column in ("time", "sha256", "ref"))
    for entry in submissions.to_dict("records"):
        entry = {k: (None if isinstance(v, float) and v != v else v) for k, v in entry.items()}  # NaN: not known
        cv = entry.get("cv")
        table.add_row(
            entry.get("time") or "",
            entry.get("experiment") or "-",
            Path(entry.get("file") or "").name,
            (entry.get("sha256") or "-")[:12],
            f"{cv['mean']:.4f}" if cv else "-",
            entry.get("message") or "",
            str(int(entry["ref"])) if entry.get("ref") is not None else "-",
            entry.get("status") or "",
            entry.get("public_score") or "-",
            (entry.get("error") or "")[:60],
        )
    show(table)


def competitions_table(specs, broken: dict[str, str] | None = None) -> None:
    table = Table(title="competitions")
    columns = ["slug", "task", "metric", "id", "target", "classes", "submission", "presets"]
    for column in columns:
        table.add_column(column, no_wrap=column in ("slug", "metric", "presets"))
    for spec in specs:
        summary = spec.summary()
        table.add_row(*(str(summary[c]) for c in columns))
    show(table)
    for path, why in (broken or {}).items():  # a spec file that could not be read: named, not fatal
        out(f"broken spec file {path}: {why.removeprefix(f'{path}: ')}")
