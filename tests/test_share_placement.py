"""From shares to placement: `allocator share` writes each tenant's GPUs of each type,
`allocator solve --shares` places every tenant within them (rounded up to whole replicas),
the checker holds plans to them and the report shows target against placed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from builders import inventory, node, workload
from typer.testing import CliRunner

from allocator.domain.build import build_domain
from allocator.evaluate.check import check_plan
from allocator.inventory.load import load_inventory, with_shares
from allocator.inventory.schema import Inventory
from allocator.output.plan import InventoryRef, row_key
from allocator.output.report import build_report, render_markdown
from allocator.rules.base import Placed
from allocator.rules.shares import ledgers, usage
from allocator.solve.pipeline import solve_domain, solve_file
from cli.main import app
from solvers.base import SolveOptions

SAMPLE = Path(__file__).resolve().parents[1] / "instances" / "shares.yaml"
SOLVERS = ("highs", "cbc", "cpsat", "greedy")


@pytest.fixture(scope="module")
def shares_json(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shares") / "shares.json"
    result = CliRunner().invoke(app, ["share", str(SAMPLE), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return out


def tenant_use(outcome) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(share, cap, placed, largest replica) per tenant and GPU type of a solve's plan."""
    domain = outcome.domain
    (ledger,) = ledgers(domain)
    rows = np.array([domain.demand.index[row_key(p)] for p in outcome.plan.placements])
    nodes = np.array([domain.fleet.index[p.node] for p in outcome.plan.placements])
    placed = usage(domain, Placed(rows, nodes), ledger)
    return ledger.share, ledger.cap, placed, ledger.unit


@pytest.mark.parametrize("solver", SOLVERS)
def test_share_then_solve_places_each_tenant_within_its_shares(shares_json, solver):
    outcome = solve_file(SAMPLE, solver, SolveOptions(time_limit=20), shares=shares_json)
    assert [str(v) for v in outcome.violations] == []
    share, cap, placed, unit = tenant_use(outcome)
    written = json.loads(shares_json.read_text())["shares"]["tenants"]
    assert share.sum() == pytest.approx(sum(sum(t.values()) for t in written.values()))
    # Never past the share by a whole replica; never short of it by one either.
    assert (placed <= cap + 1e-9).all()
    assert (cap < share + unit).all()
    if solver != "greedy":  # the greedy placer places once and may stop short
        assert (np.abs(placed - share) <= unit + 1e-9).all(), (placed, share)


def test_a_plan_past_a_share_is_rejected_with_its_numbers(shares_json):
    outcome = solve_file(SAMPLE, "highs", SolveOptions(time_limit=20), shares=shares_json)
    a100 = next(p.node for p in outcome.plan.placements if p.node.startswith("a100"))
    placements = [
        p.model_copy(update={"node": a100}) if p.workload == "finetune" and k == 0 else p
        for k, p in enumerate(
            sorted(outcome.plan.placements, key=lambda p: p.workload != "finetune")
        )
    ]
    tampered = outcome.plan.model_copy(update={"placements": placements})
    messages = [str(v) for v in check_plan(outcome.domain, tampered)]
    assert (
        "[shares] tenant research: 2 A100-80GB GPUs placed, over its share of 0 "
        "(at most 0 in whole replicas)"
    ) in messages


def test_the_report_shows_target_against_placed(shares_json):
    outcome = solve_file(SAMPLE, "highs", SolveOptions(time_limit=20), shares=shares_json)
    report = build_report(outcome.domain, outcome.plan)
    rows = {(r["name"], r["gpu_type"]): r for r in report.to_dict()["shares"]}
    assert rows[("vision", "L40S")]["cap"] == 16
    assert rows[("research", "H100")]["share"] == pytest.approx(
        json.loads(shares_json.read_text())["shares"]["tenants"]["research"]["H100"]
    )
    assert all(r["within"] for r in rows.values())
    markdown = render_markdown(report)
    assert "## GPU shares: target against placed" in markdown
    assert "| vision | L40S | 15.486 | 16 | 16 |" in markdown


def test_the_inventory_section_is_the_file_applied(shares_json, tmp_path):
    doc = yaml.safe_load(SAMPLE.read_text())
    doc["shares"] = json.loads(shares_json.read_text())["shares"]
    path = tmp_path / "with-shares.yaml"
    path.write_text(yaml.safe_dump(doc))
    from_section = build_domain(load_inventory(path))
    inv = with_shares(load_inventory(SAMPLE), str(shares_json), shares_json.read_text())
    from_file = build_domain(inv)
    (a,), (b,) = ledgers(from_section), ledgers(from_file)
    assert a.names == b.names
    np.testing.assert_array_equal(a.cap, b.cap)


# A tiny instance whose optimum the share forces, on every backend.


def capped_doc(**shares) -> dict:
    return inventory(
        [
            node("h", "H100", gpus=8, cost=50),
            node("a", "A100-80GB", gpus=8, cost=20),
        ],
        [
            workload("big", replicas={"min": 0, "max": 8}, gpus=2, priority=5, tenant="red"),
            workload("small", replicas={"min": 0, "max": 8}, gpus=1, priority=1, tenant="blue"),
        ],
        shares={"tenants": {"red": {"H100": 3.2, "A100-80GB": 1}}, **shares},
    )


@pytest.mark.parametrize("solver", SOLVERS)
def test_the_cap_is_the_share_rounded_up_to_whole_replicas(solver):
    domain = build_domain(Inventory.model_validate(capped_doc()))
    outcome = solve_domain(domain, InventoryRef(name="capped"), solver)
    assert [str(v) for v in outcome.violations] == []
    on = [(p.workload, p.node) for p in outcome.plan.placements]
    # red: 3.2 H100 GPUs -> 2 replicas of 2 (4 GPUs), 1 A100 GPU -> 1 replica (2 GPUs);
    # blue is not capped and takes every GPU left.
    assert on.count(("big", "h")) == 2
    assert on.count(("big", "a")) == 1
    assert on.count(("small", "h")) + on.count(("small", "a")) == 8


@pytest.mark.parametrize("solver", ("highs", "greedy"))
def test_a_workload_share_caps_that_workload(solver):
    doc = capped_doc(workloads={"small": {"H100": 0, "A100-80GB": 2.5}})
    domain = build_domain(Inventory.model_validate(doc))
    outcome = solve_domain(domain, InventoryRef(name="capped"), solver)
    assert [str(v) for v in outcome.violations] == []
    on = [(p.workload, p.node) for p in outcome.plan.placements]
    assert on.count(("small", "h")) == 0
    assert on.count(("small", "a")) == 3


# Bad share sections: located, exit code 2.


def run_solve(*args: str):
    return CliRunner().invoke(app, ["solve", *args])


def test_a_bad_section_is_located(tmp_path):
    doc = capped_doc(workloads={"nope": {"H100": 1}})
    doc["shares"]["tenants"]["rde"] = {"H100": 1}
    doc["shares"]["tenants"]["blue"] = {"H200X": 1, "A100-80GB": -1}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = run_solve(str(path), "-o", str(tmp_path / "plan.json"))
    assert result.exit_code == 2, result.output
    out = " ".join(result.output.split())
    assert f"{path}:" in out and "shares.tenants.blue.A100-80GB: expected" in out, out
    assert not (tmp_path / "plan.json").exists()
    doc["shares"]["tenants"]["blue"] = {"H200X": 1}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = " ".join(run_solve(str(path), "-o", str(tmp_path / "plan.json")).output.split())
    assert f"{path}:41:5: shares.tenants.rde: no workload has tenant 'rde' (did you mean " in out
    assert f"{path}:44:7: shares.tenants.blue.H200X: unknown GPU type 'H200X'" in out, out
    assert f"{path}:46:5: shares.workloads.nope: unknown workload 'nope'" in out, out


def test_a_bad_shares_file_is_located_in_that_file(tmp_path):
    inv = tmp_path / "inv.yaml"
    inv.write_text(yaml.safe_dump(capped_doc()))
    shares = tmp_path / "shares.json"
    shares.write_text(json.dumps({"format": "allocator-shares", "shares": {"tenants": {}}}))
    for body, expected in [
        ({"shares": {"tenants": {"red": {"H100": "x"}}}}, "shares.tenants.red.H100: expected"),
        ({"shares": {"tenants": {"green": {"H100": 1}}}}, "no workload has tenant 'green'"),
        ({"policy": "max-min"}, "missing required field 'shares'"),
    ]:
        shares.write_text(json.dumps(body, indent=1))
        result = run_solve(str(inv), "--shares", str(shares), "-o", str(tmp_path / "p.json"))
        assert result.exit_code == 2, result.output
        out = " ".join(result.output.split())
        assert f"{shares}:" in out and expected in out, out
