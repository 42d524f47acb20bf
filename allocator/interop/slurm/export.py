"""A plan as Slurm wants it: each job's nodes as a hostlist expression, and an
`scontrol update JobId=... ReqNodeList=...` line for each pending job.

Slurm cannot move a running job: a running job the plan moves gets a commented
`scontrol requeue` recipe instead. A job placed on fewer distinct nodes than it asks
for (a plan edited by hand, or an inventory without the job's spread rule) is listed
but never pinned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from allocator.interop.slurm.hostlist import compress_hostlist
from allocator.inventory.schema import Inventory
from allocator.io.errors import InputError
from allocator.output.plan import PlanFile

JOB_ID_LABEL = "slurm/job-id"


@dataclass(frozen=True)
class JobNodeList:
    """Where the plan puts one Slurm job."""

    workload: str
    job_id: str
    pending: bool
    planned: tuple[str, ...]
    current: tuple[str, ...]
    needed: int

    @property
    def hostlist(self) -> str:
        return compress_hostlist(sorted(set(self.planned))) if self.planned else ""

    @property
    def moved(self) -> bool:
        return sorted(self.planned) != sorted(self.current)


@dataclass
class SlurmExport:
    plan_name: str
    jobs: list[JobNodeList] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def nodelists_text(self) -> str:
        """One `Key=Value` line per job, as scontrol writes them."""
        lines = [f"# Node lists of the Slurm jobs in allocator plan {self.plan_name!r}."]
        for job in self.jobs:
            lines.append(
                f"JobId={job.job_id} Workload={job.workload} "
                f"State={'PENDING' if job.pending else 'RUNNING'} NumNodes={job.needed} "
                f"Placed={len(job.planned)} NodeList={job.hostlist or '(null)'}"
            )
        lines += [f"# note: {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def script_text(self) -> str:
        """`scontrol update ... ReqNodeList=` for pending jobs; comments for the rest."""
        lines = [
            "#!/bin/sh",
            f"# Pin pending Slurm jobs to the nodes of allocator plan {self.plan_name!r}.",
            "# Review before running: each line restricts a job to exactly these nodes.",
            "set -eu",
        ]
        for job in self.jobs:
            distinct = len(set(job.planned))
            if not job.planned:
                lines.append(f"# JobId={job.job_id}: the plan places it on no node; left as is")
            elif distinct < len(job.planned):
                lines.append(
                    f"# JobId={job.job_id}: the plan puts {len(job.planned)} replicas on "
                    f"{distinct} nodes ({job.hostlist}); Slurm needs {job.needed} distinct nodes: "
                    "not pinned"
                )
            elif len(job.planned) < job.needed:
                lines.append(
                    f"# JobId={job.job_id}: placed on {len(job.planned)} of {job.needed} nodes "
                    f"({job.hostlist}): not pinned"
                )
            elif job.pending:
                lines.append(f"scontrol update JobId={job.job_id} ReqNodeList={job.hostlist}")
            elif job.moved:
                current = compress_hostlist(sorted(set(job.current)))
                lines += [
                    f"# JobId={job.job_id} runs on {current}; the plan moves it to "
                    f"{job.hostlist}. A running job cannot move; to follow the plan:",
                    f"#   scontrol requeue {job.job_id} && scontrol update JobId={job.job_id} "
                    f"ReqNodeList={job.hostlist}",
                ]
        return "\n".join(lines) + "\n"


def export_slurm(plan: PlanFile, inventory: Inventory) -> SlurmExport:
    """Per Slurm job of the inventory, the nodes the plan gives it."""
    planned: dict[str, list[str]] = {}
    for placement in plan.placements:
        planned.setdefault(placement.workload, []).append(placement.node)
    result = SlurmExport(plan.inventory.name)
    jobs = {w.id: w for w in inventory.workloads if JOB_ID_LABEL in w.labels}
    if not jobs:
        raise InputError.single(
            plan.inventory.path or plan.inventory.name,
            f"the inventory has no Slurm jobs (workloads labelled {JOB_ID_LABEL!r}); was it "
            "made by 'allocator import slurm'?",
        )
    for workload in inventory.workloads:
        if workload.id not in jobs and workload.id in planned:
            result.notes.append(f"workload {workload.id} is not a Slurm job: not exported")
    for workload_id, workload in jobs.items():
        current = inventory.current_placement.get(workload_id, [])
        result.jobs.append(
            JobNodeList(
                workload=workload_id,
                job_id=workload.labels[JOB_ID_LABEL],
                pending=not current,
                planned=tuple(sorted(planned.get(workload_id, []))),
                current=tuple(sorted(current)),
                needed=workload.replicas.max,
            )
        )
    return result
