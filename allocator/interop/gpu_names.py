"""Mapping the GPU names other systems use onto allocator's catalog names.

Kubernetes labels say "NVIDIA-A100-SXM4-80GB", Slurm GRES says "a100" or
"nvidia_h100_80gb_hbm3", SkyPilot says "A100-80GB". Names are compared as sets of
upper-cased alphanumeric tokens: a catalog name matches when all of its tokens occur
(so "L4" never matches "L40S" and "A10" never matches "A100"), and the most specific
match wins ("A100-80GB" over "A100").
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from allocator.inventory.catalog import BUILTIN_GPU_TYPES

# A MIG instance: compute slices "g." memory "gb", e.g. 1g.10gb or 3g.40gb.
MIG_PROFILE = re.compile(r"(?i)(?<![0-9a-z])(\d+)g\.(\d+)gb(?![0-9a-z])")


def tokens(name: str) -> frozenset[str]:
    return frozenset(t for t in re.split(r"[^A-Z0-9]+", name.upper()) if t)


def catalog_match(
    name: str, extra: Iterable[str] = (), known: Iterable[str] = BUILTIN_GPU_TYPES
) -> str | None:
    """The most specific known GPU type whose tokens all occur in `name` (plus `extra`).

    The candidate's first token, the model ("A100"), must come from `name` itself: `extra`
    (e.g. Slurm node features such as "80gb") may only refine a match, never make one.
    """
    own = tokens(name)
    pool = own | frozenset(t for word in extra for t in tokens(word))
    best: tuple[int, int, str] | None = None
    for candidate in known:
        wanted = tokens(candidate)
        if not wanted or not wanted <= pool:
            continue
        model = re.split(r"[^A-Za-z0-9]+", candidate.upper())[0]
        if model not in own:
            continue
        rank = (len(wanted), len(candidate), candidate)
        if best is None or rank > best:
            best = rank
    return best[2] if best else None


def mig_profile(name: str) -> str | None:
    """The MIG profile named in a device name ("1g.10gb"), or None for a whole GPU."""
    match = MIG_PROFILE.search(name)
    return f"{match[1]}g.{match[2]}gb" if match else None


def memory_variants(type_name: str, known: Iterable[str] = BUILTIN_GPU_TYPES) -> list[str]:
    """Catalog types that refine `type_name` (more tokens, same model) with other memory:
    what a name that matched `type_name` did not rule out ("A100" may be "A100-80GB")."""
    own = tokens(type_name)
    memory = BUILTIN_GPU_TYPES[type_name].memory_gib if type_name in BUILTIN_GPU_TYPES else None
    return [
        t
        for t in known
        if own < tokens(t) and t in BUILTIN_GPU_TYPES and BUILTIN_GPU_TYPES[t].memory_gib != memory
    ]
