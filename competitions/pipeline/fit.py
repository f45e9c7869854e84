"""The k-fold loop of a fit: check the data, persist the folds and config.yaml, then hand each fold to
the family's fold trainer (pipeline/folds.py) and summarise the CV.

Under DDP Lightning re-launches the whole command once per process, so every rank walks this loop;
only global rank 0 writes files (config.yaml, folds, oof.csv, metrics.json, cv.json).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import tempfile
import time
from pathlib import Path

from competitions.core.artifacts import run_metadata, write_csv
from competitions.core.clock import budget_start
from competitions.core.console import info
from competitions.core.errors import BudgetError, CompeteError, OptionError, RunExistsError
from competitions.core.layout import RunLayout, shared_folds
from competitions.core.ranks import is_global_zero
from competitions.pipeline.factory import build_datamodule, model_class
from competitions.pipeline.fit_callbacks import fold_checkpoint
from competitions.pipeline.fit_lock import fold_lock, run_lock
from competitions.pipeline.fit_parser import config_dict, supported_precision, trainer_kwargs
from competitions.pipeline.fold_parallel import check_supported as check_fold_parallel
from competitions.pipeline.fold_parallel import train_in_parallel, waves
from competitions.pipeline.folds import FitContext, fold_trainer_for
from competitions.pipeline.oof import every_fold, run_fold_count, select_folds, summarise_cv
from competitions.pipeline.quiet import quiet_library_noise
from competitions.pipeline.records import Run
from competitions.pipeline.run_config import RunConfig
from competitions.pipeline.run_record import RUN_SHAPE, RunRecord

# File systems allow 255 bytes a name; the run lock is ".EXPERIMENT.holder.json" beside the run folder.
MAX_EXPERIMENT_BYTES = 200
CHECK_WAIT = 5.0  # seconds a job resuming named folds waits for the run's lock (held a moment by another's check)


def fit(run: RunConfig) -> Run | None:
    """Train the folds of one experiment (a stack: pipeline/stack.py); None on DDP ranks other than 0."""
    quiet_library_noise()
    spec, cfg = run.spec, run.cfg
    layout = RunLayout.of(cfg.runs_dir, spec.slug, check_experiment_name(cfg.experiment))
    started = budget_start()  # `budget` counts from here (a shell's command: from its process's start)
    imports = max(0.0, time.time() - started)
    with contextlib.ExitStack() as stack:
        if is_global_zero():  # DDP's other processes are started by this one, inside the lock
            if named_folds_resumed(cfg):  # one of several jobs training the run's folds: each holds its folds
                with run_lock(layout.root, run.command, wait=CHECK_WAIT):  # another job's same check is brief
                    pass  # but not while a fit of every fold holds the run
            else:
                stack.enter_context(run_lock(layout.root, run.command))
        family_class = model_class(spec, cfg.get("family"))
        fold_trainer = fold_trainer_for(family_class)
        fold_trainer.check_options(spec, cfg)
        if cfg.get("fold_parallel") is not None:
            check_fold_parallel(cfg)
        context = start_run(run, layout, family_class, fold_trainer)
        context.imports = imports
        try:
            if cfg.budget:  # a budget no plan fits is refused here, before any fold trains (and recorded)
                stack.callback(forget_budget_plan, fold_trainer.plan_budget(context, started))
            train_folds(context, fold_trainer)
        except BaseException as err:  # noqa: BLE001 - recorded, then raised as it was
            if is_global_zero():
                RunRecord(layout.config).fail(err)
            raise
        if not is_global_zero():
            return None
        with RunRecord(layout.config).locked():  # jobs training other folds may end at once: the last sees all
            summary = summarise_cv(spec, context.datamodule.class_names, layout, run_fold_count(cfg), cfg.n_repeats)
        RunRecord(layout.config).finish(layout.done_folds(), time.time() - started,
                                        {key: cfg.get(key) for key in RUN_SHAPE if cfg.get(key) is not None})  # fmt: skip
    if context.tracker is not None:
        context.tracker.finish_cv(summary)
    return Run(spec.slug, layout.root)


def named_folds_resumed(cfg) -> bool:
    """`resume` of some folds (`folds` 0,2): jobs training other folds of the run may run at the same time."""
    return bool(cfg.resume) and not every_fold(cfg.folds)


def train_folds(context: FitContext, fold_trainer) -> None:
    """The folds still to train, one after another, or with `fold_parallel` one per device at once; each
    under its fold's lock (another job may be training other folds of the run)."""
    for fold in sorted(context.done & set(context.selected)):
        info(f"fold {fold}: already finished (metrics.json), skipping")
    pending = [k for k in context.selected if k not in context.done]
    if context.cfg.get("fold_parallel") is not None and pending:
        train_in_parallel(context, pending, train_one_fold)
        return
    for fold in pending:
        with fold_lock(context.layout.fold_dir(fold), context.cfg.experiment) if is_global_zero() else contextlib.nullcontext():
            if context.layout.fold_metrics(fold).exists() and context.cfg.resume:
                info(f"fold {fold}: finished meanwhile by another job (metrics.json), skipping")
                continue
            fold_trainer.train_fold(context, fold)


def forget_budget_plan(planned_here: bool) -> None:
    """The plan is for this run's DDP processes only: the next fit in this process (a notebook) plans anew."""
    from competitions.pipeline.fit_budget import BATCHES_VARIABLE, FOLDS_VARIABLE, PLAN_VARIABLE, SETTINGS_VARIABLE

    if planned_here:
        for name in (PLAN_VARIABLE, FOLDS_VARIABLE, BATCHES_VARIABLE, SETTINGS_VARIABLE):
            os.environ.pop(name, None)


def apply_budget(context: FitContext, started: float) -> bool:
    """Set trainer.max_epochs and limit_train_batches (and, when every fold would get too few epochs, the
    folds to train) so the run fits ``--budget`` (see pipeline/fit_budget.py) and record the plan; True when
    this process made the plan (False: a DDP process that read it)."""
    from competitions.pipeline import fit_budget as fb

    cfg = context.cfg
    epochs = fb.planned_epochs_from_environment()
    planned_here = epochs is None
    if planned_here:  # the launching process plans; DDP's processes read its plan
        plan, trained, applied = make_budget_plan(context, fb.parse_duration(cfg.budget), started)
        epochs, batches = plan.epochs, plan.batches()
        os.environ[fb.PLAN_VARIABLE], os.environ[fb.FOLDS_VARIABLE] = str(epochs), ",".join(map(str, trained))
        os.environ[fb.BATCHES_VARIABLE], os.environ[fb.SETTINGS_VARIABLE] = str(batches), json.dumps(applied)
    else:  # and train the model the ladder stepped down to, or DDP would join two different models
        trained, batches = fb.planned_folds_from_environment(), fb.planned_batches_from_environment()
        step_down(context, fb.planned_settings_from_environment(), record=False)
    if trained is not None:  # the folds already done stay as they are
        context.selected = [k for k in context.selected if k in context.done or k in trained]
    set_epochs(context, epochs, batches)
    return planned_here


def set_epochs(context: FitContext, epochs: int, batches: int) -> None:
    """The folds' trainer.max_epochs and (``batches`` > 0) limit_train_batches, also in what config.yaml records."""
    for target in (context.cfg.trainer, context.config["trainer"]):
        target["max_epochs"] = epochs
        if batches:
            target["limit_train_batches"] = batches


def make_budget_plan(context: FitContext, budget: float, started: float):
    """Probe, plan (the fold ladder below ``budget_min_epochs``, then the preset's ``budget_ladder`` of
    smaller models and resolutions, then the last without TTA: budget_rungs), say the plan and why, record
    it: (the plan, the folds to train, the settings the rungs changed)."""
    from competitions.pipeline.fit_budget import TooSlow, fill

    cfg = context.cfg
    pending = [k for k in context.selected if k not in context.done]
    rungs = budget_rungs(cfg) if not context.done else [{}]  # done folds fix the model
    passed, applied = [], {}
    for i, rung in enumerate(rungs):
        applied.update(step_down(context, rung))
        last = i == len(rungs) - 1
        try:
            plan, why = plan_folds(context, budget, started, judge_early=not last)
        except BudgetError:
            if last:
                raise
            passed.append(f"{rung_label(cfg, rung)}: not one epoch on a single fold")
            continue
        except TooSlow as slow:
            passed.append(f"{rung_label(cfg, rung)}: {slow} from its first steps, too slow for {min_epochs(cfg)} epochs")
            continue
        if last or plan.epochs >= min_epochs(cfg) or keeps_its_views(rungs, i):
            break
        passed.append(f"{rung_label(cfg, rung)}: {why}")
    if passed:
        why = "; ".join([*passed, f"{rung_label(cfg, rung)}: {why}" if why else rung_label(cfg, rung)])
    trained = pending if cfg.get("fold_parallel") is not None else pending[: plan.folds]
    context.plan = plan = fill(plan)
    left_out = [k for k in pending if k not in trained]
    RunRecord(context.layout.config).note(budget={**plan.as_dict(), "trained": trained, "left_out": left_out,
                                                  "why": why, "model": applied})  # fmt: skip
    say_plan(cfg.budget, plan, pending, trained, left_out, why)
    return plan, trained, applied


def budget_rungs(cfg) -> list[dict]:
    """The models a budget tries, first to last: the one configured, the preset's ``budget_ladder`` (smaller
    models), then, when the model predicts each image through several TTA views and no rung says otherwise,
    the last of them without TTA (one view's test prediction instead of several: the last thing a budget gives
    up, after epochs, folds and model size, and only when the model does not fit with them: keeps_its_views)."""
    rungs = [{}, *(cfg.get("budget_ladder") or [])]
    model = cfg.model.as_dict()
    if "tta" in model and tta_views(model["tta"]) > 1 and not any("model.tta" in rung for rung in rungs):
        rungs.append(WITHOUT_VIEWS)
    return rungs


WITHOUT_VIEWS = {"model.tta": []}  # the rung budget_rungs adds


def keeps_its_views(rungs: list[dict], i: int) -> bool:
    """Rung ``i`` keeps its plan, short of epochs or not, when all that is left below it is the same model
    without TTA: that rung is for a model that does not fit at all (or is hopeless from its first steps), not
    for a few more epochs (leaves-shaped, 2m: cnn4 at 48 px with its 3 views, 16 epochs 0.911; without them,
    17 epochs 0.876)."""
    return i == len(rungs) - 2 and rungs[-1] is WITHOUT_VIEWS


def tta_views(names) -> int:
    """The views a TTA recipe predicts each image with (groups count their views: five_crop is 5)."""
    from lightning_modules.tta import expand_views

    return len(expand_views(list(names or [])))


def rung_label(cfg, rung: dict) -> str:
    """A budget ladder rung in the plan's words: the backbone, its images' size on a rung that changed it,
    and "without TTA" on a rung that turned it off."""
    size = f" at {cfg.data.image_size} px" if "data.image_size" in rung else ""
    return f"{cfg.model.get('backbone')}{size}{' without TTA' if 'model.tta' in rung and not rung['model.tta'] else ''}"


def say_plan(budget: str, plan, pending: list[int], trained: list[int], left_out: list[int], why: str) -> None:
    """The plan in a line (and, when folds are left out, what becomes of them)."""
    folds = (f"{len(trained)} of {len(pending)} folds, {','.join(map(str, trained))}" if left_out
             else f"{plan.folds} fold{'s' if plan.folds > 1 else ''}")  # fmt: skip
    folds += f": {why}" if why else ""
    batches = f" of {plan.train_batches} of {plan.train_steps} batches" if plan.train_batches else ""
    info(f"budget {budget}: {plan.epochs} epoch{'s' if plan.epochs > 1 else ''}{batches} per fold ({folds}; a training "
         f"step {plan.rates.train_step * 1000:.0f} ms, an epoch {plan.epoch_seconds():.1f} s, fixed costs "
         f"{plan.fixed_seconds():.0f} s)")  # fmt: skip
    if left_out:
        info(f"budget: folds {','.join(map(str, left_out))} are left untrained (compete predict uses the folds trained; "
             "`compete fit ... --resume` trains the rest later)")  # fmt: skip


def plan_folds(context: FitContext, budget: float, started: float, judge_early: bool = False):
    """Probe the model as configured now and choose its epochs and folds: (plan, why). ``judge_early``: a
    smaller model follows, so the probe may stop at its first steps (fit_budget.TooSlow)."""
    from competitions.pipeline.fit_budget import choose_epochs, choose_folds

    cfg = context.cfg
    plan = budget_plan(context, budget, started, judge_early)
    if cfg.get("fold_parallel") is not None:  # the folds train at once: fewer would not save time
        plan.epochs = choose_epochs(plan, cfg.budget)
        return plan, ""
    return choose_folds(plan, fold_epochs(cfg), cfg.budget)


def step_down(context: FitContext, rung: dict, record: bool = True) -> dict:
    """A budget ladder rung's settings, into the run (its config.yaml says what the folds train): the
    settings it changed, ``data.cache_size`` included where the image cache follows ``data.image_size``
    (datamodules/images.py: at_resolution). ``record`` False: a DDP process taking its launcher's rungs."""
    applied = {}
    for key, value in rung.items():
        section, name = key.split(".", 1)
        changed = context.datamodule.at_resolution(int(value)) if key == "data.image_size" else {name: value}
        for name, value in changed.items():  # copies: a rung's list (model.tta: []) is the preset's, or WITHOUT_VIEWS
            context.cfg[section][name] = copy.deepcopy(value)
            context.config[section][name] = copy.deepcopy(value)
            applied[f"{section}.{name}"] = copy.deepcopy(value)
    if applied and record:
        RunRecord(context.layout.config).replace(model=context.config["model"], data=context.config["data"])
        info(f"budget: stepping down to {', '.join(f'{k}={v}' for k, v in rung.items())}")
    return applied


def min_epochs(cfg) -> int:
    """The epochs on one fold below which the plan tries the ladder's next, smaller model: ``budget_min_epochs``,
    by default four fifths of the preset's trainer.max_epochs (at least 1). A recipe cut shorter lost more
    than a smaller model costs (leaves-shaped: resnet9_narrow's 14 epochs 0.83, resnet9_tiny's 36 0.97),
    but a smaller model cost more than a few epochs (resnet9_tiny's 17: 0.97, cnn4's 22: 0.94)."""
    if cfg.get("budget_min_epochs") is not None:
        return max(1, int(cfg.budget_min_epochs))
    return max(1, math.ceil(0.8 * int(cfg.trainer.get("max_epochs") or 1)))


def fold_epochs(cfg) -> int:
    """The epochs each fold must get for the plan to keep that many folds: ``budget_min_epochs``, by default
    the preset's trainer.max_epochs: folds average, and five short ones scored below three whole ones
    (cifar-shaped, 10 minutes: 5 x 14 epochs 0.934, 3 x 24 0.948; benchmarks/README.md)."""
    if cfg.get("budget_min_epochs") is not None:
        return max(1, int(cfg.budget_min_epochs))
    return max(1, int(cfg.trainer.get("max_epochs") or 1))


def budget_plan(context: FitContext, budget: float, started: float, judge_early: bool = False):
    """Probe the first fold to be trained with a throwaway model, then describe the run for choose_epochs."""
    import lightning as L

    from competitions.pipeline.fit_budget import PROBE_STEPS, Plan, probe, too_slow_for

    spec, cfg, datamodule = context.spec, context.cfg, context.datamodule
    datamodule.prepare_split("test")  # the test images' cache, which predict would build: now, inside the budget
    folds = [k for k in context.selected if k not in context.done] or context.selected
    datamodule.set_fold(folds[0])
    kwargs, _, _ = trainer_kwargs(cfg)
    probe_kwargs = {**kwargs, "devices": 1, "num_nodes": 1, "strategy": "auto", "max_epochs": 2, "max_steps": -1,
                    "limit_train_batches": PROBE_STEPS, "limit_val_batches": PROBE_STEPS, "num_sanity_val_steps": 0,
                    "enable_model_summary": False}  # fmt: skip
    model = context.model_class(**datamodule.model_kwargs(), **cfg.model.as_dict())
    shape = plan_shape(context, budget, kwargs, folds)
    one_fold = {**shape, "folds": shape["folds"] if cfg.get("fold_parallel") is not None else 1}  # the ladder's last rung
    too_slow = too_slow_for(one_fold, started, min_epochs(cfg)) if judge_early else None
    with tempfile.TemporaryDirectory(prefix="compete-probe-") as scratch:  # checkpoints cost time too: keep them
        rates = probe(lambda clock: L.Trainer(**probe_kwargs, **probe_companions(spec, kwargs, clock, Path(scratch))),
                      model, datamodule, too_slow)  # fmt: skip
    return Plan(**shape, spent_before=time.time() - started, rates=rates)


def probe_companions(spec, kwargs: dict, clock, scratch: Path) -> dict:
    """What a fold's Trainer carries besides the model, into the probe's scratch folder: its checkpoints,
    progress bar and CSV log cost time on every step and epoch, which the plan must count."""
    from lightning.pytorch.loggers import CSVLogger

    from competitions.pipeline.fit_callbacks import fold_progress_bar, freed_memory_returned

    bar = [fold_progress_bar()] if kwargs.get("enable_progress_bar") is not False else []
    callbacks = [clock, fold_checkpoint(spec, scratch), freed_memory_returned(), *bar]
    return {"default_root_dir": str(scratch), "callbacks": callbacks,
            "logger": CSVLogger(save_dir=str(scratch), name="", version="logs")}  # fmt: skip


def plan_shape(context: FitContext, budget: float, kwargs: dict, folds: list[int]) -> dict:
    """The run as a budget plan counts it (fit_budget.Plan less its measured rates): folds, steps, processes."""
    from competitions.pipeline.fit_budget import processes, steps

    cfg, datamodule = context.cfg, context.datamodule
    batch = cfg.data.batch_size
    views = max(1, tta_views(cfg.model.as_dict().get("tta")))
    predict_rows = len(datamodule.val_indices()) + len(datamodule.test_table)
    world = processes(kwargs)
    share = lambda n: math.ceil(n / world)  # noqa: E731 - under DDP each process takes every world-th batch
    return dict(
        budget=budget,
        folds=waves(len(folds), cfg) if cfg.get("fold_parallel") is not None else len(folds),  # folds one after another
        train_steps=share(steps(len(datamodule.train_indices()), batch, kwargs.get("limit_train_batches"),
                                drop_last=len(datamodule.train_indices()) >= batch)),  # loaders drop a ragged last batch
        eval_steps=share(steps(len(datamodule.val_indices()), batch, kwargs.get("limit_val_batches"))),
        predict_steps=share(steps(predict_rows, batch, None)) * views,
        processes=world,
        predict_start=context.imports,
    )


def check_experiment_name(name: str) -> str:
    """An experiment is one folder directly under RUNS_DIR/SLUG: a plain, non-empty name."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith(".") or name != name.strip():
        raise CompeteError(f"`experiment` {name!r} is not a plain folder name (no separators, not empty, not "
                           "starting with a dot)")  # fmt: skip
    if len(name.encode()) > MAX_EXPERIMENT_BYTES:
        raise OptionError(f"`experiment` is {len(name.encode())} bytes long; at most {MAX_EXPERIMENT_BYTES} (a folder "
                          "name, with room for the run's lock files beside it)")  # fmt: skip
    return name


def start_run(run: RunConfig, layout: RunLayout, family_class: type, fold_trainer, record: bool = True) -> FitContext:
    """Check the data, refuse to overwrite a run, persist the folds and config.yaml (rank 0; not ``record``:
    a fold-parallel worker, whose parent wrote them)."""
    spec, cfg, command = run.spec, run.cfg, run.command
    data_dir = Path(cfg.data_dir).resolve()
    datamodule = build_datamodule(spec, data_dir, cfg.runs_dir, **cfg.data.as_dict())
    datamodule.check_layout()
    datamodule.train_table  # noqa: B018 - reads and checks the labels before any work starts
    datamodule.test_table  # noqa: B018 - and the test files: better now than after hours of training
    rank_zero = is_global_zero()
    if rank_zero and layout.root.exists() and any(layout.root.iterdir()) and not cfg.resume:
        raise RunExistsError(
            f"{layout.root} already exists; set `resume` to continue it, or choose a new `experiment` name for a new run"
        )
    if rank_zero:
        datamodule.prepare_data()  # decode (and so check) every training image before the run directory exists
    # Folds: the competition-wide folds.csv (shared by all experiments), copied into the run.
    folds_source = layout.folds if layout.folds.exists() else shared_folds(cfg.runs_dir, spec.slug)
    folds = datamodule.ensure_folds(folds_source, cfg.n_folds, cfg.seed, write=rank_zero, n_repeats=cfg.n_repeats)
    if rank_zero and folds_source == layout.folds:
        share_repeats(folds, shared_folds(cfg.runs_dir, spec.slug))
    selected = select_folds(cfg.folds, run_fold_count(cfg))
    if rank_zero and not cfg.resume:
        cfg.meta = {**run_metadata(command), "competition": spec.slug}  # what compete submit checks a file against
        fingerprint = datamodule.data_fingerprint()  # what the fitted preprocessing and models saw
        if fingerprint:
            cfg.meta["data_sha256"] = fingerprint
        cfg.data_dir = str(data_dir)
    elif cfg.resume:
        check_fingerprint(datamodule, layout.config, (cfg.meta or {}).get("data_sha256"), cfg.force)
    config = recorded_config(run, fold_trainer)
    if rank_zero and record:
        layout.root.mkdir(parents=True, exist_ok=True)
        RunRecord(layout.config).open(config, command, selected, bool(cfg.resume), bool(cfg.force))
        if not layout.folds.exists():
            write_csv(layout.folds, folds)
        repeats = f" ({cfg.n_repeats} repeats of {cfg.n_folds})" if cfg.n_repeats > 1 else ""
        info(f"run: {layout.root}  folds: {','.join(map(str, selected))} of {run_fold_count(cfg)}{repeats}")
    tracker = None
    if cfg.logger == "wandb":
        from competitions.pipeline.tracking import Tracker

        tracker = Tracker(spec.slug, cfg.experiment, layout, config)
    done = set(layout.done_folds()) if cfg.resume else set()
    return FitContext(spec, cfg, config, layout, datamodule, selected, family_class, done, tracker)


def recorded_config(run: RunConfig, fold_trainer) -> dict:
    """What this fit trains with, as far as it applies: the precision the Trainer gets here (a preset's
    bf16-mixed is 32-true on a CPU), not the preset's word."""
    config = fold_trainer.recorded(config_dict(run.parser, run.cfg))
    trainer = config.get("trainer")
    if isinstance(trainer, dict) and trainer.get("precision") is not None:
        trainer["precision"] = supported_precision(trainer["precision"], trainer.get("accelerator"))
    return config


def share_repeats(folds, shared: Path) -> None:
    """A resumed run that gained repeats (a budgeted stack's): the competition's folds.csv gains their
    columns too, when it holds the same split, so later experiments asking for them get the same."""
    import pandas as pd

    if not shared.exists():
        return
    common = pd.read_csv(shared, dtype={"id": str})
    missing = [c for c in folds.columns if c.startswith("fold_r") and c not in common.columns]
    same = common[["id", "fold"]].set_index("id")["fold"].sort_index().equals(folds.set_index("id")["fold"].sort_index())
    if missing and same:
        write_csv(shared, common.merge(folds[["id", *missing]], on="id", how="left"))


def check_fingerprint(datamodule, config_path: Path, recorded: dict | None, force: bool = False) -> None:
    """Refuse to go on with a run whose training CSV changed since it was fitted (its folds' preprocessing
    and models were fitted on the old file); ``force`` lets a resume go on anyway."""
    now = datamodule.data_fingerprint()
    if not recorded or not now:
        return
    changed = [name for name, digest in recorded.items() if now.get(name) != digest]
    if changed and not force:
        name = changed[0]
        raise CompeteError(f"{datamodule.data_dir / name}: changed since the run was fitted (sha256 {recorded[name][:12]} "
                           f"in {config_path}, now {now.get(name, '?')[:12]}); its preprocessing and models were "
                           "fitted on the old file: restore it, or fit a new experiment")  # fmt: skip


def train_one_fold(slug: str, overrides: dict) -> None:
    """A fold-parallel worker's fold: the run's settings resumed with one device, under the fold's lock
    (the parent holds the run's lock and wrote config.yaml)."""
    from competitions.catalog import get_competition
    from competitions.pipeline.run_config import resolve_run

    spec = get_competition(slug)
    run = resolve_run(spec, [], None, overrides, f"(fold-parallel worker of fold {overrides['folds']})")
    cfg = run.cfg
    layout = RunLayout.of(cfg.runs_dir, spec.slug, cfg.experiment)
    fold = int(overrides["folds"])
    family_class = model_class(spec, cfg.get("family"))
    fold_trainer = fold_trainer_for(family_class)
    with fold_lock(layout.fold_dir(fold), run.command):
        context = start_run(run, layout, family_class, fold_trainer, record=False)
        if cfg.budget:
            fold_trainer.plan_budget(context, time.time())  # reads the parent's plan from the environment
        fold_trainer.train_fold(context, fold)
