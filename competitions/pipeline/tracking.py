"""Weights & Biases for `compete fit --logger wandb`: project = competition, group = experiment,
one run per fold, and a final `cv` run with the cross-validation summary.

Lightning's WandbLogger reuses the active run, so every fold's run is finished before the next
fold starts. Without a W&B login (no WANDB_API_KEY, no api.wandb.ai entry in ~/.netrc) runs are
written offline under RUN_DIR/wandb/ (`wandb sync` uploads them later): W&B never prompts. Online,
a server that does not answer within 5 s, or an online run that cannot start, is one warning and
the run logs offline. Only
global rank 0 talks to W&B. The logged config is the run's config.yaml minus anything whose name
says key, token, secret or password; no environment variable is logged.
"""

from __future__ import annotations

import netrc
import os
import re
from pathlib import Path
from typing import Any

from competitions.core.artifacts import read_json, write_json
from competitions.core.console import info, warn
from competitions.core.layout import RunLayout
from competitions.core.ranks import is_global_zero

SECRET = re.compile(r"key|token|secret|password|credential", re.IGNORECASE)


def wandb_mode() -> str:
    """WANDB_MODE if set; online with a login; offline otherwise (never a login prompt)."""
    if os.environ.get("WANDB_MODE") == "":
        del os.environ["WANDB_MODE"]  # wandb itself rejects an empty value
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    try:
        if netrc.netrc().authenticators("api.wandb.ai"):
            return "online"
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        pass
    return "offline"


def base_url() -> str:
    return os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai"


def reachable(url: str, seconds: float = 5.0) -> bool:
    """Whether the W&B server answers at all (any HTTP status), within ``seconds``; through the user's proxy
    settings, as wandb itself connects. Without it, wandb.init waits about 90 s for a network that is off
    (a Kaggle notebook with the internet off) and then fails."""
    import requests

    try:
        requests.head(url, timeout=seconds, allow_redirects=False)
    except requests.RequestException:
        return False
    return True


def scrub(config: Any) -> Any:
    """``config`` without entries whose name looks like a credential."""
    if isinstance(config, dict):
        return {k: scrub(v) for k, v in config.items() if not SECRET.search(str(k))}
    if isinstance(config, list):
        return [scrub(v) for v in config]
    return config


class Tracker:
    """The W&B side of one `compete fit` (call its methods on global rank 0 only, except fold_logger)."""

    def __init__(self, slug: str, experiment: str, layout: RunLayout, config: dict) -> None:
        self.slug = slug
        self.experiment = experiment
        self.layout = layout
        self.config = scrub(config)
        self.mode = wandb_mode()
        if self.mode == "online" and is_global_zero() and not reachable(base_url()):
            warn(f"W&B: cannot reach {base_url()} (no network?); this run logs offline to {layout.wandb_dir} "
                 "(upload it later with `wandb sync`)")  # fmt: skip
            self.mode = "offline"
        if self.mode == "offline":  # for wandb's service process too, which reads the environment, not init's mode
            os.environ["WANDB_MODE"] = "offline"
        self.dir = layout.wandb_dir
        # RUN_DIR/wandb.json: project, group, mode and the run ids, for later updates
        self.state = read_json(layout.wandb_state) if layout.wandb_state.exists() else {}
        self.state.update(project=slug, group=experiment, mode=self.mode, dir=str(self.dir))
        self.state.setdefault("folds", {})

    def _init_kwargs(self, name: str) -> dict:
        return {
            "project": self.slug,
            "group": self.experiment,
            "job_type": name,
            "name": name,
            "config": self.config,
            "dir": str(self.layout.root.resolve()),  # absolute: the W&B service may run elsewhere
            "mode": self.mode,
            "settings": _settings(),
        }

    def fold_logger(self, fold: int):
        """Lightning's WandbLogger for ``fold`` (it logs from rank 0 only)."""
        from lightning.pytorch.loggers import WandbLogger

        self.dir.mkdir(parents=True, exist_ok=True)
        logger = WandbLogger(save_dir=str(self.layout.root.resolve()), log_model=False, **self._init_kwargs(f"fold{fold}"))
        if self.mode != "online":
            return logger
        try:
            logger.experiment  # noqa: B018 - starts the run now, where a failure can still turn into offline logging
        except Exception as err:  # noqa: BLE001 - wandb's CommError, UsageError, timeouts: the fit goes on
            warn(f"W&B: could not start an online run ({err.__class__.__name__}); this run logs offline to "
                 f"{self.dir} (upload it later with `wandb sync`)")  # fmt: skip
            self.mode = self.state["mode"] = "offline"
            os.environ["WANDB_MODE"] = "offline"
            logger = WandbLogger(save_dir=str(self.layout.root.resolve()), log_model=False,
                                 **self._init_kwargs(f"fold{fold}"))  # fmt: skip
        return logger

    def finish_fold(self, fold: int, logger, metrics: dict, confusion: tuple | None, picture: Path | None) -> None:
        """Fold results into the fold's run, then finish it (the next fold gets a fresh run)."""
        import wandb

        run = logger.experiment
        run.summary.update({f"fold/{k}": v for k, v in metrics.items() if isinstance(v, (int, float))})
        if confusion is not None:
            y_true, y_pred, classes = confusion
            run.log({"oof/confusion_matrix": wandb.plot.confusion_matrix(
                y_true=list(map(int, y_true)), preds=list(map(int, y_pred)), class_names=list(classes)
            )})  # fmt: skip
        if picture is not None and picture.exists():
            run.log({"data/augmented_training_images": wandb.Image(str(picture))})
        self.state["folds"][str(fold)] = run.id
        write_json(self.layout.wandb_state, self.state)
        run.finish()

    def finish_cv(self, summary: dict) -> None:
        """The CV summary into a final `cv` run and into every fold's run (resumed)."""
        import wandb

        values = cv_summary(summary)
        run = wandb.init(**self._init_kwargs("cv"), id=self.state.get("cv"), resume="allow")
        run.summary.update(values)
        self.state["cv"] = run.id
        run.finish()
        for fold_id in self.state["folds"].values():
            resumed = _resume(self.state, fold_id, self.layout.root)
            resumed.summary.update(values)
            resumed.finish()
        write_json(self.layout.wandb_state, self.state)
        if self.mode == "offline":
            info(f"W&B (offline): upload later with `wandb sync {self.dir}/offline-run-*`")


def cv_summary(summary: dict) -> dict:
    values = {f"cv/fold{k}": v for k, v in summary["folds"].items()}
    values.update({"cv/mean": summary["mean"], "cv/std": summary["std"], "cv/oof": summary["oof"]})
    values["cv/metric"] = summary["metric"]
    return values


def _settings():
    import wandb

    # No console capture (Lightning's progress bar would fill the logs), no code or git upload.
    return wandb.Settings(console="off", save_code=False, disable_git=True, silent=True)


def _resume(state: dict, run_id: str, run_dir: Path):
    """Reopen a finished W&B run by id (online: the same run; offline: a new directory `wandb sync` merges)."""
    import wandb

    return wandb.init(
        project=state["project"], id=run_id, resume="allow", dir=str(Path(run_dir).resolve()),
        mode=state.get("mode", "offline"), settings=_settings(),
    )  # fmt: skip


def update_runs(layout: RunLayout, values: dict, artifact: Path | None = None) -> bool:
    """Write ``values`` into the summaries of a tracked run's W&B runs (and log ``artifact`` to the
    `cv` run). False when the run was not tracked with W&B."""
    if not layout.wandb_state.exists():
        return False
    import wandb

    state = read_json(layout.wandb_state)
    ids = [run_id for run_id in [state.get("cv"), *state.get("folds", {}).values()] if run_id]
    for i, run_id in enumerate(ids):
        run = _resume(state, run_id, layout.root)
        run.summary.update(values)
        if artifact is not None and i == 0:
            logged = wandb.Artifact(f"{state['group']}-submission", type="submission")
            logged.add_file(str(artifact))
            run.log_artifact(logged)
        run.finish()
    return True


def log_quietly(layout: RunLayout, values: dict, artifact: Path | None = None) -> None:
    """``update_runs`` for runs tracked with W&B; a W&B failure is a warning, never a failed command."""
    if not layout.wandb_state.exists():
        return
    try:
        update_runs(layout, values, artifact)
    except Exception as err:  # noqa: BLE001 - tracking must not break predict or submit
        warn(f"could not update the W&B runs of {layout.root} ({err.__class__.__name__})")
