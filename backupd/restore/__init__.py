"""Restore: read a backup, plan, transform, apply into a target cluster.

Layering (lower layers never import higher ones):

    pure, no I/O     filters, ordering, actions/*, planner, normalize, diffing, report
    I/O              targets (discovery, CRD readiness), applier (the API calls,
                     parallel within a tier), engine (storage + orchestration)

Planning, per-kind transforms and conflict decisions work on plain dicts and are
tested without a cluster. Only `targets`, `applier` and `engine` talk to the target
API server (through backupd.cluster) or the location (through backupd.storage).
"""

DEFAULT_WORKERS = 16  # objects written in parallel (here: the CLI reads it without the applier)
