"""The README's `compete runs --plot` figure, with real data in every panel.

Three experiments on the `compete demo` digits (real handwritten scans in the cifar-10 layout), each
fitted (2 folds), predicted and submitted with the real kaggle client to the fake Kaggle on 127.0.0.1
(tests/fake_kaggle.py). The fake scores each upload for real: the accuracy of its labels on a fixed
half of the held-out test digits (the "public" part), the way Kaggle scores a public leaderboard.
Nothing leaves this machine. Prints the runs table and writes benchmarks/figures/runs-demo-digits.png.

    python benchmarks/runs_figure.py [--workdir /tmp/runs-figure] [--epochs 8]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.fake_kaggle

from competitions import demo_data, fit, plot_runs, predict, runs, submit  # noqa: E402
from competitions.core.artifacts import save_png  # noqa: E402
from tests.fake_kaggle import FakeKaggle, client_environment, serve  # noqa: E402

OUT = Path(__file__).resolve().parent / "figures" / "runs-demo-digits.png"
EXPERIMENTS = {  # name -> overrides of the demo preset
    "digits": {},
    "digits-cutmix": {"model.cutmix_alpha": 1.0, "model.mixup_off_epochs": 2},
    "digits-lr-low": {"model.lr": 0.0005},
}


def public_scorer(heldout: Path):
    truth = pd.read_csv(heldout, dtype=str)
    public = truth.sample(frac=0.5, random_state=0)["id"]  # the public half, fixed

    def score(slug: str, body: bytes) -> str:
        submitted = pd.read_csv(io.BytesIO(body), dtype=str).set_index("id")
        expected = truth.set_index("id").loc[public, "label"]
        return f"{float((submitted.loc[public, 'label'] == expected).mean()):.5f}"

    return score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=None, help="default: a fresh temp dir")
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="runs-figure-"))
    data_dir, heldout = demo_data(workdir)
    runs_dir = workdir / "runs"
    started = time.time()
    trained = {}
    for name, overrides in EXPERIMENTS.items():
        run = fit("cifar-10", data_dir=data_dir, config="demo", experiment=name, runs_dir=runs_dir,
                  overrides={"trainer.max_epochs": args.epochs, **overrides})  # fmt: skip
        trained[name] = predict(run)
    home = workdir / "kaggle-home"
    (home / ".kaggle").mkdir(parents=True, exist_ok=True)
    (home / ".kaggle" / "kaggle.json").write_text(json.dumps({"username": "tester", "key": "test-key"}))
    (home / ".kaggle" / "kaggle.json").chmod(0o600)
    with serve(FakeKaggle(scorer=public_scorer(heldout), polls_until_complete=1)) as fake:
        os.environ.update(client_environment(fake.port, str(home)))
        for name, submission in trained.items():
            entry = submit("cifar-10", submission.path, name, runs_dir=runs_dir, poll=0.05, timeout=10)
            print(f"{name}: public accuracy {entry['public_score']} (pooled OOF {entry['cv']['oof']:.4f})")
    table = runs("cifar-10", runs_dir=runs_dir)
    print(table.drop(columns=["folds"]).to_string())
    save_png(plot_runs("cifar-10", runs_dir=runs_dir), OUT)
    print(f"wrote {OUT} in {time.time() - started:.0f}s ({os.cpu_count()} CPUs); workdir {workdir}")
    assert np.isfinite(table["public"].astype(float)).all()


if __name__ == "__main__":
    main()
