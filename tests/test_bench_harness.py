"""bench/harness.py, the benchmark of `make bench`: its report holds both machines side by
side, and its busy core is started and stopped. (The speeds themselves are `make bench`'s
business, never a test's: here every timed run is replaced by a fixed figure.)"""

from types import SimpleNamespace

import pytest

from bench import harness


def fake_run(kind, B, T, H, seconds):
    """What a timed run of each contender reports, busy or not (busy: a spinner is up)."""
    busy = FAKE_BUSY[0]
    speed = {"lstm_core": 30_000 if busy else 50_000, "lstm_core:1": 31_000,
             "lstm_core:all": 10_000 if busy else 50_500, "torch": 20_000 if busy else 80_000,
             "original": 500}[kind] / (H / 256)
    out = {"chars_per_sec": speed}
    if kind.startswith("lstm_core"):
        out.update(threads=1 if busy else 2, source="measured", measured={},
                   start_calls=3, choice_seconds=0.25 if busy else 0.01, check_seconds=0.0)
    return out


FAKE_BUSY = [False]


class FakeBusyCore:
    def __enter__(self):
        FAKE_BUSY[0] = True

    def __exit__(self, *exc):
        FAKE_BUSY[0] = False


def test_the_report_shows_idle_and_busy_side_by_side_with_their_ratios(monkeypatch, capsys):
    monkeypatch.setattr(harness, "_run", fake_run)
    monkeypatch.setattr(harness, "busy_core", FakeBusyCore)
    monkeypatch.setattr(harness, "step_memory", lambda *a: {
        "B": 64, "T": 100, "H": 512, "peak_bytes": 2**27, "kept_bytes": 2**26, "ratio": 2.0})
    monkeypatch.setattr(harness, "sampling_speed", lambda: 4000.0)
    result = harness.bench(repeats=2, seconds=0.1)
    for machine in ("idle", "busy"):
        impls = [r["impl"] for r in result[machine]["rows"]]
        assert impls[:6] == ["lstm_core"] * 2 + ["lstm_core, 1 thread"] * 2 + \
            ["lstm_core, all threads"] * 2
        assert impls.count("original notebook") == 3
    ratio = {(r["vs"], r["H"]): r["ratio"] for r in result["busy"]["ratios"]}
    assert ratio[("lstm_core, all threads", 256)] == pytest.approx(3.0)
    idle = {r["impl"]: r for r in result["idle"]["rows"] if r["H"] == 256}
    assert idle["lstm_core"]["threads"] == [2, 2]
    harness.print_report(result)
    out = capsys.readouterr().out
    header = out.splitlines()[1].split("|")
    assert "idle" in header[1] and "busy" in header[2]  # the two machines, side by side
    assert "lstm_core / lstm_core, all threads at B=32 T=64 H=256" in out
    assert "lstm_core busy, B=32 T=64 H=256: chose 1, 1 threads" in out


def test_the_busy_core_spins_while_it_is_on_and_stops_after():
    with harness.busy_core() as busy:
        assert busy.spinner.poll() is None  # running
    assert busy.spinner.poll() is not None


def test_each_round_times_lstm_core_beside_pytorch_and_the_ratio_pairs_them(monkeypatch):
    runs = [(name, kind, B, T, H) for kind, name in harness.LSTM_CORE.items()
            for B, T, H in harness.BENCH_CONFIGS]
    runs += [("PyTorch", "torch", B, T, H) for B, T, H in harness.BENCH_CONFIGS]
    runs += [("original notebook", "original", 1, 28, H) for H in (256, 512, 1000)]
    for round_ in range(2):
        order = harness.schedule(runs, round_)
        assert sorted(order) == sorted(runs)
        kinds = [run[1] for run in order]
        assert kinds[:2] == (["lstm_core", "torch"] if round_ == 0 else ["torch", "lstm_core"])
        assert [run[4] for run in order[:4]] == [256] * 4  # one configuration, then the next
        assert kinds[-3:] == ["original"] * 3
    # A machine that slows down and recovers: the ratio is the median of each round's
    # ratio (0.5, 0.5, 0.67), not the ratio of the medians (40k / 60k).
    speeds = {"lstm_core": [50_000, 20_000, 40_000], "torch": [100_000, 40_000, 60_000]}
    calls = {}

    def drifting_run(kind, B, T, H, seconds):
        out = fake_run(kind, B, T, H, seconds)
        if kind in speeds and H == 256 and not FAKE_BUSY[0]:
            calls[kind] = calls.get(kind, -1) + 1
            out["chars_per_sec"] = speeds[kind][calls[kind]]
        return out

    monkeypatch.setattr(harness, "_run", drifting_run)
    monkeypatch.setattr(harness, "busy_core", FakeBusyCore)
    monkeypatch.setattr(harness, "step_memory", lambda *a: {})
    monkeypatch.setattr(harness, "sampling_speed", lambda: 0.0)
    extra = harness._load_contenders()  # torch or not, a PyTorch 2 contender
    monkeypatch.setattr(harness, "_load_contenders", lambda: SimpleNamespace(
        torch_version=lambda: "2", ORIGINAL_T=extra.ORIGINAL_T,
        ORIGINAL_HIDDEN=extra.ORIGINAL_HIDDEN))
    result = harness.bench(repeats=3, seconds=0.1)
    ratio = {(r["vs"], r["H"]): r for r in result["idle"]["ratios"]}[("PyTorch 2", 256)]
    assert ratio["ratio"] == pytest.approx(0.5)
    assert (ratio["min"], ratio["max"]) == pytest.approx((0.5, 2 / 3))
    assert ratio["of_medians"] == pytest.approx(2 / 3)
