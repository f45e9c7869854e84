"""Image training per minute: a hand-written PyTorch loop against `compete fit --config fast`, same data, same wall time.

The data: scikit-learn's 1,797 real handwritten digits made harder (rotated up to 20 degrees, shifted,
a random tint, pixel noise) as 32x32 RGB PNGs in Kaggle's cifar-10 layout; a few hundred training
images, the rest a held-out test set whose labels stay outside the competition folder.

Side by side, each given the same wall-clock budget (seconds, training and test prediction included):
  plain loop   a 3-block CNN (conv-BN-ReLU-pool x3, 32/64/128 channels), pad-and-crop (4 px), AdamW,
               one-cycle over the wall clock (the LR follows the share of the budget spent; it trains until the budget is spent), flip TTA only with --hflip;
               trained on every training image
  compete      `compete fit cifar-10 --config fast --budget B` (ResNet-9 half width, device-side batched
               augmentation, one-cycle SGD, label smoothing; k folds, their test predictions averaged),
               then `compete predict`
and then the throughput of three ways to produce training batches from the decoded cache: the
per-image albumentations loader, the batched device augmentation, and decoding alone (indexing the cache).

    python benchmarks/speed.py --workdir /tmp/speed --budget 120
    python benchmarks/speed.py --workdir /tmp/speed --budget 600 --train 1200 --device cuda   # on a GPU

GPU figures (images/s of the fast recipe, seconds to 94% on the real cifar-10) come from the same
command on the real data: `compete fit cifar-10 --config fast --model.backbone=resnet9
--data.batch_size=512 --budget 10m` and `compete runs cifar-10`.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
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
def plain_cnn() -> nn.Module:
    def block(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*block(3, 32), *block(32, 64), *block(64, 128), nn.Flatten(), nn.Linear(128 * 16, 10))


def read_split(data: Path, split: str, ids) -> torch.Tensor:
    return torch.from_numpy(np.stack([np.asarray(Image.open(data / split / f"{i}.png").convert("RGB")) for i in ids]))


def plain_loop(data: Path, budget: float, hflip: bool, device: str) -> tuple[np.ndarray, float, int]:
    """Test labels (class indices), seconds, epochs."""
    started = time.time()
    torch.manual_seed(0)
    train = pd.read_csv(data / "trainLabels.csv")
    test_ids = pd.read_csv(data / "sampleSubmission.csv")["id"]
    lookup = {c: i for i, c in enumerate(CIFAR10_CLASSES)}
    x = read_split(data, "train", train["id"]).permute(0, 3, 1, 2).float().div(255).to(device)
    y = torch.as_tensor(np.array(train["label"].map(lookup))).to(device)
    x_test = read_split(data, "test", test_ids).permute(0, 3, 1, 2).float().div(255).to(device)
    mean, std = x.mean((0, 2, 3), keepdim=True), x.std((0, 2, 3), keepdim=True)
    x, x_test = (x - mean) / std, (x_test - mean) / std
    model = plain_cnn().to(device)
    batch = 128

    def augment(images):
        padded = nn.functional.pad(images, (4, 4, 4, 4), mode="reflect")
        i, j = np.random.randint(0, 9, 2)
        out = padded[:, :, i : i + 32, j : j + 32]
        return torch.where(torch.rand(len(out), 1, 1, 1, device=device) < 0.5, out.flip(3), out) if hflip else out

    def one_cycle(fraction: float) -> float:  # warm-up over the first 30%, then cosine down to 1/1000
        if fraction < 0.3:
            return 3e-3 * (0.04 + 0.96 * (1 - math.cos(math.pi * fraction / 0.3)) / 2)
        return 3e-3 * (0.001 + 0.999 * (1 + math.cos(math.pi * (fraction - 0.3) / 0.7)) / 2)

    # One-cycle over the wall clock: the LR follows the fraction of the training time spent, and
    # training ends when the budget (less a reserve for the test prediction) is spent.
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
    train_seconds = budget - (time.time() - started) - 3.0
    t0, epochs, fraction = time.time(), 0, 0.0
    while fraction < 1.0:
        model.train()
        for rows in torch.randperm(len(x), device=device).split(batch):
            fraction = (time.time() - t0) / train_seconds
            if fraction >= 1.0:
                break
            for group in optimizer.param_groups:
                group["lr"] = one_cycle(fraction)
            loss = nn.functional.cross_entropy(model(augment(x[rows])), y[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        epochs += 1
    model.eval()
    with torch.no_grad():
        probs = torch.cat([model(part).softmax(1) for part in x_test.split(512)])
        if hflip:
            probs = probs + torch.cat([model(part.flip(3)).softmax(1) for part in x_test.split(512)])
    return probs.argmax(1).cpu().numpy(), time.time() - started, epochs


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
    parser.add_argument("--budget", type=float, default=120, help="seconds for each side, prediction included")
    parser.add_argument("--train", type=int, default=600, help="training images (the rest of the 1,797 are the test set)")
    parser.add_argument("--n-folds", type=int, default=3, help="compete's folds")
    parser.add_argument("--hflip", action="store_true", help="flip augmentation and flip TTA (off: digits have a handedness)")
    parser.add_argument("--device", default="cpu")
    args, extra = parser.parse_known_args(argv)
    workdir = Path(args.workdir)
    data, heldout = build(workdir, args.train)
    truth = heldout["label"].to_numpy()

    predicted, plain_seconds, plain_epochs = plain_loop(data, args.budget, args.hflip, args.device)
    plain_acc = float((np.asarray(CIFAR10_CLASSES)[predicted] == truth).mean())

    experiment = f"fast-{int(time.time())}"
    started = time.time()
    flips = [] if args.hflip else ["--data.hflip=false", "--model.tta=[]"]
    accelerator = "gpu" if args.device.startswith("cuda") else "cpu"
    fit = ["fit", "cifar-10", "--config", "fast", "--data-dir", str(data), "--runs-dir", str(workdir / "runs"),
           "--experiment", experiment, "--n-folds", str(args.n_folds), "--budget", f"{args.budget:.0f}s",
           f"--trainer.accelerator={accelerator}", *flips, *extra]  # fmt: skip
    if compete(fit) != 0 or compete(["predict", "cifar-10", "--run", str(workdir / "runs" / "cifar-10" / experiment)]) != 0:
        return 1
    compete_seconds = time.time() - started
    submission = pd.read_csv(workdir / "runs" / "cifar-10" / experiment / "submission.csv")
    compete_acc = float((submission["label"].to_numpy() == truth).mean())
    rates = throughput(data, workdir, args.device)

    print(f"\nharder digits in the cifar-10 layout: {args.train} training images, {len(truth)} held-out test images")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, device {args.device}")
    print(f"{'':44}{'test accuracy':>14}{'seconds':>9}")
    print(f"{'plain loop (3-block CNN, AdamW, one-cycle)':44}{plain_acc:>14.4f}{plain_seconds:>9.1f}   ({plain_epochs} epochs)")
    print(f"{'compete fit --config fast + predict':44}{compete_acc:>14.4f}{compete_seconds:>9.1f}   ({args.n_folds} folds)")
    import yaml

    entry = yaml.safe_load((workdir / "runs" / "cifar-10" / experiment / "config.yaml").read_text())["history"][-1]
    print(f"compete's budget: {args.budget:.0f} s, {entry['budget']['epochs']} epochs per fold planned, the fit used "
          f"{entry['seconds']:.1f} s ({entry['seconds'] / args.budget:.0%} of the budget)")
    print("training batches from the decoded cache (images/s):")
    for name, rate in rates.items():
        print(f"  {name:<48}{rate:>10.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
