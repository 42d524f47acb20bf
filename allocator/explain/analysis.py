"""Explaining each short workload: lift every family that applies alone, then pairs, and
keep the cheapest change that places it."""

from __future__ import annotations

import contextlib
import copy
import difflib
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from allocator.domain.build import build_domain
from allocator.evaluate.diagnose import Cause, unplaced_causes
from allocator.explain.families import RELAXATIONS, Combo, Relaxation
from allocator.explain.lifts import Doc, ways, workload_spec
from allocator.explain.pricing import EPS, Evidence, per_hour
from allocator.explain.solving import MIN_SOLVE_S, BoundedSolver, OutOfTime, Solved
from allocator.inventory.schema import Inventory
from allocator.io.errors import InputError, InputProblem
from allocator.io.source import SourceDocument
from allocator.io.validation import problem_at
from allocator.output.plan import PlanFile, replicas_of
from allocator.solve.deadline import Deadline

MAX_PAIRS = 28  # pairs tried when no single family helps (all pairs of 8 families)


@dataclass(frozen=True)
class Finding:
    """A family (or pair) whose lifting places more of the workload, and the change."""

    families: tuple[str, ...]
    constraint: str
    why: str
    change: str
    reached: float  # replicas (or throughput) placed once the change is made
    cost_delta_per_hour: float  # the plan's $/h after the change, minus before
    rank: int  # place of its first family in RELAXATIONS (ties go to the earlier)
    # Other workloads the change leaves with less: (reached before, reached after).
    displaced: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def side_effects(self) -> str:
        """`pretrain 2 -> 1`: what the change takes from other workloads, in words."""
        return ", ".join(f"{w} {a:g} -> {b:g}" for w, (a, b) in self.displaced.items())

    def to_dict(self) -> dict[str, Any]:
        return {
            "families": list(self.families),
            "constraint": self.constraint,
            "why": self.why,
            "change": self.change,
            "reached": self.reached,
            "cost_delta_per_hour": round(self.cost_delta_per_hour, 6),
            "displaced": {w: {"before": a, "after": b} for w, (a, b) in self.displaced.items()},
        }


@dataclass(frozen=True)
class Explanation:
    """Why one workload is short, and what would place it."""

    workload: str
    unit: str  # "replicas", or the unit of its throughput target
    wanted: float
    reached: float
    required: bool  # required replicas (or its target) are missing
    needs: str
    plan_reason: str
    plan_family: str
    findings: list[Finding]
    paired: bool  # no single family helps; the findings are pairs
    tried: list[str]
    not_tried: list[str]
    note: str = ""

    @property
    def cheapest(self) -> Finding | None:
        """The finding that places the most, then takes nothing from other workloads,
        then adds the least $/h."""
        if not self.findings:
            return None
        return min(
            self.findings,
            key=lambda f: (
                -min(f.reached, self.wanted),
                bool(f.displaced),
                f.cost_delta_per_hour,
                f.rank,
            ),
        )

    @property
    def blocking(self) -> list[str]:
        return sorted({family for f in self.findings for family in f.families})

    @property
    def summary(self) -> str:
        """One paragraph in plain words."""
        head = f"{self.workload}: {self.reached:g} of {self.wanted:g} {self.unit} placed; "
        head += f"needs {self.needs}"
        best = self.cheapest
        if self.note and best is None:
            return f"{head}. {self.note}"
        if best is None:
            return (
                f"{head}. No constraint family tried, alone or in pairs, places more; "
                f"the plan says: {self.plan_reason}"
            )
        pair = " (no single change is enough; together)" if self.paired else ""
        cost = f"the plan then costs {per_hour(best.cost_delta_per_hour)}"
        if best.displaced:
            cost += f" and other workloads lose replicas ({best.side_effects})"
        return f"{head}; {best.why}. Cheapest change{pair}: {best.change}; {cost}."

    def to_dict(self) -> dict[str, Any]:
        best = self.cheapest
        return {
            "workload": self.workload,
            "unit": self.unit,
            "wanted": self.wanted,
            "reached": self.reached,
            "required": self.required,
            "needs": self.needs,
            "plan_reason": self.plan_reason,
            "plan_family": self.plan_family,
            "blocking": self.blocking,
            "agrees_with_plan": self.plan_family in self.blocking,
            "paired": self.paired,
            "findings": [f.to_dict() for f in self.findings],
            "cheapest": None if best is None else best.to_dict(),
            "tried": self.tried,
            "not_tried": self.not_tried,
            "note": self.note,
            "summary": self.summary,
        }


@dataclass
class ExplainReport:
    """Every short workload's explanation, and what the analysis took."""

    inventory: str
    plan_source: str | None
    explanations: list[Explanation]
    time_limit_s: float
    elapsed_s: float = 0.0
    solves: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "inventory": self.inventory,
            "plan": self.plan_source,
            "time_limit_s": self.time_limit_s,
            "elapsed_s": round(self.elapsed_s, 3),
            "solves": self.solves,
            "notes": self.notes,
            "workloads": [e.to_dict() for e in self.explanations],
        }


def explain(
    inventory: Inventory,
    name: str,
    plan: PlanFile | None = None,
    workload: str | None = None,
    time_limit: float = 60.0,
    solver: str = "auto",
    plan_source: str | None = None,
) -> ExplainReport:
    """Explain every short workload of `plan` (None: the plan `solver` finds within
    `time_limit`), or only `workload`. The analysis gets `time_limit` of its own."""
    started = time.perf_counter()
    doc = inventory.model_dump(mode="json", exclude_defaults=True)
    if workload is not None:
        require_workload(inventory, workload, name)
    if plan is None:
        before = BoundedSolver(name, solver, time_limit, Deadline.after(time_limit)).plan(doc)
        if before is None:
            raise RuntimeError(f"the checker rejected the plan solved for {name}")
        planned = 1
    else:
        domain = build_domain(inventory, name=name)
        before = Solved(doc, domain, plan, replicas_of(domain, plan, plan_source or "plan"))
        planned = 0
    report = ExplainReport(name, plan_source, [], time_limit)
    short = _short(before, workload)
    if workload is not None and workload not in short:
        report.notes.append(f"{workload} is placed in full in the plan: nothing to explain")
    candidates = {wid: [r for r in RELAXATIONS if r.applies(doc, wid)] for wid in short}
    first_round = 1 + sum(len(c) for c in candidates.values())
    analyst = BoundedSolver(
        name, solver, max(MIN_SOLVE_S, time_limit / first_round), Deadline.after(time_limit)
    )
    reference = None
    if plan is not None and short:
        with contextlib.suppress(OutOfTime):
            reference = analyst.solve(copy.deepcopy(doc))
    causes = unplaced_causes(before.figures)
    for wid in short:
        f = before.domain.demand.families.index[wid]
        cause = causes.get(f) or Cause(
            "survive" if workload_spec(doc, wid).get("survive") else "none", ""
        )
        report.explanations.append(
            _explain_one(before, reference, wid, candidates[wid], analyst, cause)
        )
    report.solves = planned + analyst.count
    report.elapsed_s = time.perf_counter() - started
    return report


def require_workload(inventory: Inventory, wid: str, source: SourceDocument | str) -> None:
    """Raise an InputError naming an id the inventory lacks and the closest ids it has,
    located at its workloads when the parsed file is at hand."""
    ids = [w.id for w in inventory.workloads]
    if wid in ids:
        return
    close = difflib.get_close_matches(wid, ids, n=3, cutoff=0.5)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    message = f"unknown workload {wid!r} given to --workload{hint}"
    if isinstance(source, SourceDocument):
        raise InputError([problem_at(source, ("workloads",), message)])
    raise InputError([InputProblem(source, message, entry="workloads")])


def _short(before: Solved, only: str | None) -> list[str]:
    """Workloads the plan leaves short (replicas below max, or a target not met), those
    missing required replicas first, then by priority."""
    families = before.domain.demand.families
    met = {t.workload: t.met for t in before.plan.throughput}
    short, required = [], set()
    for f in np.argsort(-families.priority, kind="stable"):
        wid = str(families.ids[f])
        reached = before.reached(wid)
        if only not in (None, wid) or (met[wid] if wid in met else reached >= families.max[f]):
            continue
        short.append(wid)
        if families.by_target[f] or reached < families.min[f]:
            required.add(wid)
    return sorted(short, key=lambda wid: wid not in required)


def _explain_one(
    before: Solved,
    reference: Solved | None,
    wid: str,
    candidates: list[Relaxation],
    solver: BoundedSolver,
    cause: Cause,
) -> Explanation:
    families = before.domain.demand.families
    f = families.index[wid]
    reached = before.reached(wid)
    by_target = bool(families.by_target[f])
    wanted = float(families.target[f] if by_target else families.max[f])
    threshold = max(reached, reference.reached(wid) if reference is not None else reached)
    note = ""
    if threshold > reached + EPS:
        note = (
            f"re-solving the inventory as it is places {threshold:g}: the plan's "
            f"{before.plan.solver.name} search stopped short; solve again with more time"
        )
    singles: list[Combo] = [(r,) for r in candidates]
    helping, tried, out_of_time = _try(before.doc, wid, singles, solver, threshold)
    paired = False
    if not helping and not out_of_time:
        pairs: list[Combo] = list(
            itertools.islice(itertools.combinations(candidates, 2), MAX_PAIRS)
        )
        helping, tried_pairs, out_of_time = _try(before.doc, wid, pairs, solver, threshold)
        tried += tried_pairs
        paired = bool(helping)
    findings = []
    for combo, lifted in helping:
        try:
            findings.append(_finding(before, lifted, wid, combo, solver, threshold, wanted))
        except OutOfTime:
            out_of_time = True
            break
    not_tried = [r.family for r in candidates if r.family not in tried] if out_of_time else []
    return Explanation(
        workload=wid,
        unit=str(families.unit[f]) if by_target else "replicas",
        wanted=wanted,
        reached=reached,
        required=bool(by_target or reached < families.min[f]),
        needs=_needs(workload_spec(before.doc, wid)),
        plan_reason=_plan_reason(before.plan, wid),
        plan_family=cause.family,
        findings=findings,
        paired=paired,
        tried=tried,
        not_tried=not_tried,
        note=note,
    )


def _try(
    doc: Doc, wid: str, combos: list[Combo], solver: BoundedSolver, threshold: float
) -> tuple[list[tuple[Combo, Solved]], list[str], bool]:
    """Lift each combination in turn: those that place more of the workload than
    `threshold` with their plans, the combinations tried, and whether time ran out."""
    helping: list[tuple[Combo, Solved]] = []
    tried: list[str] = []
    for combo in combos:
        try:
            found = _lifted(doc, wid, combo, solver)
        except OutOfTime:
            return helping, tried, True
        tried.append("+".join(r.family for r in combo))
        if found is not None and found.reached(wid) > threshold + EPS:
            helping.append((combo, found))
    return helping, tried, False


def _lifted(
    doc: Doc, wid: str, combo: tuple[Relaxation, ...], solver: BoundedSolver
) -> Solved | None:
    relaxed = copy.deepcopy(doc)
    for relaxation in combo:
        relaxation.lift(relaxed, wid)
    return solver.solve(relaxed)


def _finding(
    before: Solved,
    lifted: Solved,
    wid: str,
    combo: tuple[Relaxation, ...],
    solver: BoundedSolver,
    threshold: float,
    wanted: float,
) -> Finding:
    verdicts = []
    for relaxation in combo:
        partners = tuple(r for r in combo if r is not relaxation)
        evidence = Evidence(wid, before, lifted, partners, solver, threshold, wanted)
        verdicts.append(relaxation.words(evidence))
    verified = next((v.verified for v in reversed(verdicts) if v.verified is not None), lifted)
    return Finding(
        families=tuple(r.family for r in combo),
        constraint=" + ".join(r.title for r in combo),
        why="; ".join(v.why for v in verdicts),
        change=" and ".join(v.change for v in verdicts),
        reached=verified.reached(wid),
        cost_delta_per_hour=verified.cost - before.cost,
        rank=RELAXATIONS.index(combo[0]),
        displaced={
            other: (was, now)
            for other, was in before.reached_by_workload.items()
            if other != wid and (now := verified.reached(other)) < was - EPS
        },
    )


def _plan_reason(plan: PlanFile, wid: str) -> str:
    for u in plan.unplaced:
        if u.workload == wid:
            return u.reason
    return next((t.reason or "" for t in plan.throughput if t.workload == wid), "")


def _needs(spec: dict) -> str:
    """What one replica needs and where it may run, in words."""
    res = spec["resources"]
    parts = []
    if res.get("gpus"):
        memory = f" with {res['gpu_memory_gib']:g} GiB in all" if res.get("gpu_memory_gib") else ""
        parts.append(f"{res['gpus']} GPU(s){memory}")
    elif res.get("gpu_fraction"):
        parts.append(f"{res['gpu_fraction']:g} of a GPU")
    elif res.get("mig_profile"):
        parts.append(f"a {res['mig_profile']} MIG instance")
    types = {t for way in ways(spec) for t in way.get("gpu_types", [])}
    if types and parts:
        parts[-1] += f" of type {' or '.join(sorted(types))}"
    parts.append(f"{res.get('cpus', 0):g} cores and {res.get('ram_gib', 0):g} GiB RAM")
    text = ", ".join(parts) + " per replica"
    for key in ("regions", "zones"):
        if spec.get(key):
            text += f", in {key[:-1]} {' or '.join(spec[key])}"
    if spec.get("node_selector"):
        text += ", on nodes labelled " + ", ".join(
            f"{k}={v}" for k, v in sorted(spec["node_selector"].items())
        )
    return text
