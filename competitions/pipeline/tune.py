"""`compete tune`: Optuna searches a model family's hyper-parameters on the competition's folds.

Each trial fits the family on every fold of the shared folds.csv (the folds every experiment uses)
and is scored by the pooled out-of-fold metric; after each fold the running score is reported, so
the median pruner stops a trial whose first folds are already worse than the median of earlier
trials at the same fold. The study lives in Optuna's storage: SQLite in the tune's folder by default
(a killed tune resumes where it stopped: run the same command again), or ``--storage URL`` (e.g. a
PostgreSQL database) so several machines work on one study at once. The trial budget counts every
finished or pruned trial of the study, whoever ran it. The best parameters are written as a preset
(best.yaml) that ``compete fit SLUG --config`` takes.

Note: the score that picked the parameters was measured on the same folds a later fit reports, so
that fit's CV is a little optimistic (the usual price of tuning on CV; Kaggle's leaderboard is the check).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from competitions.core.artifacts import write_text
from competitions.core.console import info
from competitions.core.errors import CompeteError, OptionError
from competitions.core.layout import RunLayout, shared_folds
from competitions.core.spec import CompetitionSpec
from competitions.pipeline.factory import build_datamodule, model_class
from competitions.pipeline.folds import fold_trainer_for
from competitions.pipeline.folds_estimator import fit_fold

HEARTBEAT_SECONDS = 10  # a trial whose process died is marked failed after GRACE_SECONDS without a heartbeat
GRACE_SECONDS = 30


@dataclass
class TuneResult:
    study: object
    preset: Path
    best_value: float
    best_params: dict
    trials_done: int  # completed
    trials_pruned: int
    family: str | None = None


def storage_for(url: str | None, folder: Path):
    """Optuna's storage at ``url`` (default: SQLite in the tune's folder); one line when it cannot be used."""
    import optuna
    import sqlalchemy

    url = url or f"sqlite:///{(folder / 'study.db').resolve()}"
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # the heartbeat
    try:
        return optuna.storages.RDBStorage(
            url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS,
            failed_trial_callback=None,
        )  # fmt: skip
    except sqlalchemy.exc.ArgumentError:
        raise OptionError(f"`storage` {url!r} is not a database URL (e.g. sqlite:///study.db, "
                          "postgresql://user@host/db)") from None  # fmt: skip
    except (ImportError, sqlalchemy.exc.NoSuchModuleError) as err:
        raise OptionError(f"`storage` {url!r}: its database driver is not installed ({err}); pip install it, or "
                          "use sqlite:///FILE") from None  # fmt: skip
    except sqlalchemy.exc.SQLAlchemyError as err:
        reason = str(getattr(err, "orig", None) or err).splitlines()[0]
        raise CompeteError(f"`storage` {url!r}: cannot open the database ({reason})") from None


def tune(spec: CompetitionSpec, cfg, trials: int | None, timeout: float | None, storage: str | None,
         study_name: str | None) -> TuneResult:  # fmt: skip
    """Run (or continue) the study of ``cfg.family`` on ``cfg``'s data and folds; write best.yaml."""
    import optuna

    family = cfg.get("family")
    family_class = model_class(spec, family)
    if not fold_trainer_for(family_class).tunable:
        choices = [name for name in spec.families if fold_trainer_for(model_class(spec, name)).tunable]
        raise CompeteError(f"compete tune searches the tree and linear families ({', '.join(choices)}); "
                           f"{family or spec.slug}'s network is tuned by hand (its epochs cost minutes)")  # fmt: skip
    if (trials is not None and trials < 1) or (timeout is not None and timeout <= 0):
        raise OptionError(f"`{'trials' if trials is not None and trials < 1 else 'timeout'}` must be positive "
                          f"(trials {trials}, timeout {timeout})")  # fmt: skip
    if not trials and not timeout:
        raise CompeteError("give compete tune a budget: `trials` N, `timeout` (e.g. 10m), or both")
    from competitions.pipeline.fit import check_experiment_name

    folder = RunLayout.of(cfg.runs_dir, spec.slug, check_experiment_name(cfg.experiment)).root
    folder.mkdir(parents=True, exist_ok=True)
    datamodule = build_datamodule(spec, Path(cfg.data_dir).resolve(), cfg.runs_dir, **cfg.data.as_dict())
    datamodule.check_layout()
    datamodule.ensure_folds(shared_folds(cfg.runs_dir, spec.slug), cfg.n_folds, cfg.seed)
    study = open_study(spec, cfg, storage_for(storage, folder), study_name or f"{spec.slug}-{family}")
    run_trials(study, objective_of(spec, cfg, datamodule, family_class), spec, cfg.seed, trials, timeout)
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not done:
        raise CompeteError(f"tune: no trial of {study.study_name!r} finished (all pruned or failed); give it more "
                           "trials or time")  # fmt: skip
    preset = write_best_preset(spec, cfg, study, folder / "best.yaml")
    pruned = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.PRUNED,)))
    return TuneResult(study, preset, study.best_value, study.best_params, len(done), pruned, family)


def objective_of(spec: CompetitionSpec, cfg, datamodule, family_class: type):
    """A trial: the family with drawn parameters on every fold, reporting the running pooled OOF score
    after each fold (so the pruner can stop a trial whose first folds are already worse)."""
    import optuna

    truth = datamodule.train_table["target"].to_numpy()  # what the metric compares with: values or class indices
    base = cfg.model.as_dict()

    def objective(trial) -> float:
        params = {**base, **family_class.search_space(trial)}
        rows, predictions = [], []
        for step, fold in enumerate(range(cfg.n_folds)):
            fitted = fit_fold(datamodule, family_class, params, fold, cfg.seed)
            rows.append(fitted.val_rows)
            predictions.append(fitted.val_predictions)
            index = np.concatenate(rows)
            score = spec.metric(truth[index], datamodule.to_output(np.concatenate(predictions)))
            trial.report(score, step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"fold {fold}: running {spec.metric.name} {score:.4f}")
        return float(score)

    return objective


def open_study(spec: CompetitionSpec, cfg, storage, name: str):
    import optuna

    # Errors only: compete prints each trial's line itself, and a trial interrupted or failed ends the
    # command with one line (Optuna would log the trial's traceback as a warning first).
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.create_study(
        study_name=name,
        storage=storage,
        direction="minimize" if spec.metric.direction == "min" else "maximize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=cfg.seed),  # each process its own draws: seed + a count below
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
    )


def run_trials(study, objective, spec: CompetitionSpec, seed: int, trials: int | None, timeout: float | None) -> None:
    """Trials until the study has ``trials`` finished or pruned ones (whoever ran them), or ``timeout``."""
    import optuna

    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    before = len(study.get_trials(deepcopy=False, states=finished))
    if study.trials:
        info(f"tune: continuing study {study.study_name!r} ({before} finished trials)")
    callbacks = [report_trial(spec)]
    if trials:
        callbacks.append(optuna.study.MaxTrialsCallback(trials, states=finished))
    if trials and before >= trials:
        info(f"tune: the study already has {before} finished trials (budget {trials}); nothing to run")
        return
    study.sampler = optuna.samplers.TPESampler(seed=seed + before)
    study.optimize(objective, n_trials=None if timeout else trials, timeout=timeout, callbacks=callbacks, catch=())


def report_trial(spec: CompetitionSpec):
    started = time.time()

    def callback(study, trial) -> None:
        value = f"{trial.value:.4f}" if trial.value is not None else str(trial.state.name.lower())
        best = study.best_value if any(t.value is not None for t in study.get_trials(deepcopy=False)) else float("nan")
        info(f"trial {trial.number}: {spec.metric.name} {value}  (best {best:.4f}, {time.time() - started:.0f}s)")

    return callback


def write_best_preset(spec: CompetitionSpec, cfg, study, path: Path) -> Path:
    """best.yaml: the family, its tuned model settings and the data settings it was tuned with."""
    model = {**cfg.model.as_dict(), **study.best_params}
    body = yaml.safe_dump({"family": cfg.family, "n_folds": cfg.n_folds, "seed": cfg.seed,
                           "model": model, "data": cfg.data.as_dict()}, sort_keys=False)  # fmt: skip
    trial = study.best_trial
    header = (f"# Tuned by compete tune: study {study.study_name!r}, best of {len(study.trials)} trials "
              f"(trial {trial.number}), pooled OOF {spec.metric.name} {study.best_value:.5f} on {cfg.n_folds} folds.\n"
              f"# compete fit {spec.slug} --config {path} --experiment {cfg.family}-tuned\n")  # fmt: skip
    return write_text(path, header + body)
