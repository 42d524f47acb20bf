"""What a fair-share policy reads: jobs (workloads) with throughput per GPU of each type,
weights, demand caps and throughput targets, grouped into tenants, and the fleet's GPUs by
type. Built from an inventory's domain, or from measured data (`share.gavel`).

Every array is indexed by job (n) and GPU type (K); a job's rate on a type is 0 where it
cannot run there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from allocator.domain.tables import Domain
from allocator.io.errors import InputError, InputProblem

NO_TENANT = "-"  # the tenant of workloads that name none


@dataclass(frozen=True, eq=False)
class ShareInput:
    """Jobs x GPU types, and the fleet they share."""

    name: str
    jobs: np.ndarray  # job ids (str)
    types: tuple[str, ...]
    capacity: np.ndarray  # (K,) GPUs of each type
    price: np.ndarray  # (K,) $ per GPU-hour of each type
    rate: np.ndarray  # (n, K) throughput per GPU, 0 where the job cannot run
    weight: np.ndarray  # (n,) weight (priority) of each job
    demand: np.ndarray  # (n,) most GPUs the job can use
    target: np.ndarray  # (n,) throughput target, 0 for none
    tenant: np.ndarray  # (n,) index into `tenants`
    tenants: tuple[str, ...]
    tenant_weight: np.ndarray  # (A,) weight of each tenant
    unit: str = "throughput"

    def __len__(self) -> int:
        return len(self.jobs)

    @property
    def usable(self) -> np.ndarray:
        """(n, K) bool: the job gets throughput from GPUs of the type."""
        return (self.rate > 0) & (self.demand[:, None] > 0) & (self.capacity[None, :] > 0)

    @cached_property
    def equal_gpus(self) -> np.ndarray:
        """(n, K) the heterogeneity-blind reference: every job gets the same fraction of its
        demand, spread over the types it can use in proportion to the fleet's GPUs of
        each. The fraction is 1 when the fleet covers every demand, else fleet / demand."""
        mix = np.where(self.usable, self.capacity[None, :], 0.0)
        totals = mix.sum(axis=1, keepdims=True)
        mix = np.divide(mix, totals, out=np.zeros_like(mix), where=totals > 0)
        wanted = float(self.demand[self.usable.any(axis=1)].sum())
        fraction = min(1.0, float(self.capacity.sum()) / wanted) if wanted > 0 else 0.0
        return self.demand[:, None] * fraction * mix

    @cached_property
    def equal_throughput(self) -> np.ndarray:
        """(n,) throughput of each job on its equal share: the unit of normalized
        throughput (1.0 = what an equal split of the fleet would give the job)."""
        return np.asarray((self.rate * self.equal_gpus).sum(axis=1))

    @property
    def active(self) -> np.ndarray:
        """Jobs that take part: some GPU type gives them throughput."""
        return self.equal_throughput > 0

    def normalized(self, gpus: np.ndarray) -> np.ndarray:
        """(n,) throughput of an allocation over the equal-share throughput (0 for jobs
        that take no part)."""
        got = (self.rate * gpus).sum(axis=1)
        return np.divide(
            got,
            self.equal_throughput,
            out=np.zeros(len(self)),
            where=self.equal_throughput > 0,
        )

    def take(self, jobs: np.ndarray, capacity: np.ndarray | None = None) -> ShareInput:
        """The same fleet (or `capacity` of it) shared by a subset of the jobs. The
        equal-share reference stays the whole problem's, so normalized throughputs of
        parts compare with the whole's."""
        part = replace(
            self,
            jobs=self.jobs[jobs],
            capacity=self.capacity if capacity is None else capacity,
            rate=self.rate[jobs],
            weight=self.weight[jobs],
            demand=self.demand[jobs],
            target=self.target[jobs],
            tenant=self.tenant[jobs],
        )
        part.__dict__["equal_gpus"] = self.equal_gpus[jobs]
        part.__dict__["equal_throughput"] = self.equal_throughput[jobs]
        return part


def from_domain(domain: Domain, tenant_weights: Mapping[str, float] | None = None) -> ShareInput:
    """Jobs from an inventory's workloads: a workload's rate per GPU of a type is the best
    of its ways to run (variants) there, per GPU it uses; a workload that states no rates
    gets 1 per GPU on every type it may use (its share is then counted in GPUs). Its demand
    is `replicas.max` times GPUs per replica (for a throughput target without a maximum:
    the replicas it could ever use). Workloads without GPUs take no part."""
    fleet, demand = domain.fleet, domain.demand
    families = demand.families
    n_types = len(fleet.gpu_types)
    up = (fleet.state == "up") & (fleet.gpu_type >= 0)
    capacity = np.bincount(fleet.gpu_type[up], weights=fleet.gpus[up], minlength=n_types)
    dollars = np.bincount(fleet.gpu_type[up], weights=fleet.cost[up], minlength=n_types)
    price = np.divide(dollars, capacity, out=np.zeros(n_types), where=capacity > 0)

    per_gpu = demand.gpu_equivalents
    gpu_rows = per_gpu > 0
    allowed = demand.allowed_types & gpu_rows[:, None]
    stated = demand.rate.any(axis=1)
    stated_family = np.zeros(len(families), dtype=bool)
    np.logical_or.at(stated_family, demand.family, stated)
    plain = ~stated_family[demand.family]
    row_rate = np.where(
        plain[:, None], allowed.astype(float), demand.rate / np.maximum(per_gpu, 1e-12)[:, None]
    )
    row_rate = np.where(allowed, row_rate, 0.0)
    rate = np.zeros((len(families), n_types))
    np.maximum.at(rate, demand.family, row_rate)
    cap = np.zeros(len(families))
    np.maximum.at(cap, demand.family, families.max[demand.family] * per_gpu)

    uses_gpu = cap > 0
    keep = np.flatnonzero(uses_gpu)
    account = demand.account[families.first_row][keep]
    names = np.where(account == "", NO_TENANT, account).astype(object)
    tenants, tenant = np.unique(names.astype(str), return_inverse=True)
    weights = dict(tenant_weights or {})
    unknown = sorted(set(weights) - set(tenants.tolist()))
    if unknown:
        raise InputError(
            [
                InputProblem(
                    "--tenant-weight",
                    f"no workload bills tenant {t!r}; tenants: {', '.join(tenants.tolist())}",
                )
                for t in unknown
            ]
        )
    units = {u for u in families.unit[keep].tolist() if u}
    return ShareInput(
        name=domain.name,
        jobs=families.ids[keep].astype(object),
        types=tuple(t.name for t in fleet.gpu_types),
        capacity=capacity.astype(float),
        price=price,
        rate=rate[keep],
        weight=families.priority[keep].astype(float),
        demand=cap[keep],
        target=families.target[keep].astype(float),
        tenant=tenant.astype(np.int64),
        tenants=tuple(tenants.tolist()),
        tenant_weight=np.array([float(weights.get(t, 1.0)) for t in tenants.tolist()]),
        unit=units.pop() if len(units) == 1 else "throughput",
    )
