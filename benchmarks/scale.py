"""Full-size image competitions end to end: seconds and peak memory per stage of `compete fit` + `compete predict`.

    python benchmarks/scale.py --root /tmp/full --sizes 5000:30000,50000:300000          # cifar-10's real sizes last
    python benchmarks/scale.py --root /tmp/full --sizes 50000:300000 --trainer.accelerator=gpu   # on a GPU

For each size (training:test images) a learnable set in Kaggle's cifar-10 layout (benchmarks/synthetic_images.py:
PNGs, the answers outside the folder; built once under ROOT) goes through the project's own commands, in a fresh
runs folder: `compete fit cifar-10 --config fast --folds 0 --trainer.max_epochs 1` (one fold of one epoch: the
per-epoch costs, which a budget or more folds multiply) and `compete predict` (the preset's flip TTA). Each
stage's seconds come from the commands' own lines (stamped as they are read), from a Lightning callback in the
fit (the epoch, its validation, the out-of-fold prediction) and from the times of the files predict writes;
memory is the largest proportional set (PSS: a page shared by several processes counted once, split among
them; the decode workers and DDP processes share the parent's) of the command and its child processes, and
its anonymous part (the processes' own memory; the rest is page cache, such as the memory-mapped image cache,
which the kernel can drop), sampled every second (RSS where /proc has no smaps_rollup). The last
column divides a stage by the images it handles: at two sizes, a stage whose time per image grows with the
size is not linear. Extra arguments go to `compete fit` (e.g. --model.backbone=cnn3).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from lightning.pytorch.callbacks import Callback

ROOT = Path(__file__).resolve().parents[1]
EVENTS = "SCALE_BENCHMARK_EVENTS"  # the file StageClock appends its stamps to


class StageClock(Callback):
    """Stamps the edges of the fit's training epoch, validation and prediction (not the sanity check) into
    the file $SCALE_BENCHMARK_EVENTS, a JSON line each."""

    def _stamp(self, trainer, event: str) -> None:
        if not trainer.sanity_checking and os.environ.get(EVENTS):
            with open(os.environ[EVENTS], "a") as out:
                out.write(json.dumps({"event": event, "t": time.time()}) + "\n")

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._stamp(trainer, "train_start")

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._stamp(trainer, "val_start")

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        self._stamp(trainer, "val_end")

    def on_predict_start(self, trainer, pl_module) -> None:
        self._stamp(trainer, "predict_start")

    def on_predict_end(self, trainer, pl_module) -> None:
        self._stamp(trainer, "predict_end")


@dataclass
class Command:
    """One command's run: its output lines with the time each was read, its memory samples, start and end."""

    started: float
    ended: float = 0.0
    lines: list[tuple[float, str]] = field(default_factory=list)
    memory: list[tuple[float, int, int]] = field(default_factory=list)  # (time, PSS, anonymous PSS) in bytes
    code: int = 0

    def line_time(self, pattern: str) -> float:
        found = next((t for t, text in self.lines if re.search(pattern, text)), None)
        if found is None:
            raise SystemExit(f"scale: no line matching {pattern!r} in the command's output")
        return found

    def peak(self, start: float, end: float) -> tuple[int, int] | None:
        """The largest (PSS, anonymous) samples in [start, end] (None: the stage was shorter than a sample's
        interval)."""
        inside = [(pss, anon) for t, pss, anon in self.memory if start <= t <= end]
        return (max(p for p, _ in inside), max(a for _, a in inside)) if inside else None


def proportional_memory(process) -> tuple[int, int]:
    """(PSS, anonymous PSS) of one process in bytes, from /proc/PID/smaps_rollup; (RSS, RSS) without it."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{process.pid}/smaps_rollup").read_text().splitlines()[1:])
        kib = lambda name: int(fields[name].split()[0]) * 1024  # noqa: E731
        return kib("Pss"), kib("Pss_Anon")
    except (OSError, KeyError, ValueError):
        rss = process.memory_info().rss
        return rss, rss


def run(args: list[str], env: dict) -> Command:
    """Run ``python -m competitions ARGS``, stamping each output line and sampling its memory."""
    import psutil

    command = Command(started=time.time())
    proc = subprocess.Popen([sys.executable, "-m", "competitions", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, cwd=ROOT)  # fmt: skip

    def sample() -> None:
        parent = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                shares = [proportional_memory(p) for p in [parent, *parent.children(recursive=True)]]
            except psutil.Error:
                break
            command.memory.append((time.time(), sum(p for p, _ in shares), sum(a for _, a in shares)))
            time.sleep(1.0)  # reading smaps_rollup of a process of several GB takes tens of ms

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for text in proc.stdout:
        command.lines.append((time.time(), text.rstrip()))
    command.code, command.ended = proc.wait(), time.time()
    sampler.join(timeout=1)
    if command.code != 0:
        print("\n".join(text for _, text in command.lines[-20:]), file=sys.stderr)
        raise SystemExit(f"scale: `compete {' '.join(args[:2])}` exited with {command.code}")
    return command


def events(path: Path) -> dict[str, float]:
    """The first stamp of each event the fit's StageClock wrote."""
    found: dict[str, float] = {}
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        found.setdefault(entry["event"], entry["t"])
    return found


def fit_stages(fit: Command, stamps: dict[str, float], n_train: int, n_test: int) -> list[tuple]:
    decoding = fit.line_time(r"decoding cifar-10-train images: \d+"), fit.line_time(r"decoding cifar-10-train images: done")
    rows = re.search(r"training on (\d+) rows, validating on (\d+)", next(t for _, t in fit.lines if "training on" in t))
    trained, validated = int(rows.group(1)), int(rows.group(2))
    return [
        ("fit: start, read and check both CSVs and every file", fit.started, decoding[0], n_train + n_test),
        ("fit: decode + cache the training images", *decoding, n_train),
        ("fit: one training epoch", stamps["train_start"], stamps["val_start"], trained),
        ("fit: its validation", stamps["val_start"], stamps["val_end"], validated),
        ("fit: out-of-fold prediction (best checkpoint)", stamps["predict_start"], stamps["predict_end"], validated),
        ("fit, in all (1 fold, 1 epoch)", fit.started, fit.ended, n_train),
    ]


def predict_stages(predict: Command, run_dir: Path, n_test: int) -> list[tuple]:
    decoding = (predict.line_time(r"decoding cifar-10-test images: \d+"),
                predict.line_time(r"decoding cifar-10-test images: done"))  # fmt: skip
    fold_file = (run_dir / "test" / "fold0.csv").stat().st_mtime
    submitted = predict.line_time(r"^submission: ")
    return [
        ("predict: start, load the run", predict.started, decoding[0], n_test),
        ("predict: decode + cache the test images", *decoding, n_test),
        ("predict: test prediction, flip TTA, test/fold0.csv", decoding[1], fold_file, n_test),
        ("predict: average, write + validate submission.csv", fold_file, submitted, n_test),
        ("predict, in all", predict.started, predict.ended, n_test),
    ]


def measure(root: Path, n_train: int, n_test: int, extra: list[str]) -> list[tuple]:
    """Build (or reuse) the set, fit one fold of one epoch and predict it: the stages (name, seconds, peak
    bytes, images)."""
    from benchmarks.synthetic_images import ensure

    started = time.time()
    data, _ = ensure("cifar-10", root / f"cifar-10-{n_train}-{n_test}", n_train, n_test)
    print(f"data: {data} ({n_train} + {n_test} PNGs; {time.time() - started:.0f} s to build or find)", flush=True)
    runs = root / f"runs-{n_train}-{n_test}"
    shutil.rmtree(runs, ignore_errors=True)  # fresh: the caches are built inside the measured commands
    runs.mkdir(parents=True)
    stamps = runs / "events.jsonl"
    env = {**os.environ, EVENTS: str(stamps), "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    fit = run(["fit", "cifar-10", "--config", "fast", "--data-dir", str(data), "--runs-dir", str(runs), "--experiment",
               "scale", "--folds", "0", "--trainer.max_epochs=1", "--trainer.callbacks+=benchmarks.scale.StageClock",
               *extra], env)  # fmt: skip
    run_dir = runs / "cifar-10" / "scale"
    predict = run(["predict", "cifar-10", "--run", str(run_dir), "--folds", "0"], env)
    spans = [*((name, a, b, n, fit) for name, a, b, n in fit_stages(fit, events(stamps), n_train, n_test)),
             *((name, a, b, n, predict) for name, a, b, n in predict_stages(predict, run_dir, n_test))]  # fmt: skip
    return [(name, b - a, command.peak(a, b), n) for name, a, b, n, command in spans]


def report(results: dict[str, list[tuple]]) -> None:
    import torch

    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"cuda {torch.cuda.is_available()}")  # fmt: skip
    for size, stages in results.items():
        print(f"\n{size} (training:test images)")
        print(f"{'stage':<54}{'seconds':>9}{'PSS GB':>9}{'anon GB':>9}{'ms / 1,000 images':>19}")
        for name, seconds, peak, n in stages:
            memory = "".join(f"{x / 2**30:>9.2f}" for x in peak) if peak is not None else f"{'-':>9}{'-':>9}"
            print(f"{name:<54}{seconds:>9.1f}{memory}{1e6 * seconds / max(n, 1):>19.1f}")
    if len(results) > 1:
        (small_size, small), (large_size, large) = list(results.items())[0], list(results.items())[-1]
        print(f"\ntime per image at {large_size} / at {small_size} (about 1: linear; growing with the size: not)")
        for (name, s_small, _, n_small), (_, s_large, _, n_large) in zip(small, large, strict=True):
            ratio = (s_large / max(n_large, 1)) / max(s_small / max(n_small, 1), 1e-12)
            print(f"{name:<54}{ratio:>9.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="where the sets and runs go (about 1 GB for the full size)")
    parser.add_argument("--sizes", default="5000:30000,50000:300000", help="training:test images, comma-separated")
    args, extra = parser.parse_known_args(argv)
    results = {}
    for size in args.sizes.split(","):
        n_train, n_test = (int(n) for n in size.split(":"))
        results[size] = measure(Path(args.root), n_train, n_test, extra)
    report(results)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
