"""Alibaba's "openb" GPU cluster trace: its node and task CSVs as arrays, and the seeded
arrival sequence the FGD simulator (USENIX ATC '23) builds from them.

The reader depends on nothing else in allocator except the input error type, so planners
and benchmarks can import it alone. Every bad cell is reported with the file, the line
(the header is line 1) and the column; nothing is half-read.

The arrival sequence follows the simulator's experiment scripts (kubernetes-scheduler-
simulator, ``experiments/run_scripts/generate_run_scripts.py``: ``-tune 1.3
-tuneseed SEED --shuffle-pod=true``), with Go's ``math/rand`` replayed bit for bit so a
seed here is the seed there.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from allocator.interop.openb.gorand import GoRand
from allocator.io.errors import InputError, InputProblem

NODE_FILE = "openb_node_list_all_node.csv"
MILLI = 1000  # milli-GPU in one GPU
MAX_PROBLEMS = 50  # a wholly wrong file would otherwise list thousands of cells


def pod_file(trace: str) -> str:
    """File name of a task list, e.g. ``default`` -> ``openb_pod_list_default.csv``."""
    return f"openb_pod_list_{trace}.csv"


@dataclass(frozen=True)
class OpenbNodes:
    """Nodes in file order. ``gpu_model`` is "" for CPU-only nodes."""

    names: np.ndarray  # str
    cpu_milli: np.ndarray  # int64
    memory_mib: np.ndarray  # int64
    gpu_count: np.ndarray  # int64
    gpu_model: np.ndarray  # str

    def __len__(self) -> int:
        return len(self.names)

    @property
    def gpu_capacity_milli(self) -> int:
        return int(self.gpu_count.sum()) * MILLI

    def subset(self, keep: np.ndarray) -> OpenbNodes:
        """The nodes selected by a boolean mask or an index array, in that order."""
        return OpenbNodes(
            self.names[keep],
            self.cpu_milli[keep],
            self.memory_mib[keep],
            self.gpu_count[keep],
            self.gpu_model[keep],
        )

    def with_gpus(self) -> OpenbNodes:
        """GPU nodes only: the cluster of the published experiments.

        The simulator's inputs hold ``node_yaml/openb_node_list_gpu_node.yaml``
        (``data/prepare_input.sh``), the 1,213 GPU nodes; CPU-only nodes take no part.
        """
        return self.subset(self.gpu_count > 0)


@dataclass(frozen=True)
class OpenbTasks:
    """Tasks in file order.

    ``gpu_milli`` is the share of each GPU used (1..1000), 0 for CPU tasks; a task with
    ``num_gpu`` > 1 takes whole GPUs. ``gpu_spec`` holds the allowed GPU models joined by
    "|" ("" = any model). ``creation_time`` is -1 where the file has no such column.
    """

    names: np.ndarray  # str
    cpu_milli: np.ndarray  # int64
    memory_mib: np.ndarray  # int64
    num_gpu: np.ndarray  # int64
    gpu_milli: np.ndarray  # int64
    gpu_spec: np.ndarray  # str
    creation_time: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.names)

    @property
    def gpu_request_milli(self) -> np.ndarray:
        """Total milli-GPU each task asks for (``num_gpu * gpu_milli``)."""
        return self.num_gpu * self.gpu_milli

    def allowed_models(self, task: int) -> tuple[str, ...]:
        """GPU models the task may run on; empty means any."""
        spec = str(self.gpu_spec[task])
        return tuple(spec.split("|")) if spec else ()

    def model_mask(self, models: np.ndarray) -> np.ndarray:
        """bool[task, model]: may the task run on a GPU of that model?"""
        specs, spec_of_task = np.unique(self.gpu_spec, return_inverse=True)
        allowed = np.array(
            [[not spec or str(m) in spec.split("|") for m in models] for spec in specs],
            dtype=bool,
        ).reshape(len(specs), len(models))
        return allowed[spec_of_task]


@dataclass(frozen=True)
class OpenbTrace:
    nodes: OpenbNodes
    tasks: OpenbTasks


@dataclass(frozen=True)
class ArrivalSequence:
    """The order in which tasks reach the scheduler, and the order that breaks ties.

    ``task[i]`` indexes the trace's tasks (a task sampled twice appears twice); the
    first ``num_original`` arrivals are the trace's own tasks. ``node_rank[n]`` is node
    n's place in the simulator's tie-breaking order: among equal scores the node with
    the lowest rank wins.
    """

    task: np.ndarray  # int64
    node_rank: np.ndarray  # int64, a permutation of range(len(nodes))
    num_original: int
    seed: int

    def __len__(self) -> int:
        return len(self.task)


# ---------------------------------------------------------------------------- reading


def load_trace(data_dir: str | Path, trace: str, *, gpu_nodes_only: bool = True) -> OpenbTrace:
    """Read the node list and one task list (e.g. ``default``) from ``data_dir``."""
    nodes = read_nodes(Path(data_dir) / NODE_FILE)
    tasks = read_tasks(Path(data_dir) / pod_file(trace))
    return OpenbTrace(nodes.with_gpus() if gpu_nodes_only else nodes, tasks)


def read_nodes(path: str | Path) -> OpenbNodes:
    """Read ``openb_node_list_all_node.csv`` (``sn,cpu_milli,memory_mib,gpu,model``)."""
    table = _Table.read(Path(path), required=("sn", "cpu_milli", "memory_mib", "gpu", "model"))
    names = table.names("sn")
    cpu = table.integers("cpu_milli", minimum=0)
    memory = table.integers("memory_mib", minimum=0)
    gpus = table.integers("gpu", minimum=0)
    models = table.strings("model")
    for row, (count, model) in enumerate(zip(gpus, models, strict=True)):
        if count > 0 and not model:
            table.problem(row, "model", f"a node with {count} GPUs needs a GPU model")
    table.raise_problems()
    return OpenbNodes(
        np.array(names),
        np.array(cpu, dtype=np.int64),
        np.array(memory, dtype=np.int64),
        np.array(gpus, dtype=np.int64),
        np.array(models),
    )


def read_tasks(path: str | Path) -> OpenbTasks:
    """Read an ``openb_pod_list_*.csv``; ``gpu_spec`` and ``creation_time`` may be absent."""
    table = _Table.read(
        Path(path), required=("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli")
    )
    names = table.names("name")
    cpu = table.integers("cpu_milli", minimum=0)
    memory = table.integers("memory_mib", minimum=0)
    num_gpu = table.integers("num_gpu", minimum=0)
    gpu_milli = table.integers("gpu_milli", minimum=0, maximum=MILLI)
    if "gpu_spec" in table.columns:
        # The simulator keeps the non-empty models (data/pod_csv_to_yaml.py).
        specs = ["|".join(m for m in s.split("|") if m) for s in table.strings("gpu_spec")]
    else:
        specs = [""] * len(table)
    if "creation_time" in table.columns:
        created = table.integers("creation_time", minimum=0)
    else:
        created = [-1] * len(table)
    for row, (count, share) in enumerate(zip(num_gpu, gpu_milli, strict=True)):
        if count == 0 and share != 0:
            table.problem(row, "gpu_milli", f"is {share} but num_gpu is 0; expected 0")
        elif count > 0 and share == 0:
            table.problem(row, "gpu_milli", "is 0 but the task asks for GPUs; expected 1..1000")
        elif count > 1 and share != MILLI:
            table.problem(
                row, "gpu_milli", f"is {share}: a task with {count} GPUs takes whole GPUs (1000)"
            )
    table.raise_problems()
    return OpenbTasks(
        np.array(names),
        np.array(cpu, dtype=np.int64),
        np.array(memory, dtype=np.int64),
        np.array(num_gpu, dtype=np.int64),
        np.array(gpu_milli, dtype=np.int64),
        np.array(specs),
        np.array(created, dtype=np.int64),
    )


class _Table:
    """A CSV file as columns of text, with the problems found so far."""

    def __init__(self, path: Path, header: list[str], rows: list[list[str]], lines: list[int]):
        self.path = path
        self.columns = {name: i for i, name in enumerate(header)}
        self.rows = rows
        self.lines = lines
        self.problems: list[InputProblem] = []

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def read(cls, path: Path, required: tuple[str, ...]) -> _Table:
        name = str(path)
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle)
                header = [h.strip() for h in next(reader, [])]
                rows, lines = [], []
                for row in reader:
                    if row:  # blank lines carry nothing
                        rows.append(row)
                        lines.append(reader.line_num)
        except FileNotFoundError:
            raise InputError.single(name, "file not found") from None
        except IsADirectoryError:
            raise InputError.single(name, "is a directory, expected a CSV file") from None
        except UnicodeDecodeError as exc:
            raise InputError.single(name, f"is not UTF-8 text ({exc.reason})") from None
        except csv.Error as exc:
            raise InputError.single(name, f"is not valid CSV: {exc}") from None
        except OSError as exc:
            raise InputError.single(name, f"cannot read file: {exc.strerror}") from None
        if not header:
            raise InputError.single(name, f"is empty; expected a header: {','.join(required)}")
        missing = [c for c in required if c not in header]
        if missing:
            raise InputError.single(
                name,
                f"missing column(s) {', '.join(missing)}; the header is {','.join(header)}",
                line=1,
            )
        if not rows:
            raise InputError.single(name, "has a header but no rows", line=1)
        table = cls(path, header, rows, lines)
        for row, cells in enumerate(rows):
            if len(cells) != len(header):
                table.problem(row, None, f"has {len(cells)} fields, the header has {len(header)}")
        table.raise_problems()
        return table

    def problem(self, row: int, column: str | None, message: str) -> None:
        self.problems.append(
            InputProblem(
                str(self.path), message, entry=f"row {row + 1}", field=column, line=self.lines[row]
            )
        )

    def raise_problems(self) -> None:
        if not self.problems:
            return
        shown = sorted(self.problems, key=lambda p: p.line or 0)[:MAX_PROBLEMS]
        if len(self.problems) > MAX_PROBLEMS:
            more = len(self.problems) - MAX_PROBLEMS
            shown.append(InputProblem(str(self.path), f"... and {more} more problems"))
        raise InputError(shown)

    def _cells(self, column: str) -> Iterator[tuple[int, str]]:
        index = self.columns[column]
        for row, cells in enumerate(self.rows):
            yield row, cells[index].strip()

    def strings(self, column: str) -> list[str]:
        return [cell for _, cell in self._cells(column)]

    def names(self, column: str) -> list[str]:
        """Non-empty, unique names."""
        first_line: dict[str, int] = {}
        out = []
        for row, cell in self._cells(column):
            if not cell:
                self.problem(row, column, "is empty; expected a name")
            elif cell in first_line:
                self.problem(row, column, f"repeats '{cell}' from line {first_line[cell]}")
            else:
                first_line[cell] = self.lines[row]
            out.append(cell)
        return out

    def integers(self, column: str, minimum: int, maximum: int | None = None) -> list[int]:
        out = []
        for row, cell in self._cells(column):
            value = _whole_number(cell)
            if value is None:
                self.problem(row, column, f"expected a whole number, got '{cell}'")
                value = 0
            elif value < minimum or (maximum is not None and value > maximum):
                bound = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
                self.problem(row, column, f"is {value}; expected {bound}")
            out.append(value)
        return out


def _whole_number(cell: str) -> int | None:
    """An integer, also written as a float with no fraction (``12000.0``)."""
    try:
        return int(cell)
    except ValueError:
        pass
    try:
        value = float(cell)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


# ------------------------------------------------------------------ arrival sequence


def build_arrivals(
    tasks: OpenbTasks,
    nodes: OpenbNodes,
    seed: int,
    *,
    ratio: float = 1.3,
    shuffle: bool = True,
    informer_draws: int = 10,
) -> ArrivalSequence:
    """The simulator's arrival sequence for one seed, drawn as it draws it.

    Steps, all from one Go ``math/rand`` stream seeded with ``seed``
    (pkg/simulator/core.go ``Simulate``, pkg/simulator/utils.go):

    1. one ``rand.Int()`` (an argument of a debug log line, evaluated all the same);
    2. the tasks sorted by name, then ``rand.Shuffle``-d (``SortClusterPods`` with
       ``shufflePod``; without shuffling the order is by name, since the converted
       pods carry no creation time);
    3. while the GPU request falls short of ``ratio`` x capacity, a task drawn uniformly
       from all tasks (``rand.Intn``) is appended; the first draw that would pass the
       target ends it (``tuneUpPods``: the test adds the draw's per-GPU share
       ``gpu_milli``, the running total its whole request). Above the target, tasks
       are removed at random instead (``tuneDownPods``);
    4. ``informer_draws`` values go to the scheduler's informers, each of which draws
       one ``rand.Float64`` for its watch timeout as it starts (client-go
       ``reflector.go``) before the nodes are created: the scheduler starts ten, and
       with ten the published per-seed allocation curves are matched exactly;
    5. ``rand.Perm`` over the nodes sorted by name gives each node a prefix of its
       name (``syncClusterResourceList``); equal scores go to the smallest name
       (``selectHost`` in the simulator's Kubernetes fork), i.e. to the lowest rank.
    """
    rng = GoRand(seed)
    rng.int()
    by_name = np.argsort(tasks.names, kind="stable")
    order = by_name[rng.shuffle_indices(len(tasks))] if shuffle else by_name.copy()
    request = tasks.gpu_request_milli
    total = int(request.sum())
    target = ratio * float(nodes.gpu_capacity_milli)
    sequence = [int(t) for t in order]
    num_original = len(sequence)
    if total < target:
        while True:
            drawn = int(by_name[rng.intn(len(tasks))])
            if float(total + int(tasks.gpu_milli[drawn])) > target:
                break
            total += int(request[drawn])
            sequence.append(drawn)
    elif total > target:
        while total > target:
            removed = sequence.pop(rng.intn(len(sequence)))
            total -= int(request[removed])
        num_original = len(sequence)
    for _ in range(informer_draws):
        rng.int63()
    node_rank = node_ranks_by_name(nodes.names, np.asarray(rng.perm(len(nodes))))
    return ArrivalSequence(np.asarray(sequence, dtype=np.int64), node_rank, num_original, seed)


def node_ranks_by_name(names: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Map a permutation over name-sorted nodes back to the nodes' own order."""
    rank = np.empty(len(names), dtype=np.int64)
    rank[np.argsort(names, kind="stable")] = perm
    return rank


def arrival_prefix(request_milli: np.ndarray, capacity_milli: int, fraction: float) -> int:
    """How many arrivals it takes for their GPU request to reach ``fraction`` of capacity.

    ``request_milli`` is each arrival's GPU request in arrival order. Returns the length
    of the sequence when the fraction is never reached.
    """
    arrived = np.cumsum(request_milli)
    return min(int(np.searchsorted(arrived, fraction * capacity_milli)) + 1, len(arrived))
