"""The benchmark of `make bench`: training characters per second of lstm_core, side by side
with its contenders (contenders.py), on an idle machine and with one core kept busy.

    .venv/bin/python bench/harness.py [--repeats N] [--seconds S] [--json]

(`python -m lstm_core bench` runs the same.) What is timed is one training step: forward,
backward, global-norm clipping, AdamW, float32, one layer, V = 65, at BENCH_CONFIGS.

- lstm_core as `train` runs it: the BLAS threads chosen by `lstm_core.BlasThreads`
  (threadpoolctl), and, to show what choosing is worth, with the count fixed at 1 thread
  and at all of them (OpenBLAS's default, what lstm_core did before it chose);
- PyTorch on the CPU (when installed) and the original notebook's training step.

A learner's machine is rarely idle: a browser, another kernel or a test run keeps a core
busy. So every round times every contender twice, once on the idle machine and once while
a spinning process (started and stopped here) keeps one core busy. Every timed run is a
fresh process of its own, so that one library's idle threads never spin against
another's; runs go round-robin over the contenders, `repeats` rounds, so that a slow
moment of a shared machine hits them alike (`schedule`: lstm_core and PyTorch at one
configuration one after the other). Each speed: the median of the rounds, with their
range; each ratio: the median of the rounds' ratios, each round's two runs seconds apart.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # run as a script: lstm_core.py is one folder up
    sys.path.insert(0, str(ROOT))

import lstm_core as lc  # noqa: E402

BENCH_CONFIGS = [(32, 64, 256), (64, 100, 512)]  # (B, T, H), V = 65, one layer
BENCH_VOCAB = 65
MACHINES = ("idle", "busy")  # busy: one core kept busy by a spinning process
# The lstm_core contenders: threads chosen as in training, or fixed at 1 or at all.
LSTM_CORE = {"lstm_core": "lstm_core", "lstm_core:1": "lstm_core, 1 thread",
             "lstm_core:all": "lstm_core, all threads"}
# Spins on one core until stopped, or until its parent (this harness) is gone.
SPINNER = ("import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n"
           "    for _ in range(1_000_000):\n        pass\n")


def training_step_fn(batch_size, seq_len, hidden_size, vocab_size=BENCH_VOCAB, *,
                     dtype="float32", seed=0):
    """A function running one lstm_core training step (forward, backward, clipping, AdamW)
    on fixed random characters, carrying the state like training does."""
    rng = np.random.default_rng(seed)
    params = lc.init_params(vocab_size, hidden_size, 1, seed=seed, dtype=dtype)
    opt = lc.AdamW(params)
    x = rng.integers(0, vocab_size, (seq_len, batch_size))
    y = rng.integers(0, vocab_size, (seq_len, batch_size))
    state, buffers = [lc.zero_state(params, batch_size)], {}

    def step():
        _, _, state[0] = lc.train_step(params, opt, x, y, state[0], lr=1e-3, grad_clip=1.0,
                                       buffers=buffers)

    return step


def time_side_by_side(contenders: dict, repeats=3, min_seconds=0.5) -> dict:
    """chars/s of each contender, name -> (step_fn, chars per step). After a warm-up step,
    each round times every contender once, in turn, so that a slow moment of a shared
    machine hits them alike. Returns name -> list of `repeats` speeds."""
    calls = {}
    for name, (fn, _) in contenders.items():
        t0 = time.perf_counter()
        fn()
        calls[name] = max(1, math.ceil(min_seconds / max(time.perf_counter() - t0, 1e-6)))
    speeds = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, (fn, chars) in contenders.items():
            t0 = time.perf_counter()
            for _ in range(calls[name]):
                fn()
            speeds[name].append(calls[name] * chars / (time.perf_counter() - t0))
    return speeds


def step_memory(batch_size, seq_len, hidden_size, vocab_size=BENCH_VOCAB) -> dict:
    """Peak memory allocated during a first training step (tracemalloc sees NumPy's
    arrays; the step's reusable buffers are allocated then), next to the size of the arrays
    the forward pass keeps for the backward pass."""
    import tracemalloc

    step = training_step_fn(batch_size, seq_len, hidden_size, vocab_size)
    rng = np.random.default_rng(0)
    params = lc.init_params(vocab_size, hidden_size, 1)
    x = rng.integers(0, vocab_size, (seq_len, batch_size))
    _, _, (_, layers, _, _) = lc.forward(params, x)
    kept = sum(a.nbytes for _, (gates, cs, tanh_cs, hs, _), _ in layers
               for a in (gates, cs, tanh_cs, hs))
    kept += seq_len * batch_size * vocab_size * 4  # the softmax probabilities
    tracemalloc.start()
    step()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"B": batch_size, "T": seq_len, "H": hidden_size, "peak_bytes": peak,
            "kept_bytes": kept, "ratio": peak / kept}


def sampling_speed(hidden_size=512, vocab_size=BENCH_VOCAB, length=2000) -> float:
    """chars/s of `lstm_core.sample` (batch 1, one layer, float32)."""
    vocab = lc.Vocabulary([chr(32 + k) for k in range(vocab_size)])
    params = lc.init_params(vocab_size, hidden_size, 1)
    lc.sample(params, vocab, " ", 50)
    t0 = time.perf_counter()
    lc.sample(params, vocab, " ", length)
    return length / (time.perf_counter() - t0)


def _load_contenders():
    """contenders.py beside this file."""
    spec = importlib.util.spec_from_file_location("bench_contenders", HERE / "contenders.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench_worker(kind: str, B: int, T: int, H: int, min_seconds: float = 3.0) -> dict:
    """One timed run of one contender, after a warm-up step (run by `bench` in a process
    of its own): {"chars_per_sec": ...}; for lstm_core, also the thread count it ran with
    and, when it chose, what choosing cost.

    kind "lstm_core" chooses its threads as `lstm_core.train` does (BlasThreads, checking
    again every Config().eval_every steps); the steps that try the counts at the start
    come before the timed window, like the warm-up step, and their extra time is
    reported as "choice_seconds"."""
    if kind.startswith("lstm_core"):
        fixed = {"lstm_core": None, "lstm_core:1": 1,
                 "lstm_core:all": lc.BlasThreads().all}
        threads = lc.BlasThreads(fixed[kind], every=lc.Config().eval_every)
        step = training_step_fn(B, T, H)
        start_calls = 0
        while threads.plan:  # the start: the calls that try 1 thread and all
            threads(step)
            start_calls += 1
        choice_seconds = threads.spent
        speed = time_side_by_side({kind: (lambda: threads(step), B * T)}, 1,
                                  min_seconds)[kind][0]
        chosen = threads.report(B * T)
        return {"chars_per_sec": speed, "threads": chosen["threads"],
                "source": chosen["source"], "measured": chosen["chars_per_sec"],
                "start_calls": start_calls, "choice_seconds": choice_seconds,
                "check_seconds": threads.spent - choice_seconds}
    fn, chars = _load_contenders().make(kind, B, T, H, BENCH_VOCAB)
    return {"chars_per_sec": time_side_by_side({kind: (fn, chars)}, 1, min_seconds)[kind][0]}


class busy_core:
    """`with busy_core():` one core kept busy by a spinning process, stopped at the end."""

    def __enter__(self):
        self.spinner = subprocess.Popen([sys.executable, "-c", SPINNER])
        time.sleep(0.5)  # it is spinning before the first timed run starts
        return self

    def __exit__(self, *exc):
        self.spinner.kill()
        self.spinner.wait()


def schedule(runs, round_):
    """The order of one round's timed runs: each configuration's lstm_core runs and
    PyTorch's one after the other, so that each ratio compares runs seconds apart, not a
    minute; lstm_core (threads chosen) and PyTorch, the pair of the targets, take turns
    to go first. Then the original notebook's."""
    ordered = []
    for config in dict.fromkeys(run[2:] for run in runs if run[1] != "original"):
        group = [run for run in runs if run[2:] == config and run[1] != "original"]
        pair = [run for run in group if run[1] in ("lstm_core", "torch")]
        if round_ % 2:
            pair.reverse()
        ordered += pair + [run for run in group if run not in pair]
    return ordered + [run for run in runs if run[1] == "original"]


def _row(impl, B, T, H, speeds):
    return {"impl": impl, "B": B, "T": T, "H": H, "median": float(np.median(speeds)),
            "min": float(min(speeds)), "max": float(max(speeds))}


def _run(kind, B, T, H, seconds) -> dict:
    """bench_worker in a fresh process."""
    done = subprocess.run([sys.executable, str(HERE / "harness.py"), "--worker", kind,
                           str(B), str(T), str(H), str(seconds)],
                          capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"the timed run of {kind} at B={B} T={T} H={H} failed:\n"
                           f"{done.stderr.strip()}")
    return json.loads(done.stdout.splitlines()[-1])


def bench(repeats: int = 3, seconds: float = 3.0) -> dict:
    """Training chars/s of every contender at BENCH_CONFIGS, idle and with one core busy,
    their ratios, the threads lstm_core chose, the peak memory of a step and the sampling
    speed. See the module's docstring for how it times."""
    extra = _load_contenders()
    runs = [(name, kind, B, T, H) for kind, name in LSTM_CORE.items()
            for B, T, H in BENCH_CONFIGS]
    version = extra.torch_version()
    if version is not None:
        runs += [(f"PyTorch {version}", "torch", B, T, H) for B, T, H in BENCH_CONFIGS]
    runs += [("original notebook", "original", 1, extra.ORIGINAL_T, H)
             for H in extra.ORIGINAL_HIDDEN]
    results = {m: {run: [] for run in runs} for m in MACHINES}
    for round_ in range(repeats):
        for machine in MACHINES:
            with busy_core() if machine == "busy" else contextlib.nullcontext():
                for run in schedule(runs, round_):
                    results[machine][run].append(_run(*run[1:], seconds))
    out = {}
    for machine in MACHINES:
        got = results[machine]
        rows = []
        for run in runs:
            name, kind, B, T, H = run
            rows.append(_row(name, B, T, H, [r["chars_per_sec"] for r in got[run]]))
            if kind == "lstm_core":
                rows[-1]["threads"] = [r["threads"] for r in got[run]]
                rows[-1]["choice_seconds"] = [r["choice_seconds"] for r in got[run]]
        row_of = dict(zip(runs, rows))
        ours = {run[4]: run for run in runs if run[1] == "lstm_core"}
        ratios = []  # at equal H; each round's pair gives one ratio
        for run in runs:
            name, kind, B, T, H = run
            if kind == "lstm_core" or H not in ours:
                continue
            paired = [a["chars_per_sec"] / b["chars_per_sec"]
                      for a, b in zip(got[ours[H]], got[run])]
            ratios.append({"B": B, "T": T, "H": H, "vs": name,
                           "ratio": float(np.median(paired)), "min": min(paired),
                           "max": max(paired),
                           "of_medians": row_of[ours[H]]["median"] / row_of[run]["median"]})
        out[machine] = {"rows": rows, "ratios": ratios}
    return {**out, "memory": step_memory(*BENCH_CONFIGS[-1]),
            "sampling_chars_per_sec": sampling_speed(),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "numpy": np.__version__, "processor": _cpu_name()},
            "repeats": repeats, "seconds": seconds}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _range(row) -> str:
    return f"{row['min']:,.0f}-{row['max']:,.0f}"


def print_report(result: dict) -> None:
    """The two tables, idle and busy side by side, and the ratios."""
    m = result["machine"]
    print(f"{m['processor']}, {m['cpus']} CPUs; Python {m['python']}, NumPy {m['numpy']}; "
          f"training chars/s, median of {result['repeats']} runs of {result['seconds']:g} s "
          "(range); busy: one core kept busy by a spinning process")
    print(f"{'implementation':24s} {'B':>3s} {'T':>4s} {'H':>5s} | {'idle':>8s} "
          f"{'range':>15s} | {'busy':>8s} {'range':>15s}")
    for idle, busy in zip(result["idle"]["rows"], result["busy"]["rows"]):
        cells = [f"{r['median']:8,.0f} {_range(r):>15s}" for r in (idle, busy)]
        print(f"{idle['impl']:24s} {idle['B']:3d} {idle['T']:4d} {idle['H']:5d} | "
              f"{cells[0]} | {cells[1]}")
    print(f"{'ratio: median of the rounds (range)':56s} | {'idle':>20s} | {'busy':>20s}")
    for idle, busy in zip(result["idle"]["ratios"], result["busy"]["ratios"]):
        name = f"lstm_core / {idle['vs']} at B={idle['B']} T={idle['T']} H={idle['H']}"
        cells = [f"{r['ratio']:5.2f}x ({r['min']:.2f}-{r['max']:.2f}x)" for r in (idle, busy)]
        print(f"{name:56s} | {cells[0]:>20s} | {cells[1]:>20s}")
    for machine in MACHINES:
        for r in result[machine]["rows"]:
            if r["impl"] == "lstm_core":
                cost = ", ".join(f"{s * 1e3:.0f}" for s in r["choice_seconds"])
                print(f"lstm_core {machine}, B={r['B']} T={r['T']} H={r['H']}: chose "
                      f"{', '.join(map(str, r['threads']))} threads; trying the counts at "
                      f"the start cost {cost} ms")
    mem = result["memory"]
    print(f"peak memory of a step at B={mem['B']} T={mem['T']} H={mem['H']}: "
          f"{mem['peak_bytes'] / 2**20:.0f} MiB, {mem['ratio']:.2f}x the "
          f"{mem['kept_bytes'] / 2**20:.0f} MiB the backward pass keeps")
    print(f"sampling (batch 1, H=512, idle): {result['sampling_chars_per_sec']:,.0f} chars/s")


def check_flags(repeats, seconds) -> None:
    """The flags in range, or lstm_core.LSTMError."""
    lc.check_int("--repeats", repeats, 1)
    lc.check_float("--seconds", seconds, "> 0", unit=" seconds")


def report(repeats: int = 3, seconds: float = 3.0, as_json: bool = False) -> None:
    """Run the benchmark and print its tables (or its JSON)."""
    result = bench(repeats, seconds)
    if as_json:
        print(json.dumps(result, indent=1))
    else:
        print_report(result)


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--worker"]:
        kind, B, T, H, seconds = argv[1:6]
        print(json.dumps(bench_worker(kind, int(B), int(T), int(H), float(seconds))))
        return 0
    parser = argparse.ArgumentParser(prog="bench/harness.py", description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="rounds (>= 1)")
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="length of each timed run (> 0)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        check_flags(args.repeats, args.seconds)
    except lc.LSTMError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    report(args.repeats, args.seconds, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
