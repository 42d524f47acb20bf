"""Run many instances unattended: each planned by a worker of an `Engine`, its plan and
report written here as they come back, every step in the event log, a summary at the end.

Safe to leave alone and to run again:
- an instance whose plan in the output folder answers the same request (inventory and
  previous plan content, solver and options: `PlanFile.request_sha256`) and passes the
  checker again is not planned again, so a rerun after a crash does only what is left;
- one instance's failure (bad input, a solver error, a bug, its worker killed) is its own
  result, never the batch's; a task whose worker died is resubmitted once;
- a stop request (Ctrl-C, SIGTERM) asks running tasks for their best plan, writes it
  (marked interrupted) and the summary, and starts nothing more;
- `budget` bounds the whole batch: no task starts once it is spent, and none is given a
  time limit beyond it.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, CancelledError, Future, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

from allocator.batch.engines import Engine
from allocator.batch.events import EventLog
from allocator.batch.inputs import Instance
from allocator.batch.job import Task, TaskResult, run_task
from allocator.batch.summary import (
    BatchSummary,
    InstanceSummary,
    from_plan,
    render_markdown,
    without_plan,
)
from allocator.io.atomic import write_json_atomic, write_text_atomic
from allocator.io.errors import InputError
from allocator.io.interrupt import INTERRUPT
from allocator.io.source import read_bytes
from allocator.output.plan import PlanFile, plan_from_text
from allocator.solve.pipeline import Request
from solvers.base import SolveOptions

MIN_TASK_SECONDS = 1.0  # a task is not started with less of the budget left
STOP_GRACE_SECONDS = 15.0  # after a stop request, how long running tasks may take to end
NOT_RUN = -1  # the exit code recorded for an instance that was never started


@dataclass(frozen=True)
class BatchSettings:
    solver: str = "auto"
    options: SolveOptions = field(default_factory=SolveOptions)  # time_limit: per instance
    budget: float | None = None  # seconds for the whole batch
    previous: Path | None = None  # last night's output folder: what runs now
    retries: int = 1  # resubmissions of a task whose worker died


class Progress:
    """What a batch tells whoever watches it (a progress bar, plain lines)."""

    def started(self, total: int, to_run: int) -> None: ...

    def finished(self, instance: InstanceSummary, done: int, total: int) -> None: ...


def plan_path(out: Path, name: str) -> Path:
    return out / f"{name}.plan.json"


def report_path(out: Path, name: str) -> Path:
    return out / f"{name}.report.md"


def run_batch(
    instances: list[Instance],
    out: Path,
    settings: BatchSettings,
    engine: Engine,
    progress: Progress | None = None,
) -> BatchSummary:
    return _Batch(instances, out, settings, engine, progress or Progress()).run()


class _Batch:
    def __init__(
        self,
        instances: list[Instance],
        out: Path,
        settings: BatchSettings,
        engine: Engine,
        progress: Progress,
    ):
        self.instances = instances
        self.out = out
        self.settings = settings
        self.engine = engine
        self.progress = progress
        self.source = {i.name: str(i.path) for i in instances}
        self.results: dict[str, InstanceSummary] = {}
        self.previous: dict[str, PlanFile | None] = {}
        self.started = time.perf_counter()
        self.deadline = None if settings.budget is None else self.started + settings.budget

    def run(self) -> BatchSummary:
        self.log = EventLog(self.out / "events.jsonl")
        try:
            tasks = self._tasks()
            self.log.write(
                "batch_start",
                instances=len(self.instances),
                to_check=sum(t.attempt == 0 for t in tasks),
                engine=self.engine.describe(),
                solver=self.settings.solver,
                time_limit=self.settings.options.time_limit,
                budget=self.settings.budget,
            )
            self.progress.started(len(self.instances), len(tasks))
            for name in self.results:  # unreadable inputs, already known
                self._record(self.results[name])
            self._run(deque(tasks))
            return self._finish()
        finally:
            self.log.close()

    def _tasks(self) -> list[Task]:
        """A task per instance; attempt 0 marks one whose plan seems up to date (the worker
        re-checks it rather than planning)."""
        tasks = []
        for instance in self.instances:
            try:
                request = self._request(instance)
            except InputError as exc:
                reason = "\n".join(str(p) for p in exc.problems[:20])
                self.results[instance.name] = without_plan(
                    instance.name, str(instance.path), 2, reason
                )
                continue
            existing = read_plan(plan_path(self.out, instance.name))
            fresh = (
                existing is not None
                and existing.request_sha256 == request.sha256
                and not existing.solver.interrupted
            )
            tasks.append(
                Task(
                    instance.name,
                    request,
                    attempt=0 if fresh else 1,
                    stop_event=self.engine.stop_event,
                    existing_plan=plan_path(self.out, instance.name).read_bytes()
                    if fresh
                    else None,
                )
            )
        return tasks

    def _request(self, instance: Instance) -> Request:
        current_name = current = None
        previous_plan = None
        if self.settings.previous is not None:
            path = plan_path(self.settings.previous, instance.name)
            if path.is_file():
                current_name, current = str(path), read_bytes(path, "an allocator plan")
                previous_plan = read_plan(path)
        self.previous[instance.name] = previous_plan
        return Request(
            inventory_name=str(instance.path),
            inventory=read_bytes(instance.path, "YAML or JSON"),
            solver=self.settings.solver,
            options=self.settings.options,
            current_name=current_name,
            current=current,
        )

    def _run(self, pending: deque[Task]) -> None:
        executor = self.engine.executor()
        running: dict[Future[TaskResult], Task] = {}
        stop_at: float | None = None
        while pending or running:
            if INTERRUPT.is_set() and stop_at is None:
                stop_at = time.perf_counter() + STOP_GRACE_SECONDS
                self.log.write("stopping", running=len(running), not_started=len(pending))
                self.engine.interrupt()
                self._not_run(pending, "stopped on request before it started")
            while stop_at is None and pending and len(running) < self.engine.slots:
                task = self._within_budget(pending.popleft())
                if task is None:
                    self._not_run(pending, "the batch's time budget was spent before it started")
                    break
                if task.attempt:
                    self.log.write("start", instance=task.name, attempt=task.attempt)
                running[executor.submit(run_task, task)] = task
            if stop_at is not None and time.perf_counter() > stop_at:
                for future, task in running.items():
                    future.cancel()
                    self._record(
                        without_plan(
                            task.name, self.source[task.name], 1, "did not stop when asked"
                        )
                    )
                return
            done, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                task = running.pop(future)
                try:
                    self._take(task, future.result())
                except BrokenExecutor:
                    broken = True
                    self._lost(task, pending)
                except CancelledError:
                    self._record(without_plan(task.name, self.source[task.name], 1, "cancelled"))
                except Exception as exc:  # the engine failed to run the task
                    reason = f"its worker failed: {type(exc).__name__}: {exc}"
                    if "KilledWorker" in type(exc).__name__:
                        self._lost(task, pending, exhausted=True)
                    else:
                        self._record(without_plan(task.name, self.source[task.name], 1, reason))
            if broken:
                for future, task in list(running.items()):  # the pool's other tasks are lost too
                    running.pop(future)
                    self._lost(task, pending)
                executor = self.engine.replace_broken()

    def _within_budget(self, task: Task) -> Task | None:
        """The task with its time limit cut to what is left of the budget (None when less
        than MIN_TASK_SECONDS is left)."""
        if self.deadline is None:
            return task
        left = self.deadline - time.perf_counter()
        if left < MIN_TASK_SECONDS:
            return None
        limit = self.settings.options.time_limit
        if limit is not None and limit <= left:
            return task
        options = replace(task.request.options, time_limit=left)
        return replace(task, request=replace(task.request, options=options))

    def _lost(self, task: Task, pending: deque[Task], exhausted: bool = False) -> None:
        """The task's worker died (killed, out of memory): resubmit it, once."""
        if not exhausted and task.attempt <= self.settings.retries:
            self.log.write("worker_lost", instance=task.name, attempt=task.attempt)
            pending.appendleft(replace(task, attempt=task.attempt + 1, existing_plan=None))
            return
        reason = "its worker died (killed, or out of memory) on every attempt"
        self._record(without_plan(task.name, self.source[task.name], 1, reason))

    def _not_run(self, pending: deque[Task], reason: str) -> None:
        while pending:
            task = pending.popleft()
            self._record(without_plan(task.name, self.source[task.name], NOT_RUN, reason))

    def _take(self, task: Task, result: TaskResult) -> None:
        """Write what came back, then log it."""
        name = task.name
        if result.resumed:
            plan = read_plan(plan_path(self.out, name))
            assert plan is not None
            self._record(
                from_plan(name, self.source[name], plan, None, True, self.previous.get(name))
            )
            return
        if result.plan_json is None:
            for stale in (plan_path(self.out, name), report_path(self.out, name)):
                if stale.exists():  # a plan left here must answer tonight's input
                    stale.unlink()
                    self.log.write("removed_stale", instance=name, file=stale.name)
            self._record(
                without_plan(
                    name, self.source[name], result.exit_code, result.reason or "", result.seconds
                )
            )
            return
        plan = PlanFile.model_validate_json(result.plan_json)
        write_text_atomic(plan_path(self.out, name), result.plan_json)
        if result.report_markdown is not None:
            write_text_atomic(report_path(self.out, name), result.report_markdown)
        summary = from_plan(
            name, self.source[name], plan, result.seconds, previous=self.previous.get(name)
        )
        if result.reason and not summary.reason:
            summary.reason = result.reason
        self._record(summary)

    def _record(self, instance: InstanceSummary) -> None:
        self.results[instance.name] = instance
        self.log.write(
            "skipped" if instance.resumed else "finish",
            instance=instance.name,
            status=instance.status,
            exit_code=instance.exit_code,
            objective=instance.cost_per_hour,
            gap=instance.gap,
            moved=instance.moved_replicas,
            unplaced_required=instance.unplaced_required,
            seconds=None if instance.seconds is None else round(instance.seconds, 3),
            reason=instance.reason,
            warnings=len(instance.warnings),
        )
        self.progress.finished(instance, len(self.results), len(self.instances))

    def _finish(self) -> BatchSummary:
        names = {i.name for i in self.instances}
        gone = []
        if self.settings.previous is not None:
            gone = sorted(
                p.name.removesuffix(".plan.json")
                for p in self.settings.previous.glob("*.plan.json")
                if p.name.removesuffix(".plan.json") not in names
            )
        summary = BatchSummary(
            instances=[self.results[i.name] for i in self.instances if i.name in self.results],
            engine=self.engine.describe(),
            wall_s=time.perf_counter() - self.started,
            interrupted=INTERRUPT.is_set(),
            gone=gone,
        )
        write_json_atomic(self.out / "summary.json", summary.to_dict())
        write_text_atomic(self.out / "summary.md", render_markdown(summary))
        self.log.write(
            "batch_finish",
            exit_code=int(summary.exit_code),
            counts=summary.counts,
            wall_s=round(summary.wall_s, 3),
        )
        return summary


def read_plan(path: Path) -> PlanFile | None:
    """The plan at `path`, or None when there is none or it does not read as a plan."""
    if not path.is_file():
        return None
    try:
        return plan_from_text(str(path), path.read_text())
    except (InputError, OSError, UnicodeDecodeError):
        return None
