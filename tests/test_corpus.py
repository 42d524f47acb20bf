"""Every malformed or hostile input of the corpus (corpus.py) gets its documented exit code
and a message naming what is wrong, in a process of its own that stays within 5 s and
500 MB, and never leaves a traceback or a half-written output behind."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from corpus import CASES, Case

ROOT = Path(__file__).resolve().parents[1]
SECONDS = 5.0
MEGABYTES = 500
ADDRESS_SPACE = 4 * 2**30  # a hard cap well above the measured one, against runaways


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


# The command line as a child that reports its own peak memory when it exits.
RUN = (
    "import atexit, resource, runpy, sys\n"
    "atexit.register(lambda: print('PEAK_KIB', resource.getrusage(resource.RUSAGE_SELF)"
    ".ru_maxrss, file=sys.stderr))\n"
    "sys.argv = ['allocator', *sys.argv[1:]]\n"
    "runpy.run_module('cli.main', run_name='__main__')\n"
)


def run_case(case: Case, folder: Path) -> tuple[int, str, float, float]:
    """(exit code, output, wall seconds, peak MiB) of one case, run in its folder."""
    for name, content in case.files.items():
        target = folder / name
        if callable(content):
            content(folder)
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    args = [arg.replace("{d}", str(folder)) for arg in case.args]
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-c", RUN, *args],
            capture_output=True,
            text=True,
            errors="replace",
            cwd=ROOT,
            preexec_fn=_limit,
            env={**os.environ, "COLUMNS": "200"},
            timeout=4 * SECONDS,
        )
    except subprocess.TimeoutExpired as stopped:
        return -1, str(stopped.output), time.perf_counter() - started, 0.0
    wall = time.perf_counter() - started
    lines = done.stderr.splitlines()
    peak = next((int(line.split()[1]) / 1024 for line in lines if line.startswith("PEAK_KIB")), 0)
    output = done.stdout + "\n".join(line for line in lines if not line.startswith("PEAK_KIB"))
    return done.returncode, output, wall, peak


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_case(case: Case, tmp_path: Path) -> None:
    before = set(tmp_path.iterdir()) if tmp_path.exists() else set()
    code, output, wall, peak = run_case(case, tmp_path)
    assert code == case.code, output
    assert case.fragment in output, output
    assert "Traceback" not in output and "internal error" not in output, output
    assert wall < SECONDS, f"{wall:.1f} s"
    assert 0 < peak < MEGABYTES, f"{peak:.0f} MiB"
    if code != 0:  # nothing half-written: no temporary files, no new outputs
        left = {p.name for p in set(tmp_path.iterdir()) - before}
        assert not [n for n in left if n.startswith(".")], left
        assert "p.json" not in left and "i.yaml" not in left, left


def test_the_corpus_is_large_and_varied() -> None:
    assert len(CASES) >= 80
    assert len({c.kind for c in CASES}) >= 9
    assert len({c.name for c in CASES}) == len(CASES)
