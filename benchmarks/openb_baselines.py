"""Online scheduling baselines on Alibaba's openb trace, beside the published figures.

Replays each trace, seed and policy as the FGD simulator does (Weng et al., USENIX ATC
'23) and prints the GPU allocation ratio at 100 % arrived GPU demand: mean, min and max
over the seeds, the published mean, and the wall time per run.

    python benchmarks/openb_baselines.py --data ../shared/data/openb \\
        --traces default gpushare100 gpuspec20 multigpu20 --seeds 42-51
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from allocator.bench.published import LABELS, PAPER_POLICIES, PUBLISHED  # noqa: E402
from allocator.heuristics.online import POLICIES, simulate  # noqa: E402
from allocator.interop.openb import OpenbTrace, build_arrivals, load_trace  # noqa: E402
from allocator.io.errors import InputError  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "openb"


@dataclass(frozen=True)
class Run:
    trace: str
    policy: str
    seed: int
    reported: float  # the paper's figure: mean over arrivals that round to 100 %
    crossing: float  # at the arrival that first reaches 100 %
    skipped: int
    seconds: float


def parse_seeds(text: str) -> list[int]:
    """'42-51' or '42,44,46-48'."""
    seeds: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        try:
            seeds.extend(range(int(first), int(last or first) + 1))
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad seed list {text!r}; e.g. 42-51") from None
    return seeds


@lru_cache(maxsize=8)
def trace_data(data: str, trace: str, all_nodes: bool) -> OpenbTrace:
    return load_trace(data, trace, gpu_nodes_only=not all_nodes)


def run_one(data: str, trace: str, policy: str, seed: int, all_nodes: bool) -> Run:
    loaded = trace_data(data, trace, all_nodes)
    arrivals = build_arrivals(loaded.tasks, loaded.nodes, seed)
    result = simulate(loaded.nodes, loaded.tasks, arrivals, policy)
    arrived = result.prefix(1.0)
    return Run(
        trace,
        policy,
        seed,
        result.reported_allocation_ratio(100),
        result.allocation_ratio(1.0),
        int((~result.placed[:arrived]).sum()),
        result.wall_seconds,
    )


def report(trace: str, runs: list[Run], policies: list[str]) -> str:
    published = PUBLISHED.get(trace, {})
    lines = [
        f"\n{trace}: GPU allocation at 100 % arrived GPU demand, % "
        f"({len({r.seed for r in runs})} seeds)",
        f"{'policy':<14} {'mean':>7} {'min':>7} {'max':>7} {'paper':>7} {'diff':>6} "
        f"{'at 100%':>8} {'skipped':>8} {'s/run':>6}",
    ]
    for policy in policies:
        mine = [r for r in runs if r.policy == policy]
        values = [r.reported for r in mine]
        mean = sum(values) / len(values)
        paper = published.get(policy)
        paper_text = f"{paper:7.2f}" if paper is not None else f"{'-':>7}"
        diff_text = f"{round(mean - paper, 2) + 0.0:+6.2f}" if paper is not None else f"{'':>6}"
        crossing = sum(r.crossing for r in mine) / len(mine)
        skipped = sum(r.skipped for r in mine) / len(mine)
        seconds = sum(r.seconds for r in mine) / len(mine)
        lines.append(
            f"{LABELS[policy]:<14} {mean:7.2f} {min(values):7.2f} {max(values):7.2f} "
            f"{paper_text} {diff_text} {crossing:8.2f} {skipped:8.0f} {seconds:6.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder of the openb CSVs")
    parser.add_argument(
        "--traces", nargs="+", default=["default", "gpushare100", "gpuspec20", "multigpu20"]
    )
    parser.add_argument("--seeds", type=parse_seeds, default=parse_seeds("42-51"))
    parser.add_argument(
        "--policies", nargs="+", choices=POLICIES, default=[*PAPER_POLICIES, "first-fit"]
    )
    parser.add_argument("--jobs", type=int, default=1, help="parallel processes")
    parser.add_argument(
        "--all-nodes",
        action="store_true",
        help="keep the CPU-only nodes (the paper's cluster has GPU nodes only)",
    )
    args = parser.parse_args(argv)
    print(
        "allocated GPU share (mean, min, max over seeds) as the paper reports it: the mean "
        "over the arrivals whose GPU demand rounds to 100 % of capacity; 'at 100%': at the "
        "first arrival reaching it; 'skipped': tasks that fit nowhere by then; s/run: "
        "simulation wall time."
    )
    started = time.perf_counter()
    try:
        for trace in args.traces:
            trace_data(args.data, trace, args.all_nodes)  # fail early on bad input
            jobs = [
                (args.data, trace, policy, seed, args.all_nodes)
                for policy in args.policies
                for seed in args.seeds
            ]
            if args.jobs > 1:
                with ProcessPoolExecutor(args.jobs) as pool:
                    runs = list(pool.map(run_one, *zip(*jobs, strict=True)))
            else:
                runs = [run_one(*job) for job in jobs]
            print(report(trace, runs, args.policies), flush=True)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"\ntotal {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
