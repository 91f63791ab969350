"""The matrix products of one training step alone, NumPy (OpenBLAS) against PyTorch.

A training step of a one-layer LSTM (the shapes of `make bench`) does these products:
T recurrent products forward, (B, H) @ (H, 4H); T backward, (B, 4H) @ (4H, H); the
weight gradient dW_h over all steps, (H, TB) @ (TB, 4H); the lookup's gradient,
(V, TB) @ (TB, 4H); and the output layer's three, (TB, H) @ (H, V), (H, TB) @ (TB, V),
(TB, V) @ (V, H). No implementation can take less time per step than its library takes
for these, so they are the floor a NumPy LSTM is measured against.

    .venv/bin/python bench/gemm_floor.py          # torch column only when torch is installed

Each library runs in a fresh process of its own (their thread pools must not spin against
each other); each figure is the median of 7 timed repeats after a warm-up, in ms per step.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from harness import BENCH_CONFIGS as CONFIGS  # (B, T, H), the shapes of `make bench`
from harness import BENCH_VOCAB as V

REPEATS = 7


def products(B, T, H):
    """(shape of A, shape of B, how many times) for every product of one step."""
    return [((B, H), (H, 4 * H), T), ((B, 4 * H), (4 * H, H), T),
            ((H, T * B), (T * B, 4 * H), 1), ((V, T * B), (T * B, 4 * H), 1),
            ((T * B, H), (H, V), 1), ((H, T * B), (T * B, V), 1), ((T * B, V), (V, H), 1)]


def worker(lib: str) -> dict:
    """ms per step of each configuration's products, in this process, with `lib`."""
    import numpy as np

    if lib == "torch":
        import torch

        matmul, wrap = torch.matmul, torch.from_numpy  # torch tensors sharing NumPy's memory
    else:
        matmul, wrap = np.matmul, np.asarray
    rng = np.random.default_rng(0)
    result = {}
    for B, T, H in CONFIGS:
        jobs = []
        for sa, sb, n in products(B, T, H):
            a, b = (rng.standard_normal(s).astype(np.float32) for s in (sa, sb))
            out = np.empty((sa[0], sb[1]), np.float32)
            jobs.append((wrap(a), wrap(b), wrap(out), n))

        def step(jobs=jobs):
            for a, b, out, n in jobs:
                for _ in range(n):
                    matmul(a, b, out=out)

        step()  # warm-up
        times = []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        result[f"B={B} T={T} H={H}"] = sorted(times)[REPEATS // 2] * 1e3
    return result


def main():
    rows = {}
    for lib in ("numpy", "torch"):
        if lib == "torch" and subprocess.run([sys.executable, "-c", "import torch"],
                                             capture_output=True).returncode != 0:
            continue
        out = subprocess.run([sys.executable, __file__, "--worker", lib],
                             capture_output=True, text=True, check=True).stdout
        rows[lib] = json.loads(out)
    print(f"{'products of one step (ms)':28s}" + "".join(f"{k:>20s}" for k in rows["numpy"]))
    for lib, row in rows.items():
        print(f"{lib:28s}" + "".join(f"{v:20.1f}" for v in row.values()))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        print(json.dumps(worker(sys.argv[2])))
    else:
        main()
