"""The project's JupyterLab (`make lab`): lessons read-only and trusted, one entry per lesson,
starts as root, no news pop-up. Checked on the configured contents manager, no browser."""

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("jupyter_server")
pytest.importorskip("jupytext")
from tornado.web import HTTPError  # noqa: E402
from traitlets.config.loader import PyFileConfigLoader  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CONFIG_DIR = NOTEBOOKS / ".jupyter"
LESSON = "01_data_preparation.ipynb"


def lab_config():
    return PyFileConfigLoader("jupyter_server_config.py", path=str(CONFIG_DIR)).load_config()


def contents_manager(root=NOTEBOOKS):
    config = lab_config()
    cls = config.ServerApp.contents_manager_class
    return cls(config=config, root_dir=str(root))


def run(coroutine):
    return asyncio.run(coroutine)


def git_status(*paths):
    done = subprocess.run(["git", "status", "--porcelain", "--", *paths], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return done.stdout


def test_the_lab_serves_the_notebooks_and_opens_the_contents_page():
    config = lab_config()
    assert Path(config.ServerApp.root_dir) == NOTEBOOKS
    page = config.LabApp.default_url.removeprefix("/lab/tree/")
    assert (NOTEBOOKS / page).is_file()


def test_the_lab_starts_as_root_without_news_or_update_checks():
    config = lab_config()
    assert config.ServerApp.allow_root is True
    assert config.LabApp.news_url is None
    assert config.LabApp.check_for_updates_class == "jupyterlab.NeverCheckForUpdate"


def test_the_news_pop_up_plugin_is_disabled(monkeypatch):
    # `make lab` sets JUPYTER_CONFIG_DIR to notebooks/.jupyter; JupyterLab reads its labconfig
    from jupyterlab_server.config import get_page_config

    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(CONFIG_DIR))
    disabled = get_page_config([], None).get("disabledExtensions", [])
    assert "@jupyterlab/apputils-extension:announcements" in disabled


def test_the_makefile_starts_the_lab_with_this_config():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert "JUPYTER_CONFIG_DIR=$(CURDIR)/notebooks/.jupyter" in recipe
    assert "jupyter lab" in recipe


def test_the_contents_manager_is_jupytexts_so_the_extension_keeps_it():
    # jupytext's server extension leaves a contents manager with `formats` as it is
    cm = contents_manager()
    assert hasattr(cm, "formats")
    model = run(cm.get("01_data_preparation.py", type="notebook"))
    assert model["type"] == "notebook"  # the .py twin is still read as a notebook


def test_a_lesson_and_its_twin_are_read_only_and_a_save_is_refused():
    cm = contents_manager()
    lesson = NOTEBOOKS / LESSON
    before = lesson.read_bytes(), lesson.with_suffix(".py").read_bytes()
    status = git_status(f"notebooks/{LESSON}", "notebooks/01_data_preparation.py")
    model = run(cm.get(LESSON))
    assert model["writable"] is False
    assert run(cm.get("01_data_preparation.py", content=False))["writable"] is False
    model["content"]["cells"] = model["content"]["cells"][:3]  # a half-run notebook
    for cell in model["content"]["cells"]:
        cell.get("outputs", []).clear()
    with pytest.raises(HTTPError) as refused:
        run(cm.save({"type": "notebook", "content": model["content"]}, LESSON))
    assert refused.value.status_code == 403 and "Save Notebook As" in refused.value.log_message
    for action in (lambda: cm.rename_file(LESSON, "renamed.ipynb"),
                   lambda: cm.delete_file(LESSON)):
        with pytest.raises(HTTPError):
            run(action())
    assert (lesson.read_bytes(), lesson.with_suffix(".py").read_bytes()) == before
    assert git_status(f"notebooks/{LESSON}", "notebooks/01_data_preparation.py") == status


def test_every_committed_lesson_is_protected():
    cm = contents_manager()
    lessons = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert len(lessons) >= 7  # the contents page and six lessons
    for name in lessons:
        assert run(cm.get(name, content=False))["writable"] is False, name


def test_a_learners_copy_is_writable_and_saved(tmp_path):
    # a checkout of its own, so that nothing is written into the real notebooks/
    shutil.copy(NOTEBOOKS / LESSON, tmp_path / LESSON)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", LESSON], cwd=tmp_path, check=True)
    cm = contents_manager(tmp_path)
    model = run(cm.get(LESSON))
    assert model["writable"] is False
    copy = "01_data_preparation-Copy1.ipynb"  # what File > Save Notebook As... proposes
    saved = run(cm.save({"type": "notebook", "content": model["content"]}, copy))
    assert saved["writable"] is True
    assert json.loads((tmp_path / copy).read_text())["cells"]


def test_outside_a_git_checkout_the_lessons_are_protected_by_name(tmp_path):
    shutil.copy(NOTEBOOKS / LESSON, tmp_path / LESSON)
    shutil.copy(NOTEBOOKS / LESSON, tmp_path / "mine.ipynb")
    cm = contents_manager(tmp_path)
    cm._committed = None  # as if git were missing
    assert run(cm.get(LESSON, content=False))["writable"] is False
    assert run(cm.get("mine.ipynb", content=False))["writable"] is True


def test_the_lessons_are_trusted_without_a_warning(caplog):
    cm = contents_manager()
    with caplog.at_level("WARNING"):
        model = run(cm.get(LESSON))
    assert "not trusted" not in caplog.text
    assert all(cell["metadata"].get("trusted", True) for cell in model["content"]["cells"])


def test_the_file_browser_shows_one_entry_per_lesson():
    cm = contents_manager()
    names = {entry["name"] for entry in run(cm.get("", content=True))["content"]}
    assert LESSON in names and "01_data_preparation.py" not in names
    assert not any(name.endswith(".py") and name[:2].isdigit() for name in names)
