"""`allocator bench` on tiny sizes: the results' structure, every reported plan checked,
the child-process runner, the tables, the JSON and the command line."""

from __future__ import annotations

import json

import pytest
import typer
from conftest import ROOT
from rich.console import Console
from typer.testing import CliRunner

from allocator.bench.build import run_build
from allocator.bench.child import run_child
from allocator.bench.instances import LadderInstance
from allocator.bench.ladder import run_ladder
from allocator.bench.openb import DEFAULT_DATA, run_openb
from allocator.bench.pulp_model import build_pulp_model, compatible_pairs, plain_instance
from allocator.bench.results import write_results
from allocator.bench.stats import Summary
from allocator.bench.tables import build_table, ladder_table, openb_tables
from cli.bench import ListOptionsCommand, app, parse_seeds

SAMPLE = ROOT / "tests" / "data" / "openb"


def render(*items) -> str:
    console = Console(record=True, width=200)
    for item in items:
        console.print(item)
    return console.export_text()


def test_summary_leaves_out_missing_values():
    assert Summary.of([1.0, None, 3.0]) == Summary(2.0, 1.0, 3.0, 2)
    assert Summary.of([None]) == Summary(None, None, None, 0)


def test_ladder_runs_each_backend_in_its_own_process():
    result = run_ladder([8], ["highs", "greedy"], fill=0.9, time_limit=5)
    assert [(r.nodes, r.workloads, r.solver, r.outcome) for r in result.runs] == [
        (8, 2, "highs", "ok"),
        (8, 2, "greedy", "ok"),
    ]
    for run in result.runs:
        assert run.plan is not None and run.plan.checker_passed
        assert run.peak_rss_mib > 20 and run.process_s > 0
        assert run.planner_fingerprint
    highs = result.runs[0]
    assert highs.plan.status == "optimal" and highs.gap == 0
    assert highs.objective == highs.plan.levels[-1].value
    assert "highs" in render(ladder_table(result))


def test_child_that_outlives_its_limit_is_killed():
    child = run_child("ladder", {"instance": {"nodes": 8, "workloads": 2}}, timeout=0.2)
    assert child.timed_out and child.returncode is None and not child.ok


def test_plain_pulp_model_has_one_binary_per_compatible_pair():
    domain = LadderInstance.of_size(8).domain()
    inst = plain_instance(domain)
    replica, _ = compatible_pairs(domain, inst)
    built = build_pulp_model(domain)
    assert built.variables == len(replica) + inst.n_nodes
    # Three capacity rows per node, one row per replica.
    assert built.constraints == 3 * inst.n_nodes + inst.n_replicas
    assert list(built.stages) == [
        "index lists",
        "variables",
        "objective",
        "capacity rows",
        "replica rows",
    ]


def test_build_compares_against_pulp_and_reports_a_cap_as_a_lower_bound():
    [done] = run_build([8], pulp_time_cap=120)
    assert done.pulp.finished and done.pulp.variables == done.compatible_pairs + 8
    assert done.ratio == pytest.approx(done.pulp.seconds / done.allocator.total_s)
    assert not done.ratio_is_lower_bound and done.allocator.all_patterns
    [capped] = run_build([8], pulp_time_cap=0.3)
    assert not capped.pulp.finished and capped.pulp.stopped_by == "time cap"
    assert capped.ratio_is_lower_bound
    text = render(build_table([done, capped]))
    assert ">=" in text and "time cap" in text


def check_openb(result, traces: list[str], seeds: list[int]) -> None:
    assert [(r.trace, r.seed) for r in result.runs] == [(t, s) for t in traces for s in seeds]
    for run in result.runs:
        mine = run.allocator
        assert not mine.error, mine.error
        assert mine.checker_passed
        assert mine.matches_objective
        assert 0 < mine.ratio <= mine.upper_bound + 1e-9 <= 100 + 1e-9
        assert mine.allocated_milli <= run.arrived.gpu_request_milli
        assert all(0 <= b.at_crossing <= 100 for b in run.baselines)
        assert all(b.reported is None or 0 <= b.reported <= 100 for b in run.baselines)
    assert [s.trace for s in result.traces] == traces
    assert all(s.checker_passed == len(seeds) for s in result.traces)


def test_openb_on_the_sample_trace(tmp_path):
    result = run_openb(SAMPLE, ["sample"], [1, 2], 5, ["fgd", "best-fit"])
    check_openb(result, ["sample"], [1, 2])
    summary = result.traces[0]
    assert set(summary.baselines) == {"fgd", "best-fit"}
    assert summary.published == {"fgd": None, "best-fit": None}
    # On 30 GPUs no arrival may round to exactly 100 %: then there is no reported figure.
    reported = [r.baseline("fgd").reported for r in result.runs]
    assert summary.allocator_minus_fgd.count == sum(v is not None for v in reported)
    assert summary.allocator.count == 2
    text = render(*openb_tables(result))
    assert "allocator - FGD" in text and "upper bound" in text
    out = tmp_path / "openb.json"
    write_results(out, "openb", {"traces": ["sample"]}, result)
    saved = json.loads(out.read_text())
    assert saved["benchmark"] == "openb" and saved["machine"]["cores"]
    assert saved["results"]["runs"][0]["allocator"]["plan"]["checker_passed"] is True


def test_openb_bound_from_the_pattern_lp_apart_from_the_plan():
    result = run_openb(SAMPLE, ["sample"], [1, 2], 5, ["fgd"], bound_limit=30)
    check_openb(result, ["sample"], [1, 2])
    for run in result.runs:
        mine = run.allocator
        # The sample's plans are optimal and its pattern LP has no gap: the bound is tight.
        assert mine.pattern_lp_bound == pytest.approx(mine.unplaced_value)
        arrived = run.arrived
        expected = arrived.gpu_request_milli + arrived.cpu_only - mine.pattern_lp_bound
        assert mine.upper_bound_milli == pytest.approx(expected)
    assert "pattern LP on 2/2 seeds" in render(*openb_tables(result))


@pytest.mark.skipif(not DEFAULT_DATA.is_dir(), reason="openb data not present")
def test_openb_on_the_real_trace():
    result = run_openb(DEFAULT_DATA, ["default"], [42], 2, ["best-fit"])
    check_openb(result, ["default"], [42])
    run = result.runs[0]
    assert run.baselines[0].reported == pytest.approx(92.94, abs=0.01)
    assert run.baselines[0].published == 92.86
    assert run.arrived.capacity_milli == 6_212_000


def test_seed_lists():
    assert parse_seeds(["42-44", "50,52"]) == [42, 43, 44, 50, 52]
    with pytest.raises(typer.BadParameter):
        parse_seeds(["x"])


def test_list_options_take_several_values_after_one_flag():
    seen = {}
    demo = typer.Typer()

    @demo.command("go", cls=ListOptionsCommand)
    def go(
        nodes: list[int] = typer.Option([]),
        names: list[str] = typer.Option([]),
        limit: float = 1.0,
    ) -> None:
        seen.update(nodes=nodes, names=names, limit=limit)

    demo.command("other")(lambda: None)
    args = ["go", "--nodes", "1", "2", "3", "--limit", "-2.5", "--names", "a", "--names", "b"]
    run = CliRunner().invoke(demo, args)
    assert run.exit_code == 0, run.output
    assert seen == {"nodes": [1, 2, 3], "names": ["a", "b"], "limit": -2.5}
    run = CliRunner().invoke(demo, ["go", "--names=a", "b", "--nodes", "4"])
    assert run.exit_code == 0, run.output
    assert seen == {"nodes": [4], "names": ["a", "b"], "limit": 1.0}


def test_bench_command_line(tmp_path):
    out = tmp_path / "build.json"
    run = CliRunner().invoke(app, ["build", "--nodes", "8", "--output", str(out)])
    assert run.exit_code == 0, run.output
    assert "PuLP" in run.output
    saved = json.loads(out.read_text())
    assert saved["config"]["nodes"] == [8]
    assert saved["results"][0]["pulp"]["finished"] is True
    missing = CliRunner().invoke(app, ["openb", "--data", str(tmp_path), "--seeds", "1"])
    assert missing.exit_code == 2 and "missing" in missing.output


def test_batch_bench_runs_every_engine_on_the_same_instances():
    pytest.importorskip("distributed")
    from allocator.bench.batch import run_batch_bench
    from allocator.bench.tables import batch_table

    runs = run_batch_bench(4, [1, 2], 2, time_limit=20, seed=3)
    assert [(r.engine, r.workers) for r in runs] == [("local", 1), ("local", 2), ("dask", 2)]
    assert all(r.planned == r.instances == 4 and r.same_plans for r in runs)
    assert all(r.wall_s > 0 and r.planning_s > 0 for r in runs)
    text = render(batch_table(runs))
    assert "overhead / instance s" in text and "4 / 4" in text
