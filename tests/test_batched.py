"""Device-resident batched augmentation: the same crops and flips as the albumentations path, and a fit with it."""

from __future__ import annotations

import json
import os
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import chi2_contingency

from datamodules.batched import IndexBatches, augment_batch
from datamodules.transforms import train_transform
from tests.helpers import fit


def test_batched_crops_and_flips_follow_the_albumentations_distribution():
    rng = np.random.default_rng(0)
    image = rng.permutation(256)[: 6 * 6 * 3].reshape(6, 6, 3).astype(np.uint8)  # every pixel distinct
    draws = 6000
    per_image = train_transform(6, crop_padding=2, hflip=True, mean=(0, 0, 0), std=(1, 1, 1), vflip=True)
    loader = Counter(
        np.round(per_image(image=image)["image"].numpy() * 255).astype(np.uint8).tobytes() for _ in range(draws)
    )
    torch.manual_seed(0)
    batch = torch.from_numpy(np.repeat(image[None], draws, axis=0))
    out = augment_batch(batch, padding=2, hflip=True, vflip=True, mean=(0, 0, 0), std=(1, 1, 1))
    assert out.shape == (draws, 3, 6, 6) and out.dtype == torch.float32
    device = Counter(np.round(o * 255).astype(np.uint8).tobytes() for o in out.numpy())
    # The same outcomes (25 offsets x 4 flip states, reflect-101 padding): exactly the same pictures ...
    assert set(device) == set(loader) and len(loader) == 100
    # ... drawn with the same frequencies (a chi-square test of homogeneity).
    keys = sorted(loader)
    _, p_value, _, _ = chi2_contingency(np.array([[loader[k] for k in keys], [device[k] for k in keys]]))
    assert p_value > 1e-3


def test_batched_normalisation_matches_albumentations():
    image = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    mean, std = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)
    expected = train_transform(8, crop_padding=0, hflip=False, mean=mean, std=std)(image=image)["image"]
    got = augment_batch(torch.from_numpy(image[None]), 0, False, False, mean, std)[0]
    assert torch.allclose(got, expected, atol=1e-5)


def test_index_batches_cover_every_row_once_per_epoch_and_split_between_processes():
    rows, targets = np.arange(10, 53), np.arange(100) % 7
    ranks = [IndexBatches(rows, targets, 8, drop_last=False, seed=3, rank=r, world=2) for r in (0, 1)]
    epochs = []
    for _ in range(2):
        batches = [[b["index"] for b in dataset] for dataset in ranks]
        # 43 rows in batches of 8: 6 batches, 3 per process (a DDP step is a collective: equal counts) ...
        assert [len(b) for b in batches] == [len(d) for d in ranks] == [3, 3]
        seen = [torch.cat(b) for b in batches]
        # ... covering every row once.
        assert not set(seen[0].tolist()) & set(seen[1].tolist())
        assert sorted(torch.cat(seen).tolist()) == rows.tolist()
        epochs.append(torch.cat(seen).tolist())
    assert epochs[0] != epochs[1]  # a new order each epoch
    # An odd number of batches: the first is dealt again so both processes step equally often.
    odd = [IndexBatches(np.arange(40), targets, 8, drop_last=False, seed=1, rank=r, world=2) for r in (0, 1)]
    counts = [len(list(d)) for d in odd]
    assert counts == [3, 3] == [len(d) for d in odd]
    batch = next(iter(IndexBatches(rows, targets, 8, drop_last=True, seed=0)))
    assert torch.equal(batch["target"], torch.as_tensor(targets)[batch["index"]])
    # Fewer batches than processes (1,000 rows, batches of 512, 8 GPUs): every process still steps.
    for drop_last, steps in ((True, 1), (False, 1)):
        eight = [IndexBatches(np.arange(1000), np.arange(1000) % 7, 512, drop_last, seed=0, rank=r, world=8)
                 for r in range(8)]  # fmt: skip
        assert [len(list(d)) for d in eight] == [len(d) for d in eight] == [steps] * 8


def test_fit_with_device_augmentation(cifar_dir, workdir):
    assert fit("cifar-10", cifar_dir, "--data.augment_on=device", "--data.num_workers=2", "--n-folds=2") == 0
    run = workdir / "runs" / "cifar-10" / "baseline"
    assert json.loads((run / "cv.json").read_text())["complete"]
    from competitions.catalog import get_competition
    from competitions.pipeline.factory import build_datamodule

    datamodule = build_datamodule(get_competition("cifar-10"), cifar_dir, workdir / "runs", augment_on="device")
    datamodule.ensure_folds(run / "folds.csv", 2, 42, write=False)
    datamodule.set_fold(0)
    loader = datamodule.train_dataloader()
    assert loader.num_workers == 0
    raw = next(iter(loader))
    assert "image" not in raw
    batch = datamodule.on_after_batch_transfer(raw, 0)
    assert batch["image"].shape == (len(raw["index"]), 3, 32, 32)
    assert abs(float(batch["image"].mean())) < 2


@pytest.mark.parametrize("slug", ["cifar-10", "classify-leaves", "dog-breed-identification"])
def test_fast_presets_parse_and_run_an_epoch(slug, competition_dir, cifar_dir, workdir):
    from competitions.commands.cli import main

    data = cifar_dir if slug == "cifar-10" else competition_dir(slug)
    assert main(["fit", slug, "--config", "fast", "--data-dir", str(data), "--n-folds=2", "--trainer.max_epochs=1",
                 "--trainer.limit_train_batches=2", "--data.batch_size=8"]) == 0  # fmt: skip
    run = workdir / "runs" / slug / "baseline"
    config = json.loads((run / "cv.json").read_text())
    assert config["complete"]
    import yaml

    recorded = yaml.safe_load((run / "config.yaml").read_text())
    assert recorded["model"]["backbone"] == "resnet9_narrow" and recorded["data"]["augment_on"] == "device"
    # The preset says bf16-mixed; the run records what the Trainer got on this machine.
    expected = "32-true" if not torch.cuda.is_available() else recorded["trainer"]["precision"]
    assert recorded["trainer"]["precision"] == expected and expected in ("32-true", "bf16-mixed", "16-mixed")
    assert main(["predict", slug, "--run", str(run)]) == 0


def test_resnet9_is_a_timm_model_the_classifier_can_name():
    import timm

    from lightning_modules.image_classifier import ImageClassifier

    assert {"resnet9", "resnet9_narrow"} <= set(timm.list_models("resnet9*"))
    model = ImageClassifier(num_classes=7, backbone="resnet9_narrow", small_input_stem=False)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 7) and model(torch.zeros(1, 3, 64, 64)).shape == (1, 7)
    assert model.model.get_classifier().out_features == 7
    with pytest.raises(ValueError, match="no pretrained weights"):
        timm.create_model("resnet9", pretrained=True)
    # the budget ladder's last rung: three plain blocks, no residuals, the same head
    plain = ImageClassifier(num_classes=7, backbone="cnn3", small_input_stem=False)
    assert plain(torch.zeros(2, 3, 32, 32)).shape == (2, 7) and plain(torch.zeros(1, 3, 64, 64)).shape == (1, 7)
    convs = [m for m in plain.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128] and sum(p.numel() for p in plain.parameters()) < 120_000
    plain.model.reset_classifier(3)
    assert plain.model(torch.zeros(1, 3, 32, 32)).shape == (1, 3)
    with pytest.raises(ValueError, match="PlainCNN has no pretrained weights"):
        timm.create_model("cnn3", pretrained=True)
    # the 64 px presets' last rung: one block more, so its last features see most of the image
    deeper = ImageClassifier(num_classes=7, backbone="cnn4", small_input_stem=False)
    convs = [m for m in deeper.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 256] and deeper.model.num_features == 256
    assert deeper(torch.zeros(2, 3, 64, 64)).shape == (2, 7)


def test_mixed_precision_falls_back_where_the_device_lacks_it():
    from competitions.pipeline.fit_parser import supported_precision

    assert supported_precision("bf16-mixed", "cpu") == "32-true"
    assert supported_precision("16-mixed", "cpu") == "32-true"
    assert supported_precision("32-true", "cpu") == "32-true"
    native = torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 0)
    expected = "32-true" if not torch.cuda.is_available() else ("bf16-mixed" if native else "16-mixed")
    assert supported_precision("bf16-mixed", "auto") == expected


def test_bf16_on_a_cpu_only_where_a_probe_measured_it_faster(monkeypatch):
    """The probe runs once per process tree: its answer is kept in COMPETE_CPU_BF16, which DDP's processes inherit."""
    from competitions.pipeline import cpu_precision
    from competitions.pipeline.fit_parser import supported_precision

    monkeypatch.delenv(cpu_precision.VARIABLE, raising=False)
    faster = cpu_precision.cpu_bf16_faster()
    assert os.environ[cpu_precision.VARIABLE] == ("1" if faster else "0")
    assert supported_precision("bf16-mixed", "cpu") == ("bf16-mixed" if faster else "32-true")
    assert not faster or cpu_precision.onednn_bf16()  # never bf16 where oneDNN lacks it
    assert cpu_precision.step_ratio() > 0
    # A CPU without native bfloat16 is not timed at all; a user's 0 or 1 is taken as it is.
    monkeypatch.delenv(cpu_precision.VARIABLE)
    monkeypatch.setattr(cpu_precision, "onednn_bf16", lambda: False)
    monkeypatch.setattr(cpu_precision, "step_ratio", lambda: pytest.fail("timed a CPU without bf16"))
    assert cpu_precision.cpu_bf16_faster() is False and os.environ[cpu_precision.VARIABLE] == "0"
    for said, expected in (("1", "bf16-mixed"), ("0", "32-true")):
        monkeypatch.setenv(cpu_precision.VARIABLE, said)
        assert supported_precision("bf16-mixed", "cpu") == expected
        assert supported_precision("16-mixed", "cpu") == "32-true"


def test_a_cpu_fit_where_bf16_was_measured_faster_trains_and_predicts_in_bf16(cifar_dir, workdir, monkeypatch):
    from competitions.commands.cli import main
    from tests.fixtures import DtypeOfTheLogits

    monkeypatch.setenv("COMPETE_CPU_BF16", "1")
    DtypeOfTheLogits.seen = []
    assert main(["fit", "cifar-10", "--config", "fast", "--data-dir", str(cifar_dir), "--n-folds=2", "--folds=0",
                 "--trainer.max_epochs=1", "--trainer.limit_train_batches=2", "--data.batch_size=8",
                 "--model.backbone=cnn3", "--trainer.accelerator=cpu",
                 "--trainer.callbacks+=tests.fixtures.DtypeOfTheLogits"]) == 0  # fmt: skip
    run = workdir / "runs" / "cifar-10" / "baseline"
    import yaml

    assert yaml.safe_load((run / "config.yaml").read_text())["trainer"]["precision"] == "bf16-mixed"
    assert DtypeOfTheLogits.seen and set(DtypeOfTheLogits.seen) == {torch.bfloat16}
    assert main(["predict", "cifar-10", "--run", str(run), "--folds", "0"]) == 0
    from competitions.catalog import COMPETITIONS

    submission = pd.read_csv(run / "submission.csv")
    assert len(submission) == 12 and set(submission["label"]) <= set(COMPETITIONS["cifar-10"].classes)


@pytest.mark.parametrize(("capability", "expected"), [((7, 5), "16-mixed"), ((7, 0), "16-mixed"), ((8, 0), "bf16-mixed")])
def test_bf16_only_where_the_gpu_computes_it(monkeypatch, capability, expected):
    """A T4 (7.5), V100 (7.0): torch's is_bf16_supported() says yes (emulation); compete takes 16-mixed."""
    from competitions.pipeline.fit_parser import supported_precision

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert supported_precision("bf16-mixed", "gpu") == expected


def test_a_resume_on_fewer_gpus_restores_the_random_states_they_have(monkeypatch):
    """A run saved on 8 GPUs resumed on 1: torch's set_rng_state_all would raise an IndexError."""
    from competitions.pipeline.fit_callbacks import restore_cuda_states

    restored = []
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: restored.append((int(state[0]), device)))
    restore_cuda_states([torch.tensor([k], dtype=torch.uint8) for k in range(8)])
    assert restored == [(0, 0)]
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    restored.clear()
    restore_cuda_states([torch.tensor([k], dtype=torch.uint8) for k in range(2)])  # saved on 2, now 4
    assert restored == [(0, 0), (1, 1)]


def test_deterministic_on_a_gpu_warns_instead_of_raising_mid_training(monkeypatch, capsys):
    """`--trainer.deterministic=true` on a GPU: adaptive pooling's backward has no deterministic CUDA kernel,
    so torch raised in the first step; compete runs with 'warn' and says so once."""
    from competitions.pipeline.fit_parser import deterministic_setting

    assert deterministic_setting(True, "cpu") is True and deterministic_setting(False, "gpu") is False
    assert deterministic_setting(True, "gpu") == "warn" and deterministic_setting(True, "cuda") == "warn"
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "trainer.deterministic true on a GPU" in warnings[0]


def test_a_prediction_model_is_never_compiled(tmp_path):
    """Checkpoints keep compile=True; predict loads each fold once for one pass, so it does not compile."""
    from lightning_modules.generic import ImageModel

    model = ImageModel(num_classes=3, class_names=["a", "b", "c"], backbone="test_resnet", pretrained=False, small_input_stem=False,
                       compile=True, compile_backend="eager")  # fmt: skip
    import lightning as L

    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, max_steps=0)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    assert torch.load(tmp_path / "m.ckpt", weights_only=False)["hyper_parameters"]["compile"] is True
    loaded = ImageModel.load_for_prediction(tmp_path / "m.ckpt")
    assert loaded.hparams.compile is False and loaded.network() is loaded.model


def test_device_path_validates_and_predicts_whole_batches_as_the_loader_would(cifar_dir, workdir, monkeypatch):
    """augment_on device: validation and test rows are indices; their images come from the cache on the
    device, normalised there (no per-image albumentations on the CPU), with the loader path's results."""
    import lightning as L

    from competitions.catalog import get_competition
    from competitions.pipeline.factory import build_datamodule
    from competitions.pipeline.oof import gather_predictions
    from datamodules.images import CachedRows
    from lightning_modules.generic import ImageModel

    spec = get_competition("cifar-10")
    model = ImageModel(num_classes=10, class_names=list(spec.classes), backbone="test_resnet", pretrained=False,
                       small_input_stem=False)  # fmt: skip
    results = {}
    for augment_on in ("loader", "device"):
        datamodule = build_datamodule(spec, cifar_dir, workdir / "runs", augment_on=augment_on, batch_size=8,
                                      num_workers=0, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))  # fmt: skip
        datamodule.ensure_folds(workdir / "folds.csv", 2, 0)
        datamodule.set_fold(0)
        datamodule.prepare_split("test")
        assert isinstance(datamodule.predict_dataset("test"), CachedRows) == (augment_on == "device")
        for split in ("val", "test"):
            trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_checkpointing=False)
            outputs = trainer.predict(model, datamodule=datamodule.prediction_data(split))
            results[augment_on, split] = gather_predictions(outputs, "probs")
    for split in ("val", "test"):
        (index_a, probs_a), (index_b, probs_b) = results["loader", split], results["device", split]
        assert np.array_equal(index_a, index_b) and len(index_a) > 0
        assert np.allclose(probs_a, probs_b, atol=1e-5), split


def test_a_training_step_neither_all_reduces_nor_copies_to_the_device(monkeypatch):
    """Two per-step costs only a GPU under DDP shows: train/loss logged with sync_dist on every step (an
    all-reduce and a host sync), and mean/std made into new device tensors for every batch."""
    from datamodules.batched import augment_batch, normalisation
    from lightning_modules.generic import ImageModel

    model = ImageModel(num_classes=3, class_names=["a", "b", "c"], backbone="test_resnet", pretrained=False,
                       small_input_stem=False)  # fmt: skip
    logged = []
    monkeypatch.setattr(model, "log", lambda name, value, **kwargs: logged.append((name, kwargs)))
    batch = {"image": torch.randn(4, 3, 32, 32), "target": torch.tensor([0, 1, 2, 0])}
    model.training_step(batch, 0)
    per_step = [(name, kw) for name, kw in logged if kw.get("on_step")]
    assert per_step and not any(kw.get("sync_dist") for _, kw in per_step), per_step
    images = torch.randint(0, 256, (4, 8, 8, 3), dtype=torch.uint8)
    augment_batch(images, 0, False, False, (0.5,) * 3, (0.25,) * 3)
    first = normalisation((0.5,) * 3, (0.25,) * 3, "cpu")
    augment_batch(images, 2, True, False, (0.5,) * 3, (0.25,) * 3)
    assert all(a is b for a, b in zip(first, normalisation((0.5,) * 3, (0.25,) * 3, "cpu"), strict=True))
