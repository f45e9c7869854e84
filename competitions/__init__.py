"""compete: from a Kaggle competition's downloaded files to a validated, fold-ensembled submission.

The Python API (the same functions the `compete` verbs call)::

    from competitions import fit, predict, runs, show
    run = fit("cifar-10", data_dir="data/cifar-10", config="debug")
    submission = predict(run)

Names are imported on first use, so ``import competitions`` (and `compete list`) stays fast.
"""

from __future__ import annotations

API = ("fit", "predict", "validate", "ensemble", "submit", "submissions", "download", "runs", "plot_runs", "show",
       "list_competitions", "demo_data", "tune", "init", "resolve", "competitions", "competition", "data_ready",
       "demo", "package", "push", "submit_kernel", "predict_bundle", "Run", "Submission")  # fmt: skip
ERRORS = ("CompeteError", "OptionError", "BudgetError", "DataError", "RunExistsError", "SubmissionError", "KaggleError")

__all__ = [*API, *ERRORS]


def __getattr__(name: str):
    if name in API:
        from competitions import api

        return getattr(api, name)
    if name in ERRORS:
        from competitions.core import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'competitions' has no attribute {name!r}")
