"""Where the published data sets the benchmarks read are found when no folder is given.

In order: the folder an environment variable names (ALLOCATOR_<NAME>_DATA), `data/<name>`
under the current directory, `../shared/data/<name>` beside it, and the same two beside
the source tree (a checkout run in place). An installed package holds no data.
"""

from __future__ import annotations

import os
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[2]


def env_var(name: str) -> str:
    return f"ALLOCATOR_{name.upper()}_DATA"


def candidates(name: str) -> list[Path]:
    """The folders looked in, first match wins."""
    places = []
    if os.environ.get(env_var(name)):
        places.append(Path(os.environ[env_var(name)]))
    for root in (Path.cwd(), SOURCE_ROOT):
        places += [root / "data" / name, root.parent / "shared" / "data" / name]
    return list(dict.fromkeys(places))


def find_dataset(name: str) -> Path | None:
    """The first folder of `candidates` that exists, or None."""
    return next((place for place in candidates(name) if place.is_dir()), None)


def not_found(name: str, option: str = "--data") -> str:
    """What to say when the data set is nowhere: where it was looked for, how to give it."""
    looked = ", ".join(str(p) for p in candidates(name))
    return (
        f"no {name} data found (looked in {looked}); give the folder with {option} "
        f"or set {env_var(name)}"
    )
