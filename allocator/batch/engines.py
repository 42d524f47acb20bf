"""Where a batch's instances run: a `concurrent.futures.Executor` and how to stop it.

The batch logic sees only `Engine`: an executor to submit tasks to, how many run at once,
how to ask running tasks to stop with their best plan, and a fresh executor when a worker
was lost. Two engines:

- `local`: a process pool on this machine (the default). Workers are forked from a
  server process that has already imported allocator, so they start fast; each one dies
  with the coordinator (a watchdog thread), may have a memory cap, and turns SIGINT and
  SIGTERM into a stop request. A worker killed mid-task breaks the pool: the engine
  opens a new one and the batch resubmits what was running.
- `dask`: a Dask distributed cluster (`pip install 'allocator[dask]'`), at an address or,
  without one, a LocalCluster of `workers` processes. Remote workers cannot be signalled,
  so a stop request is a Dask `Event` each task watches.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import resource
import signal
import threading
import time
import uuid
from abc import ABC, abstractmethod
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

from allocator.io.errors import InputError
from allocator.io.interrupt import INTERRUPT

ENGINES = ("local", "dask")


class Engine(ABC):
    name: str
    slots: int  # tasks that run at once; the batch keeps this many in flight
    stop_event: str | None = None  # given to tasks that must watch for a stop request

    @abstractmethod
    def executor(self) -> Executor:
        """The executor to submit to."""

    @abstractmethod
    def replace_broken(self) -> Executor:
        """A working executor after a worker died and broke the current one."""

    @abstractmethod
    def interrupt(self) -> None:
        """Ask every running task to end now with the best plan it has."""

    @abstractmethod
    def close(self) -> None:
        """Release the workers (running tasks are abandoned)."""

    def describe(self) -> str:
        return f"{self.name}, {self.slots} worker{'s' if self.slots != 1 else ''}"


def open_engine(
    name: str, workers: int, address: str | None = None, memory_gib: float | None = None
) -> Engine:
    if name == "local":
        if address is not None:
            raise InputError.single("--address", "only the dask engine connects to an address")
        return LocalEngine(workers, memory_gib)
    if name == "dask":
        return DaskEngine(workers, address, memory_gib)
    raise InputError.single("--engine", f"unknown engine {name!r}; expected one of: local, dask")


class LocalEngine(Engine):
    name = "local"

    def __init__(self, workers: int, memory_gib: float | None = None):
        self.slots = workers
        self.memory_gib = memory_gib
        method = (
            "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        )
        self.context = multiprocessing.get_context(method)
        if method == "forkserver":
            self.context.set_forkserver_preload(["allocator.batch.job"])
        self._pool = self._open()

    def _open(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.slots,
            mp_context=self.context,
            initializer=_start_worker,
            initargs=(os.getpid(), self.memory_gib),
        )

    def executor(self) -> Executor:
        return self._pool

    def replace_broken(self) -> Executor:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._open()
        return self._pool

    def interrupt(self) -> None:
        # Ctrl-C on a terminal reaches the workers too; SIGTERM (a scheduler stopping the
        # job) reaches only this process, so pass it on.
        for child in multiprocessing.active_children():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child.pid or 0, signal.SIGINT)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for child in multiprocessing.active_children():
            child.kill()


def _start_worker(coordinator: int, memory_gib: float | None) -> None:
    """In each local worker: stop on SIGINT/SIGTERM, die with the coordinator, and keep
    within the memory cap."""

    def stop(signum: int, frame: object) -> None:
        INTERRUPT.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    if memory_gib is not None:
        cap = int(memory_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    def watchdog() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(coordinator, 0)
            except ProcessLookupError:
                os._exit(1)  # orphaned: nobody will read what this worker finds

    threading.Thread(target=watchdog, name="allocator-watchdog", daemon=True).start()


class DaskEngine(Engine):
    name = "dask"

    def __init__(self, workers: int, address: str | None, memory_gib: float | None = None):
        try:
            from distributed import Client, Event, LocalCluster
        except ImportError:
            raise InputError.single(
                "--engine",
                "the dask engine needs Dask distributed: pip install 'allocator[dask]'",
            ) from None
        self.cluster: Any = None
        self.address = address
        if address is None:
            logging.getLogger("distributed").setLevel(logging.ERROR)
            # Its processes ignore Ctrl-C (they inherit that): a stop request reaches their
            # tasks through the stop event, and the cluster stays up to hand back plans.
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                self.cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    memory_limit=f"{memory_gib}GiB" if memory_gib else "auto",
                )
            finally:
                signal.signal(signal.SIGINT, previous)
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(address, timeout="20s")
            except OSError as exc:
                raise InputError.single(
                    "--address", f"cannot reach the Dask scheduler at {address}: {exc}"
                ) from None
        threads = sum(w["nthreads"] for w in self.client.scheduler_info()["workers"].values())
        self.slots = max(1, threads)
        self.stop_event = f"allocator-stop-{uuid.uuid4().hex}"
        self._event = Event(self.stop_event, client=self.client)
        self._executor = self.client.get_executor(pure=False)

    def describe(self) -> str:
        where = "LocalCluster" if self.cluster is not None else self.address
        return f"dask ({where}), {self.slots} worker thread{'s' if self.slots != 1 else ''}"

    def executor(self) -> Executor:
        return self._executor

    def replace_broken(self) -> Executor:
        return self._executor  # Dask reschedules a lost worker's tasks itself

    def interrupt(self) -> None:
        self._event.set()

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
