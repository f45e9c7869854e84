"""`compete fit SLUG --fold-parallel [N]`: one fold per device, N processes per device, at once.

For small networks DDP is bound by its communication (ResNet-9 on cifar-10 at 8 GPUs takes about
10 steps per process per epoch), while k-fold's folds need no communication at all. The parent fit
holds the run lock, writes config.yaml and folds.csv, plans a budget once (for the folds' waves), then
starts a worker process per fold (spawned: fresh CUDA state; CUDA_VISIBLE_DEVICES names its GPU, or
it takes its share of the CPUs), at most devices x N at a time. A worker resumes the run's own settings
with one device and trains its fold exactly as the sequential fit would (the seed is seed + fold, the
rows are the fold's), holding the fold's lock; its output goes to fold<k>/worker.log. The parent then
writes cv.json: the run holds the same files as a sequential run. A killed worker's fold is finished by
`compete fit ... --resume`.
"""

from __future__ import annotations

import math
import os
import sys
import time

from competitions.core.artifacts import read_json
from competitions.core.console import info
from competitions.core.errors import CompeteError, OptionError
from competitions.core.ranks import usable_cpus

WORKER_LOG = "worker.log"


def slots(cfg) -> list[str | None]:
    """One entry per worker that may run at once: the GPU it sees (CUDA_VISIBLE_DEVICES), or None on the CPU."""
    import torch

    trainer = cfg.trainer.as_dict() if cfg.get("trainer") is not None else {}
    per_device = int(cfg.fold_parallel)
    if per_device < 1:
        raise OptionError(f"`fold_parallel` {per_device}: processes per device, at least 1")
    if int(trainer.get("num_nodes") or 1) > 1 or str(trainer.get("strategy") or "auto").startswith("ddp"):
        raise OptionError("`fold_parallel` trains each fold on one device of this machine: leave trainer.strategy "
                          "auto and trainer.num_nodes 1 (for several nodes: one `compete fit --folds K` job each)")  # fmt: skip
    from competitions.pipeline.fit_budget import device_ids

    gpu = str(trainer.get("accelerator", "auto")) in ("gpu", "cuda", "auto") and torch.cuda.is_available()
    ids = device_ids(trainer.get("devices", 1), trainer.get("accelerator"))
    return [(device if gpu else None) for device in ids for _ in range(per_device)]


def waves(n_folds: int, cfg) -> int:
    """How many folds one worker slot trains one after another (what a budget plans for)."""
    return math.ceil(n_folds / max(1, len(slots(cfg))))


def train_in_parallel(context, pending: list[int], train_one_fold) -> None:
    """Train ``pending`` folds in worker processes (``train_one_fold(slug, overrides)``, a module-level function
    a spawned process can import), at most one per slot at a time; raise naming a failed fold."""
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    free, running, failed = slots(context.cfg), {}, []
    threads = max(1, usable_cpus() // max(1, len(free)))
    queue = list(pending)
    try:
        while queue or running:
            while queue and free:
                fold, device = queue.pop(0), free.pop(0)
                process = start_worker(spawn, context, fold, device, threads, train_one_fold)
                running[fold] = (process, device, time.time())
            time.sleep(0.2)
            for fold, (process, device, started) in list(running.items()):
                if process.is_alive():
                    continue
                process.join()
                del running[fold]
                free.append(device)
                report(context, fold, process.exitcode, time.time() - started, failed)
    except BaseException:  # Ctrl-C or a failure here: no worker outlives the fit
        for process, _, _ in running.values():
            process.terminate()
        for process, _, _ in running.values():
            process.join(timeout=30)
        raise
    if failed:
        fold, line = failed[0]
        raise CompeteError(f"fold {fold}: its worker failed ({line}); see {context.layout.fold_dir(fold) / WORKER_LOG}, "
                           "and finish the run with `resume`")  # fmt: skip


def start_worker(spawn, context, fold: int, device: str | None, threads: int, train_one_fold):
    layout = context.layout
    layout.fold_dir(fold).mkdir(parents=True, exist_ok=True)
    overrides = {"resume": True, "experiment": context.cfg.experiment, "runs_dir": str(context.cfg.runs_dir),
                 "folds": str(fold), "trainer.devices": 1, "trainer.strategy": "auto"}  # fmt: skip
    environment = {"CUDA_VISIBLE_DEVICES": device} if device is not None else {}
    environment["OMP_NUM_THREADS"] = str(threads)
    process = spawn.Process(target=worker, args=(train_one_fold, context.spec.slug, overrides, environment, threads,
                                                 str(layout.fold_dir(fold) / WORKER_LOG)), daemon=False)  # fmt: skip
    saved = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)  # a spawned process starts with the parent's environment of this moment
    try:
        process.start()
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    info(f"fold {fold}: training in worker pid {process.pid} on {f'GPU {device}' if device is not None else 'the CPU'} "
         f"(log: {layout.fold_dir(fold) / WORKER_LOG})")  # fmt: skip
    return process


def report(context, fold: int, exitcode: int | None, seconds: float, failed: list) -> None:
    layout = context.layout
    if exitcode == 0 and layout.fold_metrics(fold).exists():
        score = read_json(layout.fold_metrics(fold))["score"]
        info(f"fold {fold}: OOF {context.spec.metric.name} = {score:.4f} (worker, {seconds:.0f}s)")
        return
    log = layout.fold_dir(fold) / WORKER_LOG
    lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    said = next((line for line in reversed(lines) if line.startswith(("error:", "interrupted:"))), None)
    failed.append((fold, said or f"exit code {exitcode}"))


def worker(train_one_fold, slug: str, overrides: dict, environment: dict, threads: int, log: str) -> None:
    """One fold in this (spawned) process: the run's own settings, resumed, on one device."""
    handle = open(log, "a", buffering=1)  # noqa: SIM115 - the process's stdout and stderr until it ends
    os.dup2(handle.fileno(), 1)
    os.dup2(handle.fileno(), 2)
    sys.stdout, sys.stderr = handle, handle
    os.environ.update(environment)
    try:
        import torch

        torch.set_num_threads(threads)
        train_one_fold(slug, overrides)
    except KeyboardInterrupt:
        print("interrupted: the fold's last.ckpt is kept; finish the run with --resume", flush=True)
        sys.exit(130)
    except CompeteError as err:
        print(f"error: {err}", flush=True)
        sys.exit(err.exit_code)
    except OSError as err:
        if err.filename is None:
            raise
        print(f"error: {err.filename}: {err.strerror or err}", flush=True)
        sys.exit(1)


def check_supported(cfg) -> None:
    """Refuse what fold-parallel cannot do yet, before anything is written."""
    if cfg.logger == "wandb":
        raise OptionError("`fold_parallel` with `logger` wandb: the workers would write one W&B state file at "
                          "once; use logger csv, or train the folds one after another")  # fmt: skip
    slots(cfg)
