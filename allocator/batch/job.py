"""One instance of a batch, as a worker runs it: plan, check, and hand back the plan and
its report as text, or the reason there is none.

`run_task` never raises: whatever goes wrong with one instance (bad input, a solver that
fails, a bug) becomes its result, so that it never stops the others. It writes no file:
the coordinator writes every output, so a worker may run on another machine.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass, replace

from allocator.evaluate.check import check_plan
from allocator.io.errors import ExitCode, InputError
from allocator.io.interrupt import INTERRUPT
from allocator.output.plan import plan_from_text
from allocator.output.report import build_report, render_markdown
from allocator.solve.pipeline import Request, prepare, solve_request
from solvers.base import SolverError, UnsupportedRequest

SHOWN_PROBLEMS = 20  # located problems kept in a failed instance's reason


@dataclass(frozen=True)
class Task:
    """What a worker needs: the instance's name (its output files' stem) and request.
    `stop_event` names a shared flag that asks the worker to stop (engines whose workers
    cannot be signalled, such as remote Dask workers)."""

    name: str
    request: Request
    attempt: int = 1  # 0: `existing_plan` seems to answer the request; check it instead
    stop_event: str | None = None
    existing_plan: bytes | None = None


@dataclass(frozen=True)
class TaskResult:
    name: str
    exit_code: int
    plan_json: str | None  # the verified plan, as it is to be written
    report_markdown: str | None
    reason: str | None  # why there is no plan, or why the plan falls short
    seconds: float
    worker: str
    resumed: bool = False  # the existing plan answers the request and passes the checker


def run_task(task: Task) -> TaskResult:
    started = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"

    def result(
        code: ExitCode, reason: str | None, plan: str | None = None, report: str | None = None
    ) -> TaskResult:
        return TaskResult(
            task.name, int(code), plan, report, reason, time.perf_counter() - started, worker
        )

    watcher = _watch(task.stop_event)
    try:
        if task.existing_plan is not None and _still_valid(task.request, task.existing_plan):
            return replace(result(ExitCode.OK, None), resumed=True)
        outcome = solve_request(task.request)
        if outcome.violations:
            first = "; ".join(str(v) for v in outcome.violations[:5])
            return result(ExitCode.INTERNAL, f"plan rejected by the checker: {first}")
        plan = outcome.plan
        text = json.dumps(plan.model_dump(mode="json"), indent=2, allow_nan=False) + "\n"
        report = render_markdown(build_report(outcome.domain, plan))
        code = outcome.exit_code
        reason = None
        if code == ExitCode.UNPLACED:
            reason = "required replicas cannot all be placed (proven)"
        elif code == ExitCode.NO_PLAN:
            reason = "no plan placing every required replica found within the time limit"
        return result(code, reason, text, report)
    except InputError as exc:
        shown = [str(p) for p in exc.problems[:SHOWN_PROBLEMS]]
        if len(exc.problems) > SHOWN_PROBLEMS:
            shown.append(f"{len(exc.problems) - SHOWN_PROBLEMS:,} more problems")
        return result(ExitCode.BAD_INPUT, "\n".join(shown))
    except UnsupportedRequest as exc:
        return result(ExitCode.BAD_INPUT, str(exc))
    except SolverError as exc:
        return result(ExitCode.INTERNAL, f"solver failed: {exc}")
    except MemoryError:
        return result(ExitCode.INTERNAL, "out of memory (the worker's memory limit)")
    except Exception as exc:  # a bug: reported with the instance, never fatal to the batch
        return result(ExitCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}")
    finally:
        if watcher is not None:
            watcher.set()


def _still_valid(request: Request, plan_bytes: bytes) -> bool:
    """Whether a plan written for this very request passes the checker (it may have
    been edited since, or written by an older version)."""
    try:
        plan = plan_from_text("existing plan", plan_bytes.decode())
        if plan.request_sha256 != request.sha256:
            return False
        domain, _ = prepare(request)
        return not check_plan(domain, plan)
    except (InputError, UnicodeDecodeError):
        return False


def _watch(name: str | None) -> threading.Event | None:
    """Set INTERRUPT when the shared flag `name` is set (polled four times a second)."""
    if name is None:
        return None
    from distributed import Event, get_client

    INTERRUPT.clear()  # a worker process outlives its tasks: a past stop is not this one's
    done = threading.Event()
    flag = Event(name, client=get_client())  # bound here: the poll runs in another thread

    def poll() -> None:
        while not done.wait(0.25):
            try:
                if flag.is_set():
                    INTERRUPT.set()
                    return
            except Exception:  # the coordinator went away: nothing to listen to
                return

    threading.Thread(target=poll, name="allocator-stop-watch", daemon=True).start()
    return done
