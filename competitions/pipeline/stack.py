"""`compete fit SLUG --config stack`: every model family on the same folds, then one blended submission.

A stack preset names families instead of settings::

    stack:
      families: [lightgbm, ridge, mlp]   # each fitted as EXPERIMENT-FAMILY from its own preset
      weights: auto                      # oof (non-negative, fitted on the pooled OOF predictions, log scale),
                                         # caruana (greedy selection), linear (a second-level model on the
                                         # OOF predictions), or auto: the simplest of those within one
                                         # standard error of the best nested OOF score
      configs: {mlp: debug}              # optional: a preset or YAML file per family, after its base preset

Each family is an ordinary run (RUNS_DIR/SLUG/stack-lightgbm, ...: `compete runs` lists them), fitted on
the competition's shared folds and predicted; then `compete ensemble`'s mechanism blends them into
RUNS_DIR/SLUG/stack (EXPERIMENT), whose cv.json holds the nested, honest OOF score of the blend.
The run's other settings (data_dir, n_folds, data.*, ...) go to every family's fit, after its own preset.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from competitions.core.console import info
from competitions.core.errors import BudgetError, CompeteError, OptionError
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
    from submissions.level2 import BLENDERS

    settings, spec = run.stack, run.spec
    if settings.get("weights", "oof") not in (*BLENDERS, "auto"):
        raise CompeteError(f"the stack's weights {settings['weights']!r}: one of {', '.join(BLENDERS)}, auto")
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
    """Fit and predict every family of the stack (resuming finished ones with `resume`), then blend them;
    with `budget`, each family within its share of the time (StackBudget)."""
    from competitions.pipeline.fit import fit
    from competitions.pipeline.predict import predict_run

    spec, settings = run.spec, run.stack
    resume = bool(run.overrides.get("resume"))
    members = stack_members(run)
    budget = StackBudget.start(run, members) if run.cfg.get("budget") else None
    roots, spent = {}, {}
    for member in budget.order(members) if budget else members:
        layout = RunLayout.of(member.cfg.runs_dir, spec.slug, member.cfg.experiment)
        finished = resume and (read_yaml_quietly(layout.cv) or {}).get("complete") and predicted(layout)
        if finished:
            info(f"stack: {layout.root.name} is finished (cv.json, test predictions); kept")
            if budget:
                budget.pending.remove(member.family)
        else:
            member = budget.share(member) if budget else member
            if member is None:
                continue
            info(f"stack: fitting {member.family} as {layout.root.name}")
            began = time.time()
            try:
                fit(member)
            except BudgetError as err:  # its share is too short for even one epoch a fold: the others go on
                info(f"stack: {member.family} skipped: {err}")
                continue
            predict_run(spec, layout.root)
            spent[member.family] = (member, time.time() - began)
        roots[member.family] = layout.root
    if budget:
        add_repeats(budget, spent, roots)
    return blend_stack(run, [roots[family] for family in settings["families"] if family in roots])


def add_repeats(budget: StackBudget, spent: dict[str, tuple[RunConfig, float]], roots: dict) -> None:
    """While the budget has time for it: each family fitted here once more with one more repeat of the
    k-fold (cheapest first, when its last fit's time is left), up to MAX_REPEATS; the new folds are added
    to the run (resumed, its folds.csv gaining the repeat's column), their OOF averaged with the others'."""
    from competitions.pipeline.fit import fit
    from competitions.pipeline.predict import predict_run

    def needs(family: str) -> float:  # the time a repeat of the family is started with
        return max(MIN_FAMILY_SECONDS, spent[family][1] * REPEAT_MARGIN)

    while True:
        fits = [f for f in sorted(spent, key=budget.weights.get)
                if spent[f][0].cfg.n_repeats < MAX_REPEATS and needs(f) < budget.left()]  # fmt: skip
        if not fits:
            return
        for family in fits:
            member, seconds = spent[family]
            if needs(family) >= budget.left():
                continue
            more = member.replace(n_repeats=member.cfg.n_repeats + 1, resume=True, force=True,
                                  budget=f"{int(needs(family))}s")  # fmt: skip
            info(f"stack: {budget.left():.0f}s left: {family} with {more.cfg.n_repeats} repeats of its k-fold")
            began = time.time()
            try:
                fit(more)
            except BudgetError as err:  # a network's new folds cannot fit one epoch in that time: no more repeats
                info(f"stack: no more repeats of {family}: {err}")
                del spent[family]
                continue
            predict_run(more.spec, roots[family])
            spent[family] = (more, time.time() - began)


def blend_stack(run: RunConfig, roots: list) -> Run:
    """The members blended into RUNS_DIR/SLUG/EXPERIMENT (one member within a budget: that run itself)."""
    from competitions.pipeline.ensemble import ensemble_runs

    spec, settings = run.spec, run.stack
    if not roots:
        raise BudgetError(f"`budget` {run.cfg.budget}: no family of the stack could be fitted within it; give it "
                          "more time")  # fmt: skip
    if len(roots) == 1:
        info(f"stack: only {roots[0].name} was fitted within the budget: its submission is the stack's "
             f"({roots[0] / 'submission.csv'})")  # fmt: skip
        return Run(spec.slug, roots[0])
    blend = ensemble_runs(spec, roots, weights=settings.get("weights", "oof"), name=run.cfg.experiment,
                          data_dir=run.overrides.get("data_dir"), replace=bool(run.overrides.get("resume")))  # fmt: skip
    details = blend.details
    if details.get("weighting_nested_oof"):
        shown = ", ".join(f"{k} {v:.4f}" for k, v in details["weighting_nested_oof"].items())
        info(f"stack: weights by {details['weighting']}, the simplest within one standard error "
             f"({details['weighting_error']:.4f}) of the best nested OOF {spec.metric.name} ({shown})")
    info(f"stack: blend of {', '.join(r.name for r in roots)}: OOF {spec.metric.name} {details['oof_nested']:.4f} "
         f"(nested: each fold blended with weights fitted on the others; {details['oof']:.4f} with the final "
         f"weights on the rows they were fitted on)")  # fmt: skip
    return Run(spec.slug, blend.path.parent)


BLEND_SHARE = 0.05  # of a stack's budget, kept for blending the members
MIN_FAMILY_SECONDS = 5.0  # a family given less is skipped (its data checks and preprocessing alone take that)
MAX_REPEATS = 5  # time left after every family: repeats of the k-fold added, up to this many
REPEAT_MARGIN = 1.3  # a repeat is started when 1.3x the family's last fit (at least MIN_FAMILY_SECONDS) is left


@dataclass
class StackBudget:
    """A stack's `budget`: the families fitted cheapest first (their ``budget_weight``), each given the time
    left (less the blend's share) in proportion to its weight among the families still to fit (at least
    MIN_FAMILY_SECONDS), so what a quick family leaves goes to the next; when less than that is left,
    the families still to fit are skipped and the blend is of those that were."""

    seconds: float
    started: float
    weights: dict[str, float]
    pending: list[str]

    @classmethod
    def start(cls, run: RunConfig, members: list[RunConfig]) -> StackBudget:
        from competitions.core.clock import budget_start
        from competitions.pipeline.fit_budget import parse_duration

        seconds = parse_duration(run.cfg.budget)
        weights = {m.family: float(model_class(run.spec, m.family).budget_weight) for m in members}
        budget = cls(seconds, budget_start(), weights, [])
        first = max(MIN_FAMILY_SECONDS, min(weights.values()) / sum(weights.values()) * budget.left())
        if budget.left() < MIN_FAMILY_SECONDS:
            spent = time.time() - budget.started
            raise OptionError(f"`budget` {run.cfg.budget}: {max(0.0, budget.left()):.1f}s would be left for the families "
                              f"after start-up ({spent:.1f}s) and the blend's share; a stack needs {MIN_FAMILY_SECONDS:.0f}s "
                              "for one family: give it more time, or fit one family")  # fmt: skip
        info(f"stack: budget {run.cfg.budget}: fitting {', '.join(sorted(weights, key=weights.get))} in that order, "
             f"cheapest first (the first gets about {first:.0f}s; what each leaves goes to the next)")  # fmt: skip
        return budget

    def left(self) -> float:
        return self.started + self.seconds * (1 - BLEND_SHARE) - time.time()

    def order(self, members: list[RunConfig]) -> list[RunConfig]:
        ordered = sorted(members, key=lambda m: self.weights[m.family])
        self.pending = [m.family for m in ordered]
        return ordered

    def share(self, member: RunConfig) -> RunConfig | None:
        """``member`` with its `budget` (None: skipped), its family no longer pending."""
        weight, left = self.weights[member.family], self.left()
        seconds = max(MIN_FAMILY_SECONDS, left * weight / sum(self.weights[f] for f in self.pending))
        self.pending.remove(member.family)
        if left < MIN_FAMILY_SECONDS:
            info(f"stack: {member.family} skipped: {max(0.0, left):.1f}s of the budget left (a family needs "
                 f"{MIN_FAMILY_SECONDS:.0f}s)")  # fmt: skip
            return None
        return member.replace(budget=f"{int(seconds)}s")


def predicted(layout: RunLayout) -> bool:
    """Whether the run's test predictions are in place, as its manifest records them."""
    from competitions.pipeline.predict import predicted_test_files

    try:
        return predicted_test_files(layout) is not None
    except CompeteError:  # files that do not match: predict again
        return False
