"""``allocator bench batch``: one batch of generated inventories of mixed sizes, run on
the local process pool with each worker count asked for and on a Dask LocalCluster, side
by side in one process.

Each run plans into a folder of its own, so nothing is resumed. Wall time includes
starting the engine's workers and writing every plan, report and the summary: what a
nightly job waits for. The engine overhead per instance is the wall time not spent
planning, spread over the instances: (wall x workers - sum of the instances' own
seconds) / instances. The runs must give the same plans (same cost per instance).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from allocator.batch.engines import open_engine
from allocator.batch.inputs import Instance
from allocator.batch.runner import BatchSettings, run_batch
from allocator.inventory.generate import generate_inventory
from allocator.io.progress import PROGRESS
from solvers.base import SolveOptions

SIZES = (20, 50, 100, 200, 400)  # nodes; an instance's size is drawn from these


@dataclass(frozen=True)
class BatchRun:
    engine: str
    workers: int
    wall_s: float
    startup_s: float  # opening the engine (workers, cluster)
    planning_s: float  # sum of the instances' own seconds
    overhead_per_instance_s: float
    planned: int
    instances: int
    same_plans: bool  # costs equal to the first run's, instance by instance


def mixed_instances(folder: Path, count: int, seed: int) -> list[Instance]:
    """`count` generated inventories, sizes drawn from SIZES, a quarter as many workloads
    as nodes."""
    rng = np.random.default_rng(seed)
    instances = []
    for k in range(count):
        nodes = int(rng.choice(SIZES))
        document = generate_inventory(nodes, max(1, nodes // 4), seed=seed * 1000 + k)
        path = folder / f"fleet-{k:03d}.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        instances.append(Instance(path.stem, path))
    return instances


def run_batch_bench(
    count: int,
    workers: Sequence[int],
    dask_workers: int | None,
    time_limit: float,
    seed: int,
    progress: Callable[[BatchRun], None] | None = None,
) -> list[BatchRun]:
    runs: list[BatchRun] = []
    first: dict[str, float | None] | None = None
    with tempfile.TemporaryDirectory(prefix="allocator-bench-batch-") as scratch:
        root = Path(scratch)
        (root / "in").mkdir()
        instances = mixed_instances(root / "in", count, seed)
        settings = BatchSettings(options=SolveOptions(time_limit=time_limit, threads=1))
        setups = [("local", n) for n in workers]
        if dask_workers:
            setups.append(("dask", dask_workers))
        for engine_name, n in setups:
            PROGRESS.task(f"{count} instances on {engine_name} x{n}")
            out = root / f"{engine_name}-{n}"
            out.mkdir()
            started = time.perf_counter()
            engine = open_engine(engine_name, n)
            opened = time.perf_counter()
            try:
                summary = run_batch(instances, out, settings, engine)
            finally:
                engine.close()
            wall = time.perf_counter() - started
            costs = {i.name: i.cost_per_hour for i in summary.instances}
            first = first or costs
            planning = sum(i.seconds or 0.0 for i in summary.instances)
            run = BatchRun(
                engine=engine_name,
                workers=n,
                wall_s=wall,
                startup_s=opened - started,
                planning_s=planning,
                overhead_per_instance_s=(wall * n - planning) / count,
                planned=sum(i.has_plan for i in summary.instances),
                instances=count,
                same_plans=_same(first, costs),
            )
            runs.append(run)
            if progress is not None:
                progress(run)
    return runs


def _same(a: dict[str, float | None], b: dict[str, float | None]) -> bool:
    if a.keys() != b.keys():
        return False
    for name, x in a.items():
        y = b[name]
        if x is None or y is None or abs(x - y) > 1e-6 * max(1.0, abs(x)):
            return False
    return True
