"""Simulated annealing over moves and trades, compiled (numba) over flat arrays.

The vectorized search (`allocator.reassign.search`) prices one replica against every node
per step, tens of thousands of steps a second. Here one step draws a single move (a
replica, drawn again a few times while its node costs nothing, to a random node or, for
a replica away from home, half the time back home: a random walk would rarely find the
way back, and moves add up in cost) or a trade (two replicas on different nodes swap),
prices it in O(dimensions) from counts kept up to date, and takes it by the Metropolis rule
(always when it saves, with probability exp(-change / temperature) when it costs): some
millions of steps a second, which is what lets the search cross the plateaus that tight,
transient capacities make.

Costs are priced before the rules: a step whose cost change is above the threshold its
random draw allows is dropped without checking conflicts, spread or dependencies. A
trade is applied, checked and undone if it breaks a rule (spread and dependencies of
two workloads moving at once are simplest to check on the result). The threshold is the
temperature times an exponential variate (a cost is then taken with probability
exp(-change / temperature)), read from a table of its quantiles: without the logarithm
each step took, steps are 10 to 40 % faster on ROADEF's a1_2, a2_2, b_1 and b_3.

The best assignment is not copied at every improvement: the moves made since the last
best are logged, and the best is the current assignment with the log undone, written
out only when the log fills up or the search hands it back.

Everything is int64 and exact: the tests hold every plan the kernel keeps, and its cost,
to the challenge's own evaluation. numba is optional (the `fast` extra); without it these
functions are plain Python, far too slow for a search, and `strategy` does not use them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from allocator.reassign.costs import costs, domain_counts, held, usage
from allocator.reassign.model import Reassignment
from allocator.reassign.moves import node_cost

try:
    import numba
except ImportError:  # the vectorized search runs instead
    numba = None

AVAILABLE = numba is not None
LOG_SIZE = 1 << 16  # moves logged since the last best before it is written out
HOME_SHARE = 0.5  # of the moves of a moved replica, those that try its home
DRAWS = 4  # tries to draw a replica on a node that costs something
SWAP_SHARE = 0.5  # of the steps, trades (the others are moves)
DESCENT_ROUND = 50  # steps per replica between looks at what the descent saves
DESCENT_STALL = 1e-3  # the descent ends when a round saves less than this share
CHUNK_S = 0.02  # seconds between looks at the clock (and temperature updates)
SWEEP_PAIRS = 2_000_000  # replica-node prices a sweep makes between looks at the clock
QUANTILES = 4096  # of the exponential distribution, drawn for the Metropolis rule
EXPONENTIAL = -np.log((np.arange(QUANTILES) + 0.5) / QUANTILES)  # 32 KiB: stays in cache

# scalars of the state, as one int64 array
COST, TOP, BEST_COST, LOG_LEN, BEST_IN_LOG = range(5)


def _jit(function: Callable) -> Callable:
    return numba.njit(cache=True, nogil=True)(function) if AVAILABLE else function


def _inline(function: Callable) -> Callable:
    """Pricing is inlined into the step loop, where reading the state's arrays costs
    nothing; a call that reads them takes and drops a reference to each."""
    return numba.njit(cache=True, nogil=True, inline="always")(function) if AVAILABLE else function


@_inline
def _node_cost(m, s, n, out_rep, in_rep):
    """Load and balance cost of node n with replica `out_rep` taken off it and `in_rep`
    put on it (-1: none)."""
    need, cap, soft, lw = m[0], m[1], m[2], m[3]
    b1, b2, bt, bw = m[5], m[6], m[7], m[8]
    used = s[1]
    cost = 0
    for r in range(used.shape[1]):
        u = used[n, r]
        if out_rep >= 0:
            u -= need[out_rep, r]
        if in_rep >= 0:
            u += need[in_rep, r]
        over = u - soft[n, r]
        if over > 0:
            cost += lw[r] * over
    for k in range(len(bt)):
        r1, r2 = b1[k], b2[k]
        u1, u2 = used[n, r1], used[n, r2]
        if out_rep >= 0:
            u1 -= need[out_rep, r1]
            u2 -= need[out_rep, r2]
        if in_rep >= 0:
            u1 += need[in_rep, r1]
            u2 += need[in_rep, r2]
        short = bt[k] * (cap[n, r1] - u1) - (cap[n, r2] - u2)
        if short > 0:
            cost += bw[k] * short
    return cost


@_inline
def _fits(m, s, n, out_rep, in_rep):
    """Capacity of node n, counting what moved replicas hold on their origin, once
    `out_rep` leaves it and `in_rep` arrives (-1: none)."""
    need, cap, transient, cur = m[0], m[1], m[4], m[11]
    a, used, held = s[0], s[1], s[2]
    for r in range(used.shape[1]):
        total = used[n, r] + held[n, r]
        if out_rep >= 0:
            total -= need[out_rep, r]
            if transient[r] and cur[out_rep] == n and a[out_rep] == n:
                total += need[out_rep, r]  # it leaves home and holds its place
        if in_rep >= 0:
            total += need[in_rep, r]
            if transient[r] and cur[in_rep] == n and a[in_rep] != n:
                total -= need[in_rep, r]  # it comes home and stops holding
        if total > cap[n, r]:
            return False
    return True


@_inline
def _hosts(m, s, w, n, skip):
    """Whether a replica of workload w other than `skip` runs on node n."""
    sib_ptr, sib_idx = m[15], m[16]
    a = s[0]
    for k in range(sib_ptr[w], sib_ptr[w + 1]):
        other = sib_idx[k]
        if other != skip and a[other] == n:
            return True
    return False


@_inline
def _shift_allowed(m, s, i, n):
    """Conflict, spread and dependencies if replica i moved to node n."""
    spread, dep, wl, min_domains = m[9], m[10], m[12], m[14]
    a, in_spread, domains, in_dep = s[0], s[3], s[4], s[5]
    w = wl[i]
    src = a[i]
    if _hosts(m, s, w, n, i):
        return False
    ls, ln = spread[src], spread[n]
    if ls != ln:
        after = domains[w] - (in_spread[w, ls] == 1) + (in_spread[w, ln] == 0)
        if after < min_domains[w] and after < domains[w]:
            return False
    ds, dn = dep[src], dep[n]
    return ds == dn or _dependencies_hold(m, s, w, dn, ds, in_dep[w, ds] == 1)


@_inline
def _rules_after(m, s, w, arrived, left, domains_before):
    """After a replica of w moved from node `left` to node `arrived` (both already
    applied): its spread, what it needs where it arrived, and whoever needed it where it
    left."""
    dep, min_domains = m[10], m[14]
    domains, in_dep = s[4], s[5]
    if domains[w] < min_domains[w] and domains[w] < domains_before:
        return False
    return _dependencies_hold(m, s, w, dep[arrived], dep[left], in_dep[w, dep[left]] == 0)


@_inline
def _dependencies_hold(m, s, w, arrived, left, leaves):
    """Every workload w needs has a replica in dependency domain `arrived`, and, where w
    `leaves` domain `left` (no replica of w stays there), none that needs w is there."""
    needs_ptr, needs_idx, needed_ptr, needed_idx = m[17], m[18], m[19], m[20]
    in_dep = s[5]
    for k in range(needs_ptr[w], needs_ptr[w + 1]):
        if in_dep[needs_idx[k], arrived] == 0:
            return False
    if leaves:
        for k in range(needed_ptr[w], needed_ptr[w + 1]):
            if in_dep[needed_idx[k], left] > 0:
                return False
    return True


@_inline
def _top_after(s, w, step):
    """The most replicas moved in one workload once w's count changes by `step`."""
    moved, hist, scal = s[6], s[7], s[11]
    top = scal[TOP]
    if step > 0:
        return max(top, moved[w] + 1)
    if step < 0 and moved[w] == top and hist[top] == 1:
        return top - 1
    return top


@_jit
def _apply(m, s, i, n):
    """Move replica i to node n, keeping every count (not the cost) up to date."""
    need, transient, spread, dep, cur, wl = m[0], m[4], m[9], m[10], m[11], m[12]
    a, used, held, in_spread, domains, in_dep, moved, hist = (
        s[0],
        s[1],
        s[2],
        s[3],
        s[4],
        s[5],
        s[6],
        s[7],
    )
    scal = s[11]
    src = a[i]
    o = cur[i]
    w = wl[i]
    for r in range(used.shape[1]):
        used[src, r] -= need[i, r]
        used[n, r] += need[i, r]
        if transient[r]:
            if src == o:
                held[o, r] += need[i, r]
            elif n == o:
                held[o, r] -= need[i, r]
    in_spread[w, spread[src]] -= 1
    if in_spread[w, spread[src]] == 0:
        domains[w] -= 1
    if in_spread[w, spread[n]] == 0:
        domains[w] += 1
    in_spread[w, spread[n]] += 1
    in_dep[w, dep[src]] -= 1
    in_dep[w, dep[n]] += 1
    step = np.int64(n != o) - np.int64(src != o)
    if step != 0:
        scal[TOP] = _top_after(s, w, step)
        hist[moved[w]] -= 1
        moved[w] += step
        hist[moved[w]] += 1
    a[i] = n
    if scal[BEST_IN_LOG]:
        log_rep, log_from = s[9], s[10]
        k = scal[LOG_LEN]
        log_rep[k], log_from[k] = i, src
        scal[LOG_LEN] = k + 1
        if k + 1 == len(log_rep):
            _write_best(s)


@_jit
def _write_best(s):
    """Write the best assignment out of the log (the current one with the log undone)."""
    a, best, log_rep, log_from, scal = s[0], s[8], s[9], s[10], s[11]
    if scal[BEST_IN_LOG]:
        best[:] = a
        for k in range(scal[LOG_LEN] - 1, -1, -1):
            best[log_rep[k]] = log_from[k]
        scal[BEST_IN_LOG] = 0
        scal[LOG_LEN] = 0


@_inline
def _draw_replica(a, nodecost, num_replicas):
    """A random replica, drawn again (a few times at most) while its node costs nothing:
    moves off costly nodes are the ones that can save."""
    for _ in range(DRAWS):
        i = np.random.randint(0, num_replicas)
        if nodecost[a[i]] > 0:
            return i
    return i


@_jit
def _run(m, s, steps, temperature, swap_share):
    """`steps` Metropolis steps at one temperature; how many were taken.

    Each step is written out here rather than in functions of its own: a call that
    takes the state's arrays out of their tuple takes and drops a reference to each,
    which costs ten times the pricing."""
    pmc, nmc, cur, wl, wmw = m[13], m[21], m[11], m[12], m[22]
    a, domains, scal, nodecost = s[0], s[4], s[11], s[12]
    num_replicas, num_nodes = len(a), len(nodecost)
    most = np.int64(1) << 62
    taken = 0
    for _ in range(steps):
        limit = np.int64(min(temperature * EXPONENTIAL[np.random.randint(0, QUANTILES)], most))
        if np.random.random() < swap_share:  # trade two replicas on different nodes
            i = _draw_replica(a, nodecost, num_replicas)
            j = np.random.randint(0, num_replicas)
            src, dst = a[i], a[j]
            if src == dst:
                continue
            oi, oj, wi, wj = cur[i], cur[j], wl[i], wl[j]
            cost_src = _node_cost(m, s, src, i, j)
            cost_dst = _node_cost(m, s, dst, j, i)
            delta = cost_src - nodecost[src] + cost_dst - nodecost[dst]
            delta += pmc[i] * (np.int64(dst != oi) - np.int64(src != oi))
            delta += pmc[j] * (np.int64(src != oj) - np.int64(dst != oj))
            delta += nmc[oi, dst] - nmc[oi, src] + nmc[oj, src] - nmc[oj, dst]
            if (
                delta > limit  # before the most-moved term, which is known once applied
                or not (_fits(m, s, src, i, j) and _fits(m, s, dst, j, i))
                or (wi != wj and (_hosts(m, s, wi, dst, i) or _hosts(m, s, wj, src, j)))
            ):
                continue
            top, before_i, before_j = scal[TOP], domains[wi], domains[wj]
            _apply(m, s, i, dst)
            _apply(m, s, j, src)
            delta += wmw[0] * (scal[TOP] - top)
            if delta > limit or (
                wi != wj
                and not (
                    _rules_after(m, s, wi, dst, src, before_i)
                    and _rules_after(m, s, wj, src, dst, before_j)
                )
            ):
                _apply(m, s, j, dst)
                _apply(m, s, i, src)
                continue
            nodecost[src], nodecost[dst] = cost_src, cost_dst
        else:  # move one replica to another node
            i = _draw_replica(a, nodecost, num_replicas)
            src = a[i]
            o = cur[i]
            if src != o and np.random.random() < HOME_SHARE:
                n = o  # home is one node of many, and the one that saves the move's cost
            else:
                n = np.random.randint(0, num_nodes - 1)
                n += n >= src
            step = np.int64(n != o) - np.int64(src != o)
            cost_src = _node_cost(m, s, src, i, -1)
            cost_n = _node_cost(m, s, n, -1, i)
            delta = cost_src - nodecost[src] + cost_n - nodecost[n]
            delta += pmc[i] * step + nmc[o, n] - nmc[o, src]
            if step != 0:
                delta += wmw[0] * (_top_after(s, wl[i], step) - scal[TOP])
            if delta > limit or not _fits(m, s, n, -1, i) or not _shift_allowed(m, s, i, n):
                continue
            _apply(m, s, i, n)
            nodecost[src], nodecost[n] = cost_src, cost_n
        scal[COST] += delta
        if scal[COST] < scal[BEST_COST]:
            scal[BEST_COST] = scal[COST]
            scal[BEST_IN_LOG] = 1
            scal[LOG_LEN] = 0
        taken += 1
    return taken


@_jit
def _sweep(m, s, first, last, home_only):
    """Replicas `first` to `last` in turn: with `home_only`, each moved one sent home where
    that costs nothing; otherwise each moved to the node where it saves most (all nodes
    priced), or home where that costs nothing. How many moved.

    The annealing draws a move at random: one that saves much but only to one node of
    many, or that only became possible once others went home (freeing what they held), is
    drawn too rarely to be found as it cools. Pricing every node for every replica finds
    them all."""
    pmc, nmc, cur, wl, wmw = m[13], m[21], m[11], m[12], m[22]
    a, scal, nodecost = s[0], s[11], s[12]
    num_nodes = len(nodecost)
    taken = 0
    for i in range(first, last):
        src, o = a[i], cur[i]
        if home_only and src == o:
            continue
        cost_src = _node_cost(m, s, src, i, -1)
        base = cost_src - nodecost[src] - nmc[o, src]
        best, best_delta = -1, np.int64(0)
        for n in range(num_nodes):
            if n == src or (home_only and n != o):
                continue
            step = np.int64(n != o) - np.int64(src != o)
            delta = base + _node_cost(m, s, n, -1, i) - nodecost[n] + pmc[i] * step + nmc[o, n]
            if step != 0:
                delta += wmw[0] * (_top_after(s, wl[i], step) - scal[TOP])
            if (delta < best_delta or (delta == best_delta and n == o)) and (
                _fits(m, s, n, -1, i) and _shift_allowed(m, s, i, n)
            ):
                best, best_delta = n, delta
        if best < 0:
            continue
        _apply(m, s, i, best)
        nodecost[src], nodecost[best] = cost_src, _node_cost(m, s, best, -1, -1)
        scal[COST] += best_delta
        if scal[COST] <= scal[BEST_COST]:  # ties too: a replica home is worth keeping
            scal[BEST_COST] = scal[COST]
            scal[BEST_IN_LOG] = 1
            scal[LOG_LEN] = 0
        taken += 1
    return taken


@_jit
def _trade_sweep(m, s, moved, first, last):
    """Replicas `moved[first:last]` in turn, each traded for the first replica of `moved`
    on another node with which a trade saves; how many traded. Among moved replicas a
    trade can take each to a node nearer its home (cheaper to move to) at no load cost:
    where every node is above its soft capacity, what one node sheds the other takes on
    at the same weight. A trade is priced and checked as in `_run`, written out in both:
    as inlined functions shared by the two, the step loop traded a third slower (a2_2,
    `benchmarks/anneal_start.py --rate`: 8.0 instead of 12.3 million trades a second)."""
    pmc, nmc, cur, wl, wmw = m[13], m[21], m[11], m[12], m[22]
    a, domains, scal, nodecost = s[0], s[4], s[11], s[12]
    taken = 0
    for k in range(first, last):
        i = moved[k]
        for j in moved:
            src, dst = a[i], a[j]
            if src == dst:
                continue
            oi, oj, wi, wj = cur[i], cur[j], wl[i], wl[j]
            cost_src = _node_cost(m, s, src, i, j)
            cost_dst = _node_cost(m, s, dst, j, i)
            delta = cost_src - nodecost[src] + cost_dst - nodecost[dst]
            delta += pmc[i] * (np.int64(dst != oi) - np.int64(src != oi))
            delta += pmc[j] * (np.int64(src != oj) - np.int64(dst != oj))
            delta += nmc[oi, dst] - nmc[oi, src] + nmc[oj, src] - nmc[oj, dst]
            if (
                delta >= 0  # the most-moved term only falls where replicas go home
                and not (dst == oi or src == oj)
            ) or not (_fits(m, s, src, i, j) and _fits(m, s, dst, j, i)):
                continue
            if wi != wj and (_hosts(m, s, wi, dst, i) or _hosts(m, s, wj, src, j)):
                continue
            top, before_i, before_j = scal[TOP], domains[wi], domains[wj]
            _apply(m, s, i, dst)
            _apply(m, s, j, src)
            delta += wmw[0] * (scal[TOP] - top)
            if delta >= 0 or (
                wi != wj
                and not (
                    _rules_after(m, s, wi, dst, src, before_i)
                    and _rules_after(m, s, wj, src, dst, before_j)
                )
            ):
                _apply(m, s, j, dst)
                _apply(m, s, i, src)
                continue
            nodecost[src], nodecost[dst] = cost_src, cost_dst
            scal[COST] += delta
            if scal[COST] <= scal[BEST_COST]:
                scal[BEST_COST] = scal[COST]
                scal[BEST_IN_LOG] = 1
                scal[LOG_LEN] = 0
            taken += 1
            break
    return taken


@_jit
def _seed(seed):
    np.random.seed(seed)


def _csr(rows: tuple[np.ndarray, ...] | list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    sizes = np.array([len(r) for r in rows], dtype=np.int64)
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    idx = np.concatenate([*rows, np.zeros(0, np.int64)]).astype(np.int64)
    return ptr, idx


def _flat_model(m: Reassignment) -> tuple:
    """The model as the kernel reads it (indices into this tuple are fixed)."""
    i64 = np.int64
    order = np.argsort(m.workload, kind="stable")
    siblings = np.split(order, np.cumsum(np.bincount(m.workload, minlength=m.num_workloads)))
    return (
        m.need.astype(i64),
        m.capacity.astype(i64),
        m.soft_capacity.astype(i64),
        m.load_weight.astype(i64),
        m.transient.astype(np.bool_),
        m.balance_first.astype(i64),
        m.balance_second.astype(i64),
        m.balance_target.astype(i64),
        m.balance_weight.astype(i64),
        m.spread_domain.astype(i64),
        m.dependency_domain.astype(i64),
        m.current.astype(i64),
        m.workload.astype(i64),
        m.replica_move_cost.astype(i64),
        m.min_domains.astype(i64),
        *_csr(siblings[: m.num_workloads]),
        *_csr([d[d != w] for w, d in enumerate(m.depends_on)]),  # a replica has itself
        *_csr([d[d != w] for w, d in enumerate(m.needed_by)]),
        np.ascontiguousarray(m.node_move_cost, dtype=i64),
        np.array([m.workload_move_weight], dtype=i64),
    )


def _flat_state(m: Reassignment, assignment: np.ndarray) -> tuple:
    """An assignment and every count the kernel keeps, from scratch."""
    i64 = np.int64
    a = np.array(assignment, dtype=i64)
    in_spread, in_dep = (
        domain_counts(m.workload, domain[a], m.num_workloads, domain.max() + 1)
        for domain in (m.spread_domain, m.dependency_domain)
    )
    moved = np.bincount(m.workload[a != m.current], minlength=m.num_workloads).astype(i64)
    used = usage(m, a)
    scal = np.zeros(5, dtype=i64)
    scal[COST] = scal[BEST_COST] = costs(m, a).total
    scal[TOP] = moved.max(initial=0)
    scal[BEST_IN_LOG] = 1
    return (
        a,
        used,
        held(m, a),
        in_spread,
        (in_spread > 0).sum(axis=1).astype(i64),
        in_dep,
        moved,
        np.bincount(moved, minlength=m.num_replicas + 2).astype(i64),
        a.copy(),  # the best assignment, once written out of the log
        np.zeros(LOG_SIZE, dtype=i64),  # replicas moved since the best
        np.zeros(LOG_SIZE, dtype=i64),  # ...and the nodes they left
        scal,
        node_cost(m, used, slice(None)).astype(i64),
    )


class Annealer:
    """One model and one assignment as flat arrays, searched in place."""

    def __init__(self, model: Reassignment, assignment: np.ndarray, seed: int):
        self.model = model
        self.m = _flat_model(model)
        self.s = _flat_state(model, assignment)
        _seed(int(seed) % 2**32)

    @staticmethod
    def compile(model: Reassignment, assignment: np.ndarray) -> None:
        """Compile the kernel (or load it from numba's cache) with one step on `model`
        and empty sweeps: the first time, that takes seconds."""
        annealer = Annealer(model, assignment, 0)
        annealer.run(1, 0.0, SWAP_SHARE)
        annealer.best()
        _sweep(annealer.m, annealer.s, 0, 0, True)
        _trade_sweep(annealer.m, annealer.s, np.zeros(0, dtype=np.int64), 0, 0)

    def restart(self, assignment: np.ndarray) -> None:
        """Go on from another assignment (it becomes the best seen)."""
        self.s = _flat_state(self.model, assignment)

    @property
    def cost(self) -> int:
        return int(self.s[11][COST])

    @property
    def best_cost(self) -> int:
        return int(self.s[11][BEST_COST])

    def best(self) -> np.ndarray:
        _write_best(self.s)
        return self.s[8].copy()

    def run(self, steps: int, temperature: float, swap_share: float) -> int:
        """`steps` steps at `temperature`; how many moves or trades were taken."""
        return int(_run(self.m, self.s, steps, float(temperature), float(swap_share)))

    def descend(self, deadline: float, stop: Callable[[], bool] = lambda: False) -> None:
        """Take only steps that cost nothing or save, until a round of DESCENT_ROUND
        steps per replica saves less than DESCENT_STALL of the cost, or the deadline."""
        steps = max(DESCENT_ROUND * self.model.num_replicas, 100_000)
        while time.perf_counter() < deadline and not stop():
            before = self.cost
            self.run(steps, 0.0, SWAP_SHARE)
            if before - self.cost <= DESCENT_STALL * before:
                return

    def polish(self, deadline: float, stop: Callable[[], bool] = lambda: False) -> None:
        """From the best assignment seen, send home every moved replica whose return costs
        nothing, move each replica where it saves most (`_sweep`), then trade moved
        replicas where that saves (`_trade_sweep`), until none of these changes anything, or
        the deadline. Going home first matters: a moved replica counts twice on a transient
        dimension (where it runs, and held at home), and only going home ends that. Every
        step saves or sends a replica home at no cost, so the sweeps end."""
        if self.cost > self.best_cost:  # else the plan here is as good: no rebuild
            self.restart(self.best())
        n = self.model.num_replicas
        chunk = max(1, SWEEP_PAIRS // max(self.model.num_nodes, 1))
        while True:
            taken = 0
            for home_only in (True, False):
                for first in range(0, n, chunk):
                    if time.perf_counter() >= deadline or stop():
                        return
                    last = min(first + chunk, n)
                    taken += int(_sweep(self.m, self.s, first, last, home_only))
            moved = np.flatnonzero(self.s[0] != self.model.current).astype(np.int64)
            step = max(1, SWEEP_PAIRS // max(len(moved), 1))
            for first in range(0, len(moved), step):
                if time.perf_counter() >= deadline or stop():
                    return
                last = min(first + step, len(moved))
                taken += int(_trade_sweep(self.m, self.s, moved, first, last))
            if taken == 0:
                return

    def anneal(
        self,
        deadline: float,
        hot: float,
        cold: float,
        swap_share: float = SWAP_SHARE,
        stop: Callable[[], bool] = lambda: False,
    ) -> np.ndarray:
        """Cool geometrically from `hot` to `cold` by `deadline` (a `time.perf_counter`
        moment), looking at the clock every CHUNK_S; the best assignment seen."""
        started = time.perf_counter()
        span = max(deadline - started, 1e-9)
        steps = 1000
        while True:
            now = time.perf_counter()
            elapsed = (now - started) / span
            if elapsed >= 1 or stop():
                return self.best()
            self.run(steps, hot * (cold / hot) ** elapsed, swap_share)
            took = time.perf_counter() - now
            steps = int(min(max(steps * CHUNK_S / max(took, 1e-6), 100), steps * 4))
