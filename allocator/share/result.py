"""What an allocation achieves, measured the same way whichever policy or partitioning made
it, and the shares written out: the JSON document, the terminal tables, and the per-tenant
GPUs of each type that `solve` can take as the inventory's `shares` section."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from allocator.share.inputs import ShareInput
from allocator.share.policies import Allocation, Policy

FORMAT = "allocator-shares"
VERSION = 1


@dataclass(frozen=True)
class Metrics:
    """An allocation's figures. Normalized throughput rho is per job, 1.0 = its equal
    share; the weighted ones are over active jobs (some type gives them throughput)."""

    min_normalized: float  # min over jobs of rho_j / w_j
    sum_normalized: float  # sum of w_j rho_j
    geomean_normalized: float  # exp(sum w_j log rho_j / sum w_j); 0 if some job gets none
    tenant_min_normalized: float  # min over tenants of rho_a / W_a (rho_a: mean over jobs)
    tenant_level: float  # min over tenants of (min over its jobs of rho_j / w_j) / W_a
    cost_per_hour: float  # $ per hour of the GPUs allocated
    targets_met: int  # jobs with a target that reach it (to 1e-6)
    targets: int
    gpus_used: np.ndarray  # (K,)

    def to_dict(self, types: tuple[str, ...]) -> dict[str, Any]:
        return {
            "min_normalized_throughput": self.min_normalized,
            "sum_normalized_throughput": self.sum_normalized,
            "geomean_normalized_throughput": self.geomean_normalized,
            "tenant_min_normalized_throughput": self.tenant_min_normalized,
            "tenant_level": self.tenant_level,
            "cost_per_hour": self.cost_per_hour,
            "targets_met": self.targets_met,
            "targets": self.targets,
            "gpus_used": dict(zip(types, self.gpus_used.tolist(), strict=True)),
        }


def measure(inp: ShareInput, gpus: np.ndarray) -> Metrics:
    active = inp.active
    rho = inp.normalized(gpus)
    w = inp.weight[active]
    r = rho[active]
    with np.errstate(divide="ignore"):
        logs = np.log(r)
    geo = float(np.exp((w * logs).sum() / w.sum())) if len(r) and (r > 0).all() else 0.0
    tenant_sum = np.bincount(inp.tenant[active], weights=r, minlength=len(inp.tenants))
    members = np.bincount(inp.tenant[active], minlength=len(inp.tenants))
    has = members > 0
    tenant_rho = tenant_sum[has] / members[has] / inp.tenant_weight[has]
    lowest = np.full(len(inp.tenants), np.inf)
    np.minimum.at(lowest, inp.tenant[active], r / w)
    levels = lowest[has] / inp.tenant_weight[has]
    got = (inp.rate * gpus).sum(axis=1)
    wants = inp.target > 0
    return Metrics(
        min_normalized=float((r / w).min(initial=np.inf)) if len(r) else 0.0,
        sum_normalized=float((w * r).sum()),
        geomean_normalized=geo,
        tenant_min_normalized=float(tenant_rho.min(initial=np.inf)) if has.any() else 0.0,
        tenant_level=float(levels.min(initial=np.inf)) if has.any() else 0.0,
        cost_per_hour=float((gpus.sum(axis=0) * inp.price).sum()),
        targets_met=int((got[wants] >= inp.target[wants] * (1 - 1e-6)).sum()),
        targets=int(wants.sum()),
        gpus_used=gpus.sum(axis=0),
    )


def quality(policy: Policy, metrics: Metrics, within: Policy | None = None) -> float:
    """The policy's own figure of merit, higher is better (cost is inverted), so that a
    partitioned answer's ratio to the exact one reads the same way for every policy."""
    if policy == Policy.MAX_MIN:
        return metrics.min_normalized
    if policy == Policy.MAX_THROUGHPUT:
        return metrics.sum_normalized
    if policy == Policy.PROPORTIONAL:
        return metrics.geomean_normalized
    if policy == Policy.HIERARCHICAL:
        if within in (None, Policy.MAX_MIN):
            return metrics.tenant_level
        return metrics.tenant_min_normalized
    if policy == Policy.MIN_COST:
        return 1.0 / metrics.cost_per_hour if metrics.cost_per_hour > 0 else 0.0
    return metrics.min_normalized


@dataclass(frozen=True)
class Partitioned:
    """How a partitioned solve went against the exact one."""

    parts: int
    engine: str
    wall_s: float
    exact_wall_s: float | None
    ratio: float | None  # quality(partitioned) / quality(exact)
    statuses: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class ShareResult:
    inp: ShareInput
    allocation: Allocation
    metrics: Metrics
    baseline: Metrics  # the heterogeneity-blind equal shares
    partitioned: Partitioned | None = None
    source: dict[str, str] = field(default_factory=dict)

    def tenant_gpus(self) -> np.ndarray:
        """(tenants x K) GPUs of each type per tenant."""
        inp = self.inp
        out = np.zeros((len(inp.tenants), len(inp.types)))
        np.add.at(out, inp.tenant, self.allocation.gpus)
        return out

    def shares_section(self) -> dict[str, Any]:
        """The inventory's `shares` section: GPUs of each type per tenant, for `solve`."""
        table = self.tenant_gpus()
        return {
            "tenants": {
                tenant: {
                    t: round(float(v), 6)
                    for t, v in zip(self.inp.types, row, strict=True)
                    if v > 1e-9
                }
                for tenant, row in zip(self.inp.tenants, table, strict=True)
            }
        }

    def to_dict(self) -> dict[str, Any]:
        inp, alloc = self.inp, self.allocation
        types = inp.types
        rho = inp.normalized(alloc.gpus)
        got = (inp.rate * alloc.gpus).sum(axis=1)
        jobs = [
            {
                "id": str(inp.jobs[j]),
                "tenant": inp.tenants[inp.tenant[j]],
                "weight": float(inp.weight[j]),
                "demand_gpus": float(inp.demand[j]),
                "gpus": _by_type(types, alloc.gpus[j]),
                "share_of_type": _by_type(
                    types,
                    np.divide(
                        alloc.gpus[j],
                        inp.capacity,
                        out=np.zeros(len(types)),
                        where=inp.capacity > 0,
                    ),
                ),
                "throughput": float(got[j]),
                "equal_share_throughput": float(inp.equal_throughput[j]),
                "normalized_throughput": float(rho[j]),
                **({"target": float(inp.target[j])} if inp.target[j] > 0 else {}),
            }
            for j in range(len(inp))
        ]
        doc: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "name": inp.name,
            **({"source": self.source} if self.source else {}),
            "policy": str(alloc.policy),
            **({"within": str(alloc.within)} if alloc.within else {}),
            "status": str(alloc.status),
            "solver": alloc.solver,
            "objective": alloc.value,
            "bound": alloc.bound,
            "stages": [
                {
                    "name": s.name,
                    "status": str(s.status),
                    "value": s.value,
                    "bound": s.bound,
                    "solver": s.solver,
                    "wall_s": round(s.wall_s, 4),
                }
                for s in alloc.stages
            ],
            "gpu_value": _by_type(types, alloc.gpu_value),
            "wall_s": round(alloc.wall_s, 4),
            "unit": inp.unit,
            "gpu_types": {
                t: {"gpus": float(c), "price_per_gpu_hour": float(p)}
                for t, c, p in zip(types, inp.capacity, inp.price, strict=True)
            },
            "metrics": self.metrics.to_dict(types),
            "equal_shares": self.baseline.to_dict(types),
            "notes": list(alloc.notes),
            "shares": self.shares_section(),
            "workloads": jobs,
        }
        if self.partitioned is not None:
            p = self.partitioned
            doc["partitions"] = {
                "parts": p.parts,
                "engine": p.engine,
                "wall_s": round(p.wall_s, 4),
                "exact_wall_s": None if p.exact_wall_s is None else round(p.exact_wall_s, 4),
                "ratio_to_exact": p.ratio,
                "statuses": list(p.statuses),
            }
        return doc


def _by_type(types: tuple[str, ...], values: np.ndarray) -> dict[str, float]:
    return {t: float(v) for t, v in zip(types, values, strict=True)}


def render(result: ShareResult, console: Console, jobs_shown: int = 30) -> None:
    """Terminal tables: the solve, the tenants' GPUs of each type, the jobs."""
    inp, alloc, m, b = result.inp, result.allocation, result.metrics, result.baseline
    policy = f"{alloc.policy}" + (f" (within tenants: {alloc.within})" if alloc.within else "")
    head = Table(title=f"Fair shares: {inp.name}, {policy}", title_justify="left")
    head.add_column("figure")
    head.add_column("this policy", justify="right")
    head.add_column("equal shares", justify="right")
    rows = [
        ("min normalized throughput", m.min_normalized, b.min_normalized),
        ("sum normalized throughput", m.sum_normalized, b.sum_normalized),
        ("geomean normalized throughput", m.geomean_normalized, b.geomean_normalized),
        ("tenant min normalized throughput", m.tenant_min_normalized, b.tenant_min_normalized),
        ("tenant level (lowest job per tenant)", m.tenant_level, b.tenant_level),
        ("$/h of GPUs allocated", m.cost_per_hour, b.cost_per_hour),
    ]
    for name, a, e in rows:
        head.add_row(name, f"{a:,.4f}", f"{e:,.4f}")
    if m.targets:
        head.add_row("targets met", f"{m.targets_met}/{m.targets}", f"{b.targets_met}/{b.targets}")
    console.print(head)
    value = "-" if alloc.value is None else f"{alloc.value:.6g}"
    console.print(
        f"status {alloc.status}, objective {value}, solver {alloc.solver or '-'},"
        f" {alloc.wall_s:.2f} s",
        highlight=False,
    )
    if result.partitioned is not None:
        p = result.partitioned
        ratio = "-" if p.ratio is None else f"{p.ratio:.4f}"
        exact = "-" if p.exact_wall_s is None else f"{p.exact_wall_s:.2f} s"
        console.print(
            f"{p.parts} parts on {p.engine}: {p.wall_s:.2f} s; exact {exact}; ratio to exact"
            f" {ratio}",
            highlight=False,
        )
    tenants = Table(title="GPUs per tenant and type", title_justify="left")
    tenants.add_column("tenant")
    for t in inp.types:
        tenants.add_column(t, justify="right")
    for name, row in zip(inp.tenants, result.tenant_gpus(), strict=True):
        tenants.add_row(name, *(f"{v:,.2f}" for v in row))
    tenants.add_row("fleet", *(f"{v:,.0f}" for v in inp.capacity))
    tenants.add_row("value of one more GPU", *(f"{v:.4g}" for v in alloc.gpu_value))
    console.print(tenants)
    if len(inp) > jobs_shown:
        console.print(f"({len(inp):,} jobs; the JSON output lists each)", highlight=False)
        return
    jobs = Table(title="Jobs", title_justify="left")
    for column in ("job", "tenant", *inp.types, "normalized"):
        jobs.add_column(column, justify="left" if column in ("job", "tenant") else "right")
    rho = inp.normalized(alloc.gpus)
    for j in range(len(inp)):
        jobs.add_row(
            str(inp.jobs[j]),
            inp.tenants[inp.tenant[j]],
            *(f"{v:,.2f}" for v in alloc.gpus[j]),
            f"{rho[j]:.3f}",
        )
    console.print(jobs)
