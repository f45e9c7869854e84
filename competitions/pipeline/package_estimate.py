"""How long the package's notebook will run on Kaggle: each run predicts a sample of the test set here
(the first fold, a few batches, with its TTA views), scaled to every test row and fold, then to Kaggle's
machine, and compared with the competition's limit (the spec's runtime_limit_hours)."""

from __future__ import annotations

import time

from competitions.core.console import info
from competitions.core.spec import CompetitionSpec

SAMPLE_BATCHES = 4
KAGGLE_CPU_CORES = 4  # a Kaggle CPU notebook's cores
INSTALL_SECONDS = 60.0  # the notebook's pip install, imports and copying, on top of the prediction


def time_member(spec: CompetitionSpec, member) -> dict:
    """Seconds to predict every test row with every packaged fold of one run, from a timed sample."""
    from competitions.pipeline.predict import PredictOptions, open_run, resolve_tta

    settings = {k: member.predict[k] for k in ("folds", "checkpoint", "tta", "calibrate")}
    options = PredictOptions(**settings, limit_batches=SAMPLE_BATCHES if member.predict["accelerator"] else None)
    started = time.perf_counter()
    prediction = open_run(spec, member.layout, options)
    tta = resolve_tta(prediction) if prediction.model_class.supports_tta else None
    opened = time.perf_counter()
    index, _ = prediction.fold_trainer.predict_test(prediction, next(iter(prediction.checkpoints)), tta)
    fold_seconds = time.perf_counter() - opened
    rows = len(prediction.datamodule.test_table)
    per_fold = fold_seconds * rows / max(1, len(index))
    return {"run": member.layout.root.name, "rows": rows, "sampled_rows": int(len(index)),
            "seconds": (opened - started) + per_fold * len(prediction.checkpoints)}  # fmt: skip


def here() -> tuple[str, bool, int]:
    """(this machine's device in words, whether it is a GPU, CPU threads)."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0), True, torch.get_num_threads()
    return f"CPU, {torch.get_num_threads()} threads", False, torch.get_num_threads()


def estimate_runtime(spec: CompetitionSpec, members: list, gpu: bool, test_rows: int | None = None) -> dict:
    """Measured here, expected on Kaggle, and whether it fits the limit; printed in three lines."""
    from competitions.pipeline.quiet import quiet_library_noise

    quiet_library_noise()
    timed = [time_member(spec, m) for m in members]
    rows = timed[0]["rows"]
    scale = (test_rows or rows) / rows
    measured = sum(t["seconds"] for t in timed) * scale
    device, on_gpu, threads = here()
    if gpu:
        target = "Kaggle's GPU (a T4)"
        factor = 1.0  # a newer GPU here is faster than a T4; a CPU here is slower: either way an estimate
    else:
        target = f"Kaggle's CPU ({KAGGLE_CPU_CORES} cores)"
        factor = threads / KAGGLE_CPU_CORES if not on_gpu else 10.0
    kaggle = measured * factor + INSTALL_SECONDS
    limit = spec.runtime_limit_hours
    estimate = {"device": device, "runs": timed, "test_rows": int(test_rows or rows), "measured_seconds": measured,
                "kaggle": target, "kaggle_seconds": kaggle, "kaggle_hours": kaggle / 3600, "limit_hours": limit,
                "fits": kaggle <= limit * 3600}  # fmt: skip
    sampled = ", ".join(f"{t['run']} {t['sampled_rows']} of {t['rows']} rows" for t in timed)
    info(f"estimate: predicting {estimate['test_rows']} test rows takes {measured:.0f}s here ({device}; timed on "
         f"{sampled}, first fold, scaled to every fold)")  # fmt: skip
    note = "" if gpu == on_gpu else (" (measured on a CPU: a GPU will be faster)" if gpu else "")
    info(f"estimate: on {target} about {kaggle / 60:.0f} min with the install{note}; the limit is {limit:g} h: "
         f"{'fits' if estimate['fits'] else 'does NOT fit'}")  # fmt: skip
    return estimate
