"""`scontrol show node` text (one node per line with -o, or the indented form) as records.

Fields are `Key=Value` separated by spaces, but some values hold spaces themselves
(`OS=Linux 6.1.0 #1 SMP`, `Reason=xid 79 [root@2025-03-09T10:00:00]`). A value runs to
the next `Key=`; for those free-text keys, only to the next key Slurm is known to print.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from allocator.interop.gpu_map import GpuMap
from allocator.interop.slurm.gpus import GpuChoice, gpu_choice
from allocator.interop.slurm.tres import NULL, Gres, SlurmFormatError, parse_gres
from allocator.io.errors import InputError, InputProblem
from allocator.io.source import read_text

KNOWN_KEYS = frozenset(
    {
        "NodeName",
        "Arch",
        "CoresPerSocket",
        "CPUAlloc",
        "CPUEfctv",
        "CPUTot",
        "CPULoad",
        "AvailableFeatures",
        "ActiveFeatures",
        "Features",
        "Gres",
        "GresDrain",
        "GresUsed",
        "NodeAddr",
        "NodeHostName",
        "Port",
        "Version",
        "OS",
        "RealMemory",
        "AllocMem",
        "FreeMem",
        "Sockets",
        "Boards",
        "MemSpecLimit",
        "CoreSpecCount",
        "CPUSpecList",
        "State",
        "ThreadsPerCore",
        "TmpDisk",
        "Weight",
        "Owner",
        "MCS_label",
        "NextState",
        "Partitions",
        "BootTime",
        "SlurmdStartTime",
        "LastBusyTime",
        "ResumeAfterTime",
        "CfgTRES",
        "AllocTRES",
        "CapWatts",
        "CurrentWatts",
        "AveWatts",
        "LowestJoules",
        "ConsumedJoules",
        "ExtSensorsJoules",
        "ExtSensorsWatts",
        "ExtSensorsTemp",
        "Reason",
        "Comment",
        "Extra",
        "InstanceId",
        "InstanceType",
        "Topology",
        "ReservationName",
    }
)
FREE_TEXT_KEYS = frozenset({"OS", "Reason", "Comment", "Extra"})
USABLE_STATES = frozenset({"IDLE", "MIXED", "ALLOCATED", "ALLOC", "MIX", "COMPLETING"})
# States (base or flag) of a node that runs nothing, and of one that finishes what it runs
# but takes nothing new; FUTURE nodes are configured but do not exist yet.
DOWN_STATES = frozenset(
    {"DOWN", "FAIL", "FAILING", "NOT_RESPONDING", "MAINT", "POWERED_DOWN", "FUTURE"}
)
DRAIN_STATES = frozenset({"DRAIN", "DRAINING", "DRAINED"})
# Suffixes that say the same: not responding, powered off, in a maintenance reservation.
DOWN_SUFFIXES = frozenset("*~$")
_KEY = re.compile(r"(?:^|(?<=\s))([A-Za-z][A-Za-z0-9_]*)=")
# Suffixes sinfo/scontrol append to a state: * not responding, ~ powered off, # powering
# up, % powering down, ! pending power down, $ maintenance, @ pending reboot, ^ rebooting,
# - planned by the backfill scheduler.
STATE_SUFFIXES = "*~#%!$@^-"


@dataclass(frozen=True)
class SlurmNode:
    """What allocator reads from one node record."""

    name: str
    cpus: int
    memory_mib: int
    gpus: int
    gpu: GpuChoice | None
    gres: tuple[Gres, ...]
    partitions: tuple[str, ...]
    features: tuple[str, ...]  # active features (the GPU model is refined by them)
    available_features: tuple[str, ...]  # what a job's --constraint is matched against
    state: str
    reason: str | None
    instance_type: str | None
    line: int
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def gpu_type(self) -> str | None:
        return self.gpu.type_name if self.gpu else None

    @property
    def new_gpu_memory_gib(self) -> float | None:
        """Memory of a GPU type not in the catalog (a MIG slice, a --gpu-map type)."""
        return self.gpu.new_memory_gib if self.gpu else None

    @property
    def base_state(self) -> str:
        return self.state.split("+")[0].rstrip(STATE_SUFFIXES).upper()

    @property
    def state_flags(self) -> tuple[str, ...]:
        return tuple(f.rstrip(STATE_SUFFIXES).upper() for f in self.state.split("+")[1:])

    @property
    def not_responding(self) -> bool:
        return "*" in self.state

    @property
    def schedulable(self) -> bool:
        flags = set(self.state_flags) - {"CLOUD", "PLANNED", "COMPLETING"}
        return self.base_state in USABLE_STATES and not flags and not self.not_responding

    @property
    def inventory_state(self) -> str:
        """down, draining or up; a down state wins over a drain (DOWN+DRAIN is down)."""
        words = {self.base_state, *self.state_flags}
        if words & DOWN_STATES or set(self.state) & DOWN_SUFFIXES:
            return "down"
        return "draining" if words & DRAIN_STATES else "up"


def split_fields(record: str) -> list[tuple[str, str]]:
    """`Key=Value` pairs of one record, values with spaces kept whole."""
    matches = list(_KEY.finditer(record))
    out = []
    i = 0
    while i < len(matches):
        key = matches[i][1]
        j = i + 1
        if key in FREE_TEXT_KEYS:
            while j < len(matches) and matches[j][1] not in KNOWN_KEYS:
                j += 1
        end = matches[j].start() if j < len(matches) else len(record)
        out.append((key, record[matches[i].end() : end].strip()))
        i = j
    return out


def records(text: str) -> list[tuple[int, str]]:
    """(line, record) per node: `-o` lines, or an indented block joined into one line."""
    out: list[tuple[int, list[str]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line[0].isspace() and out:
            out[-1][1].append(line.strip())
        else:
            out.append((number, [line.strip()]))
    return [(number, " ".join(lines)) for number, lines in out]


def read_nodes(path: str | Path, gpu_map: GpuMap | None = None) -> list[SlurmNode]:
    """Every node of an `scontrol show node` dump; bad records raise one InputError."""
    gpu_map = gpu_map or GpuMap()
    name = str(path)
    text = read_text(path, "the output of 'scontrol show node -o'")
    problems: list[InputProblem] = []
    nodes = []
    found = records(text)
    if not found:
        raise InputError.single(name, "no nodes: expected the output of 'scontrol show node -o'")
    for line, record in found:
        node = _node(name, line, record, gpu_map, problems)
        if node is not None:
            nodes.append(node)
    if problems:
        raise InputError(problems)
    return nodes


def _node(
    file: str, line: int, record: str, gpu_map: GpuMap, problems: list[InputProblem]
) -> SlurmNode | None:
    fields = dict(split_fields(record))
    node_name = fields.get("NodeName")
    if not node_name:
        problems.append(
            InputProblem(
                file,
                f"expected a record starting with NodeName=, got {record[:40]!r}",
                line=line,
            )
        )
        return None
    known = len(problems)

    def report(key: str, message: str) -> None:
        problems.append(InputProblem(file, message, entry=f"nodes/{node_name}: {key}", line=line))

    cpus = _whole(fields, ("CPUEfctv", "CPUTot"), report)
    memory = _whole(fields, ("RealMemory",), report)
    reserved = fields.get("MemSpecLimit")
    if memory is not None and reserved and reserved.isdigit():
        memory -= int(reserved)
    state = fields.get("State")
    if not state:
        report("State", "missing; expected a node state such as IDLE or MIXED")
    try:
        gres = parse_gres(fields.get("Gres", ""))
    except SlurmFormatError as exc:
        report("Gres", str(exc))
        gres = []
    features = _list(
        fields.get("ActiveFeatures") or fields.get("AvailableFeatures") or fields.get("Features")
    )
    available = _list(
        fields.get("AvailableFeatures") or fields.get("Features") or fields.get("ActiveFeatures")
    )
    gpus = sum(g.count for g in gres if g.name == "gpu")
    instance_type = fields.get("InstanceType")
    instance_type = instance_type if instance_type not in NULL else None
    gpu = None
    if gpus:
        gpu = gpu_choice(node_name, gres, features, instance_type, gpu_map, report)
    if len(problems) > known or cpus is None or memory is None or not state:
        return None
    if memory <= 0 or cpus <= 0:
        report("RealMemory" if memory <= 0 else "CPUTot", "expected a positive amount")
        return None
    return SlurmNode(
        name=node_name,
        cpus=cpus,
        memory_mib=memory,
        gpus=gpus,
        gpu=gpu,
        gres=tuple(gres),
        partitions=_list(fields.get("Partitions")),
        features=features,
        available_features=available,
        state=state,
        reason=fields.get("Reason") or None,
        instance_type=instance_type,
        line=line,
        fields=fields,
    )


def _whole(fields: dict[str, str], keys: tuple[str, ...], report) -> int | None:
    for key in keys:
        value = fields.get(key)
        if value is None:
            continue
        if value.isdigit():
            return int(value)
        report(key, f"expected a whole number, got {value!r}")
        return None
    report(keys[-1], "missing")
    return None


def _list(value: str | None) -> tuple[str, ...]:
    if not value or value in NULL:
        return ()
    return tuple(v for v in value.split(",") if v)
