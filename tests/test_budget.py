"""`compete fit --budget`: the duration parser, the plan's arithmetic, and a real run that records its plan."""

from __future__ import annotations

import os
import re
import time

import pytest
import yaml

from competitions.core.errors import CompeteError
from competitions.pipeline.fit_budget import (
    FOLDS_VARIABLE,
    PLAN_VARIABLE,
    SAFETY,
    SETTINGS_VARIABLE,
    Plan,
    Rates,
    TooSlow,
    choose_epochs,
    choose_folds,
    fill,
    fold_ladder,
    guard_checks,
    guard_epochs,
    parse_duration,
    replan,
    steps,
    too_slow_for,
)
from tests.helpers import error_line, fit


def test_durations():
    assert parse_duration("90s") == 90 and parse_duration("10m") == 600 and parse_duration("1h30m") == 5400
    assert parse_duration("45") == 45 and parse_duration("2.5m") == 150
    for bad in ("ten minutes", "10x", "m", "1h 30q"):
        with pytest.raises(CompeteError, match="write a duration like 90s, 10m or 1h30m"):
            parse_duration(bad)


@pytest.mark.parametrize("budget", [60, 600, 3600])
def test_the_plan_fills_the_budget_within_twenty_percent(budget):
    rates = Rates(train_step=0.05, eval_step=0.02, epoch_overhead=0.3, fold_overhead=2.0)
    plan = Plan(budget=budget, spent_before=5.0, folds=5, train_steps=40, eval_steps=10, predict_steps=30, rates=rates)
    epochs = choose_epochs(plan)
    used = plan.fixed_seconds() + plan.folds * epochs * plan.epoch_seconds()
    margin = SAFETY * (budget - plan.fixed_seconds())  # what the plan may spend on epochs
    assert plan.folds * epochs * plan.epoch_seconds() <= margin < plan.folds * (epochs + 1) * plan.epoch_seconds()
    assert 0.8 * budget <= used <= budget  # within a fifth of the budget, never over it (as estimated)
    tight = Plan(budget=1, spent_before=5.0, folds=5, train_steps=40, eval_steps=10, predict_steps=30, rates=rates)
    with pytest.raises(CompeteError, match=r"`budget` 1s: the smallest plan, 1 epoch per fold, needs about \d+s"):
        choose_epochs(tight, "1s")  # never zero epochs: refused
    just = Plan(budget=tight.fixed_seconds() + 5 * tight.epoch_seconds() + 0.1, spent_before=5.0, folds=5,
                train_steps=40, eval_steps=10, predict_steps=30, rates=rates)  # fmt: skip
    assert choose_epochs(just) == 1


RATES = Rates(train_step=0.05, eval_step=0.02, epoch_overhead=0.3, fold_overhead=2.0)


@pytest.mark.parametrize("budget", range(20, 400, 7))
def test_the_time_whole_epochs_leave_trains_an_epoch_of_fewer_batches(budget):
    """Never fewer steps than whole epochs, never past the budget (as estimated); one more epoch of fewer
    batches when that trains more (a 1-fold plan of 40-batch epochs loses at most one step an epoch)."""
    plan = Plan(budget=budget, spent_before=5.0, folds=1, train_steps=40, eval_steps=10, predict_steps=30,
                rates=RATES, predict_start=3.0)  # fmt: skip
    assert plan.fixed_seconds() == pytest.approx(5.0 + 3.0 + 2.0 + 30 * 0.02)  # predict's start counts
    plan.epochs = choose_epochs(plan)
    filled = fill(plan)
    left = SAFETY * (budget - plan.fixed_seconds())
    assert filled.epochs * filled.batches() >= plan.epochs * 40 and filled.epochs in (plan.epochs, plan.epochs + 1)
    used = filled.epochs * filled.epoch_seconds()
    assert used <= left + 1e-9
    if filled.epochs > plan.epochs:
        assert 0 < filled.train_batches < 40 and left - used < filled.epochs * RATES.train_step  # within a step an epoch
    else:
        assert filled.train_batches == 0 and left - used < 2.5 + 0.5  # the spare time was under an epoch + a validation
    assert filled.as_dict()["epoch_seconds"] == pytest.approx(filled.epoch_seconds(), abs=1e-3)


def test_a_fold_slower_than_its_probe_gives_the_rest_fewer_steps():
    plan = Plan(budget=300, spent_before=5.0, folds=3, train_steps=40, eval_steps=10, predict_steps=30, rates=RATES)
    plan.epochs = choose_epochs(plan)
    plan = fill(plan)
    on_time = replan(plan, RATES.fold_overhead + plan.epochs * plan.epoch_seconds(), plan.epochs, 2, 200.0)
    slow = replan(plan, RATES.fold_overhead + 2 * plan.epochs * plan.epoch_seconds(), plan.epochs, 2, 200.0)
    assert slow.rates.train_step == pytest.approx(2 * on_time.rates.train_step)  # the fold measured twice the probe
    assert slow.epochs * slow.batches() < on_time.epochs * on_time.batches()
    for rest in (on_time, slow):
        assert rest.folds == 2 and rest.fixed_seconds() + 2 * rest.epochs * rest.epoch_seconds() <= 200.0
    late = replan(plan, 100.0, plan.epochs, 2, 3.0)  # no time left: the run is under way, one short epoch
    assert (late.epochs, late.batches()) == (1, 1)


def test_a_probe_can_pass_over_a_model_from_its_first_steps():
    shape = dict(budget=60.0, folds=1, train_steps=40, eval_steps=10, predict_steps=30)
    verdict = too_slow_for(shape, started=time.time(), min_epochs=8)
    # 60 s, 8 epochs of 40 steps (validation a third of a step, OPTIMISM of the time measured): 0.27 s at most
    assert not verdict(0.05) and not verdict(0.26) and verdict(0.28) and verdict(30.0)  # 30 s: not one epoch
    assert str(TooSlow(0.417)) == "a training step of about 417 ms"


def test_the_last_folds_epochs_follow_its_measured_time():
    # planned 10, 2 done at 2 s each, 15 s left, 3 s of prediction after: 6 more fit, not 8
    assert guard_epochs(10, 2, 2.0, 15.0, 3.0, margin=1.0) == 8
    assert guard_epochs(10, 2, 2.0, 100.0, 3.0, margin=1.0) == 2 + 48  # faster: 96 s to spare, 1 kept: 48 more
    assert guard_epochs(10, 2, 2.0, 20.0, 3.0, margin=1.0) == 10  # on time (8 more need 16 of 17 s): as planned
    assert guard_epochs(10, 2, 2.0, 21.5, 3.0, margin=1.0) == 10  # an epoch more would leave under the margin
    assert guard_epochs(10, 5, 2.0, 1.0, 3.0, margin=1.0) == 5  # past the deadline already: stop after this epoch
    assert guard_epochs(10, 2, 2.0, 18.5, 3.0, margin=1.0) == 10  # 0.5 s late: inside the dead band, kept
    assert guard_checks(40) == {2, 10, 20, 30} and guard_checks(3) == {1, 2} and guard_checks(1) == {1}


def stretched_lrs(name: str, total: int, warmup: int, steps: int, at: int, new_total: int) -> list[float]:
    """The LR after each of ``steps`` steps of a ``total``-step schedule stretched to ``new_total`` after step ``at``."""
    import torch

    from lightning_modules.optim import build_scheduler, stretch

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    schedule = build_scheduler(optimizer, name, total_steps=total, warmup_steps=warmup)
    lrs = []
    for step in range(steps):
        optimizer.step()
        schedule.step()
        lrs.append(optimizer.param_groups[0]["lr"])
        if step == at:
            stretch(schedule, new_total)
    return lrs


@pytest.mark.parametrize("name", ["onecycle", "cosine"])
def test_a_running_schedule_stretches_to_a_new_end(name):
    lrs = stretched_lrs(name, total=100, warmup=10, steps=60, at=29, new_total=60)  # the fold was slow: 60 steps, not 100
    assert max(lrs) == pytest.approx(0.1, rel=0.05) and lrs[-1] < 0.002  # warmed up, then down to the end
    assert lrs[35] < lrs[29]  # squeezed: the decay went on from where it was, faster
    lrs = stretched_lrs(name, total=40, warmup=4, steps=80, at=19, new_total=80)  # faster: no error past the first end
    assert lrs[39] > 0.02 and lrs[-1] < 0.002  # still well up where the first plan ended, then down


def test_a_fold_slower_than_its_probe_trains_fewer_epochs_and_says_so(cifar_dir, workdir, capsys):
    """The last fold (here the only one) corrects its own epochs from its measured epochs: the probe did
    not see the slow steps of the user's callback."""
    assert fit("cifar-10", cifar_dir, "--budget", "12s", "--folds", "0",
               "--trainer.callbacks+=tests.fixtures.SlowTrainingSteps") == 0  # fmt: skip
    err = capsys.readouterr().err
    planned = int(re.search(r"budget 12s: (\d+) epochs", err).group(1))
    guards = re.findall(r"budget: fold 0's epochs take [\d.]+ s \(planned [\d.]+ s\): (\d+) epochs, not (\d+)", err)
    assert guards and int(guards[0][1]) == planned and int(guards[0][0]) < planned, err
    assert len(guards) <= 4, err  # a few checks, not one an epoch
    import json

    metrics = json.loads((workdir / "runs" / "cifar-10" / "baseline" / "fold0" / "metrics.json").read_text())
    assert metrics["epochs"] == int(guards[-1][0]) < planned, err


def test_too_few_epochs_per_fold_train_fewer_folds():
    """Below the recipe's epochs on every fold: 3 folds, then one hold-out fold; a fold the budget cannot
    hold even one epoch of is refused."""
    assert fold_ladder(5) == [5, 3, 1] and fold_ladder(3) == [3, 1] and fold_ladder(2) == [2, 1] and fold_ladder(1) == [1]
    rates = Rates(train_step=0.05, eval_step=0.02, epoch_overhead=0.3, fold_overhead=2.0)

    def plan(budget):
        return Plan(budget=budget, spent_before=5.0, folds=5, train_steps=40, eval_steps=10, predict_steps=30, rates=rates)

    roomy, why = choose_folds(plan(3600), min_epochs=10)
    assert (roomy.folds, why) == (5, "") and roomy.epochs == choose_epochs(plan(3600))  # every fold fits: as before
    five = choose_epochs(plan(120))  # 5 folds at 120 s: a few epochs each
    three, why = choose_folds(plan(120), min_epochs=five + 1)
    assert three.folds == 3 and three.epochs > five
    assert why == f"5 folds: {five} epoch{'s' if five > 1 else ''} each; under the recipe's {five + 1} epochs, budget_min_epochs"
    assert three.fixed_seconds() + 3 * three.epochs * three.epoch_seconds() <= 120  # the plan still fits
    one, why = choose_folds(plan(120), min_epochs=1000)
    assert one.folds == 1 and one.epochs >= three.epochs and why.endswith(f"1 fold: {one.epochs}, still under the recipe's 1000, budget_min_epochs")
    # 15 s: one epoch of 3 folds needs 5 + 3 x (2.6 + 2.5) = 20.3 s, of one fold 10.1 s
    single, why = choose_folds(plan(15), min_epochs=1)
    assert single.folds == 1 and single.epochs == 2 and why == "5 folds: not one epoch each; 3 folds: not one epoch each"
    with pytest.raises(CompeteError, match=r"1 epoch per fold on a single fold, needs about \d+s .*give it more time or"):
        choose_folds(plan(1), min_epochs=1, asked="1s")


def test_folds_need_the_recipes_epochs_and_a_smaller_model_four_fifths():
    """By default the plan keeps k folds only when each gets the preset's epochs, and steps down to a smaller
    model only below four fifths of them on one fold; --budget-min-epochs N sets both to N."""
    from types import SimpleNamespace

    from competitions.pipeline.fit import fold_epochs, min_epochs

    def cfg(max_epochs, asked=None):
        values = {"budget_min_epochs": asked}
        return SimpleNamespace(trainer={"max_epochs": max_epochs}, budget_min_epochs=asked, get=lambda k, d=None: values.get(k, d))

    assert (fold_epochs(cfg(20)), min_epochs(cfg(20))) == (20, 16)
    assert (fold_epochs(cfg(16)), min_epochs(cfg(16))) == (16, 13)
    assert (fold_epochs(cfg(1)), min_epochs(cfg(1))) == (1, 1)
    assert (fold_epochs(cfg(20, asked=7)), min_epochs(cfg(20, asked=7))) == (7, 7)
    # cifar-shaped at 10 minutes: 5 folds of 14 epochs are under the recipe's 16, 3 folds of 24 are not.
    plan = Plan(budget=600.0, folds=5, train_steps=36, eval_steps=10, predict_steps=20, processes=1, spent_before=17.0,
                rates=Rates(train_step=0.19, eval_step=0.05, epoch_overhead=0.2, fold_overhead=2.0))
    three, why = choose_folds(plan, fold_epochs(cfg(16)))
    assert three.folds == 3 and three.epochs >= 16 and why.startswith("5 folds: ")


def test_steps_follow_the_trainer_limits():
    assert steps(100, 32, None) == 4 and steps(100, 32, None, drop_last=True) == 3
    assert steps(100, 32, 2) == 2 and steps(1000, 10, 0.25) == 25 and steps(100, 32, 1.0) == 4


def test_a_budgeted_fit_sets_the_epochs_and_records_its_plan(cifar_dir, workdir, capsys):
    assert fit("cifar-10", cifar_dir, "--budget", "8s") == 0
    err = capsys.readouterr().err
    assert re.search(r"budget 8s: \d+ epochs? per fold", err), err
    run = workdir / "runs" / "cifar-10" / "baseline"
    entry = yaml.safe_load((run / "config.yaml").read_text())["history"][-1]
    plan = entry["budget"]
    assert plan["budget"] == 8 and plan["folds"] == 2 and plan["epochs"] >= 1
    assert {"train_step", "eval_step", "epoch_overhead", "fold_overhead"} <= set(plan["rates"])
    assert entry["status"] == "finished" and entry["seconds"] > 0
    epochs = [yaml.safe_load((run / f"fold{k}" / "config.yaml").read_text())["trainer"]["max_epochs"] for k in (0, 1)]
    assert epochs[0] == plan["epochs"]  # the first fold trains the plan, and says so
    replanned = re.search(r"budget: fold 0 trained \d+ epochs in \d+s; (\d+) epochs( of \d+ batches)? per fold for the 1 fold", err)
    assert epochs[1] == (int(replanned.group(1)) if replanned else plan["epochs"])  # the rest: what fold 0 measured
    assert PLAN_VARIABLE not in os.environ and FOLDS_VARIABLE not in os.environ  # the next fit plans anew
    # A budget even one epoch per fold would overrun: refused in one line before any fold trains, recorded.
    capsys.readouterr()
    assert fit("cifar-10", cifar_dir, "--budget", "0.05s", "--experiment", "tight") == 2  # the probe alone is longer
    assert "--budget 0.05s: the smallest plan, 1 epoch per fold on a single fold, needs about" in error_line(capsys)
    tight = workdir / "runs" / "cifar-10" / "tight"
    assert not list(tight.glob("fold*/metrics.json"))
    assert yaml.safe_load((tight / "config.yaml").read_text())["history"][-1]["status"] == "failed"


def test_a_budget_too_short_for_the_recipe_trains_one_fold_of_a_smaller_model(cifar_dir, workdir, capsys):
    """Every fold would get fewer epochs than the recipe's minimum: one hold-out fold, and then the preset's
    smaller model (its budget ladder); the other fold is left for a later --resume, and predict averages
    the trained fold without being told."""
    from competitions.commands.cli import main

    ladder = "[{model.backbone: resnet9_tiny, model.small_input_stem: false}]"
    assert fit("cifar-10", cifar_dir, "--budget", "20s", "--budget-ladder", "[{data.batch_size: 8}]") == 2
    assert "error: --budget-ladder rung 1: data.batch_size is not a model setting or data.image_size" in error_line(capsys)
    assert fit("cifar-10", cifar_dir, "--budget", "20s", "--budget-ladder", "[{data.image_size: 48}]") == 2
    assert "data.image_size 48 is not a whole number of pixels from 8 to the images' 32" in error_line(capsys)
    assert fit("cifar-10", cifar_dir, "--budget", "20s", "--budget-min-epochs", "1000", "--budget-ladder", ladder,
               "--experiment", "short", "--data.batch_size", "2") == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "budget: stepping down to model.backbone=resnet9_tiny, model.small_input_stem=False" in err, err
    # The preset's model has a smaller one below it: judged on its first steps (1000 epochs: hopeless), not
    # probed to the end; the last rung is probed in full and goes down the fold ladder.
    assert re.search(r"budget 20s: \d+ epochs?( of \d+ of \d+ batches)? per fold \(1 of 2 folds, 0: test_resnet: a "
                     r"training step of about \d+ ms from its first steps, too slow for 1000 epochs; resnet9_tiny: "
                     r"2 folds: \d+ epochs? each; 1 fold: \d+, still under the recipe's 1000", err), err
    assert "folds 1 are left untrained" in err
    run = workdir / "runs" / "cifar-10" / "short"
    config = yaml.safe_load((run / "config.yaml").read_text())
    plan = config["history"][-1]["budget"]
    assert (plan["folds"], plan["trained"], plan["left_out"]) == (1, [0], [1])
    assert plan["model"] == {"model.backbone": "resnet9_tiny", "model.small_input_stem": False}
    assert config["model"]["backbone"] == "resnet9_tiny"  # the run says what its folds trained
    assert yaml.safe_load((run / "fold0" / "config.yaml").read_text())["model"]["backbone"] == "resnet9_tiny"
    assert (run / "fold0" / "metrics.json").exists() and not (run / "fold1").exists()
    assert main(["predict", "cifar-10", "--run", str(run)]) == 0
    err = capsys.readouterr().err
    assert "folds 1: left untrained by the fit's budget plan; predicting with 0" in err, err
    assert len((run / "submission.csv").read_text().splitlines()) > 1
    # Asked for by name, a fold that was never trained is still an error.
    assert main(["predict", "cifar-10", "--run", str(run), "--folds", "0,1"]) == 1
    assert "fold 1 was not trained" in error_line(capsys)
    # Resuming with the preset's own model would mix two models in one run: refused, saying which to name.
    assert fit("cifar-10", cifar_dir, "--experiment", "short", "--resume") == 1
    assert ("the budget plan stepped down to that model: resume with --model.backbone=resnet9_tiny"
            in error_line(capsys))  # fmt: skip


def test_a_budget_too_short_at_full_resolution_steps_down_to_smaller_images(cifar_dir, workdir, capsys):
    """A rung of the ladder may name a smaller data.image_size: the images are decoded again at that size
    (the device path's cache, train and test), the folds train on them, the run records both sizes, predict
    feeds the model the same size, and a resume at the preset's size is refused, naming the plan's."""
    import numpy as np

    from competitions.commands.cli import main

    assert fit("cifar-10", cifar_dir, "--budget", "10s", "--budget-min-epochs", "1000", "--budget-ladder",
               "[{data.image_size: 16}]", "--data.augment_on", "device", "--experiment", "small",
               "--data.batch_size", "4") == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "budget: stepping down to data.image_size=16" in err, err
    assert re.search(r"too slow for 1000 epochs; test_resnet at 16 px: 2 folds: \d+ epochs? each", err), err
    run = workdir / "runs" / "cifar-10" / "small"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["history"][-1]["budget"]["model"] == {"data.image_size": 16, "data.cache_size": 16}
    assert (config["data"]["image_size"], config["data"]["cache_size"]) == (16, 16)
    assert yaml.safe_load((run / "fold0" / "config.yaml").read_text())["data"]["image_size"] == 16
    caches = sorted((workdir / "runs" / "cifar-10" / "cache").glob("*-16x16-*.npy"))
    assert len(caches) == 2 and all(np.load(c, mmap_mode="r").shape[1:] == (16, 16, 3) for c in caches), caches
    assert main(["predict", "cifar-10", "--run", str(run)]) == 0
    assert len((run / "submission.csv").read_text().splitlines()) > 1
    # A resume keeps the recorded size; one that names the preset's is refused, naming the plan's.
    assert fit("cifar-10", cifar_dir, "--experiment", "small", "--resume", "--data.augment_on", "device",
               "--data.batch_size", "4", "--data.image_size", "32", "--data.cache_size", "32") == 1  # fmt: skip
    assert "resume with --data.image_size=16 --data.cache_size=16" in error_line(capsys)


def test_the_last_rung_predicts_without_tta_when_the_model_has_several_views():
    """After the preset's smaller models, a model with several TTA views is tried with none (its test
    prediction costs one view, not several); views count as many as a group expands to."""
    from types import SimpleNamespace

    from competitions.pipeline.fit import budget_rungs, keeps_its_views, tta_views

    class Model(dict):
        def as_dict(self):
            return dict(self)

    def cfg(model, ladder=None):
        return SimpleNamespace(model=Model(model), get=lambda key, default=None: ladder if key == "budget_ladder" else default)

    assert tta_views(["identity", "five_crop"]) == 6 and tta_views([]) == 0 and tta_views(None) == 0
    ladder = [{"model.backbone": "cnn3"}]
    assert budget_rungs(cfg({"backbone": "r9", "tta": ["identity", "hflip"]}, ladder)) == [{}, *ladder, {"model.tta": []}]
    assert budget_rungs(cfg({"backbone": "r9", "tta": ["identity"]}, ladder)) == [{}, *ladder]  # one view: nothing to save
    assert budget_rungs(cfg({"backbone": "r9"})) == [{}]  # a model without TTA (a table's)
    own = [{"model.tta": ["identity"]}]
    assert budget_rungs(cfg({"backbone": "r9", "tta": ["identity", "hflip"]}, own)) == [{}, *own]  # the preset decides
    # A model short of epochs keeps its views: the rung without them is for one that does not fit at all.
    rungs = budget_rungs(cfg({"backbone": "r9", "tta": ["identity", "hflip"]}, ladder))
    assert [keeps_its_views(rungs, i) for i in range(len(rungs))] == [False, True, False]
    assert not keeps_its_views([{}, *own], 0)  # a preset's own TTA rung is a rung like any other


def test_a_budget_too_short_for_every_model_drops_the_tta_views_last(cifar_dir, workdir, capsys):
    """The model predicts through 2 views and no smaller model is left: the plan's last rung is the same
    model without TTA; the run, its fold and its checkpoint say so, and predict uses one view."""
    import torch

    from competitions.commands.cli import main

    assert fit("cifar-10", cifar_dir, "--budget", "10s", "--budget-min-epochs", "1000", "--model.tta",
               "[identity, hflip]", "--experiment", "views", "--data.batch_size", "4") == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "budget: stepping down to model.tta=[]" in err, err
    assert re.search(r"budget 10s: \d+ epochs?( of \d+ of \d+ batches)? per fold \(1 of 2 folds, 0: test_resnet: a "
                     r"training step of about \d+ ms from its first steps, too slow for 1000 epochs; test_resnet "
                     r"without TTA: 2 folds: \d+ epochs? each; 1 fold: \d+, still under", err), err
    run = workdir / "runs" / "cifar-10" / "views"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["history"][-1]["budget"]["model"] == {"model.tta": []} and config["model"]["tta"] == []
    assert yaml.safe_load((run / "fold0" / "config.yaml").read_text())["model"]["tta"] == []
    assert torch.load(run / "fold0" / "best.ckpt", weights_only=False)["hyper_parameters"]["tta"] == []
    assert main(["predict", "cifar-10", "--run", str(run)]) == 0
    assert len((run / "submission.csv").read_text().splitlines()) > 1


def test_under_ddp_the_plan_counts_each_processs_share_of_the_steps(cifar_dir, workdir):
    """Each of 2 DDP processes takes every other batch: an epoch has half the steps per process (the plan
    counted all of them and so under-used the budget up to twice), and the processes start again."""
    from competitions.api import resolve
    from competitions.core.layout import RunLayout
    from competitions.pipeline.factory import model_class
    from competitions.pipeline.fit import budget_plan, start_run
    from competitions.pipeline.folds import fold_trainer_for

    plans = {}
    for devices in (1, 2):
        run = resolve("cifar-10", config="debug", data_dir=str(cifar_dir), experiment=f"d{devices}",
                      overrides={"trainer.devices": devices, "trainer.strategy": "ddp" if devices > 1 else "auto",
                                 "trainer.accelerator": "cpu", "data.batch_size": 4})  # fmt: skip
        family = model_class(run.spec, run.cfg.get("family"))
        layout = RunLayout.of(run.cfg.runs_dir, "cifar-10", run.cfg.experiment)
        context = start_run(run, layout, family, fold_trainer_for(family))
        plans[devices] = budget_plan(context, 60.0, started=0.0)  # the probe itself runs on one device
    one, two = plans[1], plans[2]
    assert (one.processes, two.processes) == (1, 2)
    assert two.train_steps == -(-one.train_steps // 2) and two.eval_steps == -(-one.eval_steps // 2)
    assert two.predict_steps == -(-one.predict_steps // 2)
    assert two.fixed_seconds() > two.spent_before + two.folds * two.rates.fold_overhead  # the restart is counted


def test_processes_and_external_launchers(monkeypatch):
    from competitions.pipeline.fit_budget import external_launcher, processes

    assert processes({"devices": 2}) == 2 and processes({"devices": "0,1,2"}) == 3 and processes({"devices": [4, 5]}) == 2
    assert processes({"devices": 4, "num_nodes": 2}) == 8 and processes({"devices": "auto", "accelerator": "cpu"}) == 1
    for name in ("TORCHELASTIC_RUN_ID", "SLURM_NTASKS"):
        monkeypatch.delenv(name, raising=False)
    assert external_launcher() is None
    monkeypatch.setenv("SLURM_NTASKS", "1")  # a SLURM job of one task: Lightning starts the processes
    assert external_launcher() is None
    monkeypatch.setenv("SLURM_NTASKS", "8")
    assert external_launcher() == "srun"
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "abc")
    assert external_launcher() == "torchrun"


def test_a_budget_under_torchrun_is_refused_before_anything_is_written(cifar_dir, workdir, capsys, monkeypatch):
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job-1")
    monkeypatch.delenv(PLAN_VARIABLE, raising=False)
    assert fit("cifar-10", cifar_dir, "--budget", "5m") == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("error: --budget with processes started by torchrun: each would probe and plan on its own")
    assert not (workdir / "runs" / "cifar-10" / "baseline").exists()


def test_a_ddp_process_trains_the_folds_its_launcher_planned(cifar_dir, workdir, monkeypatch):
    """The processes DDP starts read the launcher's plan (epochs and folds) instead of planning again."""
    from competitions.api import resolve
    from competitions.core.layout import RunLayout
    from competitions.pipeline.factory import model_class
    from competitions.pipeline.fit import apply_budget, start_run
    from competitions.pipeline.folds import fold_trainer_for

    run = resolve("cifar-10", config="debug", data_dir=str(cifar_dir), experiment="child", budget="1m")
    family = model_class(run.spec, run.cfg.get("family"))
    context = start_run(run, RunLayout.of(run.cfg.runs_dir, "cifar-10", "child"), family, fold_trainer_for(family))
    assert context.selected == [0, 1]
    monkeypatch.setenv(PLAN_VARIABLE, "3")
    monkeypatch.setenv(FOLDS_VARIABLE, "1")
    monkeypatch.setenv(SETTINGS_VARIABLE, '{"model.backbone": "resnet9_tiny", "data.image_size": 16}')
    assert apply_budget(context, started=0.0) is False  # read, not planned: no probe ran
    assert context.selected == [1] and context.cfg.trainer.max_epochs == 3 and context.config["trainer"]["max_epochs"] == 3
    # The model and images the launcher's ladder stepped down to (or DDP would join two different models);
    # the launcher recorded them, not this process.
    assert context.cfg.model.backbone == "resnet9_tiny" and context.datamodule.image_size == 16
    assert context.config["data"]["cache_size"] == 16
    assert yaml.safe_load(context.layout.config.read_text())["model"]["backbone"] == "test_resnet"
