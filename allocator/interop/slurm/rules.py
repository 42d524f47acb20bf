"""A Slurm job's placement constraints as inventory rules, and the node labels they read.

Each node is labelled `partition.<name>: "true"` for every partition it is in and
`feature.<name>: "true"` for every feature it offers (`AvailableFeatures`), so that a
job's partition and a plain AND of features (`a&b`) are exact node selectors. A job
running on several nodes runs one replica per node, all started together: a spread of
at most one replica per node and a gang. `--exclusive` is a dedicated tenant of the
job's own. What has no exact equivalent (OR of features, several partitions, excluded
nodes) is a warning naming the job and field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from allocator.interop.slurm.hostlist import HostlistError, expand_hostlist
from allocator.interop.slurm.jobs import SlurmJob
from allocator.interop.slurm.nodes import SlurmNode

TRUE = "true"
_FEATURE = r"[A-Za-z0-9_.+-]+"
_PLAIN_AND = re.compile(rf"{_FEATURE}(?:&{_FEATURE})*")


def partition_key(name: str) -> str:
    return f"partition.{name}"


def feature_key(name: str) -> str:
    return f"feature.{name}"


def node_key(name: str) -> str:
    return f"node.{name}"


def tenant_name(job: SlurmJob) -> str:
    """The tenant an exclusive job is alone in."""
    return f"job-{job.job_id}"


@dataclass
class JobRules:
    """The inventory rule fields of one job, and warnings for what does not map."""

    fields: dict = field(default_factory=dict)
    pinned_node: str | None = None  # a node its node_selector names by `node.<name>`
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (field, message)

    def warn(self, field_name: str, message: str) -> None:
        self.warnings.append((field_name, message))


def node_labels(node: SlurmNode, pinned: set[str]) -> dict[str, str]:
    """What a job can select a node by: its partitions, its features, and its own name
    for the nodes a job requires by name."""
    labels = {partition_key(p): TRUE for p in node.partitions}
    labels.update({feature_key(f): TRUE for f in node.available_features})
    if node.name in pinned:
        labels[node_key(node.name)] = TRUE
    return labels


def plain_features(constraint: str) -> list[str] | None:
    """The feature names of a constraint that is a plain AND (`a` or `a&b`), else None."""
    text = constraint.strip()
    return text.split("&") if _PLAIN_AND.fullmatch(text) else None


def job_rules(job: SlurmJob, known_nodes: set[str]) -> JobRules:
    """node_selector, spread, gang and tenant of one job."""
    rules = JobRules()
    selector: dict[str, str] = {}
    _partition(job, selector, rules)
    _features(job, selector, rules)
    _required_nodes(job, known_nodes, selector, rules)
    if selector:
        rules.fields["node_selector"] = selector
    if job.node_count > 1:
        rules.fields["spread"] = [{"across": "node", "max_per_domain": 1}]
        rules.fields["gang"] = {}
    _exclusive(job, rules)
    if job.excluded_nodes:
        rules.warn(
            "excluded_nodes",
            f"excludes nodes {job.excluded_nodes}: not carried over (node_selector cannot "
            "exclude a node); the plan may place it there",
        )
    if job.array_tasks:
        rules.warn(
            "array_task_string",
            f"a pending job array (tasks {job.array_tasks}): imported as one job",
        )
    return rules


def _partition(job: SlurmJob, selector: dict[str, str], rules: JobRules) -> None:
    """A job submitted to several partitions runs in any one of them: no single label."""
    if not job.partition:
        return
    partitions = [p for p in job.partition.split(",") if p]
    if len(partitions) == 1:
        selector[partition_key(partitions[0])] = TRUE
        return
    rules.warn(
        "partition",
        f"runs in any one of partitions {', '.join(partitions)}: not carried over "
        "(node_selector cannot express a choice); the plan may place it outside them",
    )


def _features(job: SlurmJob, selector: dict[str, str], rules: JobRules) -> None:
    if not job.constraints:
        return
    names = plain_features(job.constraints)
    if names is None:
        rules.warn(
            "features",
            f"constraint {job.constraints!r} on node features: not carried over (only a plain "
            "AND of feature names, as in 'a&b', is a node_selector; OR, matching OR [...], "
            "counts and negation are not)",
        )
        return
    selector.update({feature_key(n): TRUE for n in names})


def _required_nodes(
    job: SlurmJob, known_nodes: set[str], selector: dict[str, str], rules: JobRules
) -> None:
    """A one-node job that requires one node runs there: `node.<name>` selects it (a job
    of more nodes must include them all, which a selector cannot say)."""
    if not job.required_nodes:
        return
    try:
        required = sorted(set(expand_hostlist(job.required_nodes)))
    except HostlistError:
        required = []
    if job.node_count == 1 and len(required) == 1 and required[0] in known_nodes:
        selector[node_key(required[0])] = TRUE
        rules.pinned_node = required[0]
        return
    rules.warn(
        "required_nodes",
        f"requires nodes {job.required_nodes}: not carried over (only a one-node job "
        "requiring one known node maps, to node_selector node.<name>)",
    )


def _exclusive(job: SlurmJob, rules: JobRules) -> None:
    """`--exclusive`: no other job on its nodes, as a dedicated tenant; the `user`, `mcs`
    and `topo` forms share with some jobs, which a tenant cannot single out."""
    if job.exclusive == "true":
        rules.fields["tenant"] = tenant_name(job)
    elif job.exclusive:
        rules.warn(
            "exclusive",
            f"exclusive={job.exclusive}: not carried over (only --exclusive, whole nodes to "
            "itself, is a dedicated tenant)",
        )
