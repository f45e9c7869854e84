"""Which process this is, and what it may use, in one place.

Lightning keeps the global rank on ``rank_zero_only.rank`` (set from the launcher's environment at
import, and by the Trainer once the processes are set up); before Lightning is imported the
launcher's environment variables say the same. Every "only on rank 0" decision reads this.
"""

from __future__ import annotations

import os

RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def global_rank() -> int:
    """This process's global rank (0 outside distributed runs)."""
    from lightning_utilities.core.rank_zero import rank_zero_only

    rank = getattr(rank_zero_only, "rank", None)
    if rank is not None:
        return int(rank)
    for variable in RANK_VARIABLES:
        if os.environ.get(variable, "").isdigit():
            return int(os.environ[variable])
    return 0


def is_global_zero() -> bool:
    return global_rank() == 0


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity; cgroup quotas aside), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
