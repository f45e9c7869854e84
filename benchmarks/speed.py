"""Image training per minute: a hand-written PyTorch loop against `compete fit --config fast`, same data, same wall time.

The data: scikit-learn's 1,797 real handwritten digits made harder (rotated up to 20 degrees, shifted,
a random tint, pixel noise) as 32x32 RGB PNGs in Kaggle's cifar-10 layout (`--data digits`: a few hundred
training images, the rest a held-out test set), or a learnable synthetic set at real sizes in the cifar-10
or classify-leaves layout (`--data shapes`, benchmarks/synthetic_images.py: 6,000 training and 2,000 test
images by default with --train 6000). The test labels stay outside the competition folder.

Side by side, each given the same wall-clock budget (seconds, reading the images and test prediction included):
  plain loop   a 3-block CNN (conv-BN-ReLU-pool x3, 32/64/128 channels), pad-and-crop, AdamW, one-cycle
               over the wall clock (the LR follows the share of the budget spent; it trains until the
               budget is spent), flip augmentation and flip TTA only with --hflip; trained on every image
  compete      `compete fit SLUG --config fast --budget B` (its plan chooses the epochs and, when they
               would be too few, the folds), then `compete predict`, in a fresh runs folder
With --natural-epochs E the loop first trains E epochs on its own; its seconds S set the budgets of the
rest (--times 1,3: S and 3S, where the loop also gets 3S). With --data digits it then times three ways
to produce training batches from the decoded cache (per-image albumentations, batched device
augmentation, decoding alone).

    python benchmarks/speed.py --workdir /tmp/speed --budget 120
    python benchmarks/speed.py --workdir /tmp/speed6k --data shapes --train 6000 --natural-epochs 15 --hflip
    python benchmarks/speed.py --workdir /tmp/leaves6k --data shapes --slug classify-leaves --train 6000 --natural-epochs 15 --hflip
    python benchmarks/speed.py --workdir /tmp/speed --budget 600 --train 1200 --device cuda   # on a GPU
    python benchmarks/speed.py --workdir /tmp/speed6k --data shapes --train 6000 --hflip --budget 120,300,600 --compete-only

GPU figures (images/s of the fast recipe, seconds to 94% on the real cifar-10) come from the same
command on the real data: `compete fit cifar-10 --config fast --budget 10m` (on a GPU the preset's on_gpu
settings make it resnet9 at batch 512) and `compete runs cifar-10`.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from competitions.catalog import COMPETITIONS
from competitions.commands.cli import main as compete  # noqa: E402

CIFAR10_CLASSES = COMPETITIONS["cifar-10"].classes


def harder_digits(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Every digit scan once (shuffled), rotated, shifted, tinted and noised, as 32x32 RGB uint8."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = rng.permutation(len(digits.target))[:n]
    images = []
    for i in order:
        gray = Image.fromarray((digits.images[i] * (255 / 16)).astype(np.uint8)).resize((28, 28), Image.BICUBIC)
        gray = gray.rotate(rng.uniform(-20, 20), resample=Image.BILINEAR)
        canvas = np.zeros((32, 32), np.float32)
        dy, dx = rng.integers(0, 5, 2)
        canvas[dy : dy + 28, dx : dx + 28] = np.asarray(gray, np.float32)
        tint, background = rng.uniform(0.4, 1.0, 3), rng.uniform(0, 90, 3)
        rgb = background + canvas[..., None] / 255 * (255 - background) * tint
        rgb += rng.normal(0, 28, rgb.shape)
        images.append(np.clip(rgb, 0, 255).astype(np.uint8))
    return np.stack(images), digits.target[order]


def build(root: Path, n_train: int, seed: int = 0, n_total: int = 1797) -> tuple[Path, pd.DataFrame]:
    """The first ``n_train`` of ``n_total`` digits for training, the rest as the test set."""
    data = root / "data" / "cifar-10"
    images, labels = harder_digits(1797, np.random.default_rng(seed))
    images, labels = images[:n_total], labels[:n_total]
    names = np.asarray(CIFAR10_CLASSES)[labels]
    heldout = pd.DataFrame({"id": np.arange(1, n_total - n_train + 1), "label": names[n_train:]})
    if not (data / "sampleSubmission.csv").exists():
        for split, part in (("train", images[:n_train]), ("test", images[n_train:])):
            (data / split).mkdir(parents=True, exist_ok=True)
            for i, image in enumerate(part, start=1):
                Image.fromarray(image).save(data / split / f"{i}.png")
        pd.DataFrame({"id": np.arange(1, n_train + 1), "label": names[:n_train]}).to_csv(data / "trainLabels.csv", index=False)
        pd.DataFrame({"id": heldout["id"], "label": "cat"}).to_csv(data / "sampleSubmission.csv", index=False)
    return data, heldout


# ---- the plain loop ---------------------------------------------------------------------
def plain_cnn(n_classes: int = 10, size: int = 32) -> nn.Module:
    def block(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*block(3, 32), *block(32, 64), *block(64, 128), nn.Flatten(), nn.Linear(128 * (size // 8) ** 2, n_classes))


def read_images(paths, size: int) -> torch.Tensor:
    """The files as one uint8 tensor (N, H, W, 3), resized to ``size`` where they are larger."""
    def load(path):
        image = Image.open(path).convert("RGB")
        return np.asarray(image if image.size == (size, size) else image.resize((size, size), Image.BILINEAR))

    return torch.from_numpy(np.stack([load(path) for path in paths]))


def read_competition(data: Path, slug: str, size: int) -> tuple[torch.Tensor, np.ndarray, torch.Tensor, list[str]]:
    """Training images, their labels (names), test images, the class names (sorted)."""
    if slug == "cifar-10":
        train, test = pd.read_csv(data / "trainLabels.csv"), pd.read_csv(data / "sampleSubmission.csv")
        files = [data / "train" / f"{i}.png" for i in train["id"]], [data / "test" / f"{i}.png" for i in test["id"]]
        return read_images(files[0], size), train["label"].to_numpy(), read_images(files[1], size), list(CIFAR10_CLASSES)
    train, test = pd.read_csv(data / "train.csv"), pd.read_csv(data / "test.csv")
    x, x_test = read_images([data / f for f in train["image"]], size), read_images([data / f for f in test["image"]], size)
    return x, train["label"].to_numpy(), x_test, sorted(train["label"].unique())


def plain_loop(data: Path, budget: float | None, hflip: bool, device: str, slug: str = "cifar-10", size: int = 32,
               epochs: int | None = None, rows: np.ndarray | None = None) -> tuple[np.ndarray, float, int]:  # fmt: skip
    """Test labels (names), seconds, epochs: one-cycle over the wall clock (``budget``), or over ``epochs``;
    on the training images ``rows`` (default: all)."""
    started = time.time()
    torch.manual_seed(0)
    x, labels, x_test, classes = read_competition(data, slug, size)
    if rows is not None:
        x, labels = x[torch.as_tensor(rows)], labels[rows]
    lookup = {c: i for i, c in enumerate(classes)}
    x, x_test = (t.permute(0, 3, 1, 2).float().div(255).to(device) for t in (x, x_test))
    y = torch.as_tensor(np.array([lookup[label] for label in labels])).to(device)
    mean, std = x.mean((0, 2, 3), keepdim=True), x.std((0, 2, 3), keepdim=True)
    x, x_test = (x - mean) / std, (x_test - mean) / std
    model = plain_cnn(len(classes), size).to(device)
    batch, pad = 128, size // 8

    def augment(images):
        padded = nn.functional.pad(images, (pad, pad, pad, pad), mode="reflect")
        i, j = np.random.randint(0, 2 * pad + 1, 2)
        out = padded[:, :, i : i + size, j : j + size]
        return torch.where(torch.rand(len(out), 1, 1, 1, device=device) < 0.5, out.flip(3), out) if hflip else out

    def one_cycle(fraction: float) -> float:  # warm-up over the first 30%, then cosine down to 1/1000
        if fraction < 0.3:
            return 3e-3 * (0.04 + 0.96 * (1 - math.cos(math.pi * fraction / 0.3)) / 2)
        return 3e-3 * (0.001 + 0.999 * (1 + math.cos(math.pi * (fraction - 0.3) / 0.7)) / 2)

    # One-cycle over the wall clock: the LR follows the fraction of the training time spent, and
    # training ends when the budget (less a reserve for the test prediction) is spent; or over the steps
    # of ``epochs`` epochs (the loop's natural length).
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
    train_seconds = budget - (time.time() - started) - 3.0 if budget else None
    total_steps = epochs * -(-len(x) // batch) if epochs else None
    t0, epochs, fraction, step = time.time(), 0, 0.0, 0
    while fraction < 1.0:
        model.train()
        for rows in torch.randperm(len(x), device=device).split(batch):
            fraction = step / total_steps if total_steps else (time.time() - t0) / train_seconds
            step += 1
            if fraction >= 1.0:
                break
            for group in optimizer.param_groups:
                group["lr"] = one_cycle(fraction)
            loss = nn.functional.cross_entropy(model(augment(x[rows])), y[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        else:
            epochs += 1  # whole epochs only
    model.eval()
    with torch.no_grad():
        probs = torch.cat([model(part).softmax(1) for part in x_test.split(512)])
        if hflip:
            probs = probs + torch.cat([model(part.flip(3)).softmax(1) for part in x_test.split(512)])
    return np.asarray(classes)[probs.argmax(1).cpu().numpy()], time.time() - started, epochs


# ---- loader throughput ----------------------------------------------------------------------
def throughput(data: Path, workdir: Path, device: str, batches: int = 30) -> dict[str, float]:
    """Training images per second from the decoded cache: per-image loader, batched device path, decode only."""
    from competitions.catalog import get_competition
    from competitions.pipeline.factory import build_datamodule

    spec = get_competition("cifar-10")
    out = {}
    for name, augment_on in (("per-image albumentations loader (0 workers)", "loader"), ("batched device augmentation", "device")):
        datamodule = build_datamodule(spec, data, workdir / "runs", augment_on=augment_on, num_workers=0, batch_size=128)
        datamodule.ensure_folds(workdir / "throughput-folds.csv", 5, 0)
        datamodule.set_fold(0)
        loader = datamodule.train_dataloader()
        count, started = 0, None
        for step in range(batches + 1):
            for batch in loader:
                if step == 0 and started is None:
                    started = time.time()  # after the first batch: the cache is loaded
                batch = {k: v.to(device) for k, v in batch.items()}
                batch = datamodule.on_after_batch_transfer(batch, 0) if augment_on == "device" else batch
                count += len(batch["image"])
                if count >= batches * 128:
                    break
            if count >= batches * 128:
                break
        out[name] = count / (time.time() - started)
    cache = np.load(datamodule.cache_file("train"), mmap_mode="r")
    started, count = time.time(), 0
    while count < batches * 128:
        rows = np.sort(np.random.randint(0, len(cache), 128))
        torch.from_numpy(np.ascontiguousarray(cache[rows])).to(device)
        count += 128
    out["decode only (cache indexing, no augmentation)"] = count / (time.time() - started)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default="speed-bench")
    parser.add_argument("--data", choices=["digits", "shapes"], default="digits",
                        help="digits: the harder digit scans (1,797 in all); shapes: benchmarks/synthetic_images.py")  # fmt: skip
    parser.add_argument("--slug", choices=["cifar-10", "classify-leaves"], default="cifar-10", help="with --data shapes")
    parser.add_argument("--budget", default="120", help="seconds for each side, prediction included; a list "
                        "(120,300,600) runs each")  # fmt: skip
    parser.add_argument("--preset", default="fast", help="compete's --config (fast; lite0 for leaves and dogs)")
    parser.add_argument("--compete-only", action="store_true", help="no plain loop: how close compete ends to each "
                        "budget (fit + predict)")  # fmt: skip
    parser.add_argument("--natural-epochs", type=int, help="time the plain loop over this many epochs first: its "
                        "seconds S set the budgets (--times)")  # fmt: skip
    parser.add_argument("--times", default="1,3", help="with --natural-epochs: the budgets as multiples of S")
    parser.add_argument("--train", type=int, default=600, help="training images (digits: the rest of the 1,797 are the test set)")
    parser.add_argument("--test", type=int, default=2000, help="test images (--data shapes)")
    parser.add_argument("--n-folds", type=int, help="compete's folds (default: the preset's; the budget plan may train fewer)")
    parser.add_argument("--hflip", action="store_true", help="flip augmentation and flip TTA (off: digits have a handedness)")
    parser.add_argument("--device", default="cpu")
    args, extra = parser.parse_known_args(argv)
    workdir = Path(args.workdir)
    if args.data == "digits":
        (data, heldout), slug, size = build(workdir, args.train), "cifar-10", 32
    else:
        from benchmarks.synthetic_images import ensure

        slug, size = args.slug, 32 if args.slug == "cifar-10" else 64
        data, heldout = ensure(slug, workdir / "data", args.train, args.test)
    truth = heldout["label"].to_numpy()
    rows = []
    if args.natural_epochs:
        predicted, natural, epochs = plain_loop(data, None, args.hflip, args.device, slug, size, args.natural_epochs)
        rows.append((f"plain loop, {epochs} epochs (its natural time S)", float((predicted == truth).mean()), natural, ""))
        budgets = [float(m) * natural for m in args.times.split(",")]
    else:
        budgets = [float(b) for b in str(args.budget).split(",")]
    for budget in budgets:
        if not (args.natural_epochs and budget == natural) and not args.compete_only:
            predicted, seconds, epochs = plain_loop(data, budget, args.hflip, args.device, slug, size)
            rows.append((f"plain loop, {budget:.0f} s", float((predicted == truth).mean()), seconds, f"{epochs} epochs"))
        found = compete_side(args, extra, data, slug, workdir / f"runs-{budget:.0f}s", budget, truth)
        if found is None:
            return 1
        rows.append(found)
    report(args, slug, len(truth), rows)
    if args.data == "digits":
        print("training batches from the decoded cache (images/s):")
        for name, rate in throughput(data, workdir, args.device).items():
            print(f"  {name:<48}{rate:>10.0f}")
    return 0


def compete_side(args, extra: list[str], data: Path, slug: str, runs: Path, budget: float, truth: np.ndarray):
    """`compete fit SLUG --config fast --budget B` + `compete predict` in fresh RUNS (it decodes the images
    again, as the loop does): its row (name, held-out accuracy, seconds, the plan), None when it failed."""
    shutil.rmtree(runs, ignore_errors=True)  # a fresh runs folder: the images are decoded again, inside the budget
    started = time.time()
    flips = [] if args.hflip else ["--data.hflip=false", "--model.tta=[]"]
    accelerator = "gpu" if args.device.startswith("cuda") else "cpu"
    folds = ["--n-folds", str(args.n_folds)] if args.n_folds else []
    fit = ["fit", slug, "--config", args.preset, "--data-dir", str(data), "--runs-dir", str(runs), "--experiment", "fast",
           *folds, "--budget", f"{budget:.0f}s", f"--trainer.accelerator={accelerator}", *flips, *extra]  # fmt: skip
    if compete(fit) != 0 or compete(["predict", slug, "--run", str(runs / slug / "fast")]) != 0:
        return None
    seconds = time.time() - started
    submission = pd.read_csv(runs / slug / "fast" / "submission.csv")
    import yaml

    plan = yaml.safe_load((runs / slug / "fast" / "config.yaml").read_text())["history"][-1]["budget"]
    batches = f" of {plan['train_batches']} batches" if plan.get("train_batches") else ""
    stepped = plan.get("model") or {}
    model = stepped.get("model.backbone") or "the preset's model"
    model += f" at {stepped['data.image_size']} px" if "data.image_size" in stepped else ""
    model += " without TTA" if stepped.get("model.tta") == [] else ""
    trained = len(plan.get("trained") or range(plan["folds"]))
    shown = (f"{trained} fold{'s' if trained > 1 else ''} x {plan['epochs']} epochs{batches}, {model}; "
             f"{100 * seconds / budget:.1f}% of the budget")  # fmt: skip
    return (f"compete --config {args.preset} --budget {budget:.0f}s + predict", float((submission["label"].to_numpy() == truth).mean()),
            seconds, shown)  # fmt: skip


def report(args, slug: str, n_test: int, rows: list[tuple]) -> None:
    what = "harder digits" if args.data == "digits" else "synthetic shapes (benchmarks/synthetic_images.py)"
    print(f"\n{what} in the {slug} layout: {args.train} training images, {n_test} held-out test images")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, device {args.device}")
    print(f"{'':56}{'test accuracy':>14}{'seconds':>9}")
    for name, accuracy, seconds, note in rows:
        print(f"{name:<56}{accuracy:>14.4f}{seconds:>9.1f}   {note}")


if __name__ == "__main__":
    sys.exit(main())
