"""`compete fit SLUG --config stack`: every model family on the same folds, then one blended submission.

A stack preset names families instead of settings::

    stack:
      families: [lightgbm, ridge, mlp]   # each fitted as EXPERIMENT-FAMILY from its own preset
      weights: auto                      # oof (non-negative, fitted on the pooled OOF predictions, log scale),
                                         # caruana (greedy selection), or auto: the better by nested OOF score
      configs: {mlp: debug}              # optional: a preset or YAML file per family, after its base preset

Each family is an ordinary run (RUNS_DIR/SLUG/stack-lightgbm, ...: `compete runs` lists them), fitted on
the competition's shared folds and predicted; then `compete ensemble`'s mechanism blends them into
RUNS_DIR/SLUG/stack (EXPERIMENT), whose cv.json holds the nested, honest OOF score of the blend.
The run's other settings (data_dir, n_folds, data.*, ...) go to every family's fit, after its own preset.
"""

from __future__ import annotations

from competitions.core.console import info
from competitions.core.errors import CompeteError
from competitions.core.layout import RunLayout
from competitions.pipeline.factory import model_class
from competitions.pipeline.folds import fold_trainer_for
from competitions.pipeline.records import Run
from competitions.pipeline.run_config import RunConfig, read_yaml_quietly


def fit_or_stack(run: RunConfig) -> Run | None:
    """`compete fit`: a stack when the run's configs name one, else one experiment (pipeline/fit.py)."""
    from competitions.pipeline.fit import fit

    return fit_stack(run) if run.stack is not None else fit(run)


def stack_members(run: RunConfig) -> list[RunConfig]:
    """Every family of the stack as a run of its own: EXPERIMENT-FAMILY, its family preset, then the
    family's stack config, then the run's settings."""
    from competitions.pipeline.fit import check_experiment_name
    from submissions.weights import WEIGHTINGS

    settings, spec = run.stack, run.spec
    if settings.get("weights", "oof") not in (*WEIGHTINGS, "auto"):
        raise CompeteError(f"the stack's weights {settings['weights']!r}: one of {', '.join(WEIGHTINGS)}, auto")
    experiment = run.cfg.experiment  # resolve_run names a stack "stack" unless told otherwise
    resume = bool(run.overrides.get("resume"))
    members = []
    for family in settings["families"]:
        name = f"{experiment}-{family}"
        own = (settings.get("configs") or {}).get(family)
        exists = RunLayout.of(run.cfg.runs_dir, spec.slug, name).config.exists()
        try:  # every family's presets and options are checked before the first one trains
            member = run.replace(family=family, configs=[*run.configs, *([own] if own else [])], experiment=name,
                                 resume=resume and exists)  # fmt: skip
            fold_trainer_for(model_class(spec, family)).check_options(spec, member.cfg)
            check_experiment_name(name)
        except Exception as err:
            err.add_note(f"stack family {family}")  # the command line puts it before the message
            raise
        members.append(member)
    return members


def fit_stack(run: RunConfig) -> Run:
    """Fit and predict every family of the stack (resuming finished ones with `resume`), then blend them."""
    from competitions.pipeline.ensemble import ensemble_runs
    from competitions.pipeline.fit import fit
    from competitions.pipeline.predict import predict_run

    spec, settings = run.spec, run.stack
    resume = bool(run.overrides.get("resume"))
    roots = []
    for member in stack_members(run):
        layout = RunLayout.of(member.cfg.runs_dir, spec.slug, member.cfg.experiment)
        finished = resume and (read_yaml_quietly(layout.cv) or {}).get("complete") and predicted(layout)
        if finished:
            info(f"stack: {layout.root.name} is finished (cv.json, test predictions); kept")
        else:
            info(f"stack: fitting {member.family} as {layout.root.name}")
            fit(member)
            predict_run(spec, layout.root)
        roots.append(layout.root)
    blend = ensemble_runs(spec, roots, weights=settings.get("weights", "oof"), name=run.cfg.experiment,
                          data_dir=run.overrides.get("data_dir"), replace=resume)  # fmt: skip
    details = blend.details
    if details.get("weighting_nested_oof"):
        shown = ", ".join(f"{k} {v:.4f}" for k, v in details["weighting_nested_oof"].items())
        info(f"stack: weights by {details['weighting']} (nested OOF {spec.metric.name}: {shown})")
    info(f"stack: blend of {', '.join(settings['families'])}: OOF {spec.metric.name} {details['oof_nested']:.4f} "
         f"(nested: each fold blended with weights fitted on the others; {details['oof']:.4f} with the final "
         f"weights on the rows they were fitted on)")  # fmt: skip
    return Run(spec.slug, blend.path.parent)


def predicted(layout: RunLayout) -> bool:
    """Whether the run's test predictions are in place, as its manifest records them."""
    from competitions.pipeline.predict import predicted_test_files

    try:
        return predicted_test_files(layout) is not None
    except CompeteError:  # files that do not match: predict again
        return False
