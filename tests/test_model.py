"""The model's mathematics: gradients, batching, loss, clipping, AdamW, schedule."""

import math

import numpy as np
import pytest

import lstm_core as lc


@pytest.mark.parametrize("num_layers", [1, 2])
def test_every_gradient_matches_finite_differences(num_layers):
    rows = lc.gradcheck(num_layers)
    names = [r["name"] for r in rows]
    expected = [f"{w}{layer}" for layer in range(num_layers) for w in ("W_x", "W_h", "b")]
    assert names == expected + ["W_y", "b_y", "h0", "c0"]
    for r in rows:
        assert r["error"] <= 1e-6, r


def test_gradients_with_dropout_match_finite_differences():
    rows = lc.gradcheck(2, dropout=0.3)
    assert max(r["error"] for r in rows) <= 1e-6


def test_gradcheck_catches_a_wrong_gradient(monkeypatch):
    original = lc.lstm_layer_backward

    def wrong(*args):
        dz, dW_h, dh, dc = original(*args)
        return dz, dW_h * 1.001, dh, dc

    monkeypatch.setattr(lc, "lstm_layer_backward", wrong)
    rows = {r["name"]: r for r in lc.gradcheck(1)}
    assert not rows["W_h0"]["ok"] and rows["W_x0"]["ok"]


def test_a_batch_equals_separate_sequences():
    rng = np.random.default_rng(1)
    V, H, T, B = 9, 6, 7, 4
    params = lc.init_params(V, H, 2, seed=2, dtype="float64")
    x, y = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    state = (rng.normal(size=(2, B, H)), rng.normal(size=(2, B, H)))
    logits, (h, c), _ = lc.forward(params, x, state)
    loss, grads, _ = lc.loss_and_grads(params, x, y, state)
    summed = {k: np.zeros_like(v) for k, v in params.items()}
    for b in range(B):
        one_state = (state[0][:, b : b + 1], state[1][:, b : b + 1])
        lo, (hb, cb), _ = lc.forward(params, x[:, b : b + 1], one_state)
        np.testing.assert_allclose(lo[:, 0], logits[:, b], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(hb[:, 0], h[:, b], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(cb[:, 0], c[:, b], rtol=1e-12, atol=1e-12)
        _, g, _ = lc.loss_and_grads(params, x[:, b : b + 1], y[:, b : b + 1], one_state)
        for k in summed:
            summed[k] += g[k] / B  # the batch loss is the mean over the B sequences
    for k in params:
        np.testing.assert_allclose(grads[k], summed[k], rtol=1e-10, atol=1e-12)


def test_embedding_lookup_equals_one_hot_product():
    params = lc.init_params(11, 5, 1, seed=0, dtype="float64")
    x = np.array([3, 0, 10, 3])
    one_hot = np.eye(11)[x]
    np.testing.assert_array_equal(params["W_x0"][x], one_hot @ params["W_x0"])


@pytest.mark.parametrize("bad", [-1, 11])
def test_forward_rejects_character_ids_outside_the_vocabulary(bad):
    params = lc.init_params(11, 5, 1, seed=0, dtype="float64")
    with pytest.raises(IndexError, match=r"\[0, 11\)"):
        lc.forward(params, np.array([[3], [bad]]))


def test_forward_reads_the_window_step_by_step():
    """Running T steps in one call equals T calls of one step with the state carried."""
    rng = np.random.default_rng(3)
    params = lc.init_params(8, 5, 2, seed=1, dtype="float64")
    x = rng.integers(0, 8, (6, 2))
    logits, (h, c), _ = lc.forward(params, x)
    state = None
    for t in range(6):
        step_logits, state, _ = lc.forward(params, x[t : t + 1], state)
        np.testing.assert_allclose(step_logits[0], logits[t], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(state[0], h, rtol=1e-12, atol=1e-13)


def test_untrained_loss_is_close_to_log_vocab_size():
    V = 65
    params = lc.init_params(V, 64, 1, seed=0)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, V, (32, 8)), rng.integers(0, V, (32, 8))
    loss, _ = lc.cross_entropy(lc.forward(params, x)[0], y)
    assert abs(loss - math.log(V)) < 0.05


def test_cross_entropy_is_stable_and_exact_for_huge_logits():
    logits = np.array([[1000.0, 0.0, -1000.0]])
    loss, dlogits = lc.cross_entropy(logits, np.array([0]))
    assert loss == pytest.approx(0.0, abs=1e-12)
    loss, dlogits = lc.cross_entropy(logits, np.array([1]))
    assert loss == pytest.approx(1000.0)
    np.testing.assert_allclose(dlogits, [[1.0, -1.0, 0.0]], atol=1e-12)


def test_sigmoid_is_accurate_and_never_overflows():
    x = np.array([-1000.0, -30.0, -1.0, 0.0, 2.0, 1000.0])
    with np.errstate(over="ignore"):
        naive = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(lc.sigmoid(x), naive, rtol=1e-12, atol=1e-16)
    with np.errstate(all="raise"):
        lc.sigmoid(x.astype(np.float32))


def test_units_bits_and_perplexity():
    assert lc.bits_per_char(math.log(2)) == pytest.approx(1.0)
    assert lc.perplexity(math.log(65)) == pytest.approx(65.0)


def test_global_norm_clipping_keeps_the_direction():
    rng = np.random.default_rng(0)
    grads = {"W": rng.normal(size=(4, 3)) * 10, "b": rng.normal(size=3)}
    before = {k: v.copy() for k, v in grads.items()}
    norm = lc.clip_by_global_norm(grads, 1.0)
    assert norm == pytest.approx(lc.global_norm(before))
    assert lc.global_norm(grads) == pytest.approx(1.0, rel=1e-5)
    scale = grads["W"][0, 0] / before["W"][0, 0]
    for k in grads:
        np.testing.assert_allclose(grads[k], before[k] * scale)


def test_clipping_leaves_small_gradients_alone():
    grads = {"W": np.full((2, 2), 0.1)}
    lc.clip_by_global_norm(grads, 1.0)
    np.testing.assert_array_equal(grads["W"], np.full((2, 2), 0.1))


def adamw_by_hand(p, grads, lr, b1, b2, eps, wd, decay):
    """AdamW written out with scalars for one parameter, step by step."""
    m = v = 0.0
    out = []
    for t, g in enumerate(grads, start=1):
        if decay:
            p = p - lr * wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1**t)) / (math.sqrt(v / (1 - b2**t)) + eps)
        out.append(p)
    return out


@pytest.mark.parametrize("steps", [1, 3])
def test_adamw_equals_the_formulas_worked_by_hand(steps):
    lr, b1, b2, eps, wd = 0.1, 0.9, 0.99, 1e-8, 0.5
    gs = [0.5, -2.0, 0.25][:steps]
    params = {"W": np.array([1.5]), "b": np.array([1.5])}
    opt = lc.AdamW(params, lr=lr, beta1=b1, beta2=b2, eps=eps, weight_decay=wd)
    for g in gs:
        opt.step(params, {"W": np.array([g]), "b": np.array([g])})
    assert params["W"][0] == pytest.approx(adamw_by_hand(1.5, gs, lr, b1, b2, eps, wd, True)[-1],
                                           rel=1e-12)
    # biases are not decayed
    assert params["b"][0] == pytest.approx(adamw_by_hand(1.5, gs, lr, b1, b2, eps, wd, False)[-1],
                                           rel=1e-12)


def test_adamw_first_step_moves_every_weight_by_lr():
    """With bias correction m_hat / sqrt(v_hat) = g / |g| on step 1 (the 1 - beta**t rule)."""
    params = {"W": np.array([0.0, 0.0]), "b": np.array([0.0])}
    opt = lc.AdamW(params, lr=0.01, weight_decay=0.0)
    opt.step(params, {"W": np.array([1e-3, -50.0]), "b": np.array([7.0])})
    np.testing.assert_allclose(params["W"], [-0.01, 0.01], rtol=1e-4)
    np.testing.assert_allclose(params["b"], [-0.01], rtol=1e-4)


def test_weight_decay_applies_to_weight_matrices_only():
    params = lc.init_params(5, 3, 2)
    assert sorted(n for n in params if lc.is_decayed(n)) == ["W_h0", "W_h1", "W_x0", "W_x1",
                                                             "W_y"]


def test_schedule_warms_up_then_decays_to_the_floor():
    cfg = lc.Config(lr=1e-2, warmup_steps=10, min_lr_frac=0.1)
    assert lc.lr_at(cfg, 0, 0.0) == pytest.approx(1e-3)
    assert lc.lr_at(cfg, 9, 0.0) == pytest.approx(1e-2)
    assert lc.lr_at(cfg, 50, 0.5) == pytest.approx(1e-3 + 0.5 * 9e-3)
    assert lc.lr_at(cfg, 100, 1.0) == pytest.approx(1e-3)
    lrs = [lc.lr_at(cfg, s, s / 100) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_init_follows_torch_and_sets_the_forget_bias():
    H = 16
    params = lc.init_params(30, H, 1, forget_bias=1.0)
    bound = 1 / math.sqrt(H)
    for name in ("W_x0", "W_h0", "W_y"):
        assert np.abs(params[name]).max() <= bound
    b = params["b0"]
    assert np.all(b[H : 2 * H] == 1.0) and np.all(b[:H] == 0) and np.all(b[2 * H :] == 0)
    assert params["W_x0"].dtype == np.float32


def test_dropout_is_inverted_and_off_without_a_rate():
    params = lc.init_params(7, 32, 2, seed=0, dtype="float64")
    x = np.random.default_rng(0).integers(0, 7, (5, 64))
    plain = lc.forward(params, x)[0]
    np.testing.assert_array_equal(plain, lc.forward(params, x, dropout=0.0)[0])
    dropped = lc.forward(params, x, dropout=0.5, rng=np.random.default_rng(1))
    _, layers, top, _ = dropped[2]
    mask = layers[-1][2]
    assert set(np.unique(mask)) == {0.0, 2.0}  # kept units are scaled by 1 / (1 - p)
    assert abs(mask.mean() - 1.0) < 0.05


def test_float64_and_float32_agree():
    p64 = lc.init_params(10, 8, 2, seed=0, dtype="float64")
    p32 = {k: v.astype(np.float32) for k, v in p64.items()}
    x = np.random.default_rng(0).integers(0, 10, (12, 3))
    l64, l32 = lc.forward(p64, x)[0], lc.forward(p32, x)[0]
    assert l32.dtype == np.float32
    np.testing.assert_allclose(l32, l64, rtol=1e-4, atol=1e-5)


def test_a_training_step_needs_less_than_twice_the_memory_the_backward_pass_keeps():
    from bench.harness import BENCH_CONFIGS, step_memory

    B, T, H = BENCH_CONFIGS[-1]
    mem = step_memory(B, T, H)
    assert mem["kept_bytes"] > B * T * H * 4 * 7  # gates, c, tanh c, h: 7H per position
    assert mem["ratio"] <= 2.0, mem


@pytest.mark.parametrize("num_layers, dropout", [(1, 0.0), (2, 0.5)])
def test_after_the_first_step_every_window_sized_array_comes_from_the_buffers(num_layers,
                                                                              dropout):
    """A fresh large array costs the kernel's page faults on every step (see `empty`): the
    steps after the first allocate less than one (T, B, H) array in all."""
    import tracemalloc

    B, T, H, V = 16, 64, 64, 11
    rng = np.random.default_rng(0)
    params = lc.init_params(V, H, num_layers, seed=0)
    opt, buffers = lc.AdamW(params), {}
    x, y = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    state = lc.zero_state(params, B)

    def step():
        return lc.train_step(params, opt, x, y, state, lr=1e-3, grad_clip=1.0,
                             dropout=dropout, rng=rng, buffers=buffers)

    step()
    tracemalloc.start()
    try:
        step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < T * B * H * params["W_h0"].itemsize, peak


def test_side_by_side_timing_runs_every_contender_in_every_round():
    from bench.harness import time_side_by_side

    calls = []
    speeds = time_side_by_side({"a": (lambda: calls.append("a"), 10),
                                "b": (lambda: calls.append("b"), 20)}, repeats=3,
                               min_seconds=0)
    assert calls == ["a", "b"] + ["a", "b"] * 3  # a warm-up, then interleaved rounds
    assert all(len(v) == 3 and min(v) > 0 for v in speeds.values())
