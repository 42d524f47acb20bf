"""The nightly batch and what-if sweeps end to end: instances that fail never stop the
others, a killed batch resumes without planning anything twice, Dask gives the plans the
local pool gives, a stop request leaves verified plans marked interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from builders import inventory, node, workload
from conftest import INSTANCES, ROOT

from allocator.batch.events import read_events
from allocator.batch.inputs import find_instances
from allocator.io.errors import InputError


def allocator(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        **kwargs,
    )


def generated(folder: Path, count: int, nodes: int = 40, workloads: int = 12) -> Path:
    folder.mkdir(exist_ok=True)
    for k in range(count):
        run = allocator(
            "generate",
            "--nodes",
            str(nodes + 10 * k),
            "--workloads",
            str(workloads + k),
            "--seed",
            str(k),
            "-o",
            str(folder / f"site-{k}.yaml"),
        )
        assert run.returncode == 0, run.stderr
    return folder


def verified(inventory_path: Path, plan: Path, *more: str) -> None:
    run = allocator("check", str(inventory_path), str(plan), *more)
    assert run.returncode == 0, run.stdout + run.stderr


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def by_name(out: Path) -> dict[str, dict]:
    return {i["name"]: i for i in summary(out)["instances"]}


def test_a_bad_and_an_infeasible_instance_do_not_stop_the_others(tmp_path):
    folder = generated(tmp_path / "in", 2)
    (folder / "broken.yaml").write_text("version: 1\nnodes:\n  - id: n\n    gpus: -1\n")
    impossible = inventory(
        [node("n", gpus=2)], [workload("big", replicas={"min": 3, "max": 3}, gpus=1)]
    )
    (folder / "impossible.yaml").write_text(yaml.safe_dump(impossible))
    out = tmp_path / "out"
    run = allocator("batch", str(folder), "--output", str(out), "-w", "2", "-t", "20", "-q")
    assert run.returncode == 6, run.stderr  # an instance without a plan
    rows = by_name(out)
    assert rows["broken"]["status"] == "bad input" and rows["broken"]["exit_code"] == 2
    assert (
        f'{folder / "broken.yaml"}:4:5: nodes["n"].gpus: expected a number >= 0, got -1'
        in (rows["broken"]["reason"])
    )
    assert rows["impossible"]["status"] == "unplaced" and rows["impossible"]["exit_code"] == 3
    assert rows["impossible"]["reason"] == "required replicas cannot all be placed (proven)"
    assert rows["impossible"]["unplaced_required"] == 1
    for name in ("site-0", "site-1", "impossible"):
        assert rows[name]["cost_per_hour"] is not None
        verified(folder / f"{name}.yaml", out / f"{name}.plan.json")
    assert not (out / "broken.plan.json").exists()
    markdown = (out / "summary.md").read_text()
    assert "- **broken** (bad input, exit 2): " in markdown
    assert "- **instances**: 4 (2 planned, 1 unplaced, 1 bad input)" in markdown
    events = Counter(e["event"] for e in read_events(out / "events.jsonl"))
    assert events == {"batch_start": 1, "start": 4, "finish": 4, "batch_finish": 1}


def test_a_killed_batch_resumes_and_plans_nothing_twice(tmp_path):
    folder = generated(tmp_path / "in", 4, nodes=300, workloads=60)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "cli.main", "batch", str(folder), "--output", str(out)]
    child = subprocess.Popen([*command, "-w", "1", "-q"], cwd=ROOT, start_new_session=True)
    log = out / "events.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:  # kill it once it has finished one instance
        if log.exists() and any(e["event"] == "finish" for e in read_events(log)):
            break
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    first = read_events(log)
    assert not any(e["event"] == "batch_finish" for e in first)
    time.sleep(1.5)  # its workers notice and leave
    run = allocator("batch", str(folder), "--output", str(out), "-w", "1", "-q")
    assert run.returncode == 0, run.stderr
    events = read_events(log)
    finished = Counter(e["instance"] for e in events if e["event"] == "finish")
    skipped = Counter(e["instance"] for e in events[len(first) :] if e["event"] == "skipped")
    assert set(finished) | set(skipped) == {f"site-{k}" for k in range(4)}
    assert max(finished.values()) == 1  # nothing planned twice
    assert skipped and not set(skipped) & {
        e["instance"] for e in events[len(first) :] if e["event"] == "finish"
    }
    for k in range(4):
        verified(folder / f"site-{k}.yaml", out / f"site-{k}.plan.json")
    assert all(row["status"] == "planned" for row in by_name(out).values())


def test_a_rerun_of_a_finished_batch_plans_nothing_and_a_changed_input_again(tmp_path):
    folder = generated(tmp_path / "in", 2)
    out = tmp_path / "out"
    assert allocator("batch", str(folder), "--output", str(out), "-q").returncode == 0
    doc = yaml.safe_load((folder / "site-1.yaml").read_text())
    doc["workloads"] = doc["workloads"][1:]
    (folder / "site-1.yaml").write_text(yaml.safe_dump(doc))
    assert allocator("batch", str(folder), "--output", str(out), "-q").returncode == 0
    events = read_events(out / "events.jsonl")
    second = events[[e["event"] for e in events].index("batch_start", 1) :]
    assert [(e["event"], e.get("instance")) for e in second if "instance" in e] == [
        ("start", "site-1"),
        ("skipped", "site-0"),
        ("finish", "site-1"),
    ] or [(e["event"], e.get("instance")) for e in second if "instance" in e] == [
        ("start", "site-1"),
        ("finish", "site-1"),
        ("skipped", "site-0"),
    ]
    assert by_name(out)["site-0"]["resumed"] is True


def test_dask_gives_the_plans_of_the_local_pool(tmp_path):
    pytest.importorskip("distributed")
    folder = generated(tmp_path / "in", 3)
    local, dask = tmp_path / "local", tmp_path / "dask"
    assert allocator("batch", str(folder), "--output", str(local), "-w", "2", "-q").returncode == 0
    run = allocator(
        "batch", str(folder), "--output", str(dask), "-w", "2", "--engine", "dask", "-q"
    )
    assert run.returncode == 0, run.stderr
    assert summary(dask)["engine"].startswith("dask (LocalCluster)")
    for k in range(3):
        a = json.loads((local / f"site-{k}.plan.json").read_text())
        b = json.loads((dask / f"site-{k}.plan.json").read_text())
        assert a["placements"] == b["placements"] and a["objective"] == b["objective"]
        assert a["request_sha256"] == b["request_sha256"]


def test_replanning_reconciles_vanished_nodes_workloads_and_shrunk_counts(tmp_path):
    yesterday = inventory(
        [node("a", count=2, gpus=4), node("b", count=2, gpus=4, cost=11)],
        [
            workload("web", replicas={"min": 2, "max": 6}, gpus=1),
            workload("old", replicas=2, gpus=1),
            workload("db", replicas=2, gpus=2),
        ],
    )
    today = inventory(
        [node("a", count=2, gpus=4)],  # nodes b-0 and b-1 decommissioned
        [
            workload("web", replicas={"min": 1, "max": 2}, gpus=1),  # shrunk from 6
            workload("db", replicas=2, gpus=2),  # "old" finished
        ],
    )
    (tmp_path / "y.yaml").write_text(yaml.safe_dump(yesterday))
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(today))
    before, after = tmp_path / "y.plan.json", tmp_path / "t.plan.json"
    assert allocator("solve", str(tmp_path / "y.yaml"), "-o", str(before), "-q").returncode == 0
    placed = json.loads(before.read_text())["placements"]
    assert Counter(p["workload"] for p in placed) == {"web": 6, "old": 2, "db": 2}
    on_b = Counter(p["workload"] for p in placed if p["node"].startswith("b-"))
    run = allocator(
        "solve", str(tmp_path / "t.yaml"), "-o", str(after), "-q", "--current", str(before)
    )
    assert run.returncode == 0, run.stderr
    plan = json.loads(after.read_text())
    assert (
        f"warning: {before}: workload 'old' is no longer in the inventory: 2 replicas that "
        "ran are gone" in run.stderr
    )
    for node_id in {p["node"] for p in placed if p["node"].startswith("b-")}:
        assert f"warning: {before}: node '{node_id}' is no longer in the inventory" in run.stderr
    web_kept = sum(1 for p in placed if p["workload"] == "web" and not p["node"].startswith("b-"))
    if web_kept > 2:
        assert (
            f"workload 'web' ran {web_kept} replicas and may run at most 2 now: "
            f"{web_kept - 2} replicas stop" in run.stderr
        )
    assert plan["warnings"] and all(w.startswith(f"{before}: ") for w in plan["warnings"])
    assert Counter(p["workload"] for p in plan["placements"]) == {"web": 2, "db": 2}
    assert sum(on_b.values()) > 0  # the test is about a fleet that lost busy nodes
    verified(tmp_path / "t.yaml", after, "--current", str(before))


def test_shrunk_counts_stop_the_last_replicas(tmp_path):
    from allocator.inventory.schema import Inventory
    from allocator.output.plan import PlanFile
    from allocator.solve.current import reconcile

    inv = Inventory.model_validate(
        inventory([node("a", count=3, gpus=4)], [workload("web", replicas=2, gpus=1)])
    )
    previous = json.loads(
        _plan_of(
            tmp_path, inventory([node("a", count=3, gpus=4)], [workload("web", replicas=4, gpus=1)])
        ).read_text()
    )
    current = reconcile(inv, PlanFile.model_validate(previous), "y.plan.json")
    listed = [p["node"] for p in previous["placements"]]
    assert current.running == {"web": listed[:2]}
    stopped = Counter(listed[2:])
    where = ", ".join(f"{n} x{c}" if c > 1 else n for n, c in stopped.most_common())
    assert current.warnings == [
        f"y.plan.json: workload 'web' ran 4 replicas and may run at most 2 now: 2 replicas "
        f"stop (on {where})"
    ]


def _plan_of(tmp_path: Path, doc: dict) -> Path:
    source, plan = tmp_path / "prev.yaml", tmp_path / "prev.plan.json"
    source.write_text(yaml.safe_dump(doc))
    assert allocator("solve", str(source), "-o", str(plan), "-q").returncode == 0
    return plan


def test_a_batch_from_the_previous_night_reports_what_changed(tmp_path):
    folder = generated(tmp_path / "in", 2)
    night1, night2 = tmp_path / "n1", tmp_path / "n2"
    assert allocator("batch", str(folder), "--output", str(night1), "-q").returncode == 0
    doc = yaml.safe_load((folder / "site-0.yaml").read_text())
    doc["nodes"] = doc["nodes"][1:]
    (folder / "site-0.yaml").write_text(yaml.safe_dump(doc))
    (folder / "site-1.yaml").rename(folder / "site-2.yaml")
    run = allocator("batch", str(folder), "--output", str(night2), "--previous", str(night1), "-q")
    assert run.returncode == 0, run.stderr
    rows = by_name(night2)
    assert rows["site-0"]["previous_cost_per_hour"] == by_name(night1)["site-0"]["cost_per_hour"]
    assert rows["site-0"]["warnings"]
    assert rows["site-2"]["previous_cost_per_hour"] is None
    assert summary(night2)["gone"] == ["site-1"]
    markdown = (night2 / "summary.md").read_text()
    assert "## Changes since the previous plans" in markdown
    assert "New tonight (no previous plan): site-2." in markdown
    assert "Gone (a previous plan, no input tonight): site-1." in markdown
    verified(
        folder / "site-0.yaml",
        night2 / "site-0.plan.json",
        "--current",
        str(night1 / "site-0.plan.json"),
    )


@pytest.mark.parametrize("command", ["solve", "batch"])
def test_a_stop_request_leaves_verified_plans_marked_interrupted(tmp_path, command):
    target = tmp_path / "out"
    source = INSTANCES / "dc-east.yaml"
    if command == "solve":
        args = ["solve", str(source), "-o", str(tmp_path / "dc-east.plan.json")]
        plan = tmp_path / "dc-east.plan.json"
    else:
        args = ["batch", str(source), "--output", str(target)]
        plan = target / "dc-east.plan.json"
    child = subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args, "-q", "-t", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        start_new_session=True,
    )
    time.sleep(5)
    sent = time.perf_counter()
    os.killpg(child.pid, signal.SIGINT)  # as Ctrl-C on a terminal: every process of the job
    _, err = child.communicate(timeout=60)
    assert time.perf_counter() - sent < 5.0, err
    assert child.returncode == 130, err
    written = json.loads(plan.read_text())
    assert written["solver"]["interrupted"] is True
    verified(source, plan)
    if command == "batch":
        assert by_name(target)["dc-east"]["status"] == "interrupted"
        assert summary(target)["interrupted"] is True


def test_a_time_budget_starts_nothing_once_spent(tmp_path):
    folder = generated(tmp_path / "in", 3, nodes=600, workloads=120)
    out = tmp_path / "out"
    run = allocator("batch", str(folder), "--output", str(out), "-w", "1", "--budget", "1.5", "-q")
    assert run.returncode == 6, run.stderr
    rows = by_name(out)
    assert rows["site-0"]["cost_per_hour"] is not None  # the first one ran, cut to the budget
    not_run = [r for r in rows.values() if r["status"] == "not run"]
    assert not_run and all(
        r["reason"] == "the batch's time budget was spent before it started" for r in not_run
    )


def test_a_sweep_compares_lost_domains_and_growth_with_the_base(tmp_path):
    out = tmp_path / "sweep"
    source = INSTANCES / "rules.yaml"
    run = allocator(
        "sweep", str(source), "--output", str(out), "--fail", "zone:*", "--grow", "10%,50%", "-q"
    )
    assert run.returncode in (0, 3, 4), run.stderr
    rows = json.loads((out / "sweep.json").read_text())
    zones = sorted({n.get("zone") for n in yaml.safe_load(source.read_text())["nodes"]} - {None})
    assert [r["what"] for r in rows] == [
        "base",
        *[f"zone {z} lost" for z in zones],
        "demand +10%",
        "demand +50%",
    ]
    assert rows[0]["change"] == 0 and rows[0]["promises"] == 2
    for row in rows:
        scenario = out / "scenarios" / f"{row['scenario']}.yaml"
        verified(scenario, out / f"{row['scenario']}.plan.json")
        assert row["promises_kept"] <= row["promises"]
    lost = yaml.safe_load((out / "scenarios" / f"rules--lose-zone-{zones[0]}.yaml").read_text())
    assert all(n.get("state") == "down" for n in lost["nodes"] if n.get("zone") == zones[0])
    grown = yaml.safe_load((out / "scenarios" / "rules--grow-50pct.yaml").read_text())
    base = yaml.safe_load((out / "scenarios" / "rules--base.yaml").read_text())
    for before, after in zip(base["workloads"], grown["workloads"], strict=True):
        if "replicas" in before:
            assert after["replicas"]["max"] == -(-before["replicas"]["max"] * 3 // 2)


def test_inputs_are_files_folders_and_patterns_named_once(tmp_path):
    folder = generated(tmp_path / "in", 2)
    (folder / "old.plan.json").write_text("{}")
    found = find_instances([str(folder), str(folder / "site-0.yaml"), str(folder / "*.yaml")])
    assert [i.name for i in found] == ["site-0", "site-1"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "site-0.yaml").write_text((folder / "site-0.yaml").read_text())
    with pytest.raises(
        InputError,
        match=r"has the same name as .*site-0\.yaml; both would write site-0\.plan\.json",
    ):
        find_instances([str(folder), str(other)])
    with pytest.raises(InputError, match="pattern matches no inventory file"):
        find_instances([str(tmp_path / "*.yml")])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--output", "{t}/file.txt"], "file.txt: is not a folder; --output names a folder"),
        (["--output", "{t}/no/such"], "folder {t}/no does not exist; create it first"),
        (["--output", "{t}/o", "--previous", "{t}/o"], "is also the --output folder"),
        (
            ["--output", "{t}/o", "--engine", "local", "--address", "tcp://x:1"],
            "only the dask engine",
        ),
    ],
)
def test_a_bad_batch_command_is_refused_before_anything_runs(tmp_path, args, message):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "o").mkdir()
    filled = [a.replace("{t}", str(tmp_path)) for a in args]
    run = allocator("batch", str(INSTANCES / "tiny.yaml"), *filled)
    assert run.returncode == 2, run.stderr
    assert message.replace("{t}", str(tmp_path)) in run.stderr
    assert not (tmp_path / "o" / "tiny.plan.json").exists()


def test_a_task_whose_worker_is_killed_runs_again(tmp_path):
    import multiprocessing
    import threading

    from allocator.batch.engines import LocalEngine
    from allocator.batch.runner import BatchSettings, run_batch
    from solvers.base import SolveOptions

    folder = generated(tmp_path / "in", 1, nodes=400, workloads=80)
    out = tmp_path / "out"
    out.mkdir()
    engine = LocalEngine(1)
    killed = []

    def kill_the_worker_once_it_starts() -> None:
        log = out / "events.jsonl"
        while not (log.exists() and any(e["event"] == "start" for e in read_events(log))):
            time.sleep(0.01)
        while not multiprocessing.active_children():  # the pool starts its worker
            time.sleep(0.01)
        time.sleep(0.5)
        for child in multiprocessing.active_children():
            os.kill(child.pid, signal.SIGKILL)
            killed.append(child.pid)

    threading.Thread(target=kill_the_worker_once_it_starts, daemon=True).start()
    try:
        settings = BatchSettings(options=SolveOptions(time_limit=30, threads=1))
        result = run_batch(find_instances([str(folder)]), out, settings, engine)
    finally:
        engine.close()
    assert killed
    events = [e["event"] for e in read_events(out / "events.jsonl")]
    assert events.count("worker_lost") == 1 and events.count("start") == 2
    assert [i.status for i in result.instances] == ["planned"]
    verified(folder / "site-0.yaml", out / "site-0.plan.json")
