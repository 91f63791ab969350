"""BLAS threads chosen by measurement (`lstm_core.BlasThreads`): what the chooser keeps,
when it checks again, what a fixed count guarantees, and life without threadpoolctl.

The chooser's decisions are tested with a fake clock: each fake step advances it by what
that step "costs" at the thread count threadpoolctl reports during the call, so nothing
here depends on the speed or the load of the machine that runs the tests."""

import json
import sys

import numpy as np
import pytest
from conftest import TINY, run_cli

import lstm_core as lc

threadpoolctl = pytest.importorskip("threadpoolctl")


def blas_threads() -> int:
    """The count the BLAS libraries report right now."""
    blas = threadpoolctl.ThreadpoolController().select(user_api="blas")
    return max(lib.get_num_threads() for lib in blas.lib_controllers)


@pytest.fixture
def two_threads(monkeypatch):
    """BLAS at 2 threads for the test (OpenBLAS starts more if the machine has fewer
    cores), whatever the machine, and 2 as "all"; set back afterwards."""
    monkeypatch.setattr(lc, "_all_threads", {})
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        yield


class FakeClock:
    """Stands in for the `time` module inside lstm_core: perf_counter() is `now`."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = FakeClock()
    monkeypatch.setattr(lc, "time", c)
    return c


def fake_step(clock, cost, log=None):
    """A step that takes cost[n] seconds of the fake clock at n BLAS threads."""
    def step():
        n = blas_threads()
        clock.now += cost[n]
        if log is not None:
            log.append(n)
    return step


def test_the_chooser_keeps_one_thread_when_one_thread_is_faster(two_threads, clock):
    log = []
    threads = lc.BlasThreads(every=1000)
    step = fake_step(clock, {1: 0.010, 2: 0.200}, log)  # a busy core: 2 threads 20x slower
    for _ in range(50):
        threads(step)
    assert threads.threads == 1 and threads.source == "measured"
    assert log[:3] == [1, 1, 2]  # untimed warm-up, then 1 against 2: clear after one each
    assert log[3:] == [1] * 47
    assert blas_threads() == 1  # between calls, the choice stays set
    assert threads.report(1000)["chars_per_sec"] == {"1": 100_000.0, "2": 5_000.0}


def test_the_chooser_keeps_all_threads_when_they_are_faster(two_threads, clock):
    log = []
    threads = lc.BlasThreads(every=1000)
    step = fake_step(clock, {1: 0.015, 2: 0.010}, log)  # idle: 2 threads 1.5x faster
    for _ in range(50):
        threads(step)
    assert threads.threads == 2
    # not clear after one each: once more, and a third time, in the order 1 2, 2 1, 1 2
    assert log[:7] == [1, 1, 2, 2, 1, 1, 2]
    assert log[7:] == [2] * 43
    assert threads.spent == pytest.approx(3 * 0.005)  # three calls 5 ms slower than the best


def test_one_slow_call_does_not_decide_the_first_choice(two_threads, clock):
    """An idle machine where all threads are 1.3x faster, but the machine stalls during
    one of their calls (another program's moment): the total time of two calls each
    would pick 1 thread; the median of three each does not."""
    log, costs = [], iter([0.0, 0.013, 0.010, 0.030, 0.013, 0.013, 0.010])

    def step():
        n = blas_threads()
        log.append(n)
        clock.now += next(costs, {1: 0.013, 2: 0.010}[n])

    threads = lc.BlasThreads(every=1000)
    for _ in range(20):
        threads(step)
    # the first four timed calls: 1 thread 13 + 13 ms, all 10 + 30 ms in total
    assert log[:7] == [1, 1, 2, 2, 1, 1, 2]
    assert threads.threads == 2 and log[7:] == [2] * 13


def test_the_log_line_of_an_evaluation_during_the_trial_calls_says_no_speeds(two_threads,
                                                                              clock):
    threads = lc.BlasThreads(every=1000)
    step = fake_step(clock, {1: 0.015, 2: 0.010})
    for _ in range(3):
        threads(step)  # the start is 7 calls here: still trying
    assert threads.describe(1000) == "threads 2 (measured; the trial steps are not done)"
    for _ in range(5):
        threads(step)
    assert threads.describe(1000) == "threads 2 (measured; 1: 66,667, 2: 100,000 chars/s)"


def test_a_chooser_that_chose_one_thread_leaves_all_threads_to_the_next(two_threads,
                                                                          clock):
    busy = fake_step(clock, {1: 0.010, 2: 0.200})
    first = lc.BlasThreads()
    for _ in range(10):
        first(busy)
    assert first.threads == 1 and blas_threads() == 1  # not restored: 1 stays set
    log = []
    second = lc.BlasThreads()
    for _ in range(10):
        second(fake_step(clock, {1: 0.015, 2: 0.010}, log))  # the core is free again
    assert second.all == 2 and second.threads == 2 and 2 in log[:5]


def test_a_fixed_count_measures_nothing(two_threads, clock):
    log = []
    threads = lc.BlasThreads(1, every=5)
    assert blas_threads() == 1 and threads.source == "--threads"
    for _ in range(40):
        threads(fake_step(clock, {1: 0.2, 2: 0.01}, log))
    assert log == [1] * 40
    threads.restore()
    assert blas_threads() == 2


def test_openblas_num_threads_in_the_environment_overrides(two_threads, clock, monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    log = []
    threads = lc.BlasThreads(every=5)
    for _ in range(20):
        threads(fake_step(clock, {1: 0.01, 2: 0.2}, log))
    assert log == [2] * 20 and threads.source == "OPENBLAS_NUM_THREADS"


def test_a_core_that_becomes_busy_is_noticed_within_a_few_steps(two_threads, clock):
    log = []
    cost = {1: 0.015, 2: 0.010}
    threads = lc.BlasThreads(every=250)
    step = fake_step(clock, cost, log)
    for _ in range(30):
        threads(step)
    assert threads.threads == 2
    cost[2] = 0.300  # another program starts spinning on a core
    for _ in range(10):
        threads(step)
    assert threads.threads == 1
    # two slow calls make the median of the last 4 slow; then a try and its confirmation
    assert log[30:] == [2, 2, 1, 1, 1, 1, 1, 1, 1, 1]


def test_after_a_switch_the_next_check_comes_four_times_sooner(two_threads, clock):
    log = []
    cost = {1: 0.010, 2: 0.006}
    threads = lc.BlasThreads(every=40)
    step = fake_step(clock, cost, log)
    for _ in range(300):  # long enough for the budget (3 %) to allow a try at any check
        threads(step)
    assert threads.threads == 2
    cost[2] = 0.014  # a core busy for a moment ...
    while threads.threads == 2:
        threads(step)
    switched = len(log)
    cost[2] = 0.006  # ... and free again
    for _ in range(40):
        threads(step)
    assert threads.threads == 2
    first_try = log.index(2, switched)
    assert first_try - switched == 10  # every // 4 calls with 1 thread, not every


def test_a_core_that_becomes_free_is_noticed_at_a_check(two_threads, clock):
    log = []
    cost = {1: 0.010, 2: 0.030}
    threads = lc.BlasThreads(every=20)
    step = fake_step(clock, cost, log)
    for _ in range(30):
        threads(step)
    assert threads.threads == 1
    cost[2] = 0.006  # the other program ends
    for _ in range(300):  # a try costs 20 ms: the budget (3 %) allows one per ~1.3 s
        threads(step)
    assert threads.threads == 2


def test_checks_cost_at_most_the_budget_on_a_busy_machine(two_threads, clock):
    log = []
    cost = {1: 0.010, 2: 0.200}  # 2 threads 20x slower: every try is expensive
    threads = lc.BlasThreads(every=10)
    step = fake_step(clock, cost, log)
    for _ in range(5000):
        threads(step)
    tries = log[3:].count(2)
    assert tries >= 1  # it does check again ...
    extra = (log.count(2) - 1) * (cost[2] - cost[1])  # beyond the trial at the start
    assert extra <= lc.THREAD_CHECK_BUDGET * clock.now  # ... but within the budget
    assert threads.threads == 1


def test_checks_happen_every_n_calls_when_they_are_cheap(two_threads, clock):
    log = []
    threads = lc.BlasThreads(every=20)
    step = fake_step(clock, {1: 0.012, 2: 0.010}, log)  # 1 thread only 1.2x slower
    for _ in range(217):
        threads(step)
    tries = [k for k, n in enumerate(log) if k >= 7 and n == 1]  # after the start's 7
    assert len(tries) == 10 and np.all(np.diff(tries) == 21)  # one try per 20 calls
    assert threads.threads == 2


# --- the training loop ------------------------------------------------------------------


def spy(monkeypatch, name, counts):
    """Replace lc.<name> by a wrapper that records the BLAS count during each call."""
    original = getattr(lc, name)

    def wrapper(*args, **kwargs):
        counts.append(blas_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(lc, name, wrapper)


@pytest.mark.parametrize("n", [1, 2])
def test_train_obeys_threads_in_every_step_and_evaluation(two_threads, monkeypatch,
                                                          small_text, n):
    steps, evals = [], []
    spy(monkeypatch, "train_step", steps)
    spy(monkeypatch, "evaluate", evals)
    cfg = lc.Config(hidden_size=16, num_layers=1, batch_size=4, seq_len=16, max_steps=12,
                    eval_every=4, dropout=0.0, threads=n)
    result = lc.train(cfg, text=small_text, verbose=False)
    assert steps == [n] * 12 and evals == [n] * 4  # 3 estimates and the final evaluation
    assert blas_threads() == 2  # set back at the end
    assert result.metrics["threads"]["threads"] == n
    assert result.metrics["threads"]["source"] == "--threads"
    assert all(r["threads"]["threads"] == n for r in result.history)


def test_evaluation_runs_on_the_count_the_chooser_chose(two_threads, monkeypatch,
                                                        small_text):
    evals = []
    spy(monkeypatch, "evaluate", evals)
    cfg = lc.Config(hidden_size=16, num_layers=1, batch_size=4, seq_len=16, max_steps=21,
                    eval_every=7, dropout=0.0)  # the first evaluation after the start's 7
    result = lc.train(cfg, text=small_text, verbose=False)
    chosen = [r["threads"]["threads"] for r in result.history]
    assert evals[:-1] == chosen and evals[-1] == chosen[-1]  # the last one: at the end
    for r in result.history:
        assert r["threads"]["source"] == "measured"
        assert set(r["threads"]["chars_per_sec"]) == {"1", "2"}  # both counts measured
        assert all(v > 0 for v in r["threads"]["chars_per_sec"].values())


def reference_run(cfg, text):
    """lc.train's loop written out with lc.train_step: the arithmetic of a run without any
    thread choosing (no evaluation falls inside cfg.max_steps)."""
    vocab = lc.Vocabulary.from_text(text)
    train_ids, _ = lc.split_data(vocab.encode(text))
    streams = lc.make_streams(train_ids, cfg.batch_size)
    params = lc.init_params(len(vocab), cfg.hidden_size, cfg.num_layers,
                            forget_bias=cfg.forget_bias, seed=cfg.seed, dtype=cfg.dtype)
    opt = lc.AdamW(params, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed + 1)
    state, buffers = lc.zero_state(params, cfg.batch_size), {}
    for step in range(cfg.max_steps):
        x, y = lc.get_window(streams, step, cfg.seq_len)
        lr = lc.lr_at(cfg, step, step / cfg.max_steps)
        _, _, state = lc.train_step(params, opt, x, y, state, lr=lr, grad_clip=cfg.grad_clip,
                                    dropout=cfg.dropout, rng=rng, buffers=buffers)
    return params


@pytest.mark.parametrize("n", [1, 2])
def test_a_fixed_thread_count_gives_the_results_of_a_run_that_never_chose(two_threads,
                                                                          n):
    # float32 at H = 128, B = 32: OpenBLAS's products differ in their last bits between 1
    # and 2 threads at these sizes, so a wrong count would show.
    text = lc.load_corpus()[:200_000]
    cfg = lc.Config(hidden_size=128, num_layers=1, batch_size=32, seq_len=64, max_steps=6,
                    warmup_steps=2, eval_every=100, dropout=0.1, threads=n)
    with threadpoolctl.threadpool_limits(limits=n, user_api="blas"):
        expected = reference_run(cfg, text)
    got = lc.train(cfg, text=text, verbose=False).params
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


def test_threads_may_change_on_resume(tmp_path, small_text, two_threads):
    cfg = lc.Config(hidden_size=16, num_layers=1, batch_size=4, seq_len=16, max_steps=8,
                    eval_every=4, dropout=0.0, threads=2)
    ck = tmp_path / "m.npz"
    lc.train(cfg, text=small_text, out=ck, stop_at=4, verbose=False)
    assert lc.load_checkpoint(ck)["config"].threads == 2
    result = lc.train(text=small_text, out=ck, resume=ck, changes={"threads": 1},
                      verbose=False)
    assert result.config.threads == 1 and result.history[-1]["threads"]["threads"] == 1


# --- without threadpoolctl ----------------------------------------------------------------


@pytest.fixture
def no_threadpoolctl(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # `import` raises ImportError
    monkeypatch.setattr(lc, "_said_cannot_adapt", False)
    monkeypatch.setattr(lc, "_all_threads", {})
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)


def test_without_threadpoolctl_it_trains_and_says_once_that_it_cannot_adapt(
        no_threadpoolctl, small_text, capsys):
    cfg = lc.Config(hidden_size=16, num_layers=1, batch_size=4, seq_len=16, max_steps=6,
                    eval_every=3, dropout=0.0)
    first = lc.train(cfg, text=small_text, verbose=False)
    second = lc.train(cfg, text=small_text, verbose=False)
    err = capsys.readouterr().err
    assert err.count("threadpoolctl is not installed") == 1
    assert "cannot adapt" in err
    assert first.metrics["threads"]["source"] == "threadpoolctl missing"
    for name in first.params:
        np.testing.assert_array_equal(first.params[name], second.params[name])


def test_without_threadpoolctl_a_thread_count_it_cannot_set_is_an_error(no_threadpoolctl):
    start = lc.BlasThreads().threads  # what OpenBLAS started with, as far as it can tell
    with pytest.raises(lc.LSTMError, match="--threads .* needs threadpoolctl"):
        lc.BlasThreads(start + 1)
    assert lc.BlasThreads(start).threads == start  # the count it has is no change


# --- the command line ---------------------------------------------------------------------


def test_cli_threads_flag_is_obeyed_and_recorded(tmp_path, corpus_file):
    m = tmp_path / "m.json"
    r = run_cli("train", "--data", corpus_file, *TINY, "--max-steps", "10", "--threads", "1",
                "--out", tmp_path / "m.npz", "--metrics-json", m)
    assert r.returncode == 0, r.stderr
    assert "threads 1 (--threads; 1: " in r.stdout  # the evaluation's log line
    metrics = json.loads(m.read_text())
    assert metrics["threads"]["threads"] == 1 and metrics["config"]["threads"] == 1
    assert [h["threads"]["threads"] for h in metrics["history"]] == [1, 1]


@pytest.mark.parametrize("value", ["0", "-2", "1.5", "nan"])
def test_cli_refuses_a_bad_thread_count(tmp_path, value):
    r = run_cli("train", "--data", tmp_path / "missing.txt", "--threads", value)
    assert r.returncode == 2 and "--threads" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("flag,value", [("--repeats", "0"), ("--seconds", "0"),
                                        ("--seconds", "nan"), ("--seconds", "-inf")])
def test_cli_bench_range_checks_its_flags(flag, value):
    r = run_cli("bench", flag, value)
    assert r.returncode == 2 and flag in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_sampling_gives_the_same_text_whatever_the_count(monkeypatch):
    # batch 1: OpenBLAS's products give the same bits on 1 and 2 threads, so the count
    # sampling chooses cannot change the text
    vocab = lc.Vocabulary([chr(32 + k) for k in range(65)])
    params = lc.init_params(65, 512, 1, seed=3)  # float32, products large enough to thread
    chosen = lc.sample(params, vocab, "!#", 300, temperature=1.0, seed=1)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")  # the chooser keeps what is set
    fixed = {}
    for n in (1, 2):
        with threadpoolctl.threadpool_limits(limits=n, user_api="blas"):
            fixed[n] = lc.sample(params, vocab, "!#", 300, temperature=1.0, seed=1)
    assert fixed[1] == fixed[2] == chosen
