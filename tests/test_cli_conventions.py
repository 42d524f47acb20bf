"""One convention for every command (docs/cli.md): help, JSON, option names, inputs in
order, the old spellings, and every command README and docs show."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import INSTANCES, ROOT
from typer.testing import CliRunner

from allocator.bench.datasets import find_dataset
from cli.conventions import DEPRECATED, rewrite_deprecated
from cli.main import COMMANDS, app, load_command

DATA = ROOT / "tests" / "data"
K8S, SLURM, ROADEF = DATA / "kubernetes", DATA / "slurm", DATA / "roadef"
OPENB, SKYPILOT = DATA / "openb", DATA / "skypilot"
TINY = INSTANCES / "tiny.yaml"


def leaves() -> dict[str, object]:
    """Every command that runs, by its path: `solve`, `import kubernetes`, ..."""
    found: dict[str, object] = {}
    for name in COMMANDS:
        command = load_command(name)
        subcommands = getattr(command, "commands", None)
        if subcommands:
            found.update({f"{name} {sub}": c for sub, c in subcommands.items()})
        else:
            found[name] = command
    return found


LEAVES = leaves()


def invoke(*args: str | Path):
    return CliRunner().invoke(app, [str(a) for a in args])


def options_of(command) -> set[str]:
    return {o for p in command.params for o in (*p.opts, *p.secondary_opts)} | {"-h", "--help"}


@pytest.mark.parametrize("path", [*COMMANDS, *LEAVES])
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_every_command_has_help(path, flag):
    run = invoke(*path.split(), flag)
    assert run.exit_code == 0, run.output
    assert f"Usage: allocator {path}" in run.output
    # Flags show no value placeholder, arguments are named in capitals.
    assert "<bool>" not in run.output
    assert not re.search(r"\{[a-z_]+\}", run.output)


def test_the_root_lists_every_command_with_its_line_of_help():
    run = invoke("-h")
    assert run.exit_code == 0
    for name, (_, short) in COMMANDS.items():
        assert re.search(rf"{name}\s+{re.escape(short)}", run.output), name
        assert load_command(name).help, name


def test_version_and_shell_completion():
    run = invoke("--version")
    assert run.exit_code == 0
    assert re.fullmatch(r"allocator \S+\n", run.output)
    completion = invoke("--show-completion", "bash")
    assert completion.exit_code == 0
    assert "_ALLOCATOR_COMPLETE" in completion.output


def test_the_root_help_loads_no_numerical_library():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cli.main import app\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
        "print(sorted(m for m in ('numpy', 'scipy', 'highspy', 'matplotlib') if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


SAME_NAMES = {
    "--output": "-o",
    "--time-limit": "-t",
    "--solver": "-s",
    "--format": "-f",
    "--quiet": "-q",
    "--verbose": "-v",
}


@pytest.mark.parametrize("path", list(LEAVES))
def test_options_have_one_name_everywhere(path):
    command = LEAVES[path]
    for param in command.params:
        names = set(param.opts)
        for long, short in SAME_NAMES.items():
            if long in names:
                assert short in names, f"{path}: {long} without {short}"
            if short in names:
                assert long in names, f"{path}: {short} is not {long}"
        assert "--out" not in names, path
        # Named the same where they exist (explain's -w is its --workload).
        for long, short in (("--workers", "-w"), ("--partitions", "-k")):
            assert long not in names or short in names, f"{path}: {long} without {short}"


@pytest.mark.parametrize("path", [p for p in LEAVES if p != "schema"])
def test_every_command_that_prints_a_result_speaks_json(path):
    formats = [p for p in LEAVES[path].params if "--format" in p.opts]
    assert formats, f"{path} has no --format"
    assert "json" in [str(c) for c in formats[0].type_descriptor.choices]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A tiny plan, imported inventories and a reassignment, for the JSON runs."""
    d = tmp_path_factory.mktemp("conventions")
    assert invoke("solve", TINY, "-o", d / "tiny.plan.json", "-q").exit_code == 0
    imported = invoke(
        "import", "kubernetes", K8S / "nodes.json", K8S / "pods.json", "-o", d / "k.yaml"
    )
    assert imported.exit_code == 0, imported.output
    assert invoke("solve", d / "k.yaml", "-o", d / "k.plan.json", "-q").exit_code == 0
    imported = invoke(
        "import",
        "slurm",
        SLURM / "scontrol_show_node.txt",
        SLURM / "squeue.json",
        "-o",
        d / "s.yaml",
    )
    assert imported.exit_code == 0, imported.output
    assert invoke("solve", d / "s.yaml", "-o", d / "s.plan.json", "-q").exit_code == 0
    model, assignment = ROADEF / "model_example.txt", ROADEF / "assignment_example.txt"
    assert invoke("import", "roadef", model, assignment, "-o", d / "r.yaml").exit_code == 0
    assert invoke("reassign", d / "r.yaml", "-o", d / "r.plan.json", "-t", "2", "-q").exit_code == 0
    (d / "batch").mkdir()
    (d / "batch" / "tiny.yaml").write_text(TINY.read_text())
    return d


def json_runs(d: Path) -> dict[str, list[str | Path]]:
    model, assignment = ROADEF / "model_example.txt", ROADEF / "assignment_example.txt"
    return {
        "solve": ["solve", TINY, "-o", d / "j.plan.json", "-t", "20"],
        "validate": ["validate", TINY],
        "check": ["check", TINY, d / "tiny.plan.json"],
        "report": ["report", TINY, d / "tiny.plan.json"],
        "explain": ["explain", TINY, "-t", "20"],
        "diff": ["diff", d / "tiny.plan.json", d / "tiny.plan.json"],
        "solvers": ["solvers"],
        "generate": ["generate", "--nodes", "4", "--workloads", "2"],
        "reassign": ["reassign", d / "r.yaml", "-o", d / "r2.plan.json", "-t", "2"],
        "batch": ["batch", d / "batch", "-o", d / "batch-out", "-t", "20", "-w", "1"],
        "sweep": ["sweep", TINY, "-o", d / "sweep-out", "--grow", "10%", "-t", "20", "-w", "1"],
        "share": ["share", TINY],
        "import kubernetes": [
            "import", "kubernetes", K8S / "nodes.json", K8S / "pods.json", "-o", d / "k2.yaml"
        ],
        "import slurm": [
            "import", "slurm", SLURM / "scontrol_show_node.txt", SLURM / "squeue.json",
            "-o", d / "s2.yaml",
        ],
        "import skypilot": [
            "import", "skypilot", SKYPILOT / "fleet.yaml", SKYPILOT / "serve.yaml",
            "-o", d / "sky.yaml",
        ],
        "import openb": [
            "import", "openb", OPENB / "openb_node_list_all_node.csv",
            OPENB / "openb_pod_list_sample.csv", "-o", d / "o.yaml",
        ],
        "import roadef": ["import", "roadef", model, assignment, "-o", d / "r3.yaml"],
        "export kubernetes": [
            "export", "kubernetes", d / "k.yaml", d / "k.plan.json",
            "--pods", K8S / "pods.json", "-o", d / "m.yaml",
        ],
        "export slurm": ["export", "slurm", d / "s.yaml", d / "s.plan.json", "-o", d / "n.txt"],
        "export roadef": ["export", "roadef", model, d / "r.plan.json", "-o", d / "sol.txt"],
        "roadef eval": ["roadef", "eval", model, assignment],
        "roadef solve": ["roadef", "solve", model, assignment, "-o", d / "sol2.txt", "-t", "3"],
        "bench ladder": ["bench", "ladder", "--nodes", "12", "--solvers", "greedy", "-t", "5"],
        "bench build": ["bench", "build", "--nodes", "12", "--pulp-time-cap", "20"],
        "bench share": ["bench", "share", "--jobs", "12", "--scale-jobs", "60", "--parts", "2"],
        "bench openb": [
            "bench", "openb", "--data", OPENB, "--traces", "sample", "--seeds", "1",
            "--policies", "best-fit", "-t", "5",
        ],
        "bench partition": [
            "bench", "partition", "--nodes", "12", "--parts", "2", "--by", "zone",
            "--engines", "local", "-t", "5",
        ],
        "bench batch": [
            "bench", "batch", "--instances", "2", "--workers", "1", "--dask-workers", "0",
            "-t", "10",
        ],
    }  # fmt: skip


def test_every_json_run_is_listed():
    assert set(json_runs(Path("."))) | {"schema"} == set(LEAVES)


NEEDS_DATA = {"bench share": find_dataset("gavel")}  # a published data set outside the repository


@pytest.mark.parametrize("path", list(json_runs(Path("."))))
def test_format_json_prints_one_document(work, path):
    if path in NEEDS_DATA and NEEDS_DATA[path] is None:
        pytest.skip(f"{path} needs data that is not here")
    run = CliRunner().invoke(app, [str(a) for a in (*json_runs(work)[path], "-f", "json")])
    # A tenth more demand leaves one of tiny's required replicas out: exit 3, still a result.
    assert run.exit_code == (3 if path == "sweep" else 0), run.output
    document = json.loads(run.stdout)
    assert document, path


def test_schema_prints_json():
    run = invoke("schema")
    assert run.exit_code == 0
    assert json.loads(run.stdout)["title"] == "Inventory"


def test_check_against_another_inventory_is_one_line(work):
    run = invoke("check", INSTANCES / "small.yaml", work / "tiny.plan.json")
    assert run.exit_code == 2
    assert run.stderr.strip().splitlines() == [
        f"error: {work / 'tiny.plan.json'}: this plan was made for another inventory "
        f"({TINY}), not {INSTANCES / 'small.yaml'}: 13 of its 13 placements name nodes or "
        "workloads this inventory does not have"
    ]


def test_a_placer_that_leaves_work_out_says_it_does_not_search(write_inventory):
    doc = {
        "version": 1,
        "nodes": [
            {
                "id": "n",
                "gpus": 8,
                "gpu_type": "H100",
                "cpus": 64,
                "ram_gib": 512,
                "cost_per_hour": 1,
            }
        ],
        "workloads": [
            {"id": f"w{k}", "replicas": 1, "resources": {"gpus": 3, "cpus": 1, "ram_gib": 1}}
            for k in range(3)
        ],
    }
    run = invoke("solve", write_inventory(doc), "-s", "first-fit", "-q")
    assert run.exit_code == 4
    assert "within" not in run.stderr
    assert (
        "error: the first-fit placer left required replicas unplaced (shortfall 1); it places "
        "once and does not search, so an exact solver (-s auto) may find a plan that places them"
    ) in run.stderr


def test_bench_openb_without_data_says_where_it_looked(monkeypatch):
    import cli.bench

    monkeypatch.setattr(cli.bench, "find_dataset", lambda name: None)
    monkeypatch.setenv("ALLOCATOR_OPENB_DATA", "/srv/traces/openb")
    run = invoke("bench", "openb", "--seeds", "42")
    assert run.exit_code == 2
    assert "error: no openb data found (looked in /srv/traces/openb, " in run.stderr
    assert "give the folder with --data or set ALLOCATOR_OPENB_DATA" in run.stderr


def test_tables_to_a_file_keep_long_names_whole(write_inventory, tmp_path):
    name = "a-workload-whose-name-is-long-enough-to-be-cut-at-eighty-columns-x"
    doc = yaml.safe_load(TINY.read_text())
    doc["workloads"][0]["id"] = name
    run = invoke("solve", write_inventory(doc), "-o", tmp_path / "p.json")
    assert run.exit_code in (0, 3), run.output
    assert name in run.stdout


def test_an_unlimited_link_is_shown_as_unlimited(write_inventory, tmp_path):
    doc = {
        "version": 1,
        "nodes": [
            {"id": f"n{k}", "gpus": 8, "gpu_type": "H100", "cpus": 64, "ram_gib": 512,
             "cost_per_hour": 10, "rack": f"r{k}"}
            for k in range(2)
        ],
        "storage": [
            {"id": "s", "tier": "nvme", "capacity_tb": 100, "read_gbps": 100, "site": "a"}
        ],
        "topology": {"sites": [
            {"id": "a", "oversubscription": 3, "rows": [{"id": "row", "racks": ["r0", "r1"]}]}
        ]},
        "workloads": [
            {"id": "w", "replicas": 2, "resources": {"gpus": 8, "cpus": 8, "ram_gib": 32},
             "storage": {"size_tb": 1, "tier": "nvme", "read_gbps": 5}}
        ],
    }  # fmt: skip
    run = invoke("solve", write_inventory(doc), "-o", tmp_path / "p.json")
    assert run.exit_code == 0, run.output
    rows = [line for line in run.stdout.splitlines() if "spine" in line]
    assert rows
    assert all("unlimited" in row and "e+" not in row for row in rows), rows


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (
            ["import", "kubernetes", "--nodes", "n.json", "--pods", "p.json", "-o", "i.yaml"],
            ["import", "kubernetes", "n.json", "p.json", "-o", "i.yaml"],
        ),
        (
            ["import", "kubernetes", "n.json", "-o", "i.yaml", "--pods=p.json"],
            ["import", "kubernetes", "n.json", "-o", "i.yaml", "p.json"],
        ),
        (
            ["import", "slurm", "-o", "i.yaml", "--jobs", "j.json", "--nodes", "n.txt"],
            ["import", "slurm", "n.txt", "j.json", "-o", "i.yaml"],
        ),
        (
            ["import", "skypilot", "a.yaml", "b.yaml", "--fleet", "f.yaml", "-o", "i.yaml"],
            ["import", "skypilot", "f.yaml", "a.yaml", "b.yaml", "-o", "i.yaml"],
        ),
        (
            ["export", "slurm", "p.json", "--inventory", "i.yaml", "-o", "n.txt"],
            ["export", "slurm", "i.yaml", "p.json", "-o", "n.txt"],
        ),
        (
            ["export", "roadef", "p.json", "--model", "m.txt", "-o", "s.txt"],
            ["export", "roadef", "m.txt", "p.json", "-o", "s.txt"],
        ),
        (["batch", "in", "--out", "o", "-q"], ["batch", "in", "--output", "o", "-q"]),
        (["bench", "build", "--out=b.json"], ["bench", "build", "--output=b.json"]),
        # Current spellings, and commands with none, are left alone.
        (["export", "slurm", "i.yaml", "p.json"], ["export", "slurm", "i.yaml", "p.json"]),
        (["solve", "--out", "x"], ["solve", "--out", "x"]),
    ],
)
def test_old_spellings_are_rewritten(old, new, capsys):
    assert rewrite_deprecated(old) == new
    warnings = capsys.readouterr().err
    assert warnings.count("is deprecated and goes in the next release") == (old != new) * sum(
        token.split("=")[0] in ("--nodes", "--pods", "--jobs", "--fleet", "--inventory",
                                "--model", "--out")
        for token in old
    )  # fmt: skip


def test_every_old_spelling_names_a_real_command():
    for path, rules in DEPRECATED.items():
        command = LEAVES[" ".join(path)]
        arguments = [p for p in command.params if not p.opts or not p.opts[0].startswith("-")]
        for option, slot in rules.to_argument.items():
            assert slot < len(arguments), (path, option)
            assert option not in options_of(command), (path, option)
        for old, new in rules.renamed.items():
            assert new in options_of(command) and old not in options_of(command), path


def test_an_old_spelling_runs_with_a_warning(work):
    target = work / "old.txt"
    run = invoke(
        "export", "slurm", work / "s.plan.json", "--inventory", work / "s.yaml", "-o", target
    )
    assert run.exit_code == 0, run.output
    assert (
        f"warning: --inventory is deprecated and goes in the next release: give "
        f"{work / 's.yaml'} as the first argument (allocator export slurm INVENTORY PLAN -o "
        "NODELISTS)"
    ) in run.stderr
    current = work / "current.txt"
    assert (
        invoke("export", "slurm", work / "s.yaml", work / "s.plan.json", "-o", current).exit_code
        == 0
    )
    assert target.read_text() == current.read_text()


# ---- README and docs show only commands and options that exist

DOCS = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]


def shown_commands() -> list[tuple[str, str]]:
    """(file, command line) for every `allocator ...` in a code block or a code span."""
    found = []
    for doc in DOCS:
        text = doc.read_text()
        if doc.name == "cli.md":  # its table of deprecated spellings shows the old ones
            text = text.split("## Deprecated spellings")[0]
        for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
            joined = block.replace("\\\n", " ")
            for line in joined.splitlines():
                line = line.strip().removeprefix("$ ")
                if line.startswith("allocator "):
                    found.append((doc.name, line.split(" #")[0].split(" | ")[0]))
        for span in re.findall(r"`(allocator [^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S)):
            found.append((doc.name, " ".join(span.split())))
    return found


def check_line(line: str) -> list[str]:
    """What the line names that does not exist."""
    try:
        tokens = shlex.split(line.replace("|", " ").replace("[", " ").replace("]", " "))
    except ValueError:
        tokens = line.split()
    tokens = tokens[1:]
    if not tokens or tokens[0] in ("COMMAND", "..."):  # the general form
        return []
    if tokens[0].startswith("-"):
        root = {"--version", "--help", "-h", "--install-completion", "--show-completion"}
        return [t for t in tokens[:1] if t not in root]
    names = tokens[0].split("/")
    problems = [f"no command {n!r}" for n in names if n not in COMMANDS]
    if problems:
        return problems
    paths = [[n] for n in names]
    rest = tokens[1:]
    group = any(hasattr(load_command(n), "commands") for n in names)
    if group:
        if not rest or rest[0] in ("...", "COMMAND"):
            return []
        paths = [[n, sub] for n in names for sub in rest[0].split("/")]
        rest = rest[1:]
    for path in paths:
        key = " ".join(path)
        if key not in LEAVES:
            problems.append(f"no command {key!r}")
            continue
        known = options_of(LEAVES[key])
        for token in rest:
            option = token.split("=")[0].rstrip(",.;:)")
            if re.fullmatch(r"--?[a-zA-Z][\w-]*", option) and option not in known:
                problems.append(f"{key}: no option {option}")
    return problems


def test_every_command_in_readme_and_docs_exists_with_its_options():
    shown = shown_commands()
    assert len(shown) > 50
    problems = [f"{doc}: {line}: {p}" for doc, line in shown for p in check_line(line)]
    assert problems == []


@pytest.mark.parametrize("path", ["solve", "batch", "sweep"])
def test_solver_help_names_every_method_it_accepts(path):
    from allocator.solve.strategy import method_names

    option = next(p for p in LEAVES[path].params if "--solver" in p.opts)
    assert all(name in option.help for name in method_names()), option.help
