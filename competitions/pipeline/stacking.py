"""`compete fit SLUG --config stack`: every model family on the same folds, then one blended submission.

A stack preset names families instead of settings::

    stack:
      families: [lightgbm, ridge, mlp]   # each fitted as EXPERIMENT-FAMILY from its own preset
      weights: oof                       # non-negative, fitted on the pooled OOF predictions (log scale)
      configs: {mlp: debug}              # optional: a preset or YAML file per family, after its base preset

Each family is an ordinary run (RUNS_DIR/SLUG/stack-lightgbm, ...: `compete runs` lists them), fitted on
the competition's shared folds and predicted; then `compete ensemble`'s mechanism blends them into
RUNS_DIR/SLUG/stack (EXPERIMENT), whose cv.json holds the nested, honest OOF score of the blend.
Options on the command line (--data-dir, --n-folds, --data.*, ...) go to every family's fit.
"""

from __future__ import annotations

from pathlib import Path

from competitions.core.console import info
from competitions.core.errors import CompeteError
from competitions.core.layout import RunLayout
from competitions.core.spec import CompetitionSpec
from competitions.pipeline.config import read_yaml_quietly, resolve_presets, wants_help
from competitions.pipeline.results import Run


def fit_or_stack(spec: CompetitionSpec, argv: list[str]) -> Run | None:
    """`compete fit`: a stack when argv names a stack preset, else one experiment (pipeline/training.py)."""
    from competitions.pipeline.training import fit_from_argv

    stack = stack_preset(spec, argv) if spec.families and not wants_help(argv) else None
    return fit_stack(spec, *stack) if stack is not None else fit_from_argv(spec, argv)


def stack_preset(spec: CompetitionSpec, argv: list[str]) -> tuple[dict, list[str]] | None:
    """(the stack settings, argv without that --config) when argv names a stack preset, else None."""
    argv = resolve_presets(spec, argv)
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            path, rest = argv[i + 1], [*argv[:i], *argv[i + 2 :]]
        elif arg.startswith("--config="):
            path, rest = arg.split("=", 1)[1], [*argv[:i], *argv[i + 1 :]]
        else:
            continue
        loaded = read_yaml_quietly(Path(path)) or {}
        if "stack" in loaded:
            settings = loaded["stack"] or {}
            families = settings.get("families") or []
            unknown = [f for f in [*families, *(settings.get("configs") or {})] if f not in spec.families]
            if not families or unknown:
                raise CompeteError(f"{path}: stack.families must name {spec.slug} model families "
                                   f"({', '.join(spec.families) or 'none'}); got {families!r}")  # fmt: skip
            return settings, rest
    return None


def option(argv: list[str], name: str, default: str | None = None) -> str | None:
    """The last value of ``--name VALUE`` / ``--name=VALUE`` in argv."""
    value = default
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def without(argv: list[str], name: str) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            out.append(arg)
    return out


def fit_stack(spec: CompetitionSpec, settings: dict, argv: list[str]) -> Run:
    """Fit and predict every family of the stack (resuming finished ones with --resume), then blend them."""
    from competitions.pipeline.ensembling import ensemble_runs
    from competitions.pipeline.predicting import predict_run
    from competitions.pipeline.training import fit_from_argv

    experiment = option(argv, "--experiment", "stack")
    runs_dir = option(argv, "--runs-dir", "runs")
    resume = "--resume" in argv
    common = without(without([a for a in argv if a != "--resume"], "--experiment"), "--family")
    members = []
    for family in settings["families"]:
        name = f"{experiment}-{family}"
        layout = RunLayout.of(runs_dir, spec.slug, name)
        own = (settings.get("configs") or {}).get(family)
        member_argv = [*common, "--family", family, *(["--config", str(own)] if own else []), "--experiment", name]
        finished = resume and layout.test_manifest.exists() and (read_yaml_quietly(layout.cv) or {}).get("complete")
        if finished:
            info(f"stack: {name} is finished (cv.json, test predictions); kept")
        else:
            info(f"stack: fitting {family} as {name}")
            fit_from_argv(spec, [*member_argv, *(["--resume"] if resume and layout.config.exists() else [])])
            predict_run(spec, layout.root)
        members.append(layout.root)
    weights = settings.get("weights", "oof")
    blend = ensemble_runs(spec, members, weights=weights, name=experiment, data_dir=option(argv, "--data-dir"),
                          replace=resume)  # fmt: skip
    details = blend.details
    info(f"stack: blend of {', '.join(settings['families'])}: OOF {spec.metric.name} {details['oof_nested']:.4f} "
         f"(nested: each fold blended with weights fitted on the others; {details['oof']:.4f} with the final "
         f"weights on the rows they were fitted on)")  # fmt: skip
    return Run(spec.slug, blend.path.parent)
