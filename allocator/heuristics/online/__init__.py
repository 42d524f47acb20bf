"""Baseline schedulers that a planner's placements are measured against."""

from allocator.heuristics.online.policies import (
    POLICIES,
    ClusterState,
    OnlineResult,
    TaskTable,
    TypicalTasks,
    expected_fragmentation,
    simulate,
)

__all__ = [
    "POLICIES",
    "ClusterState",
    "OnlineResult",
    "TaskTable",
    "TypicalTasks",
    "expected_fragmentation",
    "simulate",
]
