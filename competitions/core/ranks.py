"""Which process this is, and what it may use, in one place.

Lightning keeps the global rank on ``rank_zero_only.rank`` (set from the launcher's environment at
import, and by the Trainer once the processes are set up); before Lightning is imported the
launcher's environment variables say the same. Every "only on rank 0" decision reads this.
"""

from __future__ import annotations

import os

GLOBAL_RANK_VARIABLES = ("RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")  # torchrun/Lightning, SLURM, LSF


NODE_VARIABLES = ("NODE_RANK", "GROUP_RANK")  # Lightning's and torchrun's name of a node's number


def environment_rank() -> int:
    """The global rank the launcher's environment says: RANK (or SLURM's, ...), else, on node N of a
    multi-node run started by hand, N * LOCAL_WORLD_SIZE + LOCAL_RANK (never 0 on a node other than 0)."""
    for variable in GLOBAL_RANK_VARIABLES:
        if os.environ.get(variable, "").isdigit():
            return int(os.environ[variable])
    local = int(os.environ["LOCAL_RANK"]) if os.environ.get("LOCAL_RANK", "").isdigit() else 0
    node = next((int(os.environ[v]) for v in NODE_VARIABLES if os.environ.get(v, "").isdigit()), 0)
    size = int(os.environ["LOCAL_WORLD_SIZE"]) if os.environ.get("LOCAL_WORLD_SIZE", "").isdigit() else 1
    return node * max(size, local + 1) + local


def global_rank() -> int:
    """This process's global rank (0 outside distributed runs). Lightning's rank once a Trainer has set up
    the processes; before that Lightning reads only RANK/LOCAL_RANK, so node 1's first process would pass
    for rank 0 (taking the run lock, writing, decoding): the node's number says it is not."""
    from lightning_utilities.core.rank_zero import rank_zero_only

    rank = getattr(rank_zero_only, "rank", None)
    here = environment_rank()
    if rank is not None and not (int(rank) == 0 and here):
        return int(rank)
    return here


def is_global_zero() -> bool:
    return global_rank() == 0


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity; cgroup quotas aside), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
