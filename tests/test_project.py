"""The project's own promises: one package list, NumPy-only module, paired notebooks."""

import ast
import json
import re
import sys
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.py")
                   if p.stem != "00_contents")  # the lessons; the contents page is tested below
EXPECTED = ["01_data_preparation", "02_forward_pass", "03_backprop_through_time",
            "04_adamw", "05_training", "06_inside_the_lstm"]


def test_environment_yml_installs_exactly_requirements_txt():
    text = (ROOT / "environment.yml").read_text()
    entries = [ln.strip()[2:].strip() for ln in text.splitlines()
               if ln.strip().startswith("- ")]
    assert entries == ["conda-forge", "python=3.11", "pip", "pip:", "-r requirements.txt"], entries


def test_requirements_pin_every_package_used_by_the_project():
    names = {re.split(r"[=<>;\s]", ln)[0].lower()
             for ln in (ROOT / "requirements.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")}
    assert names == {"numpy", "matplotlib", "threadpoolctl", "jupyterlab", "jupytext", "nbval",
                     "pytest", "hypothesis", "ruff"}


def test_lstm_core_imports_numpy_and_the_standard_library_only():
    tree = ast.parse((ROOT / "lstm_core.py").read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module.split(".")[0])
    third_party = {m for m in modules if m not in sys.stdlib_module_names and m != "__future__"}
    # threadpoolctl is optional: imported inside BlasThreads, which runs without it
    # (tests/test_threads.py takes it away and trains)
    assert third_party - {"threadpoolctl"} == {"numpy"}


def test_the_six_notebooks_are_there():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_py_and_ipynb_hold_the_same_cells(source):
    ipynb = source.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is missing: run make notebooks"
    from_py = jupytext.read(source)
    stored = json.loads(ipynb.read_text())
    cells_py = [(c.cell_type, c.source) for c in from_py.cells]
    cells_nb = [(c["cell_type"], "".join(c["source"])) for c in stored["cells"]]
    assert cells_py == cells_nb, f"{source.name} and {ipynb.name} differ: re-execute it"


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_executed_and_follows_the_series_plan(source):
    nb = json.loads(source.with_suffix(".ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    assert all(c["execution_count"] is not None for c in code), "re-execute: make notebooks"
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), "executed out of order"
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    for heading in ("What you'll learn", "What you need", "Summary", "Exercises"):
        assert heading in markdown, f"no '{heading}' section"
    setup = "".join(code[0]["source"])
    assert "import lstm_core as lc" in setup and 'plt.style.use("lstm.mplstyle")' in setup
    assert sum("import lstm_core" in "".join(c["source"]) for c in code) == 1, "one setup cell"
    for c in code:
        for out in c.get("outputs", []):
            assert out.get("name") != "stderr", f"stderr output in {source.stem}: {out}"


def test_the_contents_page_links_every_lesson_and_pairs_like_them():
    page = ROOT / "notebooks" / "00_contents.ipynb"
    stored = json.loads(page.read_text())
    cells_py = [(c.cell_type, c.source) for c in jupytext.read(page.with_suffix(".py")).cells]
    assert cells_py == [(c["cell_type"], "".join(c["source"])) for c in stored["cells"]]
    text = "\n".join("".join(c["source"]) for c in stored["cells"])
    for stem in EXPECTED:
        assert f"]({stem}.ipynb)" in text, f"the contents page does not link {stem}"
