# The project's JupyterLab, as `make lab` starts it (JUPYTER_CONFIG_DIR points here, so the
# user's own ~/.jupyter is not read). It serves notebooks/ and opens the contents page, and:
# - the committed lessons are read-only: JupyterLab never autosaves a Run All over their
#   stored outputs (which `make test` compares against); File > Save Notebook As... keeps a
#   learner's work in a file of their own;
# - the py:percent twins of the lessons (their sources, paired by jupytext.toml) are hidden
#   from the file browser, so each lesson is one entry;
# - the lessons are trusted (they are this project's own outputs), so their plots show and
#   the terminal stays free of "Notebook ... is not trusted";
# - it starts as root too (containers, cloud machines), without the news pop-up.
# tests/test_lab.py checks all of this without a browser.
import re
import subprocess
from pathlib import Path

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from jupytext.async_contentsmanager import build_async_jupytext_contents_manager_class
from tornado.web import HTTPError

NOTEBOOKS = Path(__file__).resolve().parent.parent
LESSON_NAME = re.compile(r"\d\d_[a-z0-9_]+\.(ipynb|py)")  # 01_data_preparation.ipynb, ...


def committed_files(root):
    """The files git tracks under root (paths relative to it), or None outside a checkout."""
    try:
        done = subprocess.run(["git", "ls-files", "-z", "--", "."], cwd=root, timeout=30,
                              capture_output=True, text=True, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return {name for name in done.stdout.split("\0") if name}


JupytextContentsManager = build_async_jupytext_contents_manager_class(AsyncLargeFileManager)


class LessonsContentsManager(JupytextContentsManager):
    """jupytext's contents manager (the one its server extension would build from Jupyter's
    default), with the committed lessons read-only and trusted.

    Read-only means: their model says writable=False (JupyterLab then neither autosaves
    them nor saves them with Ctrl+S, and offers Save As), and save, rename and delete are
    refused, for a lesson and for its .py twin alike, before jupytext writes either."""

    def protected(self, path):
        path = path.strip("/")
        if not hasattr(self, "_committed"):
            self._committed = committed_files(self.root_dir)
        if self._committed is not None:
            return path in self._committed
        return LESSON_NAME.fullmatch(path) is not None  # not a git checkout: the lessons

    def _refuse(self, path, action):
        raise HTTPError(403, f"{path} is a lesson of the series and read-only here; "
                             f"use File > Save Notebook As... to {action} a copy of your own")

    async def get(self, path, content=True, type=None, format=None, **kwargs):
        model = await super().get(path, content=content, type=type, format=format, **kwargs)
        if model["type"] != "directory" and self.protected(path):
            model["writable"] = False
        return model

    async def save(self, model, path=""):
        if self.protected(path):
            self._refuse(path, "keep")
        return await super().save(model, path)

    async def rename_file(self, old_path, new_path):
        if self.protected(old_path) or self.protected(new_path):
            self._refuse(old_path, "rename")
        return await super().rename_file(old_path, new_path)

    async def delete_file(self, path):
        if self.protected(path):
            self._refuse(path, "delete")
        return await super().delete_file(path)

    def mark_trusted_cells(self, nb, path=""):
        if self.protected(path):
            self.notary.mark_cells(nb, True)  # the project's own outputs
        else:
            super().mark_trusted_cells(nb, path)


c = get_config()  # noqa: F821 (provided by Jupyter when it reads this file)
c.ServerApp.root_dir = str(NOTEBOOKS)
c.ServerApp.contents_manager_class = LessonsContentsManager
c.ServerApp.allow_root = True
c.ContentsManager.hide_globs = [
    "__pycache__", "*.pyc", "*.pyo", ".DS_Store", "*.so", "*.dylib", "*~",  # Jupyter's own
    "[0-9][0-9]_*.py",  # the lessons' py:percent sources (the maintainers' side)
    "conftest.py", "make_exercises.py",  # test and build tooling, not lessons
]
c.LabApp.default_url = "/lab/tree/00_contents.ipynb"
c.LabApp.news_url = None  # no news feed is fetched, and no update check is made; the
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
# "get notified about official Jupyter news?" pop-up is the announcements plugin, which
# labconfig/page_config.json (next to this file) disables.
