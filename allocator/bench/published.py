"""The allocation ratios published for the online schedulers on the openb trace.

Mean over seeds 42..51 of column "100" of the FGD simulator's
``experiments/analysis/expected_results/analysis_allo_discrete.csv`` (Weng et al.,
USENIX ATC '23): the GPU allocation ratio, in %, at 100 % arrived GPU demand.
"""

from __future__ import annotations

PAPER_POLICIES = ("random", "dot-product", "gpu-clustering", "gpu-packing", "best-fit", "fgd")
DEFAULT_POLICIES = (*PAPER_POLICIES, "first-fit")
TRACES = ("default", "gpushare100", "gpuspec20", "multigpu20")
LABELS = {
    "random": "Random",
    "dot-product": "DotProd",
    "gpu-clustering": "GpuClustering",
    "gpu-packing": "GpuPacking",
    "best-fit": "BestFit",
    "fgd": "FGD",
    "first-fit": "FirstFit",
}

PUBLISHED: dict[str, dict[str, float]] = {
    "default": dict(zip(PAPER_POLICIES, (86.30, 90.62, 91.65, 91.78, 92.86, 95.23), strict=True)),
    "gpushare100": dict(
        zip(PAPER_POLICIES, (78.90, 81.98, 82.22, 82.13, 84.62, 86.64), strict=True)
    ),
    "gpuspec20": dict(zip(PAPER_POLICIES, (85.90, 88.29, 89.11, 89.28, 88.46, 94.66), strict=True)),
    "multigpu20": dict(
        zip(PAPER_POLICIES, (86.92, 91.85, 93.34, 93.50, 93.73, 95.53), strict=True)
    ),
}


def published(trace: str, policy: str) -> float | None:
    """The published mean for a trace and policy, or None where none was published."""
    return PUBLISHED.get(trace, {}).get(policy)
