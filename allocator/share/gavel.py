"""Jobs from Gavel's measured throughputs (OSDI 2020): 26 deep-learning training job types
on K80, P100 and V100, each at the scale factors (GPUs per job) measured.

A job's rate per GPU on a type is its measured throughput there over its scale factor
(steps/s per GPU); its demand is its scale factor. Jobs are drawn as Gavel's simulator
draws them: a job type uniformly, a scale factor of 1, 2, 4 or 8 GPUs with probability
0.7, 0.1, 0.15, 0.05 among those measured for the type.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from allocator.bench.datasets import find_dataset
from allocator.io.errors import InputError
from allocator.share.inputs import ShareInput

TYPES = ("v100", "p100", "k80")
# On-demand $/GPU-hour Gavel's cost policies use (AWS and GCP list prices of the time).
PRICES = {"v100": 3.06, "p100": 1.46, "k80": 0.90}
SCALE_FACTORS = (1, 2, 4, 8)
SCALE_PROBABILITY = (0.70, 0.10, 0.15, 0.05)
DEFAULT_DATA = find_dataset("gavel") or Path("data") / "gavel"


@dataclass(frozen=True)
class Measured:
    """Throughput (steps/s) of each job type at each scale factor on each GPU type."""

    models: tuple[str, ...]  # the job types
    throughput: dict[tuple[str, int], np.ndarray]  # (model, scale factor) -> (K,) by TYPES


def load(path: str | Path = DEFAULT_DATA) -> Measured:
    """The measurements of `simulation_throughputs.json` (the file, or its folder)."""
    file = Path(path)
    if file.is_dir():
        file = file / "simulation_throughputs.json"
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        table: dict[tuple[str, int], np.ndarray] = {}
        for key in data[TYPES[0]]:
            model, scale = ast.literal_eval(key)
            table[(str(model), int(scale))] = np.array([float(data[t][key]["null"]) for t in TYPES])
    except (OSError, ValueError, KeyError, TypeError, SyntaxError) as exc:
        raise InputError.single(str(file), f"cannot read Gavel throughputs: {exc}") from None
    models = tuple(dict.fromkeys(m for m, s in table if s == 1))
    return Measured(models, table)


def jobs(
    measured: Measured,
    n_jobs: int,
    gpus: dict[str, int],
    seed: int = 0,
    tenants: int = 1,
    multi_gpu: bool = True,
    slo: tuple[float, float] = (0.5, 1.0),
) -> ShareInput:
    """`n_jobs` jobs drawn from the measured types (fixed `seed`) on a fleet of `gpus` per
    type; with `tenants` > 1 each job belongs to one of that many tenants at random. Each
    job's throughput target is a factor drawn from `slo` times its equal-share throughput."""
    rng = np.random.default_rng(seed)
    model = rng.integers(len(measured.models), size=n_jobs)
    scale = (
        rng.choice(SCALE_FACTORS, size=n_jobs, p=SCALE_PROBABILITY)
        if multi_gpu
        else np.ones(n_jobs, dtype=np.int64)
    )
    measured_scales = {
        m: sorted(s for mm, s in measured.throughput if mm == m) for m in measured.models
    }
    names = [measured.models[i] for i in model]
    # A scale factor not measured for the type falls to the largest one measured below it.
    scale = np.array(
        [max(s for s in measured_scales[m] if s <= sf) for m, sf in zip(names, scale, strict=True)]
    )
    rate = np.stack(
        [measured.throughput[(m, int(s))] / s for m, s in zip(names, scale, strict=True)]
    )
    tenant = rng.integers(tenants, size=n_jobs) if tenants > 1 else np.zeros(n_jobs, np.int64)
    factor = rng.uniform(*slo, size=n_jobs)
    share = ShareInput(
        name=f"gavel-{n_jobs}-jobs",
        jobs=np.array([f"job-{i:05d}" for i in range(n_jobs)], dtype=object),
        types=TYPES,
        capacity=np.array([float(gpus.get(t, 0)) for t in TYPES]),
        price=np.array([PRICES[t] for t in TYPES]),
        rate=rate,
        weight=np.ones(n_jobs),
        demand=scale.astype(float),
        target=np.zeros(n_jobs),
        tenant=tenant.astype(np.int64),
        tenants=tuple(f"tenant-{a}" for a in range(max(tenants, 1))),
        tenant_weight=np.ones(max(tenants, 1)),
        unit="steps/s",
    )
    return replace(share, target=factor * share.equal_throughput)
