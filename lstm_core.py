"""A character-level LSTM language model in NumPy, read top to bottom like a chapter.

    data -> parameters -> forward -> loss -> backward -> clipping -> AdamW -> BLAS threads
         -> training loop -> sampling -> baselines -> files and checkpoints
         -> export for torch -> gradient check -> CLI   (the benchmark: bench/harness.py)

The symbols are the notebooks' symbols. For one layer and one time step t, with the input
x_t, the previous hidden state h_{t-1} and cell state c_{t-1}:

    z_t = x_t W_x + h_{t-1} W_h + b          (B, 4H)   all four gates in one product
    i_t = sigmoid(z_i)   f_t = sigmoid(z_f)   g_t = tanh(z_g)   o_t = sigmoid(z_o)
    c_t = f_t * c_{t-1} + i_t * g_t
    h_t = o_t * tanh(c_t)
    logits_t = h_t W_y + b_y                 (B, V)

The gate order i, f, g, o is PyTorch's (`torch.nn.LSTM`), so weights move between the two
by a transpose. Arrays are time-major: a window of characters is `x` of shape (T, B), T steps
of B independent streams. The first layer's input is a character id, and `x_t W_x` for a
one-hot x_t is row `x_t` of W_x: the embedding lookup `W_x0[x]` is exactly that product.

Command line (see `python -m lstm_core --help`):

    python -m lstm_core train  [--data PATH] [--time-budget SECONDS] [--out CKPT] ...
    python -m lstm_core sample [--checkpoint CKPT] [--prime TEXT] [--length N] ...
    python -m lstm_core release --checkpoint CKPT --out MODEL   (weights only, for sampling)
    python -m lstm_core export --checkpoint CKPT --out FILE     (safetensors for torch)
    python -m lstm_core gradcheck [--layers L] [--json]
    python -m lstm_core bench [--json]

What the command line promises, and the one place in this file that keeps each promise:

1. Outputs never destroy inputs (`check_outputs`). No output (`--out`, `--metrics-json`,
   `release --out`, `export --out`) may be the corpus, the checkpoint being read, or
   another output of the same command; paths are compared as files (symlinks and hard
   links followed). An existing file is replaced only with `--overwrite`. One exception,
   by design: `train --resume C` writes its progress back to C (the same run, continued)
   unless `--out` says otherwise. A checkpoint that a running training writes is locked
   (`OutputLock`): a second training with the same `--out` stops at once and names the
   first.
2. Every file-system fault is one line naming the path and the reason (`_atomic_write`,
   `_check_writable`); outputs are checked for writability before any work, written to a
   short temporary name beside the target and renamed over it, so the previous file stays
   whole and no temporary file is left behind.
3. Every flag is range-checked before any work, NaN and infinity included
   (`Config.validate`, `check_sample_args`, `_cmd_gradcheck`); seeds are integers >= 0.
4. Resources are checked before they are spent (`check_memory`): the memory a model and a
   training step need is estimated and refused, with the estimate, when it cannot fit.
   `load_checkpoint` reads only the arrays it knows, checks each one's dtype and shape
   before reading it, validates every metadata field, and refuses non-finite weights.
5. Streams and signals (`main`): sampling writes as it goes; a broken pipe ends quietly;
   a full stdout is one line (a closed one too, where there is output to give; `train`
   then trains silently); characters the terminal's encoding cannot show are replaced.
   Training saves its checkpoint before it logs, so a log line that cannot be written
   stops a run with nothing lost. SIGTERM is handled like Ctrl-C:
   the last good checkpoint stays, temporary files go, exit status 143 (130 for Ctrl-C);
   a signal that lands while a checkpoint is written waits until it is whole
   (`_signals_held`).
6. Resume says what it does (`resume_config`): only --max-steps, --time-budget,
   --eval-every, --sample-every and --threads may change; a new limit stretches the cosine
   schedule from where the run is. The bitwise-exact route is `--stop-at N`, then
   `--resume` with nothing changed and a fixed --threads (in float32, the BLAS thread
   count that `BlasThreads` chooses changes the products in their last bits).
7. Text in, text out (`load_corpus`): UTF-8, a byte-order mark is not a character; a
   directory is "a directory", not "not found".

A user's mistake is an `LSTMError`: one line on stderr, `error: ...`, exit status 2.

Depends on NumPy only (threadpoolctl, when installed, chooses BLAS threads at run time).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

try:
    import fcntl  # POSIX: locks a checkpoint while a training writes it
except ImportError:  # pragma: no cover (Windows)
    fcntl = None

ROOT = Path(__file__).resolve().parent
DATA_DIR = ROOT / "data"
DEFAULT_CORPUS = DATA_DIR / "shakespeare.txt"
DEFAULT_CHECKPOINT = DATA_DIR / "shakespeare_lstm.npz"
CHECKPOINT_FORMAT = "lstm_core checkpoint"
CHECKPOINT_VERSION = 1
DEFAULT_TIME_BUDGET = 3600.0  # seconds: the default recipe trains for an hour


class LSTMError(Exception):
    """A mistake in what the user asked for (bad file, bad flag). The CLI prints it on one
    line and exits with status 2; it is never a bug in this module."""


class Terminated(BaseException):
    """Raised by the CLI's SIGTERM handler, so that a terminated run unwinds like Ctrl-C:
    temporary files are removed, the last checkpoint stays."""


def _flag(name: str) -> str:
    """The command-line flag of a Config field."""
    return "--" + {"num_layers": "layers"}.get(name, name).replace("_", "-")


# --------------------------------------------------------------------------------------
# Configuration: the default recipe, in one visible place.
# --------------------------------------------------------------------------------------


def _option(default, help: str, **argparse_settings):
    """A Config field and its `train` flag: the help text (what it does, its sensible range)
    and any other argparse settings (metavar, choices) travel in the field's metadata, so
    `build_parser` makes the flag from the field and `train --help` prints this text."""
    return dataclasses.field(default=default, metadata={"help": help, **argparse_settings})


@dataclass
class Config:
    """A training run's recipe and limits. Every field is a flag of `train` (`_flag` names
    it: --hidden-size, --layers, ...); the defaults are the hour's recipe (see RECIPES)."""

    # model
    hidden_size: int = _option(512, "units per layer; 128 learns fast, 512-1024 learns more",
                               metavar="H")
    num_layers: int = _option(1, "stacked LSTM layers; 1-3", metavar="L")
    dropout: float = _option(0.2, "inverted dropout on each layer's output (training only), "
                             "in [0, 1); 0-0.5", metavar="P")
    forget_bias: float = _option(1.0, "initial forget-gate bias (Jozefowicz et al. 2015); 0-2")
    # data
    batch_size: int = _option(32, "parallel streams of text; 16-128", metavar="B")
    seq_len: int = _option(64, "steps of truncated backpropagation through time; 25-200",
                           metavar="T")
    # optimiser (AdamW)
    lr: float = _option(8e-3, "peak learning rate, > 0; 1e-3 - 2e-2")
    beta1: float = _option(0.9, "AdamW's decay of the gradient's mean m, in [0, 1)")
    beta2: float = _option(0.99, "AdamW's decay of the squared gradient's mean v, in [0, 1)")
    eps: float = _option(1e-8, "AdamW's guard in m_hat / (sqrt(v_hat) + eps), > 0")
    weight_decay: float = _option(0.01, "decoupled decay, weight matrices only, >= 0; 0-0.1")
    grad_clip: float = _option(1.0, "max global L2 norm of the gradient, > 0; 0.5-5")
    warmup_steps: int = _option(100, "linear warm-up over this many steps (>= 0), then "
                                "cosine decay to --min-lr-frac x --lr", metavar="N")
    min_lr_frac: float = _option(0.1, "where the cosine decay ends, as a fraction of --lr, "
                                 "in [0, 1]")
    # run
    # The run stops, and the schedule ends, at max_steps or after time_budget seconds,
    # whichever comes first; with neither, after DEFAULT_TIME_BUDGET (the default recipe).
    max_steps: int | None = _option(None, "stop, and end the schedule, after N steps",
                                    metavar="N")
    time_budget: float | None = _option(None, "stop, and end the schedule, after this many "
                                        "seconds (with neither limit: "
                                        f"{DEFAULT_TIME_BUDGET:.0f})", metavar="SECONDS")
    eval_every: int = _option(1000, "steps between validation estimates and checkpoints",
                              metavar="N")
    eval_chars: int = _option(100_000, "validation characters per estimate; the final one "
                              "reads the whole split", metavar="N")
    sample_every: int | None = _option(None, "a 200-character sample (temperature 0.8, the "
                                       "run's seed) under the loss line of each evaluation "
                                       "whose step is a multiple of N (default: every "
                                       "evaluation; 0: none)", metavar="N")
    seed: int = _option(0, "seed of the initial weights and of dropout's masks, >= 0")
    dtype: str = _option("float32", "float32 to train, float64 for gradient checks",
                         choices=("float32", "float64"))
    threads: int | None = _option(None, "BLAS threads, >= 1 (default: the faster of 1 and "
                                  "all, measured at the start and after each evaluation)",
                                  metavar="N")

    def validate(self) -> None:
        """Every field in its range (NaN and infinity fail every check), or LSTMError."""
        for name in ("hidden_size", "num_layers", "batch_size", "seq_len", "eval_every",
                     "eval_chars"):
            check_int(_flag(name), getattr(self, name), 1)
        check_int("--warmup-steps", self.warmup_steps, 0)
        check_int("--seed", self.seed, 0)
        if self.threads is not None:
            check_int("--threads", self.threads, 1)
        if self.sample_every is not None:
            check_int("--sample-every", self.sample_every, 0)
        if self.max_steps is not None:
            check_int("--max-steps", self.max_steps, 1)
        check_float("--lr", self.lr, "> 0")
        check_float("--dropout", self.dropout, "in [0, 1)")
        check_float("--weight-decay", self.weight_decay, ">= 0")
        check_float("--grad-clip", self.grad_clip, "> 0")
        check_float("--beta1", self.beta1, "in [0, 1)")
        check_float("--beta2", self.beta2, "in [0, 1)")
        check_float("--eps", self.eps, "> 0")
        check_float("--min-lr-frac", self.min_lr_frac, "in [0, 1]")
        check_float("--forget-bias", self.forget_bias, "finite")
        if self.time_budget is not None:
            check_float("--time-budget", self.time_budget, "> 0", unit=" seconds")
        if self.dtype not in ("float32", "float64"):
            raise LSTMError(f"--dtype must be float32 or float64, got {self.dtype!r}")


def check_int(flag: str, value, low: int) -> None:
    """value is an integer (not a bool, not a float) and >= low, or LSTMError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        what = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise LSTMError(f"{flag} must be {what}, got {value!r}")


def check_float(flag: str, value, rule: str, unit: str = "") -> None:
    """value is a finite number obeying rule ("> 0", ">= 0", "in [0, 1)", "in [0, 1]",
    "finite"), or LSTMError. NaN and infinity never pass."""
    ok = (isinstance(value, (int, float, np.integer, np.floating))
          and not isinstance(value, bool) and math.isfinite(value))
    if ok:
        ok = {"> 0": value > 0, ">= 0": value >= 0, "in [0, 1)": 0 <= value < 1,
              "in [0, 1]": 0 <= value <= 1, "finite": True}[rule]
    if not ok:
        rule = "a finite number" if rule == "finite" else f"{rule}{unit} and finite"
        raise LSTMError(f"{flag} must be {rule}, got {value!r}")


# --------------------------------------------------------------------------------------
# Recipes: the model and schedule for the time you have
# --------------------------------------------------------------------------------------
# Config() is the hour's recipe: one wide layer at a high learning rate, with dropout
# against the overfitting that 13 passes over the text bring (the 15-minute row, 3 passes,
# is the same recipe measured without it). Shorter budgets make fewer steps, and a smaller
# model, making more steps in that time, does better. Each row below was the best run at
# its budget (Shakespeare's validation split, a 2-core machine; every run and the check on
# Milton: data/README.md, "Recipes by budget").

# budget in seconds -> (the fields that differ from Config(), steps its measured run made)
_SHORT = dict(dropout=0.0, eval_every=500)
RECIPES = {
    120.0: ({**_SHORT, "hidden_size": 256, "lr": 2e-2}, 2847),  # 1.552 nats/char
    300.0: ({**_SHORT, "hidden_size": 384, "lr": 1.5e-2}, 4170),  # 1.481 nats/char
    900.0: ({"dropout": 0.0}, 7370),  # 1.421 nats/char
    DEFAULT_TIME_BUDGET: ({}, 29468),  # 1.385 nats/char
}


# A row holds for about the passes over the training text it was measured at (at most the
# hour's 13.3). A smaller text is read more often in the same time, and the rows overfit it:
# on Milton's 0.9 MB the hour's recipe read its text 38.6 times in 30 minutes and ended
# worse than its own estimate at 12 minutes. So a run that would read its training text
# more than MANY_PASSES times gets the many-passes recipe instead: the hour's with more
# dropout, and a schedule that ends after MANY_PASSES passes, before the time is up. It was
# the best of four runs at 1,800 s on a 0.9 MB slice of Shakespeare's training text (made by
# data/recipe_search.py slice; Milton only checks it).
MANY_PASSES = 15.0
MANY_PASSES_RECIPE = ({"dropout": 0.5}, 6591)  # its fields; its steps on the slice: 1.536


def choose_recipe(given: dict, train_chars: int | None = None) -> tuple[Config, str]:
    """The Config for a run with the explicitly given fields `given` (a dict of Config
    fields) on a text with `train_chars` training characters (None: not known), and a line
    saying which recipe it is and why.

    The rule: the row of RECIPES whose budget is nearest to --time-budget on a log scale (so
    the boundary between two rows is their geometric mean, and on it the longer row wins),
    the shortest row below the table and the hour's beyond it. With --max-steps alone, the
    row whose measured run made the nearest number of steps. With neither, the hour's
    (Config()'s own defaults). Then, when train_chars is known: if the run would read the
    training text more than MANY_PASSES times (`predicted_passes`), MANY_PASSES_RECIPE
    instead, whose schedule ends after MANY_PASSES passes (unless --max-steps is given).
    Every field in `given` overrides its part of the recipe."""
    dataclasses.replace(Config(), **given).validate()  # a bad value fails here, not in log
    budget, steps = given.get("time_budget"), given.get("max_steps")
    if budget is not None:
        row = _nearest_on_log_scale({b: b for b in RECIPES}, budget)
        why = f"the nearest measured budget to --time-budget {budget:g}"
    elif steps is not None:
        row = _nearest_on_log_scale({b: made for b, (_, made) in RECIPES.items()}, steps)
        why = (f"its measured run made {RECIPES[row][1]:,} steps, the nearest to "
               f"--max-steps {steps}")
    else:
        row, why = DEFAULT_TIME_BUDGET, "no --time-budget or --max-steps given"
    fields, _ = RECIPES[row]
    name = "hour's recipe" if row == DEFAULT_TIME_BUDGET else f"{row / 60:g}-minute recipe"
    cfg = dataclasses.replace(Config(), **{**fields, **given})
    if train_chars is not None:
        passes = predicted_passes(cfg, row, train_chars)
        if passes > MANY_PASSES:
            why = (f"the {name}, {why}, would read the {train_chars:,} training "
                   f"characters about {passes:.0f} times, more than {MANY_PASSES:g}")
            fields, name = MANY_PASSES_RECIPE[0], "many-passes recipe"
            cfg = dataclasses.replace(Config(), **{**fields, **given})
            if "max_steps" not in given:
                steps = max(1, int(MANY_PASSES * train_chars / (cfg.batch_size * cfg.seq_len)))
                cfg = dataclasses.replace(cfg, max_steps=steps)
                why += f"; it ends after {steps:,} steps, {MANY_PASSES:g} passes"
    parts = (f"H={cfg.hidden_size} L={cfg.num_layers} B={cfg.batch_size} T={cfg.seq_len}, "
             f"lr {cfg.lr:g}, warm-up {cfg.warmup_steps} steps, dropout {cfg.dropout:g}, "
             f"weight decay {cfg.weight_decay:g}")
    recipe_fields = {"hidden_size", "num_layers", "batch_size", "seq_len", "lr",
                     "warmup_steps", "dropout", "weight_decay", *fields}
    kept = sorted(_flag(k) for k in given if k in recipe_fields)
    line = (f"recipe: the {name} ({why}): {parts}"
            + (f"; {', '.join(kept)} as given" if kept else ""))
    return cfg, line


def predicted_passes(cfg: Config, row: float, train_chars: int) -> float:
    """How many times a run of cfg, with the recipe of RECIPES[row], would read
    train_chars training characters: its steps (max_steps, or as many as the row's measured
    run made in the budget, at the row's measured rate, whichever is fewer) x B x T."""
    made = RECIPES[row][1]
    steps = [cfg.max_steps] if cfg.max_steps is not None else []
    if cfg.time_budget is not None or cfg.max_steps is None:
        budget = cfg.time_budget if cfg.time_budget is not None else DEFAULT_TIME_BUDGET
        steps.append(made * budget / row)
    return min(steps) * cfg.batch_size * cfg.seq_len / max(train_chars, 1)


def _nearest_on_log_scale(values: dict, target: float):
    """The key whose value is nearest to target by ratio; on a tie, the longer budget."""
    return min(values, key=lambda row: (round(abs(math.log(values[row] / target)), 9), -row))

# --------------------------------------------------------------------------------------
# Data: corpus, vocabulary, split, streams for truncated BPTT
# --------------------------------------------------------------------------------------


def load_corpus(path: str | Path | None = None) -> str:
    """The text of a UTF-8 file; with no path, the default Shakespeare corpus (built from
    its pinned source by data/build_corpus.py the first time it is needed)."""
    if path is None:
        path = DEFAULT_CORPUS
        if not path.exists():
            script = DATA_DIR / "build_corpus.py"
            done = subprocess.run([sys.executable, str(script)], capture_output=True,
                                  text=True)
            if done.returncode != 0 or not path.exists():
                why = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
                raise LSTMError(f"could not build the default corpus: {why[0]}")
    path = _input_file(path, "data file", "--data")
    check_memory(path.stat().st_size * CORPUS_BYTES_PER_CHAR, f"the corpus {path}")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise LSTMError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark is not part of the text
    except UnicodeDecodeError as e:
        raise LSTMError(f"{path} is not UTF-8 text (byte {e.start} cannot be decoded)") from None
    if not text:
        raise LSTMError(f"{path} is empty")
    return text


def _input_file(path, what: str, flag: str) -> Path:
    """path as a Path, if it names a readable regular file; otherwise LSTMError naming
    `flag`, the option it came from."""
    if str(path) == "":
        raise LSTMError(f"{flag} must name a file, got ''")
    path = Path(path)
    if path.is_dir():
        raise LSTMError(f"{flag} {path} is a directory, not a {what}")
    if not path.exists():
        raise LSTMError(f"{what} not found: {path} ({flag})")
    if not path.is_file():
        raise LSTMError(f"{flag} {path} is not a regular file")
    if not os.access(path, os.R_OK):
        raise LSTMError(f"{flag} {path}: permission denied")
    return path


class Vocabulary:
    """The sorted set of characters of a text, and the maps char <-> id.

    Sorted, so the ids are the same on every run and machine (the order of `set(text)`
    changes from one Python process to the next).
    """

    def __init__(self, chars: str | list[str]):
        self.chars = "".join(chars)
        self.stoi = {ch: i for i, ch in enumerate(self.chars)}
        if len(self.stoi) != len(self.chars):
            raise ValueError("vocabulary characters must be distinct")

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.chars == other.chars

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} chars: {self.chars!r})"

    def encode(self, text: str) -> np.ndarray:
        """Text -> int32 ids of shape (len(text),). Unknown characters raise LSTMError."""
        unknown = sorted(set(text) - self.stoi.keys())
        if unknown:
            raise LSTMError(f"characters not in the vocabulary: {''.join(unknown)!r}")
        return np.array([self.stoi[ch] for ch in text], dtype=np.int32)

    def decode(self, ids) -> str:
        return "".join(self.chars[i] for i in np.asarray(ids).ravel())


def split_data(ids: np.ndarray, train_frac: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """First 90 % for training, last 10 % for validation (no shuffling: text is ordered)."""
    n = int(len(ids) * train_frac)
    return ids[:n], ids[n:]


def make_streams(ids: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut `ids` into B contiguous streams for truncated BPTT.

    Returns inputs and targets of shape (B, N), targets shifted one character ahead. Stream
    b is the b-th of B equal slices of the text, so window k+1 of every stream continues
    exactly where window k ended, and the hidden state can be carried from one to the next.
    """
    n = (len(ids) - 1) // batch_size
    if n < 1:
        raise LSTMError(f"text of {len(ids)} characters is too short for {batch_size} streams")
    inputs = ids[: n * batch_size].reshape(batch_size, n)
    targets = ids[1 : n * batch_size + 1].reshape(batch_size, n)
    return inputs, targets


def num_windows(streams: tuple[np.ndarray, np.ndarray], seq_len: int) -> int:
    """How many whole windows of T steps the streams hold."""
    return streams[0].shape[1] // seq_len


def get_window(streams, k: int, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Window k of every stream, time-major: x and y of shape (T, B)."""
    inputs, targets = streams
    s = slice(k * seq_len, (k + 1) * seq_len)
    return np.ascontiguousarray(inputs[:, s].T), np.ascontiguousarray(targets[:, s].T)


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------


def init_params(vocab_size: int, hidden_size: int, num_layers: int = 1, *,
                forget_bias: float = 1.0, seed: int | np.random.Generator = 0,
                dtype="float32") -> dict[str, np.ndarray]:
    """Weights drawn from U(-1/sqrt(H), 1/sqrt(H)) as in torch.nn.LSTM; biases zero except
    the forget gate's, set to `forget_bias` so that early on the cell keeps its memory.

    Names and shapes (V characters, H hidden units, layer l):
        W_x0 (V, 4H)   W_x{l} (H, 4H) for l >= 1   input weights, gates i, f, g, o
        W_h{l} (H, 4H)                               recurrent weights
        b{l} (4H,)                                    gate biases
        W_y (H, V), b_y (V,)                          output layer
    """
    rng = np.random.default_rng(seed)
    H = hidden_size
    k = 1.0 / math.sqrt(H)
    params = {}
    for name, shape in init_shapes(vocab_size, hidden_size, num_layers).items():
        if name.startswith("W"):  # drawn in this order: W_x, W_h of each layer, then W_y
            params[name] = rng.uniform(-k, k, shape)
        else:
            params[name] = np.zeros(shape)
            if name != "b_y":
                params[name][H : 2 * H] = forget_bias  # the forget gate's block of b{l}
    return {name: p.astype(dtype) for name, p in params.items()}


def init_shapes(vocab_size: int, hidden_size: int, num_layers: int) -> dict[str, tuple]:
    """The name and shape of every parameter init_params makes (checked on loading)."""
    V, H = vocab_size, hidden_size
    shapes = {}
    for layer in range(num_layers):
        shapes[f"W_x{layer}"] = (V if layer == 0 else H, 4 * H)
        shapes[f"W_h{layer}"] = (H, 4 * H)
        shapes[f"b{layer}"] = (4 * H,)
    shapes["W_y"], shapes["b_y"] = (H, V), (V,)
    return shapes


def num_layers_of(params) -> int:
    return sum(1 for name in params if name.startswith("W_h"))


def count_params(params) -> int:
    return int(sum(p.size for p in params.values()))


def zero_state(params, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(h, c), each (L, B, H) of zeros: the state at the start of a stream."""
    L, H = num_layers_of(params), params["W_h0"].shape[0]
    dtype = params["W_h0"].dtype
    return np.zeros((L, batch_size, H), dtype), np.zeros((L, batch_size, H), dtype)


# --------------------------------------------------------------------------------------
# Memory: estimated before it is spent
# --------------------------------------------------------------------------------------

CORPUS_BYTES_PER_CHAR = 20  # file bytes, str, the list encode builds, int32 ids: an upper bound
VOCAB_WARNING = 1_000  # a character model expects a few hundred symbols at most


def param_count(vocab_size: int, hidden_size: int, num_layers: int) -> int:
    """How many numbers init_params(vocab_size, hidden_size, num_layers) holds."""
    V, H, L = vocab_size, hidden_size, num_layers
    return V * 4 * H + (L - 1) * H * 4 * H + L * (H * 4 * H + 4 * H) + H * V + V


def training_bytes(cfg: Config, vocab_size: int) -> int:
    """Bytes a training run needs, roughly: parameters, gradients, the AdamW moments and
    its scratch (5 copies), and one step's buffers (per layer: gates and their gradient,
    4H each; h, c, tanh c, the dropout mask and output, dh: H each; the logits, the softmax
    and the one-hot ids: V each)."""
    itemsize = np.dtype(cfg.dtype).itemsize
    H, L, V = cfg.hidden_size, cfg.num_layers, vocab_size
    steps = cfg.seq_len * cfg.batch_size
    step = steps * (L * (2 * 4 * H + 6 * H) + 4 * V)
    return itemsize * (5 * param_count(V, H, L) + step)


def available_memory() -> int | None:
    """Bytes of memory this process can still get (MemAvailable, or a cgroup's limit if
    lower), or None where it cannot be told."""
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            avail = min(avail or 2**63, int(limit) - used)
    except (OSError, ValueError):
        pass
    return avail


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:,.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:,.0f} MiB"


def check_memory(nbytes: int, what: str) -> None:
    """LSTMError, with the estimate, if `what` needs more memory than is available."""
    avail = available_memory()
    if avail is not None and nbytes > avail:
        raise LSTMError(f"{what} needs about {_gib(nbytes)} of memory; {_gib(avail)} is "
                        "available")


# --------------------------------------------------------------------------------------
# Forward pass
# --------------------------------------------------------------------------------------


def sigmoid(x):
    """1 / (1 + e^-x), written as 0.5 + 0.5 tanh(x / 2): the same function, but it never
    overflows (e^-x does for x < -88 in float32) and needs one transcendental call. Its
    absolute error is at the level of the dtype's rounding (relative accuracy is lost only
    for outputs below ~1e-8, which a gate cannot tell from 0)."""
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def empty(buffers, key, shape, dtype) -> np.ndarray:
    """np.empty(shape, dtype); or, given `buffers` (a dict its caller owns), the array kept
    there under `key`, allocated on first use. The training loop passes one dict to every
    step, and every large array of a step comes from it: reusing the same memory spares the
    kernel mapping and zeroing fresh pages (the allocator hands freed large blocks back to
    it, so a step at B=32 T=64 H=256 would otherwise take some 1,500 page faults, 6-13 % of
    its time). Arrays taken from it are overwritten by the next step."""
    if buffers is None:
        return np.empty(shape, dtype)
    a = buffers.get(key)
    if a is None or a.shape != shape or a.dtype != dtype:
        a = buffers[key] = np.empty(shape, dtype)
    return a


def product(a, b, buffers=None, key=None) -> np.ndarray:
    """a @ b for 2-d a and b; given `buffers`, written into the array kept there under
    `key` (see `empty`)."""
    return np.matmul(a, b, out=empty(buffers, key, (a.shape[0], b.shape[1]), a.dtype))


class LayerCache(NamedTuple):
    """What `lstm_layer_forward` keeps of one layer's window for `lstm_layer_backward`
    (t = 1..T; index 0 of cs and hs is the state carried in)."""

    gates: np.ndarray  # (T, B, 4H)   gates[t-1] = [i_t, f_t, g_t, o_t] side by side
    cs: np.ndarray  # (T+1, B, H)     cs[0] = c_0 carried in, cs[t] = c_t
    tanh_cs: np.ndarray  # (T, B, H)  tanh_cs[t-1] = tanh(c_t)
    hs: np.ndarray  # (T+1, B, H)     hs[0] = h_0 carried in, hs[t] = h_t
    W_h: np.ndarray  # (H, 4H)        the recurrent weights


def lstm_layer_forward(xw, h0, c0, W_h, buffers=None, layer=0):
    """Run one LSTM layer over a window.

    xw: (T, B, 4H) input projections x_t W_x + b for every step, computed before the loop
        in one product; it is overwritten with the gate activations (i, f, g, o).
    h0, c0: (B, H) the state carried in.
    Returns hs of shape (T+1, B, H) with hs[0] = h0 and hs[t] = h_t, and the LayerCache
    that lstm_layer_backward needs. buffers, layer: see `empty`.
    """
    T, B, H4 = xw.shape
    H = H4 // 4
    gates = xw
    hs = empty(buffers, ("hs", layer), (T + 1, B, H), xw.dtype)
    cs = empty(buffers, ("cs", layer), (T + 1, B, H), xw.dtype)
    tanh_cs = empty(buffers, ("tanh_cs", layer), (T, B, H), xw.dtype)
    hs[0], cs[0] = h0, c0
    # All four activations with one tanh over the 4H columns of z:
    #     [i, f, g, o] = gate_scale * tanh(gate_scale * z) + gate_shift
    # with gate_scale = 1/2, gate_shift = 1/2 on the i, f, o columns, as
    # sigmoid(z) = 1/2 tanh(z/2) + 1/2, and gate_scale = 1, gate_shift = 0 on g: tanh(z).
    gate_scale = np.full(4 * H, 0.5, xw.dtype)
    gate_scale[2 * H : 3 * H] = 1.0
    gate_shift = np.full(4 * H, 0.5, xw.dtype)
    gate_shift[2 * H : 3 * H] = 0.0
    hW = empty(buffers, ("hW", layer), (B, 4 * H), xw.dtype)
    ig = empty(buffers, ("ig", layer), (B, H), xw.dtype)
    for t in range(T):
        z = gates[t]  # (B, 4H), holds x_t W_x + b
        np.matmul(hs[t], W_h, out=hW)
        z += hW  # z_t = x_t W_x + h_{t-1} W_h + b
        z *= gate_scale
        np.tanh(z, out=z)
        z *= gate_scale
        z += gate_shift  # z now holds [i_t, f_t, g_t, o_t]
        i, f, g, o = z[:, :H], z[:, H : 2 * H], z[:, 2 * H : 3 * H], z[:, 3 * H :]
        np.multiply(f, cs[t], out=cs[t + 1])
        np.multiply(i, g, out=ig)
        cs[t + 1] += ig  # c_t = f_t * c_{t-1} + i_t * g_t
        np.tanh(cs[t + 1], out=tanh_cs[t])
        np.multiply(o, tanh_cs[t], out=hs[t + 1])  # h_t = o_t * tanh(c_t)
    return hs, LayerCache(gates, cs, tanh_cs, hs, W_h)


class LayerRecord(NamedTuple):
    """What `forward` keeps of layer l for `backward`:
        inp    (T, B, H) its input, layer l-1's output after dropout (None for layer 0,
               whose input is the ids x)
        cache  its LayerCache
        mask   (T, B, H) dropout's mask on its output, each entry 0 or 1/(1-p) (None
               without dropout)"""

    inp: np.ndarray | None
    cache: LayerCache
    mask: np.ndarray | None


class ForwardCache(NamedTuple):
    """What `forward` keeps of a window for `backward`."""

    x: np.ndarray  # (T, B) the character ids
    layers: list  # a LayerRecord per layer, the lowest first
    top: np.ndarray  # (T, B, H) the top layer's output after dropout: the input of W_y
    params: dict  # the parameters the window ran with


def forward(params, x, state=None, *, dropout: float = 0.0, rng=None, buffers=None):
    """Logits for every position of a window.

    x: (T, B) int character ids. state: (h, c) each (L, B, H), or None for zeros.
    dropout: probability of zeroing each output unit of every layer (inverted dropout: the
    kept units are scaled by 1/(1-p), so nothing changes at evaluation, where p = 0).
    Returns logits (T, B, V), the final state (h, c), and the ForwardCache for `backward`.
    buffers: see `empty` (the cache then lives in them, until the next call).
    """
    T, B = x.shape
    L = num_layers_of(params)
    H = params["W_h0"].shape[0]
    if state is None:
        state = zero_state(params, B)
    h_in, c_in = state
    h_out, c_out = np.empty_like(h_in), np.empty_like(c_in)
    layers = []
    inp = None
    for layer in range(L):
        W_x, b = params[f"W_x{layer}"], params[f"b{layer}"]
        xw = empty(buffers, ("gates", layer), (T, B, 4 * H), W_x.dtype)
        if layer == 0:  # row lookup: one_hot(x) @ W_x0 + b
            if x.size and (x.min() < 0 or x.max() >= W_x.shape[0]):
                raise IndexError(f"character ids must lie in [0, {W_x.shape[0]})")
            # mode="clip" as the ids are checked: with out= and the default mode="raise",
            # NumPy fills a temporary copy first: 7.6x slower at B=64, T=100, H=512.
            table = np.add(W_x, b, out=empty(buffers, "table", W_x.shape, W_x.dtype))
            np.take(table, x, axis=0, out=xw, mode="clip")
        else:
            np.matmul(inp.reshape(T * B, H), W_x, out=xw.reshape(T * B, 4 * H))
            xw += b
        hs, cache = lstm_layer_forward(xw, h_in[layer], c_in[layer], params[f"W_h{layer}"],
                                       buffers, layer)
        h_out[layer], c_out[layer] = hs[T], cache.cs[T]
        out, mask = hs[1:], None
        if dropout > 0:
            u = rng.random(out.shape, np.float32, empty(buffers, "uniform", out.shape, np.float32))
            keep = np.greater_equal(u, dropout, out=empty(buffers, "keep", out.shape, bool))
            mask = np.multiply(keep, out.dtype.type(1 / (1 - dropout)),  # 0 or 1/(1-p)
                               out=empty(buffers, ("mask", layer), out.shape, out.dtype))
            out = np.multiply(out, mask, out=empty(buffers, ("out", layer), out.shape, out.dtype))
        layers.append(LayerRecord(inp, cache, mask))
        inp = out
    logits = product(inp.reshape(T * B, H), params["W_y"], buffers, "logits").reshape(T, B, -1)
    logits += params["b_y"]
    return logits, (h_out, c_out), ForwardCache(x, layers, inp, params)


# --------------------------------------------------------------------------------------
# Loss: mean cross-entropy in nats per character
# --------------------------------------------------------------------------------------


def softmax(logits, axis=-1):
    """exp(l) / sum exp(l), after subtracting the max so that exp never overflows."""
    e = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def cross_entropy(logits, y, buffers=None):
    """Mean of -log p(y) over all positions, in nats, and its gradient w.r.t. the logits.

    logits: (..., V), y: (...) int. Returns (loss: float, dlogits: same shape as logits).
    buffers: see `empty`.
    """
    V = logits.shape[-1]
    flat = logits.reshape(-1, V)
    N = flat.shape[0]
    rows, cols = np.arange(N), y.ravel()
    # The logits shifted so that each row's max is 0 (exp never overflows), in the array
    # that then holds the softmax, and the shifted logit of each target:
    probs = np.subtract(flat, flat.max(axis=1, keepdims=True),
                        out=empty(buffers, "probs", flat.shape, flat.dtype))
    shifted_y = probs[rows, cols]
    np.exp(probs, out=probs)
    sums = probs.sum(axis=1, keepdims=True)
    log_p = shifted_y - np.log(sums[:, 0])
    loss = -float(np.mean(log_p, dtype=np.float64))
    probs /= sums
    probs[rows, cols] -= 1.0  # d loss / d logits = (softmax - one_hot) / N
    probs /= N
    return loss, probs.reshape(logits.shape)


def bits_per_char(nats: float) -> float:
    return nats / math.log(2)


def perplexity(nats: float) -> float:
    return math.exp(nats)


# --------------------------------------------------------------------------------------
# Backward pass: backpropagation through time
# --------------------------------------------------------------------------------------


def lstm_layer_backward(dhs, dh_T, dc_T, cache, buffers=None, layer=0):
    """Gradients of one layer, given dL/dh_t from above for every step.

    dhs: (T, B, H) gradient w.r.t. each output h_t (from the output layer or the layer above).
    dh_T, dc_T: (B, H) gradient flowing into the final state (zeros within one window).
    Returns dz (T, B, 4H) the gradient w.r.t. the gate pre-activations z_t, dW_h (H, 4H),
    and dh0, dc0 (B, H) the gradient w.r.t. the state carried in. buffers, layer: see `empty`.

    Going back one step:
        dh_t  = dhs_t + dz_{t+1} W_h^T
        dc_t  = dc_{t+1} * f_{t+1} + dh_t * o_t * (1 - tanh(c_t)^2)
        dz_i  = dc_t * g_t * i_t (1 - i_t)          dz_f = dc_t * c_{t-1} * f_t (1 - f_t)
        dz_g  = dc_t * i_t * (1 - g_t^2)            dz_o = dh_t * tanh(c_t) * o_t (1 - o_t)
    """
    gates, cs, tanh_cs, hs, W_h = cache
    T, B, H = tanh_cs.shape
    dz = empty(buffers, ("dz", layer), gates.shape, gates.dtype)
    # Between steps, dh and dc hold the parts of dh_t and dc_t that step t+1 sends back
    # (dz_{t+1} W_h^T and dc_{t+1} * f_{t+1}); at the end, dh_0 and dc_0.
    dh, dc = dh_T.copy(), dc_T.copy()
    dc_from_h = empty(buffers, ("dc_from_h", layer), dh.shape, dh.dtype)
    W_hT = empty(buffers, ("W_hT", layer), W_h.T.shape, W_h.dtype)
    np.copyto(W_hT, W_h.T)  # W_h^T in C order, so that each step's product reads it in rows
    for t in range(T, 0, -1):  # t = T, ..., 1: the steps of the equations above
        ifgo, dz_t = gates[t - 1], dz[t - 1]  # (B, 4H): [i_t, f_t, g_t, o_t], [dz_i, ... dz_o]
        i, f, g, o = ifgo[:, :H], ifgo[:, H : 2 * H], ifgo[:, 2 * H : 3 * H], ifgo[:, 3 * H :]
        # dz_t first holds the local derivatives, all four gates at once: s (1 - s) is the
        # sigmoid's, right for i, f, o ...
        np.subtract(1, ifgo, out=dz_t)
        dz_t *= ifgo
        np.multiply(g, g, out=dz_t[:, 2 * H : 3 * H])  # ... and 1 - g^2 for g = tanh(z_g)
        np.subtract(1, dz_t[:, 2 * H : 3 * H], out=dz_t[:, 2 * H : 3 * H])
        # ... times what each gate multiplies: g_t, c_{t-1}, i_t, tanh(c_t)
        dz_t[:, :H] *= g
        dz_t[:, H : 2 * H] *= cs[t - 1]
        dz_t[:, 2 * H : 3 * H] *= i
        dz_t[:, 3 * H :] *= tanh_cs[t - 1]
        dh += dhs[t - 1]  # dh_t = dhs_t + dz_{t+1} W_h^T
        np.multiply(tanh_cs[t - 1], tanh_cs[t - 1], out=dc_from_h)
        np.subtract(1, dc_from_h, out=dc_from_h)
        dc_from_h *= o
        dc_from_h *= dh  # dh_t * o_t * (1 - tanh(c_t)^2): through h_t = o_t tanh(c_t)
        dc += dc_from_h  # dc_t = dc_{t+1} * f_{t+1} + dh_t * o_t * (1 - tanh(c_t)^2)
        dz_t.reshape(B, 4, H)[:, :3] *= dc[:, None, :]  # dz_i, dz_f, dz_g = dc_t * ...
        dz_t[:, 3 * H :] *= dh  # dz_o = dh_t * tanh(c_t) * o_t (1 - o_t)
        dc *= f  # dc_t * f_t: the part of dc_{t-1} through c_t = f_t c_{t-1} + i_t g_t
        np.matmul(dz_t, W_hT, out=dh)  # dz_t W_h^T: the part of dh_{t-1} through z_t
    # dW_h = sum over t of h_{t-1}^T dz_t: all T steps in one GEMM
    dW_h = product(hs[:-1].reshape(T * B, H).T, dz.reshape(T * B, 4 * H), buffers,
                   ("dW_h", layer))
    return dz, dW_h, dh, dc


def one_hot(ids, num_classes, dtype, out=None) -> np.ndarray:
    """(N, num_classes) rows of zeros with a 1 at each id (written into `out` if given)."""
    if out is None:
        out = np.zeros((len(ids), num_classes), dtype)
    else:
        out.fill(0)
    out[np.arange(len(ids)), ids] = 1
    return out


def backward(dlogits, cache, buffers=None):
    """Gradients of every parameter and of the initial state (h, c).

    dlogits: (T, B, V) from `cross_entropy`; cache from `forward`.
    Returns grads (a dict with the keys of params, each the parameter's shape) and
    (dh0, dc0), each (L, B, H).
    """
    x, layers, top, params = cache
    T, B, V = dlogits.shape
    H, L = params["W_h0"].shape[0], len(layers)
    dlogits_rows = dlogits.reshape(T * B, V)  # one row per position: the GEMMs see T*B rows
    # logits = top W_y + b_y, so dW_y = top^T dlogits, db_y = the column sums of dlogits,
    # and dhs = dlogits W_y^T, the gradient w.r.t. the top layer's output
    # (buffers: see `empty`; the gradients live in them too, until the next call)
    grads = {"W_y": product(top.reshape(T * B, H).T, dlogits_rows, buffers, "dW_y"),
             "b_y": dlogits_rows.sum(axis=0)}
    dhs = product(dlogits_rows, params["W_y"].T, buffers, ("dhs", L)).reshape(T, B, H)
    dh0 = np.empty((L, B, H), dlogits.dtype)
    dc0 = np.empty_like(dh0)
    zeros = np.zeros((B, H), dlogits.dtype)
    for layer in reversed(range(L)):
        inp, layer_cache, mask = layers[layer]
        if mask is not None:
            dhs *= mask  # out = hs * mask: the gradient passes the kept units, scaled
        dz, grads[f"W_h{layer}"], dh0[layer], dc0[layer] = lstm_layer_backward(
            dhs, zeros, zeros, layer_cache, buffers, layer)
        # z_t = inp_t W_x + h_{t-1} W_h + b, over all T*B rows at once:
        dz_rows = dz.reshape(T * B, 4 * H)
        grads[f"b{layer}"] = np.ones(T * B, dz_rows.dtype) @ dz_rows  # db = column sums of dz
        W_x = params[f"W_x{layer}"]
        if layer == 0:  # the lookup W_x0[x] is one_hot(x) @ W_x0, so dW_x0 = one_hot(x)^T dz
            ids = one_hot(x.ravel(), W_x.shape[0], dz_rows.dtype,
                          out=empty(buffers, "one_hot", (T * B, W_x.shape[0]), dz_rows.dtype))
            grads["W_x0"] = product(ids.T, dz_rows, buffers, "dW_x0")
        else:  # dW_x = inp^T dz, and d inp = dz W_x^T: the gradient sent to the layer below
            grads[f"W_x{layer}"] = product(inp.reshape(T * B, H).T, dz_rows, buffers,
                                           ("dW_x", layer))
            dhs = product(dz_rows, W_x.T, buffers, ("dhs", layer)).reshape(T, B, H)
    return {name: grads[name] for name in params}, (dh0, dc0)


def loss_and_grads(params, x, y, state=None, *, dropout=0.0, rng=None, buffers=None):
    """One window: forward, loss, backward. Returns (loss, grads, final_state)."""
    logits, final_state, cache = forward(params, x, state, dropout=dropout, rng=rng,
                                         buffers=buffers)
    loss, dlogits = cross_entropy(logits, y, buffers)
    grads, _ = backward(dlogits, cache, buffers)
    return loss, grads, final_state


# --------------------------------------------------------------------------------------
# Clipping and the optimiser
# --------------------------------------------------------------------------------------


def global_norm(grads) -> float:
    return math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))


def clip_by_global_norm(grads, max_norm: float) -> float:
    """Scale all gradients by one factor so that their joint L2 norm is at most max_norm.
    One factor keeps the direction (clipping each element to a range does not).
    Returns the norm before clipping."""
    norm = global_norm(grads)
    if norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in grads.values():
            g *= scale
    return norm


def is_decayed(name: str) -> bool:
    """Weight decay applies to weight matrices (W_*), never to biases."""
    return name.startswith("W")


class AdamW:
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), as torch.optim.AdamW.

    For each parameter p with gradient g, at step t = 1, 2, ...:
        p <- p - lr * wd * p                 (decay, weight matrices only)
        m <- beta1 m + (1 - beta1) g         v <- beta2 v + (1 - beta2) g^2
        m_hat = m / (1 - beta1^t)            v_hat = v / (1 - beta2^t)
        p <- p - lr * m_hat / (sqrt(v_hat) + eps)
    """

    def __init__(self, params, lr=2e-3, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.01):
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        self.eps, self.weight_decay = eps, weight_decay
        self.t = 0
        self.m = {name: np.zeros_like(p) for name, p in params.items()}
        self.v = {name: np.zeros_like(p) for name, p in params.items()}
        self._scratch = {}

    def step(self, params, grads, lr: float | None = None) -> None:
        lr = self.lr if lr is None else lr
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        bc1 = 1 - b1**self.t  # bias corrections: m and v start at 0 and
        bc2 = 1 - b2**self.t  # would underestimate the moments in the first steps
        for name, p in params.items():
            g, m, v = grads[name], self.m[name], self.v[name]
            s = empty(self._scratch, name, p.shape, p.dtype)  # kept: no allocation per step
            if self.weight_decay and is_decayed(name):
                p *= 1 - lr * self.weight_decay
            m *= b1
            np.multiply(g, 1 - b1, out=s)
            m += s  # m = b1 m + (1 - b1) g
            v *= b2
            np.multiply(g, g, out=s)
            s *= 1 - b2
            v += s  # v = b2 v + (1 - b2) g^2
            np.divide(v, bc2, out=s)
            np.sqrt(s, out=s)
            s += self.eps  # sqrt(v_hat) + eps
            np.divide(m, s, out=s)
            s *= lr / bc1
            p -= s  # p -= lr m_hat / (sqrt(v_hat) + eps)


def lr_at(cfg: Config, step: int, progress: float) -> float:
    """Learning rate at `step` (0-based): linear warm-up over warmup_steps, then cosine decay
    from lr to min_lr_frac * lr as `progress` goes from 0 to 1."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    floor = cfg.lr * cfg.min_lr_frac
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


# --------------------------------------------------------------------------------------
# BLAS threads: chosen by measurement
# --------------------------------------------------------------------------------------
#
# NumPy's matrix products run on OpenBLAS's threads, one per core. On an idle machine all
# of them together are fastest. When another program keeps a core busy, they wait for each
# other at every small product, and one thread can be several times faster. Which count
# wins depends on the load, and the load changes during a run; so the training loop times
# its own steps with one thread and with all, keeps the faster, and checks again after each
# evaluation. threadpoolctl sets the count at run time (NumPy cannot, once it is running);
# without it the count stays as it is.

THREAD_CHECK_BUDGET = 0.03  # trying the slower count costs at most this share of the time
_said_cannot_adapt = False  # the note that the count cannot adapt is printed once
_all_threads = {}  # "all": the count the BLAS libraries had when first asked, per process


def _blas_libraries():
    """threadpoolctl's handle on the BLAS libraries NumPy uses, or None without it."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    blas = ThreadpoolController().select(user_api="blas")
    return blas if blas.lib_controllers else None


class BlasThreads:
    """The number of BLAS threads, chosen by timing the training steps themselves.

        threads = BlasThreads(every=cfg.eval_every)
        loss, norm, state = threads(train_step, params, opt, x, y, state, ...)

    runs train_step as it is, on the thread count that is fastest now. The timed calls are
    real training steps, so choosing costs only the extra time of the slower count on the
    few calls that try it:
    - at the start: one call with 1 thread, untimed (a fresh process maps its arrays then,
      and on a busy machine 1 thread is the cheap guess); then one call with 1 thread and
      one with all; unless one was twice as fast, one more each (all, then 1), and, if
      still neither was, a third (1, then all). The faster count is kept, judged by the
      median of each count's calls, so one call slowed by the machine does not decide;
    - after every `every` calls (or at `recheck()`), one call tries the other count
      against the median of the last 4 calls, and a second call confirms a switch; after a
      switch, or a first choice of 1 thread, the next check comes after every / 4. Such a
      check waits while it would bring the extra time spent trying above
      THREAD_CHECK_BUDGET of the total (judged by the other count's last measurement);
    - with all threads, as soon as the last 4 calls run 1.25x slower than 1 thread did
      (a core got busy), the next call tries 1 thread.
    The count stays set between calls, so evaluation and sampling use it too; `restore()`
    sets back the count found when the chooser was made. "All" is the count the BLAS had
    when the process first made a chooser (a chooser that chose 1 does not shrink it for
    the next). The count changes results in their last bits only (bench/README.md); a
    fixed count gives the same results on every run.

    threads: a fixed count (nothing is measured); None: OPENBLAS_NUM_THREADS when it is
    set, else measure. Attributes: `threads`, the count chosen; `source`, why
    ("measured", "--threads", "OPENBLAS_NUM_THREADS", "threadpoolctl missing", "one
    core"); `seconds`, the seconds per call last measured with each count.
    """

    def __init__(self, threads: int | None = None, *, every: int | None = None):
        global _said_cannot_adapt
        self.every = every
        self.blas = _blas_libraries()
        self.before = self.threads = self._applied = self._get()
        self.all = _all_threads.setdefault("threads", self.before)
        self.seconds: dict[int, float] = {}
        self.recent: list[float] = []  # seconds of the last (up to 4) calls, not trials
        self.total = self.spent = 0.0  # seconds of all calls; extra seconds spent trying
        self.since_check = 0
        self.plan: list[tuple[int, bool]] = []  # (count, timed?) for the next calls
        self.tried: dict[int, list[float]] = {}
        if threads is not None:
            if self.blas is None and threads != self.before:
                raise LSTMError(f"--threads {threads} needs threadpoolctl (pip install "
                                f"threadpoolctl), or OPENBLAS_NUM_THREADS={threads} set "
                                "before the start")
            self.threads = threads
            self._apply(threads)
            self.source = "--threads"
        elif os.environ.get("OPENBLAS_NUM_THREADS"):
            self.source = "OPENBLAS_NUM_THREADS"
        elif self.blas is None:
            self.source = "threadpoolctl missing"
            if not _said_cannot_adapt:
                _said_cannot_adapt = True
                print(f"note: threadpoolctl is not installed, so the BLAS threads stay at "
                      f"{self.before} and cannot adapt to a busy core (pip install "
                      "threadpoolctl)", file=sys.stderr)
        elif self.all == 1:
            self.source = "one core"
        else:
            self.source = "measured"
            self.plan = [(1, False), (1, True), (self.all, True)]

    def _get(self) -> int:
        if self.blas is None:  # what OpenBLAS starts with
            return int(os.environ.get("OPENBLAS_NUM_THREADS") or os.cpu_count() or 1)
        return max(lib.get_num_threads() for lib in self.blas.lib_controllers)

    def _apply(self, n: int) -> None:
        """Set the BLAS libraries to n threads."""
        if n != self._applied:
            for lib in self.blas.lib_controllers:
                lib.set_num_threads(n)
            self._applied = n

    def _other(self) -> int:
        return 1 if self.threads != 1 else self.all

    def __call__(self, fn, *args, **kwargs):
        """fn(*args, **kwargs), timed, on the count the schedule above gives."""
        if not self.plan and (self.every and self.since_check >= self.every
                              or self._slower_than_other()):
            self.recheck()
        trial = self.plan.pop(0) if self.plan else None
        n = trial[0] if trial else self.threads
        self._apply(n)
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        dt = time.perf_counter() - t0
        self.total += dt
        if trial is None:
            self.since_check += 1
            self.recent = (self.recent + [dt])[-4:]
            self.seconds[n] = float(np.median(self.recent))
        else:
            if trial[1]:
                self.tried.setdefault(n, []).append(dt)
            if not self.plan:
                self._decide()
            self._apply(self.threads)  # between calls (evaluation, sampling): the choice
        return out

    def _slower_than_other(self) -> bool:
        """Have the last 4 calls with all threads run 1.25x slower than 1 thread did (a core
        got busy)? Only this way round: a call with 1 thread can take no more than the
        work on one core, but a call with all of them can take 20 times longer."""
        one = self.seconds.get(1)
        return (self.source == "measured" and self.threads > 1 and one is not None
                and len(self.recent) == 4 and self.seconds[self.threads] > 1.25 * one)

    def recheck(self) -> None:
        """Let the next call try the other count, unless the budget says wait."""
        self.since_check = 0
        if self.source != "measured" or self.plan:
            return
        other = self._other()
        extra = max(0.0, self.seconds.get(other, 0.0) - self.seconds.get(self.threads, 0.0))
        if self.spent + extra <= THREAD_CHECK_BUDGET * self.total:
            self.plan = [(other, True)]

    def _decide(self) -> None:
        """After the trial calls: keep the count or switch."""
        tried = self.tried
        if len(tried) == 2:  # the first comparison: 1 thread against all
            t1, tn = float(np.median(tried[1])), float(np.median(tried[self.all]))
            if len(tried[1]) < 3 and max(t1, tn) < 2 * min(t1, tn):
                # not clear: once more each, in the order 1 all, all 1, 1 all, so that a
                # slow moment of the machine is as likely to fall on either count
                self.plan = ([(self.all, True), (1, True)] if len(tried[1]) == 1
                             else [(1, True), (self.all, True)])
                return
            self.spent += abs(t1 - tn) * len(tried[1])
            self.seconds = {1: t1, self.all: tn}
            self.threads = 1 if t1 < tn else self.all
            if self.threads == 1:
                self._look_again_soon()
        else:  # a check: the other count against the last calls with this one
            (other, ts), = tried.items()
            now, t = self.seconds[self.threads], float(np.mean(ts))
            self.spent += sum(max(0.0, x - now) for x in ts)
            if t < 0.95 * now and len(ts) == 1:
                self.plan = [(other, True)]  # faster: confirm with one more call
                return
            self.seconds[other] = t
            if t < 0.95 * now:
                self.threads = other
                self._look_again_soon()
        self.tried, self.recent = {}, []

    def _look_again_soon(self) -> None:
        """After a switch (or a first choice of 1 thread), the next check comes after a
        quarter of `every` calls: a core busy for a moment costs a quarter of the time."""
        if self.every:
            self.since_check = self.every - max(1, self.every // 4)

    def report(self, chars_per_call: int) -> dict:
        """The count in use, why, and the chars/s last measured with each count."""
        speeds = {str(n): round(chars_per_call / s, 1) for n, s in sorted(self.seconds.items())}
        return {"threads": self.threads, "source": self.source, "chars_per_sec": speeds}

    def describe(self, chars_per_call: int) -> str:
        """For a log: 'threads 2 (measured; 1: 18,200, 2: 24,100 chars/s)'."""
        r = self.report(chars_per_call)
        speeds = ", ".join(f"{n}: {v:,.0f}" for n, v in r["chars_per_sec"].items())
        if not speeds:  # an evaluation during the start's trial calls: nothing kept yet
            return f"threads {r['threads']} ({r['source']}; the trial steps are not done)"
        return f"threads {r['threads']} ({r['source']}; {speeds} chars/s)"

    def restore(self) -> None:
        """Set back the count found when this chooser was made."""
        if self.blas is not None:
            self._apply(self.before)


# --------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------


def train_step(params, opt: AdamW, x, y, state, *, lr, grad_clip, dropout=0.0, rng=None,
               buffers=None):
    """One optimisation step on one window: forward, backward, clip, AdamW.
    Returns (loss in nats/char, gradient norm before clipping, final state)."""
    loss, grads, state = loss_and_grads(params, x, y, state, dropout=dropout, rng=rng,
                                        buffers=buffers)
    norm = clip_by_global_norm(grads, grad_clip)
    opt.step(params, grads, lr)
    return loss, norm, state


def evaluate(params, ids: np.ndarray, batch_size: int, seq_len: int,
             max_chars: int | None = None) -> float:
    """Mean cross-entropy (nats/char) of the model on `ids`, read as B streams in windows of
    T with the state carried over, as in training. With max_chars, only the first windows
    holding about that many characters."""
    B = max(1, min(batch_size, (len(ids) - 1) // seq_len))
    streams = make_streams(ids, B)
    n = num_windows(streams, seq_len)
    if n < 1:
        raise LSTMError(f"validation text of {len(ids)} characters is shorter than one "
                        f"window of {seq_len}; use a smaller --seq-len or a longer text")
    if max_chars is not None:
        n = max(1, min(n, max_chars // (B * seq_len)))
    state = zero_state(params, B)
    total, buffers = 0.0, {}
    for k in range(n):
        x, y = get_window(streams, k, seq_len)
        logits, state, _ = forward(params, x, state, buffers=buffers)
        total += cross_entropy(logits, y, buffers)[0]
    return total / n


@dataclass
class TrainResult:
    params: dict
    vocab: Vocabulary
    config: Config
    history: list  # one dict per evaluation: step, train_loss, val_loss, lr, seconds, threads
    metrics: dict  # the --metrics-json keys


# what may differ on --resume: the run's length and what it reports, never the recipe
RESUMABLE_CHANGES = ("max_steps", "time_budget", "eval_every", "threads", "sample_every")


def resume_config(saved: Config, changes: dict | Config) -> Config:
    """The config of a resumed run, and the one place that decides what may change: the
    checkpoint's config `saved`, with `changes` (field -> value, or a Config: its fields
    that differ from saved's) to the fields in RESUMABLE_CHANGES; a change to any other is
    an error. A new max_steps or time_budget stretches the schedule: the cosine decay
    follows the new end from where the run is."""
    if isinstance(changes, Config):
        changes = {f.name: getattr(changes, f.name) for f in dataclasses.fields(Config)
                   if getattr(changes, f.name) != getattr(saved, f.name)}
    for name, value in changes.items():
        if name not in RESUMABLE_CHANGES and value != getattr(saved, name):
            raise LSTMError(f"{_flag(name)} cannot change when resuming (the checkpoint "
                            f"has {getattr(saved, name)!r}); only "
                            f"{', '.join(map(_flag, RESUMABLE_CHANGES))} may")
    return dataclasses.replace(saved, **changes)


class _Progress:
    """A one-line progress display on a terminal (stderr), silent elsewhere."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr is not None and sys.stderr.isatty()
        self.last = 0.0

    def update(self, step, total_steps, loss, chars_per_sec, eta):
        now = time.perf_counter()
        if not self.enabled or now - self.last < 0.2:  # a few redraws a second at most
            return
        self.last = now
        total = f"/{total_steps}" if total_steps else ""
        if eta is None:
            eta_s = "?"
        elif eta < 100 * 3600:
            eta_s = f"{int(eta) // 3600:02d}:{int(eta) % 3600 // 60:02d}:{int(eta) % 60:02d}"
        else:
            eta_s = f"{eta / 86400:,.0f} days"
        sys.stderr.write(f"\rstep {step}{total}  loss {loss:.3f}  {chars_per_sec:,.0f} chars/s"
                         f"  ETA {eta_s}   ")
        sys.stderr.flush()

    def close(self):
        if self.enabled and self.last:
            sys.stderr.write("\n")
            self.last = 0.0


class TrainingData(NamedTuple):
    """A text made ready for training (`training_data`)."""

    vocab: Vocabulary
    streams: tuple  # (inputs, targets), each (B, N): the training split as B streams
    n_windows: int  # whole windows of T steps in the streams
    n_train: int  # characters in the training split
    val_ids: np.ndarray  # the validation split


def training_data(text: str, vocab: Vocabulary, cfg: Config, name="corpus") -> TrainingData:
    """The text as ids, split 90/10, the training split cut into cfg.batch_size streams; an
    LSTMError naming the text (`name`) when a split is too short for windows of seq_len."""
    train_ids, val_ids = split_data(vocab.encode(text))
    T, B = cfg.seq_len, cfg.batch_size
    if len(train_ids) - 1 < B * T or len(val_ids) - 1 < T:
        raise LSTMError(f"{name} of {len(text):,} characters is too short for batches of "
                        f"{B} x {T}: use a smaller --batch-size or --seq-len")
    streams = make_streams(train_ids, B)
    return TrainingData(vocab, streams, num_windows(streams, T), len(train_ids), val_ids)


EVAL_SAMPLE_CHARS = 200  # the sample printed under each evaluation's loss line


@dataclass(eq=False)
class Run:
    """A training run as it goes (`train`'s loop). The fields up to `history` are what its
    checkpoint saves (`save_run`), so that a resumed run goes on with the same numbers;
    the rest belong to this session of it: its data, where it writes, what it measures.
    Made by `start_run` or `resume_run`, moved on by `run_step` and `run_evaluation`,
    ended by `finish_run`."""

    cfg: Config
    params: dict
    opt: AdamW
    rng: np.random.Generator  # dropout's masks
    state: tuple  # (h, c), each (L, B, H): carried from one window to the next
    step: int  # steps done
    window: int  # the window of the streams that the next step trains on
    elapsed: float  # seconds of training, earlier sessions of the run included
    history: list  # one record (a dict) per evaluation
    # this session
    data: TrainingData
    out: Path | None  # the checkpoint, written at each evaluation and at the end
    lock: OutputLock | None  # held on `out` while the run lasts (`train` takes it)
    verbose: bool  # the log lines on stdout and the progress bar
    lr: float = math.nan  # the learning rate of the last step
    recent: list = dataclasses.field(default_factory=list)  # losses since the last record
    train_time: float = 0.0  # seconds spent in train_step in this session ...
    train_chars: int = 0  # ... and the characters it trained on: the speed, in chars/s
    buffers: dict = dataclasses.field(default_factory=dict)  # every step's arrays: `empty`
    threads: BlasThreads = dataclasses.field(init=False)
    bar: _Progress = dataclasses.field(init=False)
    clock: float = dataclasses.field(init=False)  # elapsed = time.perf_counter() - clock

    def __post_init__(self):
        """The session starts: the BLAS thread count chosen by measurement, the progress
        bar, the clock (going on from `elapsed`)."""
        self.threads = BlasThreads(self.cfg.threads, every=self.cfg.eval_every)
        self.bar = _Progress(self.verbose)
        self.clock = time.perf_counter() - self.elapsed

    @property
    def chars_per_step(self) -> int:
        return self.cfg.batch_size * self.cfg.seq_len

    @property
    def chars_per_sec(self) -> float:
        """The training speed in this session (train_step alone, evaluations left out)."""
        return self.train_chars / max(self.train_time, 1e-9)


def start_run(cfg: Config, data: TrainingData, out=None, lock=None, verbose=True) -> Run:
    """A new run, as notebook 05's `train_loop` starts one: the weights drawn with
    cfg.seed, AdamW's moments at zero, dropout's generator seeded with seed + 1, the state
    zero, at step 0 and window 0."""
    params = init_params(len(data.vocab), cfg.hidden_size, cfg.num_layers,
                         forget_bias=cfg.forget_bias, seed=cfg.seed, dtype=cfg.dtype)
    opt = AdamW(params, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed + 1)
    return Run(cfg, params, opt, rng, zero_state(params, cfg.batch_size), step=0, window=0,
               elapsed=0.0, history=[], data=data, out=out, lock=lock, verbose=verbose)


def resume_run(ckpt: dict, cfg: Config, data: TrainingData, out=None, lock=None,
               verbose=True) -> Run:
    """The run a checkpoint saved (`load_checkpoint`), to go on under cfg
    (`resume_config`): its weights, AdamW's moments and step count, the state, dropout's
    generator, the step, window, seconds and history, exactly as they were."""
    rng = np.random.default_rng()
    rng.bit_generator.state = ckpt["rng"]
    return Run(cfg, ckpt["params"], ckpt["opt"], rng, ckpt["state"], step=ckpt["step"],
               window=ckpt["window"], elapsed=ckpt["elapsed"], history=ckpt["history"],
               data=data, out=out, lock=lock, verbose=verbose)


def run_progress(run: Run) -> float:
    """How far along the run is, from 0 to 1: by steps or by time, whichever is ahead (with
    neither limit set, by DEFAULT_TIME_BUDGET). It is the p of the cosine schedule."""
    cfg = run.cfg
    budget = cfg.time_budget
    if cfg.max_steps is None and budget is None:
        budget = DEFAULT_TIME_BUDGET
    p = 0.0
    if cfg.max_steps:
        p = max(p, run.step / cfg.max_steps)
    if budget:
        p = max(p, run.elapsed / budget)
    return p


def run_step(run: Run) -> None:
    """One step on the run's next window, as in notebook 05's loop: the state reset when
    the streams start over, the learning rate of this step, `train_step`; then the loss
    checked and counted, the window and the clock moved on, the progress bar redrawn."""
    cfg, T, B = run.cfg, run.cfg.seq_len, run.cfg.batch_size
    if run.window == 0:
        run.state = zero_state(run.params, B)  # the streams start over: forget the old state
    x, y = get_window(run.data.streams, run.window, T)
    run.lr = lr_at(cfg, run.step, run_progress(run))
    t0 = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is caught below
        loss, _, run.state = run.threads(train_step, run.params, run.opt, x, y, run.state,
                                         lr=run.lr, grad_clip=cfg.grad_clip,
                                         dropout=cfg.dropout, rng=run.rng,
                                         buffers=run.buffers)
    run.train_time += time.perf_counter() - t0
    run.train_chars += run.chars_per_step
    _stop_if_diverged(run, loss, "loss", run.step + 1)
    run.recent.append(loss)
    run.step += 1
    run.window = (run.window + 1) % run.data.n_windows
    run.elapsed = time.perf_counter() - run.clock
    p = run_progress(run)
    eta = run.elapsed / p - run.elapsed if p > 0 else None
    run.bar.update(run.step, cfg.max_steps, float(np.mean(run.recent[-50:])),
                   run.chars_per_sec, eta)


def run_evaluation(run: Run) -> None:
    """Every eval_every steps: a validation estimate on the first eval_chars characters, a
    history record (with the mean training loss since the last one), a sample (see
    --sample-every), the checkpoint, and the log line."""
    cfg = run.cfg
    with np.errstate(over="ignore", invalid="ignore"):
        val = evaluate(run.params, run.data.val_ids, cfg.batch_size, cfg.seq_len,
                       cfg.eval_chars)
    _stop_if_diverged(run, val, "validation loss", run.step)
    run.elapsed = time.perf_counter() - run.clock
    run.history.append({"step": run.step, "train_loss": float(np.mean(run.recent)),
                        "val_loss": val, "lr": run.lr, "seconds": round(run.elapsed, 1),
                        "threads": run.threads.report(run.chars_per_step)})
    run.recent = []
    text = _evaluation_sample(run)
    save_run(run)  # before the log line: a closed terminal loses no work
    run.bar.close()
    _log(run, f"step {run.step:6d} | train {run.history[-1]['train_loss']:.4f} | val "
         f"{val:.4f} nats/char | lr {run.lr:.2e} | {run.chars_per_sec:,.0f} chars/s | "
         f"{run.elapsed:,.0f} s | {run.threads.describe(run.chars_per_step)}")
    if text is not None:
        _log(run, text)


def finish_run(run: Run, metrics_json=None) -> TrainResult:
    """The end of the run (at its limit, or at --stop-at): the whole validation split, the
    last history record, the checkpoint, the metrics (written to metrics_json) and the
    last log lines."""
    cfg, history = run.cfg, run.history
    run.bar.close()
    train_loss = float(np.mean(run.recent)) if run.recent else (history[-1]["train_loss"]
                                                                if history else float("nan"))
    with np.errstate(over="ignore", invalid="ignore"):
        val_loss = evaluate(run.params, run.data.val_ids, cfg.batch_size, cfg.seq_len)
    _stop_if_diverged(run, val_loss, "validation loss", run.step)
    run.elapsed = time.perf_counter() - run.clock
    if not history or history[-1]["step"] != run.step:
        history.append({"step": run.step, "train_loss": train_loss, "val_loss": val_loss,
                        "lr": lr_at(cfg, run.step, run_progress(run)),
                        "seconds": round(run.elapsed, 1),
                        "threads": run.threads.report(run.chars_per_step)})
    else:
        history[-1]["val_loss"] = val_loss
    final_text = _evaluation_sample(run) if "sample" not in history[-1] else None
    save_run(run)
    metrics = {"val_loss": val_loss, "val_bits_per_char": bits_per_char(val_loss),
               "train_loss": train_loss, "steps": run.step, "seconds": round(run.elapsed, 1),
               "chars_per_sec": round(run.chars_per_sec, 1),
               "params": count_params(run.params), "vocab_size": len(run.data.vocab),
               "config": dataclasses.asdict(cfg), "history": history,
               "threads": run.threads.report(run.chars_per_step)}
    run.threads.restore()
    if metrics_json is not None:
        _atomic_write(Path(metrics_json), json.dumps(metrics, indent=1).encode())
    if final_text is not None:
        _log(run, final_text)
    _log(run, f"validation loss: {val_loss:.4f} nats/char ({bits_per_char(val_loss):.4f} "
         f"bits/char) after {run.step} steps")
    return TrainResult(run.params, run.data.vocab, cfg, history, metrics)


def save_run(run: Run) -> None:
    """The run's checkpoint, written to `out` (if any), its lock (if any) made sure of."""
    if run.out is not None:
        if run.lock is not None:
            run.lock.refresh()
        save_checkpoint(run.out, params=run.params, opt=run.opt, state=run.state,
                        vocab=run.data.vocab, cfg=run.cfg, step=run.step, window=run.window,
                        elapsed=run.elapsed, rng=run.rng, history=run.history)


def _evaluation_sample(run: Run) -> str | None:
    """What the model writes now (kept in the history record of this evaluation), or None
    when --sample-every says not at this step. Its own seeded generator: the training's
    random numbers are untouched."""
    every = run.cfg.sample_every
    if every == 0 or (every is not None and run.step % every != 0):
        return None
    vocab = run.data.vocab
    prime = "\n" if "\n" in vocab.stoi else vocab.chars[0]
    text = sample(run.params, vocab, prime, EVAL_SAMPLE_CHARS, temperature=0.8,
                  seed=run.cfg.seed)
    run.history[-1]["sample"] = text
    return text


def _stop_if_diverged(run: Run, value: float, what: str, at_step: int) -> None:
    """A diverged run stops before it can overwrite the last good checkpoint."""
    if not math.isfinite(value):
        run.bar.close()
        out = run.out
        where = f"; the last good checkpoint is {out}" if out and out.exists() else ""
        raise LSTMError(f"{what} became {value} at step {at_step} (try a lower --lr){where}")


def _log(run: Run, line: str) -> None:
    """line and its newline in one write (print makes two when stdout is unbuffered)."""
    out = sys.stdout
    if run.verbose and out is not None:  # as print, nothing where there is no stdout
        out.write(line + "\n")
        out.flush()


def train(cfg: Config | None = None, text: str | None = None, *, data_path=None,
          out=None, resume=None, changes=None, metrics_json=None, overwrite=False,
          verbose=True, stop_at: int | None = None, recipe: str | None = None) -> TrainResult:
    """Train (or resume) a model and return it with its history and metrics.

    text or data_path: the corpus (default: Shakespeare). out: checkpoint path, written
    atomically at every evaluation and at the end, and locked while the run lasts; an
    existing file is replaced only with overwrite=True or when it is the checkpoint being
    resumed. metrics_json: the final metrics, as JSON. No output may be an input (see
    `check_outputs`). resume: a checkpoint to continue, on the same text, with its config;
    `changes` (field -> value) or cfg may change only RESUMABLE_CHANGES. stop_at: stop
    (and save) at this step although the schedule runs on to max_steps; resuming continues
    exactly as if the run had never stopped. recipe: the line saying which recipe cfg is
    (`choose_recipe`), printed first once the inputs are checked.

    Every input and output is checked first; then the loop of notebook 05's `train_loop`:
    `start_run` or `resume_run`, `run_step` until `run_progress` reaches 1 (or stop_at),
    `run_evaluation` every eval_every steps, and `finish_run`.
    """
    if stop_at is not None:
        check_int("--stop-at", stop_at, 1)
    if resume is not None:
        _input_file(resume, "checkpoint", "--resume")
    if cfg is not None:
        cfg.validate()
    default_corpus = text is None and data_path is None
    inputs = {"--data": DEFAULT_CORPUS if default_corpus and DEFAULT_CORPUS.exists()
              else data_path, "--resume": resume}
    check_outputs({"--out": out, "--metrics-json": metrics_json}, inputs, overwrite=overwrite,
                  continues=[("--out", "--resume")])
    out = Path(out) if out is not None else None
    if text is None:
        text = load_corpus(data_path)
    vocab = Vocabulary.from_text(text)
    if len(vocab) > VOCAB_WARNING and verbose:
        print(f"warning: the text has {len(vocab):,} distinct characters; a character model "
              "expects a few hundred at most (is it text?)", file=sys.stderr)
    ckpt = None
    if resume is not None:
        ckpt = _resumable_checkpoint(resume, vocab, default_corpus)
        cfg = resume_config(ckpt["config"], cfg if cfg is not None else changes or {})
    cfg = dataclasses.replace(cfg) if cfg is not None else Config()
    cfg.validate()
    check_memory(training_bytes(cfg, len(vocab)) + len(text) * CORPUS_BYTES_PER_CHAR // 4,
                 f"training a model of H={cfg.hidden_size}, {cfg.num_layers} layers, "
                 f"B={cfg.batch_size}, T={cfg.seq_len} ({len(vocab)} characters)")
    data = training_data(text, vocab, cfg,
                         f"corpus {data_path}" if data_path is not None else "corpus")
    if ckpt is not None:
        if ckpt["window"] >= data.n_windows:
            raise LSTMError(f"the checkpoint is at window {ckpt['window']} of its text, which "
                            f"this text ({data.n_windows} windows) does not have: resume on "
                            "the text it was trained on")
        if verbose:
            text_of = (f"the default corpus {DEFAULT_CORPUS.relative_to(ROOT)}"
                       if default_corpus else data_path or "the text given")
            print(_resuming_line(resume, ckpt["step"], text_of, cfg), flush=True)
    lock = OutputLock(out) if out is not None else None
    if out is not None:
        remove_stale_temporaries(out.resolve().parent)
    with lock or contextlib.nullcontext():
        try:
            if ckpt is None:
                run = start_run(cfg, data, out, lock, verbose)
            else:
                run = resume_run(ckpt, cfg, data, out, lock, verbose)
            # the recipe and this line in one write: `train | head -n 1` breaks the pipe
            # at the first evaluation's line, after its checkpoint is saved
            _log(run, ("" if recipe is None else recipe + "\n")
                 + f"training {count_params(run.params):,} parameters on "
                 f"{data.n_train:,} characters (vocabulary {len(vocab)}), "
                 f"H={cfg.hidden_size} L={cfg.num_layers} B={cfg.batch_size} T={cfg.seq_len}")
            while run_progress(run) < 1.0 and (stop_at is None or run.step < stop_at):
                run_step(run)
                if run.step % cfg.eval_every == 0:
                    run_evaluation(run)
            return finish_run(run, metrics_json)
        except (KeyboardInterrupt, Terminated) as e:
            e.checkpoint = out if out is not None and out.exists() else None
            raise


def _resuming_line(resume, step: int, text_of, cfg: Config) -> str:
    """What a resumed run says first: where it goes on from, and the limits it runs to."""
    limits = [f"{_flag(k)} {getattr(cfg, k)}" for k in ("max_steps", "time_budget")
              if getattr(cfg, k) is not None]
    limits = limits or [f"--time-budget {DEFAULT_TIME_BUDGET:.0f} (the default)"]
    return (f"resuming {resume} at step {step} on {text_of}, the schedule running to "
            f"{' and '.join(limits)}")


def _resumable_checkpoint(resume, vocab: Vocabulary, default_corpus: bool) -> dict:
    """The checkpoint --resume names (`load_checkpoint`), if a run can go on from it on a
    text of this vocabulary; otherwise LSTMError."""
    ckpt = load_checkpoint(resume, "--resume")
    if ckpt["opt"] is None:
        raise LSTMError(f"{resume} is a released model (no optimiser state): it can be "
                        "sampled from, not resumed")
    if ckpt["vocab"] != vocab:
        source = (f"the default corpus {DEFAULT_CORPUS.relative_to(ROOT)} (no --data "
                  "given)" if default_corpus else "the data")
        raise LSTMError(f"the vocabulary of {source} ({len(vocab)} chars) differs from "
                        f"the checkpoint's ({len(ckpt['vocab'])} chars): resume on the "
                        "text it was trained on")
    return ckpt


# --------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------


def sample_next(logits, temperature: float = 1.0, top_k: int | None = None, rng=None):
    """Draw one id per row of logits (B, V). temperature 0 picks the most likely (argmax);
    top_k keeps only the k most likely characters before drawing."""
    if temperature == 0:
        return logits.argmax(axis=-1)
    rng = np.random.default_rng() if rng is None else rng
    with np.errstate(over="ignore"):
        z = logits.astype(np.float64) / temperature
    if not np.isfinite(z).all():  # a temperature so close to 0 that l / T overflows
        return logits.argmax(axis=-1)
    if top_k is not None and top_k < z.shape[-1]:
        kth = np.partition(z, -top_k, axis=-1)[:, -top_k][:, None]
        z = np.where(z < kth, -np.inf, z)
    p = softmax(z)
    u = rng.random((z.shape[0], 1))
    return (p.cumsum(axis=-1) < u).sum(axis=-1).clip(max=z.shape[-1] - 1)


def check_sample_args(prime: str, length, temperature, top_k, seed) -> None:
    """The sampling flags in their ranges (NaN and infinity fail), or LSTMError."""
    check_int("--length", length, 0)
    check_float("--temperature", temperature, ">= 0")
    if top_k is not None:
        check_int("--top-k", top_k, 1)
    check_int("--seed", seed, 0)
    if not prime:
        raise LSTMError("--prime must hold at least one character")


PRIME_CHUNK = 1024  # prime characters read per forward call: memory stays bounded


def generate(params, vocab: Vocabulary, prime: str = "\n", length: int = 500, *,
             temperature: float = 1.0, top_k: int | None = None, seed=0):
    """Yield `length` generated characters, one at a time, after reading `prime`. The
    prime is fed one character per step (windows of up to PRIME_CHUNK steps, the state
    carried across), so the state that starts the sampling has read it in order."""
    check_sample_args(prime, length, temperature, top_k, seed)
    rng = np.random.default_rng(seed)
    ids = vocab.encode(prime)
    state = None
    for k in range(0, len(ids), PRIME_CHUNK):
        logits, state, _ = forward(params, ids[k : k + PRIME_CHUNK, None], state)
    threads = BlasThreads(every=1000)  # the faster count for the one-character steps
    for _ in range(length):
        nxt = sample_next(logits[-1], temperature, top_k, rng)
        yield vocab.chars[int(nxt[0])]
        logits, state, _ = threads(forward, params, nxt[None, :], state)
    threads.restore()


def sample(params, vocab: Vocabulary, prime: str = "\n", length: int = 500, *,
           temperature: float = 1.0, top_k: int | None = None, seed=0) -> str:
    """The prime followed by `length` generated characters (see `generate`)."""
    return prime + "".join(generate(params, vocab, prime, length, temperature=temperature,
                                    top_k=top_k, seed=seed))


# --------------------------------------------------------------------------------------
# Baselines: what counting alone achieves
# --------------------------------------------------------------------------------------


def unigram_entropy(ids: np.ndarray, vocab_size: int) -> float:
    """Entropy (nats/char) of the character frequencies: the loss of a model that knows
    how common each character is and nothing about its neighbours."""
    p = np.bincount(ids, minlength=vocab_size) / len(ids)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def _ngram_keys(ids: np.ndarray, n: int, vocab_size: int) -> np.ndarray:
    """One int64 key per position j >= n-1 for the n characters ids[j-n+1 .. j]."""
    keys = np.zeros(len(ids) - n + 1, dtype=np.int64)
    for k in range(n):
        keys = keys * vocab_size + ids[k : len(ids) - n + 1 + k]
    return keys


def _lookup(sorted_keys, values, queries):
    """values[where sorted_keys == query], 0 where a query is absent."""
    pos = np.searchsorted(sorted_keys, queries).clip(max=len(sorted_keys) - 1)
    return np.where(sorted_keys[pos] == queries, values[pos], 0)


def ngram_loss(train_ids: np.ndarray, val_ids: np.ndarray, n: int, vocab_size: int) -> float:
    """Validation cross-entropy (nats/char) of an interpolated Kneser-Ney n-gram model
    (Chen & Goodman 1998) counted on train_ids, predicting each val character from the n-1
    before it. The discount of each order is D = n1 / (n1 + 2 n2), from the numbers of
    n-grams seen once (n1) and twice (n2). n = 1 is the unigram model."""
    if n == 1:
        counts = np.bincount(train_ids, minlength=vocab_size) + 1.0  # add-one, no zeros
        return float(-np.log(counts[val_ids] / counts.sum()).mean())
    ids = np.concatenate([train_ids, val_ids]).astype(np.int64)
    start = len(train_ids)  # score val positions, with context reaching back into train
    train64 = ids[:start]
    p = np.full(len(val_ids), 1.0 / vocab_size)  # order 0: uniform
    for order in range(1, n + 1):
        if order < n:  # lower orders count distinct left neighbours (continuation counts)
            longer = np.unique(_ngram_keys(train64, order + 1, vocab_size))
            keys, counts = np.unique(longer % vocab_size**order, return_counts=True)
        else:
            keys, counts = np.unique(_ngram_keys(train64, order, vocab_size),
                                     return_counts=True)
        n1, n2 = (counts == 1).sum(), (counts == 2).sum()
        D = n1 / (n1 + 2 * n2) if n1 + 2 * n2 > 0 else 0.5
        ctx_of = keys // vocab_size
        ctx_keys, inverse = np.unique(ctx_of, return_inverse=True)
        ctx_total = np.bincount(inverse, weights=counts)
        ctx_types = np.bincount(inverse)
        query = _ngram_keys(ids, order, vocab_size)[start - order + 1 :]
        c = _lookup(keys, counts, query)
        total = _lookup(ctx_keys, ctx_total, query // vocab_size)
        types = _lookup(ctx_keys, ctx_types, query // vocab_size)
        seen = total > 0
        safe = np.where(seen, total, 1.0)
        p = np.where(seen, (np.maximum(c - D, 0) + D * types * p) / safe, p)
    return float(-np.log(p).mean())


# --------------------------------------------------------------------------------------
# Files: outputs that never destroy inputs; checkpoints, one .npz written atomically
# --------------------------------------------------------------------------------------


TEMP_PREFIX = ".lstm_core."  # temporary and lock files: .lstm_core.<pid>.<random>.tmp


def _reason(e: OSError) -> str:
    return e.strerror or str(e) or type(e).__name__


def _identity(path: Path, flag: str):
    """What makes two paths the same file: (device, inode) if it exists (hard links and
    symlinks included), else the resolved path. A path that cannot even be resolved (a
    symlink loop, a deleted working directory) is LSTMError naming `flag`."""
    try:
        st = path.stat()
        return (st.st_dev, st.st_ino)
    except OSError:
        pass
    try:
        return str(path.resolve())
    except (OSError, RuntimeError) as e:
        why = _reason(e) if isinstance(e, OSError) else "a symlink loop"
        raise LSTMError(f"{flag} {path}: {why}") from None


def check_outputs(outputs: dict, inputs: dict, *, overwrite=False, continues=()) -> None:
    """Refuse, before any work, every output that would destroy something.

    outputs, inputs: flag -> path (None: not given). An output may not be an input or
    another output; an existing file is replaced only with overwrite; each output must be
    writable (`_check_writable`). continues: (output flag, input flag) pairs where the
    output is allowed to be that input, because the run continues it (train --resume).
    """
    seen_in = {flag: _identity(Path(p), flag) for flag, p in inputs.items()
               if p is not None and str(p) != ""}
    seen_out = {}
    for flag, path in outputs.items():
        if path is None:
            continue
        if str(path) == "":
            raise LSTMError(f"{flag} must name a file, got ''")
        path = Path(path)
        ident = _identity(path, flag)
        continued = any(ident == seen_in.get(src) for out, src in continues if out == flag)
        for other, other_ident in {**seen_in, **seen_out}.items():
            if ident == other_ident and (flag, other) not in continues:
                raise LSTMError(f"{flag} {path} is the same file as {other}: an output "
                                "never replaces an input or another output")
        seen_out[flag] = ident
        _check_writable(path, flag, replace=overwrite or continued)
        writer = OutputLock(path).holder()
        if writer is not None:
            raise LSTMError(f"{flag} {path} is being written by another training (pid "
                            f"{writer}); wait for it or choose another path")


def _check_writable(path: Path, flag: str, replace: bool) -> None:
    """path can be written: its name is not too long, it is not a directory or a device,
    it exists only if it may be replaced, and its directory (or the nearest existing one
    above it, which the write will extend) takes a new file."""
    if path.is_dir():
        raise LSTMError(f"{flag} {path} is a directory; give a file name")
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise LSTMError(f"{flag} {path} is not a regular file")
        if not replace:
            raise LSTMError(f"{flag} {path} exists; pass --overwrite to replace it")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise LSTMError(f"{flag} {path}: {parent} is not a directory")
    try:
        name_max = os.pathconf(parent, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        name_max = 255
    if len(os.fsencode(path.name)) > name_max:
        raise LSTMError(f"{flag} {path}: the file name is longer than {name_max} bytes")
    try:  # a file made and removed at once: read-only disks, permissions, /proc, ...
        with _temporary_file(parent) as (fd, _):
            os.close(fd)
    except OSError as e:
        raise LSTMError(f"{flag} {path}: cannot write in {parent}: {_reason(e)}") from None


def remove_stale_temporaries(directory: Path) -> None:
    """Delete temporary files that a killed run of lstm_core left in `directory` (their
    name holds the pid of a process that no longer exists)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        parts = name[len(TEMP_PREFIX):].split(".")
        if not (name.startswith(TEMP_PREFIX) and name.endswith(".tmp") and parts[0].isdigit()):
            continue
        if not _alive(int(parts[0])):
            with contextlib.suppress(OSError):
                os.unlink(Path(directory) / name)


def _alive(pid: int) -> bool:
    """A process with this pid exists (perhaps another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):  # PermissionError: another user's
        pass
    return True


@contextlib.contextmanager
def _temporary_file(directory):
    """A new file .lstm_core.<pid>.<random>.tmp in `directory`, open as (fd, name), and
    removed at the end unless it was renamed away. The name is chosen before the file is
    made, so that a signal arriving at any point still leaves nothing behind."""
    name = os.path.join(directory, f"{TEMP_PREFIX}{os.getpid()}.{os.urandom(6).hex()}.tmp")
    try:
        fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)  # less the umask
        yield fd, name
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def _holder_pid(fd) -> str:
    """The pid in a lock file that another process holds. It writes its pid just after it
    takes the lock, so wait a moment (at most 2 s) for the file to name a live process."""
    deadline = time.monotonic() + 2.0
    while True:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if (text.isdigit() and _alive(int(text))) or time.monotonic() > deadline:
            return text or "?"
        time.sleep(0.01)


class OutputLock:
    """Held by a training run for as long as it writes `path`: a second run that wants to
    write the same file stops at once, naming the first. The lock (flock on a small file
    beside the checkpoint) dies with its process, so a killed run never blocks the next."""

    def __init__(self, path):
        self.path = Path(path)
        key = hashlib.sha1(os.fsencode(self.path.resolve())).hexdigest()[:12]
        self.lock_path = self.path.resolve().parent / f"{TEMP_PREFIX}{key}.lock"
        self.fd = None

    def holder(self) -> str | None:
        """The pid of the training that holds this lock now, or None."""
        if fcntl is None or not self.lock_path.exists():
            return None
        try:
            fd = os.open(self.lock_path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return None  # nobody holds it (a killed run's file)
        except BlockingIOError:
            return _holder_pid(fd)
        except OSError:
            return None
        finally:
            os.close(fd)

    def __enter__(self):
        if fcntl is None:  # no flock (Windows): nothing to hold
            return self
        try:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            while True:
                nofollow = getattr(os, "O_NOFOLLOW", 0)  # a symlink there is refused
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | nofollow, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    other = _holder_pid(fd)
                    os.close(fd)
                    raise LSTMError(f"{self.path} is being written by another training "
                                    f"(pid {other}); wait for it or choose another --out"
                                    ) from None
                if os.path.exists(self.lock_path) and os.path.samestat(
                        os.fstat(fd), os.stat(self.lock_path)):
                    break  # ours, and still the file of that name
                os.close(fd)  # its holder removed it as we opened it: take the new one
        except OSError as e:
            raise LSTMError(f"--out {self.path}: cannot lock {self.lock_path}: "
                            f"{_reason(e)}") from None
        with contextlib.suppress(OSError):  # the pid is for the other run's message only
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def refresh(self) -> None:
        """Before each save: if the lock file was removed (its directory deleted and made
        again), take it anew, so that the lock keeps covering the checkpoint."""
        if self.fd is None:
            return
        try:
            current = os.stat(self.lock_path, follow_symlinks=False)
            if os.path.samestat(os.fstat(self.fd), current):
                return
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None
        self.__enter__()

    def __exit__(self, *exc):
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.lock_path)
            os.close(self.fd)
            self.fd = None


_signals = {"armed": False, "held": 0, "pending": None}  # main() arms; writes hold


@contextlib.contextmanager
def _signals_held():
    """While an output is written, a signal waits (milliseconds) and is raised when the
    work is done: a library's cleanup code (zipfile's, which runs even in finalizers) is
    never cut halfway, and the checkpoint on disk is the newest whole one."""
    _signals["held"] += 1
    try:
        yield
    finally:
        _signals["held"] -= 1
        pending = _signals["pending"]
        if not _signals["held"] and pending is not None:
            _signals["pending"] = None
            _raise_signal(pending)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`: a reader sees
    the old file or the new one, never half of one. Any fault is one LSTMError naming the
    path; the temporary file is removed whatever happens (a signal included)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _signals_held(), _temporary_file(path.parent) as (fd, tmp):
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
    except OSError as e:
        kept = " (the previous file is unchanged)" if path.is_file() else ""
        raise LSTMError(f"cannot write {path}: {_reason(e)}{kept}") from None


def save_checkpoint(path, *, params, opt: AdamW | None, state, vocab: Vocabulary,
                    cfg: Config, step=0, window=0, elapsed=0.0, rng=None, history=()) -> None:
    """Everything needed to sample from or resume a run, in one .npz file. With opt=None
    and state=None, a model for sampling only (a third of the size; it cannot resume)."""
    import io

    meta = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
            "config": dataclasses.asdict(cfg), "vocab": vocab.chars, "step": step,
            "window": window, "elapsed": elapsed, "adam_t": opt.t if opt else None,
            "rng": rng.bit_generator.state if rng is not None else None,
            "history": list(history)}
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
    for name in params:
        arrays[f"param/{name}"] = params[name]
        if opt is not None:
            arrays[f"adam_m/{name}"] = opt.m[name]
            arrays[f"adam_v/{name}"] = opt.v[name]
    if state is not None:
        arrays["state/h"], arrays["state/c"] = state
    buf = io.BytesIO()
    with _signals_held():
        np.savez(buf, **arrays)
        _atomic_write(Path(path), buf.getvalue())


CONFIG_ADDED_LATER = ("threads", "sample_every")  # a format-1 checkpoint may lack these


class InvalidCheckpoint(LSTMError):
    """A checkpoint that exists and unzips but does not hold what it should."""


def _read_array(zf: zipfile.ZipFile, name: str, dtype, shape) -> np.ndarray:
    """Array `name` of the .npz, after checking from its header, before reading any data,
    that it has this dtype and shape."""
    try:
        with zf.open(name + ".npy") as f:
            version = np.lib.format.read_magic(f)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                raise InvalidCheckpoint(f"array {name} has .npy version {version}")
            found_shape, fortran, found_dtype = read_header(f)
        if found_dtype != np.dtype(dtype) or found_shape != tuple(shape):
            raise InvalidCheckpoint(f"array {name} is {found_dtype} {list(found_shape)}, "
                                    f"expected {np.dtype(dtype)} {list(shape)}")
        with zf.open(name + ".npy") as f:
            a = np.lib.format.read_array(f, allow_pickle=False)
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise InvalidCheckpoint(f"array {name} cannot be read ({e})") from None
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise InvalidCheckpoint(f"array {name} holds NaN or infinite values")
    return a


def _short(value, limit=40) -> str:
    """repr(value), cut to `limit` characters for a one-line message."""
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 3] + "..."


def _check_meta(meta: dict) -> Config:
    """Every metadata field's type and range (InvalidCheckpoint naming the first that is
    wrong); returns the run's Config."""
    def need(key, types, ok=lambda v: True, what="valid"):
        if key not in meta:
            raise InvalidCheckpoint(f"metadata field {key!r} is missing")
        v = meta[key]
        if isinstance(v, bool) or not isinstance(v, types) or not ok(v):
            raise InvalidCheckpoint(f"metadata field {key!r} is {_short(v)}, expected {what}")
        return v

    need("config", dict, what="a dict")
    fields = {f.name: f for f in dataclasses.fields(Config)}
    unknown = sorted(set(meta["config"]) - set(fields))
    if unknown:
        raise InvalidCheckpoint(f"unknown config field {unknown[0]!r}")
    missing = [k for k in fields if k not in meta["config"] and k not in CONFIG_ADDED_LATER]
    if missing:
        raise InvalidCheckpoint(f"config field {missing[0]!r} is missing")
    kinds = {"int": (int,), "float": (int, float), "str": (str,)}
    for key, value in meta["config"].items():
        kind = fields[key].type.split(" |")[0]
        optional = "None" in fields[key].type
        if not ((optional and value is None)
                or (not isinstance(value, bool) and isinstance(value, kinds[kind]))):
            raise InvalidCheckpoint(f"config field {key!r} is {_short(value)}, expected {kind}")
    cfg = Config(**meta["config"])
    try:
        cfg.validate()
    except LSTMError as e:
        raise InvalidCheckpoint(f"config: {e}") from None
    need("vocab", str, lambda v: 0 < len(v) == len(set(v)), "distinct characters")
    need("step", int, lambda v: v >= 0, "an integer >= 0")
    need("window", int, lambda v: v >= 0, "an integer >= 0")
    need("elapsed", (int, float), lambda v: math.isfinite(v) and v >= 0, "seconds >= 0")
    need("history", list, lambda v: all(isinstance(r, dict) for r in v), "a list of dicts")
    if "adam_t" not in meta:
        raise InvalidCheckpoint("metadata field 'adam_t' is missing")
    if meta["adam_t"] is not None:
        need("adam_t", int, lambda v: v >= 0, "an integer >= 0 or null")
        need("rng", dict, what="a generator state")
        try:
            np.random.default_rng().bit_generator.state = meta["rng"]
        except (TypeError, ValueError, KeyError) as e:
            raise InvalidCheckpoint(f"metadata field 'rng' is not a generator state ({e})"
                                    ) from None
    return cfg


def load_checkpoint(path, flag: str = "--checkpoint") -> dict:
    """Read and validate a checkpoint: a missing, truncated or foreign file, or one whose
    metadata or arrays are not what its config says, raises LSTMError. Only the arrays this
    format defines are read, each checked (dtype, shape) before it is allocated."""
    path = _input_file(path, "checkpoint", flag)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise LSTMError(f"{path} is not a readable lstm_core checkpoint "
                        "(truncated or another format)") from None
    with zf:
        try:
            with zf.open("meta.npy") as f:
                raw = np.lib.format.read_array(f, allow_pickle=False)
            meta = json.loads(raw.tobytes().decode())
        except Exception:
            raise LSTMError(f"{path} is not a readable lstm_core checkpoint "
                            "(truncated or another format)") from None
        if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
            raise LSTMError(f"{path} is not an lstm_core checkpoint")
        if meta.get("version") != CHECKPOINT_VERSION:
            raise LSTMError(f"{path} has checkpoint version {meta.get('version')!r}, "
                            f"this lstm_core reads version {CHECKPOINT_VERSION}")
        try:
            cfg = _check_meta(meta)
            vocab = Vocabulary(meta["vocab"])
            V, H, L = len(vocab), cfg.hidden_size, cfg.num_layers
            resumable = meta["adam_t"] is not None
            if 3 * L + 2 > len(zf.namelist()):  # before anything is built per layer
                raise InvalidCheckpoint(f"its config has {L:,} layers, more than the file's "
                                        f"{len(zf.namelist())} arrays could hold")
            nbytes = param_count(V, H, L) * np.dtype(cfg.dtype).itemsize * (3 if resumable
                                                                               else 1)
            stored = sum(info.file_size for info in zf.infolist())
            if nbytes > stored:  # an edited size: the arrays cannot be there
                raise InvalidCheckpoint(f"its config needs {nbytes:,} bytes of arrays, the "
                                        f"file holds {stored:,}")
            check_memory(nbytes, f"the checkpoint {path}")
            shapes = init_shapes(V, H, L)
            params = {n: _read_array(zf, f"param/{n}", cfg.dtype, shape)
                      for n, shape in shapes.items()}
            opt = state = None
            if resumable:
                opt = AdamW(params, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay)
                opt.t = meta["adam_t"]
                opt.m = {n: _read_array(zf, f"adam_m/{n}", cfg.dtype, shape)
                         for n, shape in shapes.items()}
                opt.v = {n: _read_array(zf, f"adam_v/{n}", cfg.dtype, shape)
                         for n, shape in shapes.items()}
                if any((v < 0).any() for v in opt.v.values()):
                    raise InvalidCheckpoint("the AdamW second moments hold negative values")
                state = tuple(_read_array(zf, f"state/{k}", cfg.dtype, (L, cfg.batch_size, H))
                              for k in ("h", "c"))
        except InvalidCheckpoint as e:
            raise LSTMError(f"{path} is not a valid checkpoint: {e}") from None
    return {"params": params, "opt": opt, "state": state, "vocab": vocab, "config": cfg,
            "step": meta["step"], "window": meta["window"], "elapsed": meta["elapsed"],
            "rng": meta.get("rng"), "history": meta["history"], "path": str(path)}


def release_checkpoint(src, dst, *, overwrite=False) -> None:
    """Write the model of checkpoint `src` to `dst` for sampling only: weights, vocabulary,
    config and history, without the optimiser moments and the training state."""
    check_outputs({"--out": dst}, {"--checkpoint": src}, overwrite=overwrite)
    ckpt = load_checkpoint(src)
    save_checkpoint(dst, params=ckpt["params"], opt=None, state=None, vocab=ckpt["vocab"],
                    cfg=ckpt["config"], step=ckpt["step"], elapsed=ckpt["elapsed"],
                    history=ckpt["history"])


# --------------------------------------------------------------------------------------
# Export: the same model for torch.nn.LSTM + torch.nn.Linear
# --------------------------------------------------------------------------------------

EXPORT_FORMAT = "lstm_core export for torch.nn.LSTM, version 1"


def torch_state_dict(params) -> dict[str, np.ndarray]:
    """The parameters under the names, shapes and gate layout of a torch
    `ModuleDict({"lstm": nn.LSTM(V, H, L), "linear": nn.Linear(H, V)})` fed one-hot
    inputs of size V. Our fused (in, 4H) matrices are torch's (4H, in) transposed, gates
    i, f, g, o in both; our one bias b is torch's bias_ih, with bias_hh = 0."""
    out = {}
    for layer in range(num_layers_of(params)):
        out[f"lstm.weight_ih_l{layer}"] = params[f"W_x{layer}"].T
        out[f"lstm.weight_hh_l{layer}"] = params[f"W_h{layer}"].T
        out[f"lstm.bias_ih_l{layer}"] = params[f"b{layer}"]
        out[f"lstm.bias_hh_l{layer}"] = np.zeros_like(params[f"b{layer}"])
    out["linear.weight"], out["linear.bias"] = params["W_y"].T, params["b_y"]
    return {name: np.ascontiguousarray(a) for name, a in out.items()}


def safetensors_bytes(tensors: dict, metadata: dict) -> bytes:
    """The safetensors format, written with NumPy alone: an 8-byte little-endian header
    length, a JSON header (name -> dtype, shape, byte offsets; "__metadata__" -> strings),
    padded to 8 bytes, then every tensor's bytes, C order, little-endian."""
    codes = {"float32": "F32", "float64": "F64"}
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
        header[name] = {"dtype": codes[a.dtype.name], "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        blobs.append(a.tobytes())
        offset += a.nbytes
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + b"".join(blobs)


def export_checkpoint(src, dst, *, overwrite=False) -> None:
    """Write checkpoint `src`'s model to `dst` as safetensors for torch (see
    `torch_state_dict`), with the vocabulary (a JSON string of the characters, id order),
    H and L in its metadata. The README shows how torch loads it and samples."""
    check_outputs({"--out": dst}, {"--checkpoint": src}, overwrite=overwrite)
    ckpt = load_checkpoint(src)
    cfg = ckpt["config"]
    meta = {"format": EXPORT_FORMAT, "vocab": json.dumps(ckpt["vocab"].chars),
            "hidden_size": cfg.hidden_size, "num_layers": cfg.num_layers,
            "input": "one-hot vectors of size len(vocab), time-major (T, B, V)"}
    _atomic_write(Path(dst), safetensors_bytes(torch_state_dict(ckpt["params"]), meta))


# --------------------------------------------------------------------------------------
# Gradient check: centred finite differences in float64
# --------------------------------------------------------------------------------------


def relative_error(a, b) -> float:
    """max |a - b| over the tensor, relative to the larger of the two tensors' largest
    entries. Rounding in float64 finite differences stays near 1e-10; a wrong formula
    gives 1e-3 or more."""
    scale = max(np.abs(a).max(), np.abs(b).max(), 1e-12)
    return float(np.abs(a - b).max() / scale)


def numerical_gradient(f, x, eps: float = 1e-5) -> np.ndarray:
    """d f / d x by centred differences (f(x + eps) - f(x - eps)) / 2 eps, entry by entry."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        idx = it.multi_index
        old = x[idx]
        x[idx] = old + eps
        plus = f()
        x[idx] = old - eps
        minus = f()
        x[idx] = old
        grad[idx] = (plus - minus) / (2 * eps)
    return grad


GRADCHECK_THRESHOLD = 1e-6


def gradcheck(num_layers: int = 1, *, vocab_size=7, hidden_size=5, batch_size=3, seq_len=6,
              dropout=0.0, seed=0) -> list[dict]:
    """Compare `backward` with finite differences for every parameter tensor and for the
    initial state (h0, c0), on a small float64 model with a random carried-in state.
    Returns one row per tensor: name, shape, error, threshold, ok."""
    rng = np.random.default_rng(seed)
    params = init_params(vocab_size, hidden_size, num_layers, seed=rng, dtype="float64")
    for p in params.values():  # move biases off their init so every path is exercised
        p += rng.normal(0, 0.1, p.shape)
    x = rng.integers(0, vocab_size, (seq_len, batch_size))
    y = rng.integers(0, vocab_size, (seq_len, batch_size))
    shape = (num_layers, batch_size, hidden_size)
    h0, c0 = rng.normal(0, 0.5, shape), rng.normal(0, 0.5, shape)
    mask_seed = int(rng.integers(2**31))

    def loss():
        logits, _, _ = forward(params, x, (h0, c0), dropout=dropout,
                               rng=np.random.default_rng(mask_seed))
        return cross_entropy(logits, y)[0]

    logits, _, cache = forward(params, x, (h0, c0), dropout=dropout,
                               rng=np.random.default_rng(mask_seed))
    grads, (dh0, dc0) = backward(cross_entropy(logits, y)[1], cache)
    analytic = dict(grads, h0=dh0, c0=dc0)
    tensors = dict(params, h0=h0, c0=c0)
    rows = []
    for name, value in tensors.items():
        err = relative_error(analytic[name], numerical_gradient(loss, value))
        rows.append({"name": name, "shape": list(value.shape), "error": err,
                     "threshold": GRADCHECK_THRESHOLD, "ok": err <= GRADCHECK_THRESHOLD})
    return rows


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def _cmd_train(args) -> None:
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config)
             if getattr(args, f.name, None) is not None}
    dataclasses.replace(Config(), **given).validate()  # a bad flag fails before any work
    if args.stop_at is not None:
        check_int("--stop-at", args.stop_at, 1)
    if args.resume is not None:
        cfg, changes, why = None, given, None  # the checkpoint's config, by `resume_config`
    else:  # the recipe depends on the text's length: how many times the run would read it
        train_chars = len(split_data(np.empty(len(load_corpus(args.data)), np.int8))[0])
        (cfg, why), changes = choose_recipe(given, train_chars), None
    out = args.out if args.out is not None else (args.resume or "model.npz")
    train(cfg, data_path=args.data, out=out,
          resume=args.resume, changes=changes, metrics_json=args.metrics_json,
          overwrite=args.overwrite, stop_at=args.stop_at, recipe=why)


def _stdout():
    """sys.stdout, or LSTMError when the process was started with it closed."""
    if sys.stdout is None:
        raise LSTMError("standard output is closed: there is nowhere to write to")
    return sys.stdout


def _cmd_sample(args) -> None:
    prime = "\n" if args.prime is None else args.prime  # the default is refined below
    check_sample_args(prime, args.length, args.temperature, args.top_k, args.seed)
    out = _stdout()
    path = args.checkpoint if args.checkpoint is not None else DEFAULT_CHECKPOINT
    if args.checkpoint is None and not Path(path).exists():
        raise LSTMError(f"no --checkpoint given and no trained model at {path}")
    ckpt = load_checkpoint(path)
    vocab = ckpt["vocab"]
    prime = args.prime if args.prime is not None else ("\n" if "\n" in vocab.stoi
                                                        else vocab.chars[0])
    vocab.encode(prime)  # characters outside the vocabulary: an error before any output
    out.write(prime)
    last, written = prime[-1], 0
    for ch in generate(ckpt["params"], vocab, prime, args.length,
                       temperature=args.temperature, top_k=args.top_k, seed=args.seed):
        out.write(ch)
        last, written = ch, written + 1
        if ch == "\n" or written % 256 == 0:
            out.flush()  # the text appears as it is made, a line at a time
    out.write("" if last == "\n" else "\n")
    out.flush()


def _cmd_export(args) -> None:
    export_checkpoint(args.checkpoint, args.out, overwrite=args.overwrite)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1e6:.1f} MB, safetensors "
          "for torch.nn.LSTM + nn.Linear)")


def _cmd_release(args) -> None:
    release_checkpoint(args.checkpoint, args.out, overwrite=args.overwrite)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1e6:.1f} MB, for sampling)")


GRADCHECK_MAX_LAYERS = 8  # finite differences cost two forward passes per number


def _cmd_gradcheck(args) -> None:
    check_int("--layers", args.layers, 1)
    if args.layers > GRADCHECK_MAX_LAYERS:
        raise LSTMError(f"--layers must be at most {GRADCHECK_MAX_LAYERS} for a gradient "
                        f"check, got {args.layers}")
    check_float("--dropout", args.dropout, "in [0, 1)")
    check_int("--seed", args.seed, 0)
    out = _stdout()
    rows = gradcheck(args.layers, dropout=args.dropout, seed=args.seed)
    if args.json:
        out.write(json.dumps(rows, indent=1) + "\n")
    else:
        out.write(f"{'tensor':8s} {'shape':>10s} {'max rel. error':>15s} {'threshold':>10s}  "
                  "ok\n")
        for r in rows:
            shape = "x".join(map(str, r["shape"]))
            out.write(f"{r['name']:8s} {shape:>10s} {r['error']:15.2e} "
                      f"{r['threshold']:10.0e}  {'yes' if r['ok'] else 'NO'}\n")
    out.flush()
    if not all(r["ok"] for r in rows):
        raise SystemExit(1)


def _cmd_bench(args) -> None:
    """The benchmark harness lives beside the module, in bench/harness.py (`make bench`)."""
    check_int("--repeats", args.repeats, 1)
    check_float("--seconds", args.seconds, "> 0", unit=" seconds")
    path = ROOT / "bench" / "harness.py"
    if not path.is_file():
        raise LSTMError(f"the benchmark harness {path} is not here: it comes with the "
                        "repository, not with an installed lstm_core")
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_harness", path)
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    harness.report(args.repeats, args.seconds, as_json=args.json)


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line like every other error of the CLI."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")

    def _print_message(self, message, file=None):
        """As argparse's, without swallowing a failed write: --help into a full or closed
        stdout is then reported like any other command's output."""
        if message:
            file = file or sys.stdout
            if file is None:
                raise LSTMError("standard output is closed: there is nowhere to write to")
            file.write(message)


def _flag_list(names) -> str:
    """'--a, --b and --c': the flags of these Config fields, for a sentence."""
    flags = [_flag(name) for name in names]
    return ", ".join(flags[:-1]) + " and " + flags[-1] if len(flags) > 1 else flags[0]


def _add_config_flags(parser) -> None:
    """A flag for every Config field, made from the field itself: its type from the
    annotation, its help text (what it does, its range) and any argparse settings from its
    metadata (`_option`), its default and whether --resume may change it added here. The
    flag's own default is None, so that `_cmd_train` can tell a flag given from one not."""
    group = parser.add_argument_group(
        "the recipe and the run (Config)",
        "Defaults: the hour's recipe, as shown. With --time-budget or --max-steps, the "
        "recipe measured best for about that run (the first line printed says which); each "
        "flag given overrides its part.")
    kinds = {"int": int, "float": float, "str": str}
    for f in dataclasses.fields(Config):
        settings = dict(f.metadata)
        help = settings.pop("help")
        if f.default is not None:
            help += f" (default: {f.default})"
        if f.name in RESUMABLE_CHANGES:
            help += "; may change on --resume"
        group.add_argument(_flag(f.name), dest=f.name, type=kinds[f.type.split(" |")[0]],
                           help=help, **settings)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m lstm_core",
                                     description="A character-level LSTM in NumPy.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model (default: the default recipe on "
                       "Shakespeare)")
    p.add_argument("--data", metavar="PATH",
                   help="UTF-8 text file (default: the Shakespeare corpus)")
    p.add_argument("--out", metavar="CKPT", help="checkpoint to write (default: model.npz, "
                   "or the --resume file)")
    p.add_argument("--resume", metavar="CKPT", help="checkpoint to continue (only "
                   f"{_flag_list(RESUMABLE_CHANGES)} may change; a new limit stretches the "
                   "schedule)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out or --metrics-json")
    p.add_argument("--stop-at", type=int, metavar="N", help="stop and save at this step; "
                   "--resume then continues bit for bit as if it never stopped (with a fixed "
                   "--threads)")
    p.add_argument("--metrics-json", metavar="PATH", help="write the final metrics here")
    _add_config_flags(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("sample", help="generate text from a checkpoint")
    p.add_argument("--checkpoint", help=f"default: {DEFAULT_CHECKPOINT.relative_to(ROOT)}")
    p.add_argument("--prime", help="text to start from (default: a newline)")
    p.add_argument("--length", type=int, default=500, help="characters to generate (>= 0)")
    p.add_argument("--temperature", type=float, default=0.8,
                   help="0 picks the most likely character; 1 samples the model as it is")
    p.add_argument("--top-k", type=int, help="draw from the k most likely characters only")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("release", help="a checkpoint's model alone, for sampling")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=_cmd_release)

    p = sub.add_parser("export", help="a checkpoint's model as safetensors for "
                       "torch.nn.LSTM + nn.Linear")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, help="the .safetensors file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("gradcheck", help="finite-difference check of every gradient")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_gradcheck)

    p = sub.add_parser("bench", help="training chars/s side by side, idle and with a core "
                       "busy (bench/harness.py)")
    p.add_argument("--repeats", type=int, default=3, help="rounds (>= 1)")
    p.add_argument("--seconds", type=float, default=3.0, help="length of each timed run")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_bench)
    return parser


def _say(line: str) -> None:
    """One line on stderr (a newline inside, from a file name, is shown as \\n), if there is
    a stderr to write to."""
    if sys.stderr is not None:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(line.replace("\n", "\\n").replace("\r", "\\r") + "\n")
            sys.stderr.flush()


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null, so that the interpreter's last flush of a broken or full
    stdout cannot print an 'Exception ignored' message."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _on_signal(signum, frame):
    """SIGTERM and SIGHUP raise Terminated (once: a second signal cannot cut the cleanup),
    SIGINT KeyboardInterrupt, but not while a file is being written (`_signals_held`)."""
    if _signals["held"]:
        _signals["pending"] = signum
        return
    _raise_signal(signum)


def _raise_signal(signum):
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    if _signals["armed"]:
        _signals["armed"] = False
        raise Terminated(signum)


def main(argv=None) -> int:
    """The command line. Exit status: 0 done, 1 a failed gradient check, 2 a user's mistake
    or a file-system fault (one line on stderr), 130 Ctrl-C, 141 a closed pipe, 143
    SIGTERM (129 SIGHUP)."""
    for stream, errors in ((sys.stdout, "replace"), (sys.stderr, "backslashreplace")):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors=errors)  # characters the terminal cannot show
    previous = {}
    try:
        _signals["armed"] = True
        for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None), signal.SIGINT):
            if sig is not None:  # SIGHUP: the terminal has gone
                with contextlib.suppress(ValueError):  # not the main thread: leave them be
                    previous[sig] = signal.signal(sig, _on_signal)
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as e:  # --help, or a usage error argparse has reported
            if sys.stdout is not None:
                sys.stdout.flush()
            return e.code if isinstance(e.code, int) else 2
        args.func(args)
        if sys.stdout is not None:
            sys.stdout.flush()  # here, so that a full stdout is reported like any fault
        _signals["armed"] = False
    except LSTMError as e:
        _signals["armed"] = False
        _say(f"error: {e}")
        return 2
    except (KeyboardInterrupt, Terminated) as e:
        _signals["armed"] = False
        ckpt = getattr(e, "checkpoint", None)
        kept = f"; the last checkpoint, {ckpt}, is kept" if ckpt else ""
        if isinstance(e, Terminated):
            _say(f"terminated{kept}")
            return 128 + (e.args[0] if e.args else signal.SIGTERM)
        _say(f"interrupted{kept}")
        return 130
    except BrokenPipeError:  # `... | head`: the reader has all it wanted
        _silence_stdout()
        return 141
    except OSError as e:  # a full or failing stdout, or a fault no check foresaw
        stdout_fault = e.filename is None and e.errno in (errno.ENOSPC, errno.EIO,
                                                         errno.EBADF, errno.EDQUOT)
        where = "standard output" if stdout_fault else (e.filename or "a file")
        _say(f"error: cannot write to {where}: {_reason(e)}" if stdout_fault
             else f"error: {where}: {_reason(e)}")
        _silence_stdout()
        return 2
    except MemoryError:
        _say("error: out of memory (try a smaller --hidden-size, --batch-size or --seq-len)")
        return 2
    finally:
        _signals["armed"] = False
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
