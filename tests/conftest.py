import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

VERSES = [
    "Shall I compare thee to a summer's day?\n",
    "Thou art more lovely and more temperate:\n",
    "Rough winds do shake the darling buds of May,\n",
    "And summer's lease hath all too short a date;\n",
    "Sometime too hot the eye of heaven shines,\n",
    "And often is his gold complexion dimm'd;\n",
]


@pytest.fixture(scope="session")
def small_text() -> str:
    """About 20 kB of verse lines in a seeded random order: learnable, but not trivial."""
    rng = np.random.default_rng(0)
    return "".join(VERSES[i] for i in rng.integers(0, len(VERSES), 500))


@pytest.fixture
def corpus_file(tmp_path, small_text) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(small_text, encoding="utf-8")
    return path


def run_cli(*args, cwd=None):
    """Run `python -m lstm_core ARGS`; returns the CompletedProcess (text mode)."""
    return subprocess.run([sys.executable, "-m", "lstm_core", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or ROOT, timeout=300)


# Small, fast settings for CLI training runs on `small_text`.
TINY = ["--hidden-size", "16", "--layers", "1", "--batch-size", "4", "--seq-len", "16",
        "--eval-every", "5", "--dropout", "0"]
