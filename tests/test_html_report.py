"""The HTML report and the report figures behind it: the page is self-contained (no
script, nothing fetched), has one plot and its table per section, opens in a real
browser with every plot drawn; the JSON figures add up by hand on the tiny instance;
the re-planning report lists its moves."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from conftest import INSTANCES

from allocator.inventory.load import load_inventory
from allocator.io.errors import InputError
from allocator.output.html import PLOT_SECTIONS, render_html
from allocator.output.report import (
    MOVES_SHOWN,
    Report,
    build_report,
    render_markdown,
    render_terminal,
)
from allocator.solve.pipeline import solve_file

SECTION_KEYS = [
    "utilization",
    "workload-cost",
    "tenant-cost",
    "zone-cost",
    "fragmentation",
    "links",
    "storage",
    "power",
    "unplaced",
    "moves",
]


def allocator(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, timeout=300
    )


def inventories() -> list[Path]:
    """Every sample instance that is an inventory (not a reassignment file)."""
    found = []
    for path in sorted(INSTANCES.glob("*.yaml")):
        try:
            load_inventory(path)
        except InputError:
            continue
        found.append(path)
    return found


@cache
def report_of(name: str, solver: str = "greedy") -> Report:
    path = INSTANCES / f"{name}.yaml"
    outcome = solve_file(path, solver)
    return build_report(outcome.domain, outcome.plan)


class Sections(HTMLParser):
    """Per <section class="plot">: its id and the order of the elements that matter
    (figure, svg, table, a "none" note); and every attribute that could load something."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[tuple[str, list[str]]] = []
        self.links: list[tuple[str, str]] = []
        self.depth = 0  # open <section> elements inside a plot section

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.links += [(k, v or "") for k, v in attrs if k in ("src", "href", "srcset", "data")]
        if tag == "section":
            if self.depth:
                self.depth += 1
            elif values.get("class") == "plot":
                self.sections.append((values.get("id") or "", []))
                self.depth = 1
            return
        if not self.depth:
            return
        parts = self.sections[-1][1]
        if tag in ("figure", "svg", "table"):
            parts.append(tag)
        elif tag == "p" and values.get("class") == "none":
            parts.append("none")

    def handle_endtag(self, tag: str) -> None:
        if tag == "section" and self.depth:
            self.depth -= 1


def parsed(html: str) -> Sections:
    parser = Sections()
    parser.feed(html)
    parser.close()
    return parser


def has_data(report: Report) -> dict[str, bool]:
    """Which plot sections the report has data for."""
    return {
        "utilization": bool(report.rack_grid.zones),
        "workload-cost": any(w.cost_per_hour > 0 for w in report.workloads),
        "tenant-cost": any(t.cost_per_hour > 0 for t in report.cost_by_tenant),
        "zone-cost": any(z.node_cost_per_hour > 0 for z in report.cost_by_zone),
        "fragmentation": bool(report.fragmentation),
        "links": bool(report.links),
        "storage": bool(report.storage),
        "power": bool(report.power),
        "unplaced": bool(report.unplaced),
        "moves": bool(report.move_list),
    }


def test_every_sample_inventory_is_covered():
    names = {p.stem for p in inventories()}
    assert {"tiny", "small", "rules", "dc-east"} <= names and "rebalance" not in names
    assert [spec.key for spec in PLOT_SECTIONS] == SECTION_KEYS


@pytest.mark.parametrize("name", [p.stem for p in inventories()])
def test_html_report_is_self_contained_with_a_plot_and_table_per_section(name):
    report = report_of(name)
    html = render_html(report)
    assert html.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert f"<title>Plan report: {report.name}</title>" in html
    assert "<script" not in html.lower()
    assert "@import" not in html
    assert re.findall(r"url\((?!#)", html) == []  # only references to the page's own ids
    assert "http://" not in html and "https://" not in html
    assert "<image" not in html and "data:" not in html  # plots are vector, nothing embedded
    page = parsed(html)
    # Every link is to a section of the page; nothing has a source to load.
    assert page.links and all(k == "href" and v.startswith("#") for k, v in page.links)
    assert [key for key, _ in page.sections] == SECTION_KEYS
    expected = has_data(report)
    for key, parts in page.sections:
        if expected[key]:
            assert parts == ["figure", "svg", "table"], key
        else:
            assert parts[0] == "none", key
            assert "figure" not in parts and "svg" not in parts, key
    assert html.count('<svg class="plot"') == sum(expected.values())
    # Ids of the inline plots never clash.
    ids = re.findall(r' id="([^"]+)"', html)
    assert len(ids) == len(set(ids))


def test_html_report_of_tiny_plots_what_it_has_and_says_none_for_the_rest():
    html = render_html(report_of("tiny", "highs"))
    plotted = {key for key, parts in parsed(html).sections if "figure" in parts}
    assert plotted == {
        "utilization",
        "workload-cost",
        "tenant-cost",
        "zone-cost",
        "fragmentation",
        "unplaced",
    }
    assert '<p class="none">None: the inventory has no storage systems.</p>' in html
    assert '<p class="none">None: the inventory states no power draw or caps.</p>' in html
    assert (
        '<td class="text">finetune-405b</td><td>1</td><td>0</td><td class="text">no node has '
        "an allowed GPU type: needs B200; the fleet has H100, L4, L40S</td>" in html
    )


def test_html_report_is_the_same_for_the_same_plan():
    report = report_of("tiny", "highs")
    assert render_html(report) == render_html(report)


def test_report_json_figures_of_tiny_by_hand():
    figures = report_of("tiny", "highs").to_dict()
    assert figures["cost_per_hour"] == 185.0
    # us-east-1a runs both H100 nodes ($80) and one L40S ($16); us-east-1b the three L4s ($3).
    assert figures["cost_by_zone"] == [
        {
            "zone": "us-east-1a",
            "nodes_in_use": 3,
            "node_cost_per_hour": 176.0,
            "workload_cost_per_hour": 176.0,
            "idle_cost_per_hour": 0.0,
            "energy_cost_per_hour": 0.0,
        },
        {
            "zone": "us-east-1b",
            "nodes_in_use": 3,
            "node_cost_per_hour": 9.0,
            "workload_cost_per_hour": 9.0,
            "idle_cost_per_hour": 0.0,
            "energy_cost_per_hour": 0.0,
        },
    ]
    assert sum(z["node_cost_per_hour"] for z in figures["cost_by_zone"]) == 185.0
    # 1 + 3 + 6 + 3 replicas on 8 + 6 + 6 + 3 GPUs; no workload names a tenant.
    assert figures["cost_by_tenant"] == [
        {
            "tenant": "untenanted",
            "workloads": 5,
            "replicas": 13,
            "gpus": 23.0,
            "cost_per_hour": 185.0,
        }
    ]
    # Every used node is full; the second L40S node runs nothing.
    assert figures["fragmentation"] == [
        {
            "gpu_type": "H100",
            "nodes": 2,
            "gpus": 16,
            "gpus_used": 16.0,
            "idle_on_partly_used": 0.0,
            "idle_on_empty": 0.0,
            "nodes_partly_used": 0,
            "nodes_empty": 0,
            "stranded_pct": None,
        },
        {
            "gpu_type": "L4",
            "nodes": 3,
            "gpus": 3,
            "gpus_used": 3.0,
            "idle_on_partly_used": 0.0,
            "idle_on_empty": 0.0,
            "nodes_partly_used": 0,
            "nodes_empty": 0,
            "stranded_pct": None,
        },
        {
            "gpu_type": "L40S",
            "nodes": 2,
            "gpus": 8,
            "gpus_used": 4.0,
            "idle_on_partly_used": 0.0,
            "idle_on_empty": 4.0,
            "nodes_partly_used": 0,
            "nodes_empty": 1,
            "stranded_pct": 0.0,
        },
    ]
    assert figures["rack_grid"] == {
        "zones": ["us-east-1a", "us-east-1b"],
        "racks": [["r1", "r2"], ["r3", ""]],
        "gpus_used": [[16.0, 4.0], [3.0, None]],
        "gpus_total": [[16, 8], [3, None]],
        "gpu_pct": [[100.0, 50.0], [100.0, None]],
    }
    assert figures["moves"] == 0 and figures["move_list"] == []


def test_report_json_of_dc_east_adds_up():
    report = report_of("dc-east")
    zones = report.cost_by_zone
    assert [z.zone for z in zones] == ["east-a", "east-b"]
    assert sum(z.node_cost_per_hour for z in zones) == pytest.approx(report.node_cost_per_hour)
    assert sum(z.energy_cost_per_hour for z in zones) == pytest.approx(report.energy_cost_per_hour)
    assert sum(z.idle_cost_per_hour for z in zones) == pytest.approx(report.idle_cost_per_hour)
    tenants = {t.tenant: t for t in report.cost_by_tenant}
    inventory = load_inventory(INSTANCES / "dc-east.yaml")
    research = {w.id for w in inventory.workloads if w.labels.get("tenant") == "research"}
    assert research and tenants["research"].workloads == len(research)
    assert tenants["research"].cost_per_hour == pytest.approx(
        sum(w.cost_per_hour for w in report.workloads if w.workload in research)
    )
    assert sum(t.cost_per_hour for t in report.cost_by_tenant) == pytest.approx(
        sum(w.cost_per_hour for w in report.workloads)
    )
    frag = report.fragmentation
    assert sum(f.gpus for f in frag) == report.gpus_total == 2048
    assert sum(f.gpus_used + f.idle_on_partly_used + f.idle_on_empty for f in frag) == (
        pytest.approx(2048)
    )
    grid = report.rack_grid
    assert grid.zones == ["east-a", "east-b"]
    assert [len([r for r in row if r]) for row in grid.racks] == [9, 7]
    assert sum(t for row in grid.gpus_total for t in row if t) == 2048


def test_tenant_comes_from_the_field_or_the_label(tmp_path):
    document = yaml.safe_load((INSTANCES / "tiny.yaml").read_text())
    workloads = {w["id"]: w for w in document["workloads"]}
    workloads["train-70b"]["tenant"] = "research"
    workloads["serve-70b"]["labels"] = {"tenant": "product"}
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    plan = tmp_path / "tenants.plan.json"
    solved = allocator("solve", str(path), "-o", str(plan), "-q", "--solver", "highs")
    assert solved.returncode == 0, solved.stderr
    run = allocator("report", str(path), str(plan), "--format", "json")
    assert run.returncode == 0, run.stderr
    rows = [
        (t["tenant"], t["workloads"], t["cost_per_hour"])
        for t in json.loads(run.stdout)["cost_by_tenant"]
    ]
    # train-70b takes a whole H100 node ($80); serve-70b 6 H100 GPUs at $10 each; serve-8b
    # and embed the rest of the $185.
    assert rows == [("research", 1, 80.0), ("product", 1, 60.0), ("untenanted", 3, 45.0)]


def test_report_lists_its_moves(tmp_path):
    report = report_of("rules", "highs")
    assert report.moves == len(report.move_list) > MOVES_SHOWN
    first = report.move_list[0]
    assert set(first) == {"workload", "from_node", "to_node"}
    markdown = render_markdown(report)
    assert "## Moves against the current placement" in markdown
    table = markdown.split("## Moves against the current placement\n\n")[1].split("\n\n")[0]
    lines = table.splitlines()
    assert lines[:2] == ["| workload | from node | to node |", "|---|---|---|"]
    assert len(lines) == 2 + MOVES_SHOWN + 1
    assert lines[-1] == f"| ... and {report.moves - MOVES_SHOWN} more moves |  |  |"
    move = report.move_list[0]
    assert lines[2] == (
        f"| {move['workload']} | {move['from_node'] or '- (starts)'} | "
        f"{move['to_node'] or '- (stops)'} |"
    )


def test_moves_in_markdown_terminal_and_html():
    base = report_of("tiny", "highs")
    moves = [
        {"workload": "serve-8b", "from_node": "l4-0", "to_node": "l40s-0"},
        {"workload": "embed", "from_node": None, "to_node": "l4-1"},
        {"workload": "embed", "from_node": "l40s-1", "to_node": None},
    ]
    report = replace(base, moves=3, move_list=moves)
    markdown = render_markdown(report)
    assert (
        "| workload | from node | to node |\n|---|---|---|\n| serve-8b | l4-0 | l40s-0 |\n"
        "| embed | - (starts) | l4-1 |\n| embed | l40s-1 | - (stops) |\n" in markdown
    )
    from rich.console import Console

    console = Console(width=200, record=True)
    render_terminal(report, console)
    text = console.export_text()
    assert "Moves against the current placement" in text
    assert re.search(r"│ embed\s+│ l40s-1\s+│ - \(stops\)\s+│", text)
    html = render_html(report)
    moves_section = dict(parsed(html).sections)["moves"]
    assert moves_section == ["figure", "svg", "table"]
    assert (
        '<tr><td class="text">embed</td><td class="text">- (starts)</td>'
        '<td class="text">l4-1</td></tr>' in html
    )


def test_cli_report_writes_html_and_prints_it_without_output(tmp_path):
    plan = tmp_path / "tiny.plan.json"
    solved = allocator("solve", str(INSTANCES / "tiny.yaml"), "-o", str(plan), "-q")
    assert solved.returncode == 0, solved.stderr
    page = tmp_path / "r.html"
    run = allocator(
        "report", str(INSTANCES / "tiny.yaml"), str(plan), "--format", "html", "-o", str(page)
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.endswith("</html>\n")
    printed = allocator("report", str(INSTANCES / "tiny.yaml"), str(plan), "-f", "html")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == text
    missing = tmp_path / "missing" / "r.html"
    refused = allocator(
        "report", str(INSTANCES / "tiny.yaml"), str(plan), "-f", "html", "-o", str(missing)
    )
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        f"error: {missing}: folder '{missing.parent}' does not exist; create it first"
    )
    assert not missing.parent.exists()


def test_cli_solve_report_is_html_by_file_name(tmp_path):
    for name, html in (("r.html", True), ("r.HTM", True), ("r.md", False)):
        report = tmp_path / name
        run = allocator(
            "solve",
            str(INSTANCES / "tiny.yaml"),
            "-o",
            str(tmp_path / "tiny.plan.json"),
            "--report",
            str(report),
            "-q",
        )
        assert run.returncode == 0, run.stderr
        text = report.read_text()
        assert text.startswith("<!DOCTYPE html>") is html, name
        assert text.startswith("# Plan report: tiny") is not html, name


def test_cli_report_with_current_plan_shows_moves(tmp_path):
    inventory = str(INSTANCES / "tiny.yaml")
    before, after = tmp_path / "before.plan.json", tmp_path / "after.plan.json"
    first = allocator("solve", inventory, "-o", str(before), "-q", "--solver", "greedy")
    assert first.returncode == 0, first.stderr
    # finetune-405b runs now on h100-1, but needs B200 GPUs: the new plan must stop it.
    document = json.loads(before.read_text())
    document["placements"].append(
        {"workload": "finetune-405b", "replica": 0, "node": "h100-1", "variant": None, "gpus": []}
    )
    before.write_text(json.dumps(document))
    second = allocator(
        "solve", inventory, "--current", str(before), "-o", str(after), "-q", "--solver", "greedy"
    )
    assert second.returncode == 0, second.stderr
    stop = {"workload": "finetune-405b", "from_node": "h100-1", "to_node": None}
    assert json.loads(after.read_text())["moves"] == [stop]
    summary = allocator("report", inventory, str(after), "--current", str(before), "-f", "json")
    assert summary.returncode == 0, summary.stderr
    figures = json.loads(summary.stdout)
    assert figures["moves"] == 1 and figures["move_list"] == [stop]
    page = tmp_path / "moves.html"
    run = allocator(
        "report", inventory, str(after), "--current", str(before), "-f", "html", "-o", str(page)
    )
    assert run.returncode == 0, run.stderr
    html = page.read_text()
    assert dict(parsed(html).sections)["moves"] == ["figure", "svg", "table"]
    assert (
        '<tr><td class="text">finetune-405b</td><td class="text">h100-1</td>'
        '<td class="text">- (stops)</td></tr>' in html
    )
    markdown = allocator(
        "report", inventory, str(after), "--current", str(before), "-f", "markdown"
    )
    assert "| finetune-405b | h100-1 | - (stops) |" in markdown.stdout


# ---------------------------------------------------------------------------- browser


def browser_paths() -> tuple[str, str] | None:
    chromium = next(
        (
            found
            for name in ("chromium", "chromium-browser", "google-chrome")
            if (found := shutil.which(name))
        ),
        None,
    )
    driver = shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


def test_html_report_renders_in_headless_chromium(tmp_path):
    paths = browser_paths()
    if paths is None:
        pytest.skip(
            "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
        )
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    report = report_of("dc-east")
    page = tmp_path / "dc-east.html"
    page.write_text(render_html(report), encoding="utf-8")
    url = page.as_uri()

    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(paths[1]), options=options)
    try:
        driver.get(url)
        assert driver.execute_script("return document.readyState") == "complete"
        assert driver.title == "Plan report: dc-east"
        shot = tmp_path / "dc-east.png"
        assert driver.save_screenshot(str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        plots = driver.execute_script(
            """
            return Array.from(document.querySelectorAll('svg.plot')).map(svg => {
              const box = svg.getBoundingClientRect();
              const drawn = svg.getBBox();
              return {
                section: svg.closest('section').id,
                width: box.width, height: box.height,
                drawnWidth: drawn.width, drawnHeight: drawn.height,
                shapes: svg.querySelectorAll('path, rect').length,
                texts: svg.querySelectorAll('text').length,
              };
            });
            """
        )
        expected = [key for key, present in has_data(report).items() if present]
        assert [p["section"] for p in plots] == expected
        for plot in plots:
            assert plot["width"] > 100 and plot["height"] > 50, plot
            assert plot["drawnWidth"] > 0 and plot["drawnHeight"] > 0, plot
            assert plot["shapes"] > 0 and plot["texts"] > 0, plot

        console = driver.get_log("browser")
        assert [e for e in console if e["level"] in ("SEVERE", "WARNING")] == []
        requested = [
            message["params"]["request"]["url"]
            for entry in driver.get_log("performance")
            if (message := json.loads(entry["message"])["message"])["method"]
            == "Network.requestWillBeSent"
        ]
        assert requested == [url]
    finally:
        driver.quit()
