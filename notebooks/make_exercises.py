"""Generate the exercise notebooks from the lessons (`make exercises`).

Each lesson notebooks/NN_topic.ipynb becomes notebooks/exercises/NN_topic.ipynb:

- every code cell tagged `exercise` keeps its `def` line(s) and docstring (the shapes and
  units), and its body becomes a `# TODO` and `raise NotImplementedError`;
- every output is cleared;
- everything else stays as in the lesson (links to the contents page and to the top of the
  repository are fixed for the folder one level down; links to the other lessons lead to
  their exercises), after a first cell that says what the notebook is.

The exercises are never edited by hand: edit the lesson, re-execute it, run `make
exercises`. notebooks/exercises/ is ignored by git, so a learner's work there never makes
the repository dirty; an exercise notebook whose cells the learner has changed is kept as
it is (the hash of what was generated is in its metadata), unless --force is given.

    python notebooks/make_exercises.py [--out DIR] [--force] [--handout] [LESSON.ipynb ...]
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

import jupytext
import nbformat

HERE = Path(__file__).resolve().parent
TAG = "exercise"
STUB = ["# TODO: your code here. The equations above, and the checker below, are your guide.",
        "raise NotImplementedError"]
BANNER = """\
**Exercise version of {lesson}**, generated from the lesson by `make \
exercises`. Each cell tagged `exercise` has been emptied: write its body, then run the \
checker cell below it, which compares your function with `lstm_core` and names the \
mistake when it recognises one. Until you write it, the checker says "not done yet" and \
the rest of the notebook runs on with a correct version. Git ignores this folder: your \
work here is yours."""


def lessons(folder: Path = HERE) -> list[Path]:
    """The lessons: NN_topic.ipynb, numbered from 01."""
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb") if not p.name.startswith("00"))


def stub_source(source: str) -> str:
    """A tagged cell's code with every function body replaced by the stub.

    The cell may hold function definitions only (with comments and blank lines between
    them), each with a docstring: those are what the learner is given."""
    tree = ast.parse(source)
    lines = source.splitlines()
    out, end = [], 0
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            raise ValueError(f"an exercise cell holds function definitions only; line "
                             f"{node.lineno} is {lines[node.lineno - 1].strip()!r}")
        if ast.get_docstring(node) is None:
            raise ValueError(f"{node.name}: an exercise function needs a docstring (its "
                             "shapes and units are all the learner gets)")
        start = min([d.lineno for d in node.decorator_list] + [node.lineno])
        # between two functions keep blank lines and top-level comments, not the end of
        # the previous body
        out += [ln for ln in lines[end : start - 1] if not ln[:1].isspace()]
        doc_end = node.body[0].end_lineno
        out += lines[start - 1 : doc_end]
        indent = " " * node.body[0].col_offset
        out += [indent + ln for ln in STUB]
        end = node.end_lineno
    out += [ln for ln in lines[end:] if not ln[:1].isspace()]
    return "\n".join(out)


def _cells_hash(nb) -> str:
    cells = [(c.cell_type, c.source) for c in nb.cells]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


def exercise_notebook(lesson: Path, handout=False):
    """The exercise version of a lesson notebook (.ipynb, or its py:percent source);
    handout=True leaves out the link to the lesson (a handout has no lessons)."""
    nb = jupytext.read(lesson)
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            if TAG in cell.metadata.get("tags", []):
                try:
                    cell.source = stub_source(cell.source)
                except (SyntaxError, ValueError) as e:
                    raise ValueError(f"{lesson.name}, cell {number}: {e}") from None
        elif cell.cell_type == "markdown":
            # the exercises sit one folder below the lessons: links up go one level further,
            # the contents page is the lessons' (other lessons' links stay: their exercises)
            cell.source = re.sub(r"\]\(\.\./", "](../../", cell.source)
            cell.source = cell.source.replace("](00_contents.ipynb", "](../00_contents.ipynb")
    link = lesson.stem if handout else f"[{lesson.stem}](../{lesson.stem}.ipynb)"
    banner = nbformat.v4.new_markdown_cell(BANNER.format(lesson=link))
    banner.metadata["tags"] = ["exercise-banner"]
    nb.cells.insert(0, banner)
    nb.metadata.pop("jupytext", None)  # not paired with a .py: see write_exercises
    nb.metadata["lstm_exercises"] = {"lesson": lesson.stem, "cells_sha256": _cells_hash(nb)}
    nbformat.validator.normalize(nb)
    return nb


def learner_changed(path: Path) -> bool:
    """Whether the cells of an exercise notebook differ from what was generated."""
    try:
        nb = nbformat.read(path, as_version=4)
        recorded = nb.metadata["lstm_exercises"]["cells_sha256"]
    except Exception:
        return True  # not ours, or unreadable: never overwrite it silently
    return _cells_hash(nb) != recorded


def write_exercises(sources, out_dir: Path, force=False, handout=False,
                    log=print) -> list[Path]:
    """Write the exercise notebook of each lesson into out_dir; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "lstm.mplstyle", out_dir / "lstm.mplstyle")  # the setup cell's style
    # Unpaired: JupyterLab's jupytext would otherwise write a .py beside each exercise.
    (out_dir / "jupytext.toml").write_text("# generated by make exercises: no .py pairs here\n"
                                           'formats = "ipynb"\n')
    written = []
    for lesson in sources:
        lesson = Path(lesson)
        path = out_dir / f"{lesson.stem}.ipynb"
        if path.exists() and not force and learner_changed(path):
            log(f"kept {path} (you have worked in it; delete it, or use --force, to start "
                "over)")
            continue
        nbformat.write(exercise_notebook(lesson, handout), path)
        written.append(path)
        log(f"wrote {path}")
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Generate the exercise notebooks from the "
                                     "lessons.")
    parser.add_argument("lessons", nargs="*", type=Path,
                        help="lesson notebooks (default: notebooks/NN_*.ipynb)")
    parser.add_argument("--out", type=Path, default=HERE / "exercises",
                        help="folder to write (default: notebooks/exercises)")
    parser.add_argument("--force", action="store_true",
                        help="regenerate notebooks that a learner has changed")
    parser.add_argument("--handout", action="store_true",
                        help="for a copy without the lessons: no link to the lesson")
    args = parser.parse_args(argv)
    try:
        write_exercises(args.lessons or lessons(), args.out, args.force, args.handout)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
