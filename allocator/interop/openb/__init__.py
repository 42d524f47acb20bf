"""The Alibaba GPU trace (openb): its node and task lists as arrays, the published
simulator's arrival sampling (with Go's random numbers), and an importer to inventories."""

from allocator.interop.openb.gorand import GoRand
from allocator.interop.openb.trace import (
    MILLI,
    NODE_FILE,
    ArrivalSequence,
    OpenbNodes,
    OpenbTasks,
    OpenbTrace,
    arrival_prefix,
    build_arrivals,
    load_trace,
    pod_file,
    read_nodes,
    read_tasks,
)

__all__ = [
    "MILLI",
    "NODE_FILE",
    "ArrivalSequence",
    "GoRand",
    "OpenbNodes",
    "OpenbTasks",
    "OpenbTrace",
    "arrival_prefix",
    "build_arrivals",
    "load_trace",
    "pod_file",
    "read_nodes",
    "read_tasks",
]
