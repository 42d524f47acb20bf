r"""Allocation policies over the job x GPU-type matrix (Gavel, OSDI 2020), as LPs in the
neutral `Problem` (solved by HiGHS, or any LP backend) and one convex program (cvxpy).

Notation: jobs j with weight w_j, demand cap d_j GPUs and rate r_jk throughput per GPU
of type k; the fleet has C_k GPUs of type k. The variable is G_jk >= 0, the GPUs of
type k job j gets (a share of the type: G_jk / C_k; over time, the fraction of its time
j spends on type k times its GPUs). Every policy keeps

    sum_j G_jk <= C_k        (capacity of each type)
    sum_k G_jk <= d_j        (a job uses no more GPUs than it asks for)

and only pairs with r_jk > 0 are columns. Throughput t_j = sum_k r_jk G_jk; normalized
throughput rho_j = t_j / e_j, where e_j is j's throughput on its equal share
(`ShareInput.equal_gpus`: the same fraction of every job's demand, over the types it can
use in proportion to the fleet), so rho_j = 1 is "as well off as an equal split" and
rho is unitless across jobs that count steps, tokens or requests.

- max-min: max lambda s.t. rho_j >= w_j lambda for every job; then, with lambda held
  at its optimum, max sum_j w_j rho_j, so no GPU is left idle that some job could use.
- proportional: max sum_j w_j log rho_j (convex, not an LP: cvxpy with Clarabel or SCS).
- max-throughput: max sum_j w_j rho_j.
- min-cost: min sum_jk p_k G_jk s.t. t_j >= target_j (p_k: $ per GPU-hour of type k).
- hierarchical: tenants a with weights W_a, each valued the way the policy `within` it
  values its jobs. Within max-min (the default), a tenant's value is its jobs' level mu_a
  (rho_j >= w_j mu_a for j in a): max lambda s.t. mu_a >= W_a lambda (fair between
  tenants), then max sum_a W_a mu_a (each tenant as high as it can go), then max
  sum_j w_j rho_j. Within max-throughput or proportional, a tenant's value is the mean
  rho_a of its jobs' rho: max lambda s.t. rho_a >= W_a lambda, then, holding that, max
  sum_j w_j rho_j or sum_j w_j log rho_j.
- equal: the heterogeneity-blind baseline, no solver: every job its equal share G^eq,
  scaled down uniformly where a type would be oversubscribed.

Stages are solved in order; each optimum is held by a row `value >= v* - 1e-7 max(1,|v*|)`
(for a maximum) before the next. The value reported is the first stage's, with the
duals of its capacity rows: how much one more GPU of each type would improve it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import scipy.sparse as sp

from allocator.io.errors import InputError, InputProblem
from allocator.model.problem import INF, Problem, ProblemBuilder
from allocator.share.inputs import ShareInput
from solvers import registry
from solvers.base import Capability, Solution, SolveOptions, Solver, Status, UnsupportedRequest

HOLD = 1e-7  # relative slack of a stage's optimum held for the next stage


class Policy(StrEnum):
    MAX_MIN = "max-min"
    PROPORTIONAL = "proportional"
    MAX_THROUGHPUT = "max-throughput"
    MIN_COST = "min-cost"
    HIERARCHICAL = "hierarchical"
    EQUAL = "equal"


WITHIN = (Policy.MAX_MIN, Policy.PROPORTIONAL, Policy.MAX_THROUGHPUT)


@dataclass(frozen=True)
class Stage:
    """One solve: its objective as a linear part (`maximize`: higher is better) or the
    weighted log utility of rho (proportional fairness)."""

    name: str
    cost: np.ndarray  # over the columns, minimized (a maximum is negated)
    maximize: bool
    log: bool = False


@dataclass(frozen=True)
class StageResult:
    name: str
    status: Status
    value: float | None
    bound: float | None
    solver: str
    wall_s: float


@dataclass(frozen=True, eq=False)
class Allocation:
    """A policy's answer: GPUs of each type per job, and how the solve went."""

    policy: Policy
    within: Policy | None
    gpus: np.ndarray  # (n, K)
    status: Status
    value: float | None  # the first stage's optimum, in the policy's own sense
    bound: float | None
    gpu_value: np.ndarray  # (K,) improvement of `value` per extra GPU of each type (duals)
    stages: tuple[StageResult, ...] = ()
    wall_s: float = 0.0
    solver: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def has_solution(self) -> bool:
        return self.status.has_solution


def convex(policy: Policy, within: Policy | None) -> bool:
    return policy == Policy.PROPORTIONAL or (
        policy == Policy.HIERARCHICAL and within == Policy.PROPORTIONAL
    )


def solver_names() -> list[str]:
    """What `share --solver` accepts: every LP backend, and auto."""
    lp = [n for n, cls in registry.backends().items() if Capability.LP in cls.capabilities]
    return [*lp, "auto"]


def backend_for(name: str, needs_log: bool) -> Solver:
    """The backend of one stage: `auto` is HiGHS for LPs and cvxpy for the convex stage."""
    if name not in solver_names():
        raise UnsupportedRequest(
            f"unknown solver {name!r} for fair shares; expected one of: {', '.join(solver_names())}"
        )
    if needs_log:
        if name not in ("auto", "cvxpy"):
            raise UnsupportedRequest(
                "proportional fairness is a convex program (a sum of logs), which needs a"
                f" conic solver: use --solver cvxpy (or auto), not {name!r}"
            )
        cls = registry.backends()["cvxpy"]
        if not cls().available():
            raise UnsupportedRequest(
                "proportional fairness is a convex program (a sum of logs) solved through"
                f" cvxpy with Clarabel or SCS, which is not installed: {cls.install_hint}"
            )
    return registry.get(
        ("cvxpy" if needs_log else "highs") if name == "auto" else name, placement=False
    )


def equal_shares(inp: ShareInput) -> np.ndarray:
    """The heterogeneity-blind baseline: equal shares, scaled to fit every type."""
    gpus = inp.equal_gpus
    used = gpus.sum(axis=0)
    over = np.divide(inp.capacity, used, out=np.ones_like(used), where=used > 0)
    return gpus * min(1.0, float(over.min(initial=1.0)))


def solve(
    inp: ShareInput,
    policy: Policy,
    within: Policy | None = None,
    solver: str = "auto",
    options: SolveOptions | None = None,
) -> Allocation:
    """Solve one policy on the whole input."""
    options = options or SolveOptions()
    started = time.perf_counter()
    if policy == Policy.HIERARCHICAL and within is None:
        within = Policy.MAX_MIN
    if policy == Policy.EQUAL:
        return Allocation(
            policy, None, equal_shares(inp), Status.OPTIMAL, None, None, np.zeros(len(inp.types))
        )
    if policy == Policy.MIN_COST:
        _reachable(inp)
    model = _Model(inp, policy, within)
    problem = model.problem
    results: list[StageResult] = []
    first: Solution | None = None
    x: np.ndarray | None = None  # the last stage's solution that had one
    status = Status.ERROR
    notes: list[str] = []
    for stage in model.stages:
        backend = backend_for(solver, stage.log)
        stage_options = _remaining(options, started)
        problem = problem.with_objective(stage.cost)
        if stage.log:
            from solvers.convex import CvxpySolver, LogUtility

            assert isinstance(backend, CvxpySolver)
            utility = LogUtility(model.rho_rows, model.log_weight)
            solution = backend.solve_convex(problem, utility, stage_options)
        else:
            solution = backend.solve(problem, stage_options)
        results.append(
            StageResult(
                stage.name,
                solution.status,
                _value(stage, solution.objective),
                _value(stage, solution.bound),
                solution.solver,
                solution.wall_s,
            )
        )
        first = first or solution
        if not solution.status.has_solution or solution.x is None:
            if x is not None:  # a later stage stopped: keep what the earlier one found
                status = Status.FEASIBLE
                notes.append(f"stage {stage.name} ended {solution.status}; earlier stage kept")
            else:
                status = solution.status
            break
        x, status = solution.x, solution.status
        if stage is not model.stages[-1]:
            problem = _hold(problem, stage, solution.x)
    return Allocation(
        policy=policy,
        within=within if policy == Policy.HIERARCHICAL else None,
        gpus=feasible(inp, model.gpus(x)) if x is not None else np.zeros(inp.rate.shape),
        status=status,
        value=results[0].value,
        bound=results[0].bound,
        gpu_value=model.capacity_value(first),
        stages=tuple(results),
        wall_s=time.perf_counter() - started,
        solver=", ".join(dict.fromkeys(r.solver for r in results)),
        notes=tuple(notes),
    )


def feasible(inp: ShareInput, gpus: np.ndarray) -> np.ndarray:
    """The allocation pulled inside every bound exactly: a solver meets rows only to its
    tolerance (about 1e-9), so jobs over their demand and types over their capacity are
    scaled down by that much (and 1e-12 more, so that rounding cannot leave them over)."""
    gpus = np.where(inp.usable, np.maximum(gpus, 0.0), 0.0)
    gpus *= _fit(gpus.sum(axis=1), inp.demand)[:, None]
    gpus *= _fit(gpus.sum(axis=0), inp.capacity)[None, :]
    return gpus


def _fit(used: np.ndarray, limit: np.ndarray) -> np.ndarray:
    over = used > limit
    safe = np.where(over, used, 1.0)
    return np.where(over, limit / safe * (1 - 1e-12), 1.0)


def _remaining(options: SolveOptions, started: float) -> SolveOptions:
    if options.time_limit is None:
        return options
    from dataclasses import replace

    left = max(options.time_limit - (time.perf_counter() - started), 0.01)
    return replace(options, time_limit=left)


def _value(stage: Stage, v: float | None) -> float | None:
    """A stage's objective in its own sense (maxima un-negated)."""
    if v is None:
        return None
    return -v if stage.maximize else v


def _hold(problem: Problem, stage: Stage, x: np.ndarray) -> Problem:
    """Keep the stage's optimum (within HOLD) while later stages optimize something else."""
    value = float(stage.cost @ x)  # minimized form
    slack = HOLD * max(1.0, abs(value))
    row = sp.csr_array(stage.cost.reshape(1, -1))
    return problem.with_rows(row, np.array([-INF]), np.array([value + slack]), f"hold_{stage.name}")


def _reachable(inp: ShareInput) -> None:
    """Targets no allocation could meet, job by job, as located problems."""
    best = inp.demand * np.where(inp.usable, inp.rate, 0.0).max(axis=1, initial=0.0)
    short = np.flatnonzero(inp.target > best * (1 + 1e-9))
    if len(short):
        raise InputError(
            [
                InputProblem(
                    inp.name,
                    f"throughput target {inp.target[j]:g} {inp.unit} cannot be met: at most"
                    f" {best[j]:g} on the {inp.demand[j]:g} GPUs it may use",
                    entry=str(inp.jobs[j]),
                )
                for j in short
            ]
        )


class _Model:
    """The rows every stage of one policy shares, and each stage's objective."""

    def __init__(self, inp: ShareInput, policy: Policy, within: Policy | None):
        self.inp = inp
        n, k = inp.rate.shape
        usable = inp.usable & inp.active[:, None]
        self.job, self.kind = np.nonzero(usable)
        p = len(self.job)
        e = np.where(inp.active, inp.equal_throughput, 1.0)
        coeff = inp.rate[self.job, self.kind] / e[self.job]
        # rho = rho_rows @ x over active jobs (only their columns exist)
        active = np.flatnonzero(inp.active)
        position = np.full(n, -1)
        position[active] = np.arange(len(active))
        self.active = active

        b = ProblemBuilder(f"share-{policy}")
        hi = np.minimum(inp.demand[self.job], inp.capacity[self.kind])
        g = b.add_columns(
            "gpus",
            p,
            hi=hi,
            integer=False,
            labels=[
                f"{inp.jobs[j]}@{inp.types[t]}" for j, t in zip(self.job, self.kind, strict=True)
            ],
        )
        cap = b.add_rows("capacity", k, hi=inp.capacity, labels=list(inp.types))
        b.add_entries(cap, self.kind, g, np.arange(p), 1.0)
        dem = b.add_rows("demand", len(active), hi=inp.demand[active])
        b.add_entries(dem, position[self.job], g, np.arange(p), 1.0)
        self.capacity_rows = cap

        stages: list[Stage] = []
        tenants = len(inp.tenants)
        self.log_weight = inp.weight[active]
        extra: dict[str, int] = {}
        if policy in (Policy.MAX_MIN, Policy.HIERARCHICAL):
            lam = b.add_columns("level", 1, integer=False)
            extra["level"] = lam.start
            if policy == Policy.MAX_MIN:
                fair = b.add_rows("fair", len(active), lo=0.0)
                b.add_entries(fair, position[self.job], g, np.arange(p), coeff)
                b.add_entries(
                    fair, np.arange(len(active)), lam, np.zeros(len(active)), -inp.weight[active]
                )
            elif within == Policy.MAX_MIN:
                # A tenant's value is its lowest job level mu_a: rho_j >= w_j mu_a.
                mu = b.add_columns("tenant_level", tenants, integer=False)
                extra["tenant_level"] = mu.start
                fair = b.add_rows("tenant_fair", tenants, lo=0.0, labels=list(inp.tenants))
                b.add_entries(fair, np.arange(tenants), mu, np.arange(tenants), 1.0)
                b.add_entries(fair, np.arange(tenants), lam, np.zeros(tenants), -inp.tenant_weight)
                inner = b.add_rows("fair", len(active), lo=0.0)
                b.add_entries(inner, position[self.job], g, np.arange(p), coeff)
                b.add_entries(
                    inner, np.arange(len(active)), mu, inp.tenant[active], -inp.weight[active]
                )
            else:
                # A tenant's value is the mean rho of its jobs.
                members = np.bincount(inp.tenant[active], minlength=tenants).astype(float)
                has = np.flatnonzero(members > 0)
                row_of = np.full(tenants, -1)
                row_of[has] = np.arange(len(has))
                fair = b.add_rows(
                    "tenant_fair", len(has), lo=0.0, labels=[inp.tenants[a] for a in has]
                )
                a_of = inp.tenant[self.job]
                b.add_entries(fair, row_of[a_of], g, np.arange(p), coeff / members[a_of])
                b.add_entries(
                    fair, np.arange(len(has)), lam, np.zeros(len(has)), -inp.tenant_weight[has]
                )
        problem = b.build()
        self.problem = problem
        n_cols = problem.n_cols
        self.rho_rows = sp.csr_array(
            sp.coo_array((coeff, (position[self.job], np.arange(p))), shape=(len(active), n_cols))
        )
        throughput_sum = np.zeros(n_cols)
        np.add.at(throughput_sum, np.arange(p), coeff * inp.weight[self.job])

        def maximum(name: str, vec: np.ndarray) -> Stage:
            return Stage(name, -vec, True)

        def unit(col: int) -> np.ndarray:
            vec = np.zeros(n_cols)
            vec[col] = 1.0
            return vec

        if policy == Policy.MAX_MIN:
            stages = [
                maximum("min_normalized", unit(extra["level"])),
                maximum("sum_normalized", throughput_sum),
            ]
        elif policy == Policy.MAX_THROUGHPUT:
            stages = [maximum("sum_normalized", throughput_sum)]
        elif policy == Policy.PROPORTIONAL:
            stages = [Stage("log_utility", np.zeros(n_cols), True, log=True)]
        elif policy == Policy.MIN_COST:
            wants = np.flatnonzero(inp.target > 0)
            slo = sp.csr_array(
                sp.coo_array(
                    (inp.rate[self.job, self.kind], (self.job, np.arange(p))), shape=(n, n_cols)
                )
            )[wants]
            problem = problem.with_rows(slo, inp.target[wants], np.full(len(wants), INF), "target")
            self.problem = problem
            cost = np.zeros(n_cols)
            cost[:p] = inp.price[self.kind]
            stages = [Stage("cost_per_hour", cost, False)]
        elif policy == Policy.HIERARCHICAL:
            stages = [maximum("tenant_level", unit(extra["level"]))]
            if within == Policy.MAX_MIN:
                levels = np.zeros(n_cols)
                start = extra["tenant_level"]
                levels[start : start + tenants] = inp.tenant_weight
                stages += [
                    maximum("tenant_levels", levels),
                    maximum("sum_normalized", throughput_sum),
                ]
            elif within == Policy.PROPORTIONAL:
                stages.append(Stage("log_utility", np.zeros(n_cols), True, log=True))
            else:
                stages.append(maximum("sum_normalized", throughput_sum))
        self.stages = stages
        self.n_pairs = p

    def gpus(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros(self.inp.rate.shape)
        out[self.job, self.kind] = np.maximum(x[: self.n_pairs], 0.0)
        return out

    def capacity_value(self, solution: Solution | None) -> np.ndarray:
        """-dual of each capacity row: what one more GPU of the type is worth to the first
        stage's objective (0 where the solver gave no duals)."""
        k = len(self.inp.types)
        if solution is None or solution.duals is None:
            return np.zeros(k)
        # d(minimized objective)/d(capacity) is the dual; the first stage improves by -y
        return -np.asarray(solution.duals[self.capacity_rows.slice], dtype=float)
