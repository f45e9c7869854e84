"""`compete demo`: a miniature cifar-10 made from real handwritten digits, fitted, predicted and scored."""

from __future__ import annotations

import argparse

from competitions.core.console import out


def demo(argv: list[str]) -> int:
    from competitions import api
    from competitions.commands.parsing import read_run_arguments

    parser = argparse.ArgumentParser(
        prog="compete demo",
        description="Build a miniature cifar-10 from real handwritten digits, then run a 2-fold fit, "
        "predict and validated submission, and print the CV score and the held-out accuracy. "
        "Other options are passed to compete fit (e.g. --trainer.max_epochs=2).",
    )
    parser.add_argument("--workdir", default="demo", help="where the data and runs go (default: ./demo)")
    args, extra = parser.parse_known_args(argv)
    fit_args = read_run_arguments(api.competition("cifar-10"), ["--config", "demo", *extra], "fit")
    result = api.demo(args.workdir, overrides=fit_args.overrides)
    if not result:
        return 0
    run = result["run"]
    out(
        f"\ncompete demo: {result['n_folds']}-fold CV accuracy {result['cv_mean']:.4f} ± {result['cv_std']:.4f} "
        f"(pooled OOF {result['cv_oof']:.4f}); held-out test accuracy {result['heldout_accuracy']:.4f} on "
        f"{result['heldout_rows']} digits; {result['seconds']:.0f}s in all\n"
        f"  competition folder  {result['data_dir']}  (Kaggle's cifar-10 layout)\n"
        f"  held-out labels     {result['heldout']}\n"
        f"  run                 {run}/  config.yaml, folds.csv, cv.json\n"
        f"  checkpoints         {run}/fold<k>/best.ckpt, last.ckpt  (+ oof.csv, metrics.json)\n"
        f"  fold predictions    {run}/test/fold<k>.csv\n"
        f"  submission          {run}/submission.csv  (validated against sampleSubmission.csv)"
    )
    return 0
