"""The nodes that host the plan's replicas: the GPUs each replica holds (count, indices,
type, memory, MIG profile), what shares each physical GPU, each node's capacity, and
node states. Each test is one array expression over all replicas; only a replica or GPU
that fails it is spelled out."""

from __future__ import annotations

import numpy as np

from allocator.domain.tables import Domain
from allocator.domain.units import MIB_PER_GIB, MILLI, NODE_RESOURCES, to_mib
from allocator.evaluate.check.entries import PlanReplicas
from allocator.inventory.catalog import MIG_COMPUTE_SLICES, MIG_MEMORY_SLICES
from allocator.rules.base import Violation


def replica_gpus(domain: Domain, known: PlanReplicas) -> list[Violation]:
    """Per replica: the number and indices of its GPUs, the node's GPU type (allowed, and
    giving throughput to a workload with a target), GPU memory, and its MIG profile."""
    fleet, demand = domain.fleet, domain.demand
    w, n = known.row, known.node
    held = np.diff(known.gpu_ptr)
    whole, milli, profile = demand.gpus[w], demand.gpu_milli[w], demand.mig_profile[w]
    wanted = np.where(whole > 0, whole, ((milli > 0) | (profile != "")).astype(np.int64))
    owner = np.repeat(np.arange(len(known)), held)
    out_of_range = (known.gpu < 0) | (known.gpu >= fleet.gpus[n][owner])
    pairs = np.unique(np.stack([owner, known.gpu]), axis=1)  # (replica, GPU) once each
    repeated = held > np.bincount(pairs[0], minlength=len(known))
    bad_index = (np.bincount(owner[out_of_range], minlength=len(known)) > 0) | repeated
    needs = wanted > 0
    typed = fleet.gpu_type[n]
    no_gpu = needs & (fleet.gpus[n] == 0)
    on_type = needs & ~no_gpu
    by_target = demand.families.by_target[demand.family[w]]
    rate = demand.rate[w, np.maximum(typed, 0)] if demand.rate.shape[1] else np.zeros(len(known))
    no_rate = on_type & by_target & (rate <= 0)
    not_allowed = on_type & ~_type_allowed(domain, w, n)
    too_many = on_type & (whole > fleet.gpus[n])
    memory = fleet.gpu_memory_mib[n]
    short_memory = on_type & (whole > 0) & (demand.gpu_mem_mib[w] > whole * memory)
    mig = on_type & (profile != "")
    suspect = (held != wanted) | bad_index | no_gpu | no_rate | not_allowed | too_many
    suspect |= short_memory | mig
    out = []
    type_names = fleet.gpu_type_names
    for k in np.flatnonzero(suspect):
        who, gpus = known.who(domain, k), known.gpus(k)
        wi, ni = int(w[k]), int(n[k])
        if held[k] != wanted[k]:
            asked = (
                f"{whole[k]} whole GPU(s)"
                if whole[k]
                else ("a share of one GPU" if wanted[k] else "no GPU")
            )
            out.append(
                Violation("gpu_count", f"{who}: uses {held[k]} GPU(s) {gpus}, asks for {asked}")
            )
        if bad_index[k]:
            out.append(
                Violation(
                    "gpu_index",
                    f"{who}: GPU indices {gpus} are not distinct "
                    f"GPUs of a node with {fleet.gpus[ni]}",
                )
            )
        if no_gpu[k]:
            out.append(Violation("gpu_type", f"{who}: needs a GPU, the node has none"))
            continue
        if no_rate[k]:
            out.append(
                Violation(
                    "gpu_type",
                    f"{who}: gives no throughput on {type_names[ni]} (no per-replica figure)",
                )
            )
        if not_allowed[k]:
            allowed = domain.allowed_type_names.get(str(demand.ids[wi]), [])
            out.append(
                Violation(
                    "gpu_type",
                    f"{who}: GPU type {type_names[ni]} is not one of {', '.join(allowed)}",
                )
            )
        if too_many[k]:
            out.append(
                Violation(
                    "gpu_count",
                    f"{who}: needs {whole[k]} GPUs on one node, the node has {fleet.gpus[ni]}",
                )
            )
        if short_memory[k]:
            out.append(
                Violation(
                    "gpu_memory",
                    f"{who}: needs {demand.gpu_mem_mib[wi] / MIB_PER_GIB:g} GiB over "
                    f"{whole[k]} GPU(s), {type_names[ni]} gives "
                    f"{whole[k] * memory[k] / MIB_PER_GIB:g} GiB",
                )
            )
        if mig[k]:
            out += _mig_profile(domain, wi, ni, who)
    return out


def _type_allowed(domain: Domain, w: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Whether each replica's node has a GPU type its row names (any, if it names none)."""
    type_names = domain.fleet.gpu_type_names[n]
    ok = np.ones(len(w), dtype=bool)
    for row in np.unique(w):
        allowed = domain.allowed_type_names.get(str(domain.demand.ids[row]))
        if allowed is not None:
            mine = w == row
            ok[mine] = np.isin(type_names[mine].astype(str), allowed)
    return ok


def _mig_profile(domain: Domain, wi: int, ni: int, who: str) -> list[Violation]:
    fleet, demand = domain.fleet, domain.demand
    profile = str(demand.mig_profile[wi])
    out = []
    if not fleet.mig[ni]:
        out.append(
            Violation(
                "gpu_mig",
                f"{who}: MIG instance on a node whose GPUs may not be partitioned (mig: false)",
            )
        )
    offered = fleet.gpu_types[fleet.gpu_type[ni]].mig_profiles.get(profile)
    if offered is None:
        out.append(
            Violation("gpu_type", f"{who}: {fleet.gpu_type_names[ni]} has no MIG profile {profile}")
        )
    elif demand.gpu_mem_mib[wi] > to_mib(offered.memory_gib):
        out.append(
            Violation(
                "gpu_memory",
                f"{who}: needs {demand.gpu_mem_mib[wi] / MIB_PER_GIB:g} GiB, profile "
                f"{profile} has {offered.memory_gib:g} GiB",
            )
        )
    return out


def gpu_sharing(domain: Domain, known: PlanReplicas) -> list[Violation]:
    """Per physical GPU: whole GPUs are exclusive; fractions sum to at most one GPU (and its
    memory); MIG instances fit its 7 compute and 8 memory slices; no GPU mixes the two."""
    fleet, demand = domain.fleet, domain.demand
    held = np.diff(known.gpu_ptr)
    owner = np.repeat(np.arange(len(known)), held)
    if not len(owner):
        return []
    node = known.node[owner]
    keys, gpu_of = np.unique(np.stack([node, known.gpu]), axis=1, return_inverse=True)
    gpu_of = gpu_of.ravel()
    n_gpus = keys.shape[1]
    w = known.row[owner]
    users = np.bincount(gpu_of, minlength=n_gpus)
    whole = np.bincount(gpu_of, weights=demand.gpus[w] > 0, minlength=n_gpus) > 0
    fraction = demand.gpu_milli[w] > 0
    share = np.bincount(
        gpu_of, weights=np.where(fraction, demand.gpu_milli[w], 0), minlength=n_gpus
    )
    shared_memory = np.bincount(
        gpu_of, weights=np.where(fraction, demand.gpu_mem_mib[w], 0), minlength=n_gpus
    )
    has_fraction = np.bincount(gpu_of, weights=fraction, minlength=n_gpus) > 0
    mig = demand.mig_profile[w] != ""
    has_mig = np.bincount(gpu_of, weights=mig, minlength=n_gpus) > 0
    compute, memory_slices = _mig_slices(domain, w, node, mig)
    mig_compute = np.bincount(gpu_of, weights=compute, minlength=n_gpus)
    mig_memory = np.bincount(gpu_of, weights=memory_slices, minlength=n_gpus)
    gpu_memory = fleet.gpu_memory_mib[keys[0]]
    bad = (whole & (users > 1)) | (has_fraction & has_mig) | (share > MILLI)
    bad |= has_fraction & (shared_memory > gpu_memory)
    bad |= has_mig & ((mig_compute > MIG_COMPUTE_SLICES) | (mig_memory > MIG_MEMORY_SLICES))
    out = []
    for g in np.flatnonzero(bad):
        where = f"node {fleet.ids[keys[0, g]]} GPU {keys[1, g]}"
        on_gpu = np.flatnonzero(gpu_of == g)
        names = ", ".join(
            f"{demand.ids[known.row[owner[e]]]} replica {known.replica[owner[e]]}" for e in on_gpu
        )
        if whole[g] and users[g] > 1:
            out.append(
                Violation(
                    "gpu_exclusive",
                    f"{where}: held whole by one replica but used by {users[g]}: {names}",
                )
            )
        if has_fraction[g] and has_mig[g]:
            out.append(
                Violation("gpu_mig", f"{where}: mixes MIG instances and GPU fractions: {names}")
            )
        if share[g] > MILLI:
            out.append(
                Violation(
                    "gpu_share",
                    f"{where}: fractions sum to {share[g] / MILLI:g} of the GPU: {names}",
                )
            )
        if has_fraction[g] and shared_memory[g] > gpu_memory[g]:
            out.append(
                Violation(
                    "gpu_memory",
                    f"{where}: shared replicas need {shared_memory[g] / MIB_PER_GIB:g} GiB, "
                    f"the GPU has {gpu_memory[g] / MIB_PER_GIB:g} GiB: {names}",
                )
            )
        if has_mig[g] and (
            mig_compute[g] > MIG_COMPUTE_SLICES or mig_memory[g] > MIG_MEMORY_SLICES
        ):
            out.append(
                Violation(
                    "gpu_mig",
                    f"{where}: MIG instances take {mig_compute[g]:g} compute "
                    f"and {mig_memory[g]:g} memory slices, the GPU has "
                    f"{MIG_COMPUTE_SLICES} and {MIG_MEMORY_SLICES}: {names}",
                )
            )
    return out


def _mig_slices(
    domain: Domain, w: np.ndarray, node: np.ndarray, mig: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(compute, memory) slices each GPU holder takes: its MIG profile's on the node's GPU
    type (0 when not MIG, or when the type lacks the profile: reported per replica)."""
    fleet, demand = domain.fleet, domain.demand
    compute, memory = np.zeros(len(w)), np.zeros(len(w))
    for k in np.flatnonzero(mig & (fleet.gpu_type[node] >= 0)):
        profiles = fleet.gpu_types[fleet.gpu_type[node[k]]].mig_profiles
        found = profiles.get(str(demand.mig_profile[w[k]]))
        if found is not None:
            compute[k], memory[k] = found.compute_slices, found.memory_slices
    return compute, memory


def capacity(domain: Domain, known: PlanReplicas) -> list[Violation]:
    """Per node: CPU, RAM, local NVMe and NIC bandwidth within capacity (whole GPUs are
    checked GPU by GPU)."""
    fleet, demand = domain.fleet, domain.demand
    out = []
    for resource in NODE_RESOURCES[1:]:
        need = getattr(demand, resource.replica_field)
        have = getattr(fleet, resource.node_field)
        used = np.bincount(known.node, weights=need[known.row], minlength=len(fleet))
        out += [
            Violation(
                f"node_{resource.key}",
                f"node {fleet.ids[ni]}: {used[ni] / resource.scale:g}{resource.unit} of "
                f"{resource.name} placed, capacity {have[ni] / resource.scale:g}{resource.unit}",
            )
            for ni in np.flatnonzero(used > have)
        ]
    return out


def node_states(domain: Domain, known: PlanReplicas) -> list[Violation]:
    """Down nodes run nothing; draining nodes run only what ran on them before."""
    fleet, demand = domain.fleet, domain.demand
    if not len(known):
        return []
    pairs, count = np.unique(np.stack([known.row, known.node]), axis=1, return_counts=True)
    w, n = pairs
    before = np.asarray(domain.running_now[n, w]).ravel()
    state = fleet.state[n]
    out = []
    for k in np.flatnonzero((state == "down") | ((state == "draining") & (count > before))):
        if state[k] == "down":
            message = f"node {fleet.ids[n[k]]} is down but runs {count[k]} replica(s) of "
        else:
            message = (
                f"node {fleet.ids[n[k]]} is draining but gets {count[k] - before[k]} new "
                "replica(s) of "
            )
        out.append(Violation("node_state", message + str(demand.ids[w[k]])))
    return out
