# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Training and sampling
#
# ← Previous: [04 · AdamW](04_adamw.ipynb) · [Contents](00_contents.ipynb) ·
# Next: [06 · Inside the LSTM](06_inside_the_lstm.ipynb) →
#
# The earlier notebooks built every part: data streams, the forward pass, the backward
# pass, clipping and AdamW. Here they become a training loop. We write the loop out, check
# that it gives exactly the parameters `lc.train` gives, run it live for a few hundred
# steps, measure the result in bits per character, and generate text from it. Then we load
# the model trained for longer that ships with the repository.
#
# ## What you'll learn
#
# - How truncated backpropagation through time walks through $B$ streams window by window,
#   carrying the state $(h, c)$ across windows and resetting it when the streams wrap.
# - The learning-rate schedule: linear warm-up, then cosine decay.
# - How validation loss is measured, and what nats/char, bits/char and perplexity mean.
# - How temperature and top-k reshape the next-character distribution before sampling.
#
# ## What you need
#
# - [01 · Data preparation](01_data_preparation.ipynb): vocabulary, split, streams, windows.
# - [02 · The forward pass](02_forward_pass.ipynb) and
#   [03 · Backpropagation through time](03_backprop_through_time.ipynb): `forward`,
#   `cross_entropy`, `backward`, clipping by global norm.
# - [04 · AdamW](04_adamw.ipynb): the optimiser and its bias correction.

# %%
import matplotlib.pyplot as plt
import numpy as np

import lstm_core as lc
import lstm_exercises as ex

plt.style.use("lstm.mplstyle")
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1 · Streams and windows
#
# The corpus is encoded, split 90 / 10 into training and validation ids, and the training
# ids are cut into $B$ contiguous streams (notebook 01). `inputs[s]` and `targets[s]` hold
# stream $s$; the targets are the inputs shifted by one character.

# %%
text = lc.load_corpus()
vocab = lc.Vocabulary.from_text(text)
V = len(vocab)
ids = vocab.encode(text)
train_ids, val_ids = lc.split_data(ids)

B, T = 32, 64
streams = lc.make_streams(train_ids, B)
inputs, targets = streams
N = inputs.shape[1]
n_windows = lc.num_windows(streams, T)
assert inputs.shape == targets.shape == (B, N)
np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])
print(f"{len(train_ids):,} training and {len(val_ids):,} validation characters, V = {V}")
print(f"B = {B} streams of N = {N:,} characters: {n_windows:,} windows of T = {T}")
print(f"one pass over the streams (an epoch) = {n_windows:,} steps = "
      f"{n_windows * B * T:,} characters")

# %% [markdown]
# Window $k$ of every stream is `x`, `y` of shape $(T, B)$, time-major. Window $k + 1$ of
# stream $s$ continues exactly where window $k$ ended, so the final state $(h, c)$ of one
# window is the right initial state for the next: the network keeps reading the same text.

# %%
x0, y0 = lc.get_window(streams, 0, T)
x1, _ = lc.get_window(streams, 1, T)
assert x0.shape == y0.shape == (T, B)
s = 3
print(f"stream {s}, window 0: {vocab.decode(x0[:, s])!r}")
print(f"stream {s}, window 1: {vocab.decode(x1[:, s])!r}")

# %% [markdown]
# After the last window, the streams wrap to window 0. Stream $s$ then starts again at the
# beginning of its slice, which does not follow the text the state has just read: in the
# corpus, that text goes on (after the $N - n_\text{windows} T$ characters that no window
# reads) into the start of stream $s + 1$. So the loop resets the state to zeros whenever
# the window index comes back to 0.

# %%
x_last, _ = lc.get_window(streams, n_windows - 1, T)
print(f"stream {s}, last window ends : {vocab.decode(x_last[-30:, s])!r}")
print(f"stream {s}, window 0 starts   : {vocab.decode(x0[:30, s])!r}")
print(f"stream {s + 1}, window 0 starts : {vocab.decode(x0[:30, s + 1])!r}")
print(f"characters no window reads, at the end of each stream: {N - n_windows * T}")

# %% [markdown]
# Carrying the state forward does not carry the gradient back: `backward` returns the
# gradient with respect to the initial state, and the loop drops it. That is the
# *truncation* in truncated backpropagation through time: the state holds information
# from any distance, but each gradient reaches back at most $T$ steps.
#
# ## 2 · The learning-rate schedule
#
# Notebook 04 introduced the schedule of `lc.lr_at`; the loop needs it as a function of the
# step alone. For step $n = 0, 1, \dots, S - 1$ ($S$ = `max_steps`): a linear warm-up over
# the first $n_w$ = `warmup_steps` steps, then a cosine decay from $\eta_{\max}$ = `lr` to
# $\eta_{\min}$ = `min_lr_frac * lr` as the progress $p = n / S$ goes from 0 to 1:
#
# $$\eta(n) = \eta_{\max} \frac{n + 1}{n_w} \quad (n < n_w), \qquad
# \eta(n) = \eta_{\min} + (\eta_{\max} - \eta_{\min})\,
# \tfrac12\bigl(1 + \cos(\pi \min(p, 1))\bigr) \quad (n \ge n_w).$$
#
# The warm-up keeps the first updates small while AdamW's moment estimates are still
# noisy; the decay lets the parameters settle at the end. The progress $p$ counts from step
# 0, so the cosine has already moved a little when the warm-up ends. The plot shows the
# schedule of the live run in section 6.

# %%
def lr_schedule(cfg, n):
    """Learning rate at step n (0-based) of a run of cfg.max_steps steps."""
    lr_max = cfg.lr
    lr_min = cfg.min_lr_frac * cfg.lr
    if n < cfg.warmup_steps:
        return lr_max * (n + 1) / cfg.warmup_steps
    p = min(n / cfg.max_steps, 1.0)
    return lr_min + (lr_max - lr_min) * 0.5 * (1 + np.cos(np.pi * p))


# The live run of section 6: 300 steps, with the recipe `python -m lstm_core train
# --max-steps 300` would choose (section 6 says which and why).
cfg_live, recipe_live = lc.choose_recipe({"max_steps": 300, "eval_every": 30,
                                          "eval_chars": 20_000, "dtype": "float64"},
                                         len(train_ids))
assert cfg_live.time_budget is None and cfg_live.seed == 0
steps = np.arange(cfg_live.max_steps)
lrs = np.array([lr_schedule(cfg_live, n) for n in steps])
lrs_lc = np.array([lc.lr_at(cfg_live, n, n / cfg_live.max_steps) for n in steps])
np.testing.assert_allclose(lrs, lrs_lc, rtol=1e-12)
print(f"lr_schedule == lc.lr_at at all {len(steps)} steps")

fig, ax = plt.subplots(figsize=(6, 2.8))
ax.plot(steps, lrs * 1e3)
ax.axvline(cfg_live.warmup_steps, color="gray", ls=":", lw=1)
ax.set(title=rf"Warm-up, then cosine decay ($\eta_{{\max}}$ = {cfg_live.lr:g}, "
       rf"$n_w$ = {cfg_live.warmup_steps}, $S$ = {cfg_live.max_steps})",
       xlabel="step $n$", ylabel=r"learning rate $\eta$ (×10⁻³)")
plt.show()

# %% [markdown]
# With `time_budget` set instead of `max_steps`, `lc.train` uses the elapsed fraction of
# the time budget as $p$. That fits any machine's speed, but the schedule then depends on
# the wall clock, so runs are no longer reproducible step for step. Every run in this
# notebook sets `max_steps` and `time_budget=None`.
#
# ## 3 · One training step
#
# One step on one window: the forward pass from the carried state, the mean cross-entropy
# $\mathcal{L}$ over the $TB$ positions, its gradient $g = \nabla_\theta \mathcal{L}$ by
# backpropagation, clipping of the whole gradient to a global norm of at most
# $\kappa$ = `grad_clip` (notebook 03), and one AdamW update:
#
# $$\mathcal{L} = -\frac{1}{TB}\sum_{t=1}^{T}\sum_{s=1}^{B}
#   \ln p_\theta(y_{t,s} \mid x_{1,s}, \dots, x_{t,s}), \qquad
# g \leftarrow g \cdot \frac{\kappa}{\lVert g\rVert + 10^{-6}}
#   \ \text{ if } \lVert g\rVert > \kappa,
# \qquad \theta \leftarrow \text{AdamW}(\theta, g, \eta(n)).$$
#
# Dropout (when `dropout > 0`) draws its masks from `rng`, a generator of its own.

# %% tags=["exercise"]
def train_step(params, opt, x, y, state, lr, grad_clip, dropout=0.0, rng=None):
    """One optimisation step on one window x, y (T, B), from the carried state (h, c),
    each (L, B, H): forward (with dropout drawn from rng), loss, backward, clipping to
    global norm grad_clip, then opt.step at the learning rate lr. Returns (the loss in
    nats/char, the gradient norm before clipping, the final state)."""
    logits, state, cache = lc.forward(params, x, state, dropout=dropout, rng=rng)
    loss, dlogits = lc.cross_entropy(logits, y)
    grads, _ = lc.backward(dlogits, cache)  # the gradient w.r.t. the initial state is dropped
    norm = lc.clip_by_global_norm(grads, grad_clip)
    opt.step(params, grads, lr)
    return loss, norm, state


# %%
train_step = ex.check_train_step(train_step)

# %%
params_a = lc.init_params(V, 64, 1, seed=0, dtype="float64")
params_b = {name: p.copy() for name, p in params_a.items()}
opt_a, opt_b = lc.AdamW(params_a), lc.AdamW(params_b)
state = lc.zero_state(params_a, B)
loss_a, norm_a, state_a = train_step(params_a, opt_a, x0, y0, state, 1e-3, 1.0)
loss_b, norm_b, state_b = lc.train_step(params_b, opt_b, x0, y0, state, lr=1e-3, grad_clip=1.0)
for name in params_a:
    np.testing.assert_allclose(params_a[name], params_b[name], rtol=0, atol=0)
np.testing.assert_allclose(np.stack(state_a), np.stack(state_b), rtol=0, atol=0)
print(f"train_step == lc.train_step: loss {loss_a:.4f} nats/char (ln V = {np.log(V):.4f}), "
      f"gradient norm {norm_a:.4f}; all {len(params_a)} parameter tensors and the final "
      f"state identical")

# %% [markdown]
# ## 4 · Validation
#
# The validation loss is the same mean cross-entropy on the validation ids, which the
# model never trains on. `lc.evaluate` reads them as streams too, in windows with the state
# carried over and without dropout; with `max_chars` it reads only the first windows,
# which makes a cheap estimate during training. A rising validation loss while the
# training loss falls is overfitting.
#
# The Kaggle notebook
# [*LSTM from scratch*](https://www.kaggle.com/code/fareselmenshawii/lstm-from-scratch)
# by fareselmenshawii, which this series replaces (notebooks 03 and 04 describe its
# gradient and optimiser mistakes), has no validation split at all, so it cannot see
# overfitting. It sums the loss
# over a sequence instead of averaging it, and trains "until the smooth loss is below 46":
# a number that depends on the sequence length, that a run may never reach, and whose
# model is lost with the kernel, since it saves no checkpoint. A mean in nats per character
# on held-out text means the same at any window size; `lc.train` also saves checkpoints
# (section 9).
#
# ## 5 · The loop
#
# Everything together. Each step takes the next window, resets the state when the window
# index is 0, takes the learning rate for the step, and trains; every `eval_every` steps
# it records the mean training loss since the last record and a validation estimate on
# `eval_chars` characters. At the end the whole validation split is evaluated. The `rng`
# for dropout is seeded with `seed + 1`, as in `lc.train`. Each step runs through
# `lc.BlasThreads`, as in `lc.train`: it times the steps with one BLAS thread and with
# all of them and keeps the faster, so that a core kept busy by another program slows the
# loop down only a little. It changes the speed only: the figures printed below come out
# the same whichever count runs (`bench/README.md` records that check).

# %%
def train_loop(cfg, text, log=False):
    """Train a fresh model on text; returns (params, vocab, history, per-step losses)."""
    vocab = lc.Vocabulary.from_text(text)
    train_ids, val_ids = lc.split_data(vocab.encode(text))
    B, T = cfg.batch_size, cfg.seq_len
    streams = lc.make_streams(train_ids, B)
    n_windows = lc.num_windows(streams, T)
    params = lc.init_params(len(vocab), cfg.hidden_size, cfg.num_layers,
                            forget_bias=cfg.forget_bias, seed=cfg.seed, dtype=cfg.dtype)
    opt = lc.AdamW(params, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed + 1)
    history, losses, recent = [], [], []
    window = 0
    threads = lc.BlasThreads(cfg.threads, every=cfg.eval_every)  # the faster BLAS thread count
    for n in range(cfg.max_steps):
        if window == 0:
            state = lc.zero_state(params, B)  # the streams start over
        x, y = lc.get_window(streams, window, T)
        lr = lr_schedule(cfg, n)
        loss, _, state = threads(train_step, params, opt, x, y, state, lr, cfg.grad_clip,
                                 cfg.dropout, rng)
        losses.append(loss)
        recent.append(loss)
        window = (window + 1) % n_windows
        if (n + 1) % cfg.eval_every == 0:
            val = lc.evaluate(params, val_ids, B, T, cfg.eval_chars)
            history.append({"step": n + 1, "train_loss": float(np.mean(recent)),
                            "val_loss": val, "lr": lr})
            recent = []
            if log:
                print(f"step {n + 1:4d} | train {history[-1]['train_loss']:.3f} | "
                      f"val {val:.3f} nats/char | lr {lr:.2e}")
    val = lc.evaluate(params, val_ids, B, T)  # the whole validation split
    if history and history[-1]["step"] == cfg.max_steps:
        history[-1]["val_loss"] = val
    else:
        history.append({"step": cfg.max_steps, "train_loss": float(np.mean(recent)),
                        "val_loss": val, "lr": lr_schedule(cfg, cfg.max_steps)})
    return params, vocab, history, np.array(losses)


# %% [markdown]
# ### Check: the loop against `lc.train`
#
# A small two-layer model with dropout, on the first 3,000 characters of the corpus, for
# 40 steps. Its streams hold 26 windows, so the run wraps once and the reset is exercised.
# Same `Config`, same seed: the parameters must be identical, not merely close. The check
# fixes the BLAS thread count (`threads=1`): two runs that each choose their own count on a
# busy machine may choose differently, and a sum split over two threads can round
# differently in its last bit.

# %%
cfg_check = lc.Config(hidden_size=32, num_layers=2, dropout=0.1, batch_size=4, seq_len=25,
                      warmup_steps=5, max_steps=40, time_budget=None, eval_every=10,
                      eval_chars=1_000, dtype="float64", seed=1, threads=1)
short = text[:3_000]
short_ids = lc.Vocabulary.from_text(short).encode(short)
check_streams = lc.make_streams(lc.split_data(short_ids)[0], cfg_check.batch_size)
check_windows = lc.num_windows(check_streams, cfg_check.seq_len)
assert check_windows == 26 < cfg_check.max_steps
params_mine, _, history_mine, _ = train_loop(cfg_check, short)
result = lc.train(cfg_check, text=short, verbose=False)
for name in result.params:
    np.testing.assert_allclose(params_mine[name], result.params[name], rtol=0, atol=0)
for mine, theirs in zip(history_mine, result.history, strict=True):
    for key in ("step", "train_loss", "val_loss", "lr"):
        np.testing.assert_allclose(mine[key], theirs[key], rtol=1e-12)
print(f"train_loop == lc.train after {cfg_check.max_steps} steps ({check_windows} windows per "
      f"epoch): {len(result.params)} parameter tensors identical, "
      f"{len(result.history)} history records equal")
print(f"final validation loss {history_mine[-1]['val_loss']:.4f} nats/char")

# %% [markdown]
# ## 6 · A short live run
#
# A model small enough to train here in a minute or two. `cfg_live` from section 2 is
# the recipe that `python -m lstm_core train --max-steps 300` would choose:
# `lc.choose_recipe` keeps a table of recipes, each the best of a search at its time budget
# (`lc.RECIPES`; the README's table, `data/README.md` for every run), and with
# `--max-steps` alone it takes the row whose measured run made the nearest number of
# steps. For 300 steps that is the shortest row, the 2-minute recipe: a small model with a
# large learning rate, because a short run gains most from many large steps (clipping keeps
# them safe). The first line below says so, as `train` does. (Given the number of training
# characters, as here, it also checks that the run would not read them more than
# `lc.MANY_PASSES` times; a long run on a small text would, and gets `lc.MANY_PASSES_RECIPE`,
# with more dropout against overfitting. 300 steps read 614,400 characters, 0.13 passes
# over Shakespeare's training text: the run below prints it.) We only ask for more frequent
# and smaller validation estimates, and float64, so that the printed losses come out the
# same on every machine (the shipped model below trained in float32). How long the run
# takes depends on the machine: the speed of its CPU cores, how many are free (another
# program busy on one of two cores can slow NumPy's multi-threaded matrix products several
# times over; see the README), and on nothing else. The time measured here is printed after
# the run.

# %%
print(recipe_live)

# %%
import time

chars_live = cfg_live.max_steps * cfg_live.batch_size * cfg_live.seq_len
print(f"{cfg_live.max_steps} steps of {cfg_live.batch_size} x {cfg_live.seq_len}: "
      f"{chars_live:,} characters, {chars_live / len(train_ids):.2f} epochs")
start = time.perf_counter()
params_live, vocab_live, history_live, losses_live = train_loop(cfg_live, text, log=True)
seconds_live = time.perf_counter() - start
assert vocab_live == vocab and losses_live.shape == (cfg_live.max_steps,)
val_live = history_live[-1]["val_loss"]
print(f"whole validation split: {val_live:.3f} nats/char")

# %%
# NBVAL_IGNORE_OUTPUT
# Wall time and speed depend on the machine and its load: not compared by the tests.
print(f"{seconds_live:.0f} s for {chars_live:,} training characters plus validation "
      f"({chars_live / seconds_live:,.0f} chars/s overall)")

# %% [markdown]
# The curves: the loss of every training window (grey), its running mean over the last 20
# windows, and the validation estimates. The run starts at about $\ln V$, the loss of a
# uniform guess (notebook 02), and stalls for a while near the loss of the unigram model
# (dashed; section 7), which knows character frequencies and nothing else: from about step
# 10 to step 40 (the numbers below the plot), before the model starts to use the context.

# %%
w = 20
running = np.convolve(losses_live, np.ones(w) / w, mode="valid")  # mean of windows n-w+1..n
unigram_train = lc.unigram_entropy(train_ids, V)  # section 7 computes it by hand
h_steps = np.array([r["step"] for r in history_live])
fig, ax = plt.subplots()
ax.plot(np.arange(1, len(losses_live) + 1), losses_live, color="0.75", lw=0.8,
        label="training, per window")
ax.plot(np.arange(w, len(losses_live) + 1), running, label=f"training, mean of last {w}")
ax.plot(h_steps, [r["val_loss"] for r in history_live], "s-", ms=3, label="validation")
ax.axhline(np.log(V), color="gray", ls=":", lw=1)
ax.text(cfg_live.max_steps, np.log(V), r"$\ln V$", va="bottom", ha="right", color="gray")
ax.axhline(unigram_train, color="gray", ls="--", lw=1)
ax.text(cfg_live.max_steps, unigram_train, "unigram model", va="bottom", ha="right",
        color="gray")
ax.set(title=f"Short live run (H = {cfg_live.hidden_size}, {cfg_live.num_layers} layer, "
       f"B = {cfg_live.batch_size}, T = {cfg_live.seq_len}, float64)",
       xlabel="step", ylabel="loss (nats/char)", ylim=(1.5, 4.7))
ax.legend(loc="upper right", bbox_to_anchor=(1, 0.9))
plt.show()

# %%
print(f"unigram model: {unigram_train:.3f} nats/char; training loss of the window at step "
      + ", ".join(f"{n}: {losses_live[n - 1]:.2f}" for n in (5, 10, 20, 30, 40, 60, 100)))
print(f"last 20 steps: training {losses_live[-20:].mean():.3f}, validation (whole split) "
      f"{val_live:.3f} nats/char")

# %% [markdown]
# The validation loss tracks the training loss closely: the run sees each training
# character at most once (0.13 epochs), far too little to overfit.
#
# ## 7 · Bits per character and perplexity
#
# The loss $\mathcal{L}$ is the mean of $-\ln p(\text{next character})$ in nats (natural
# logarithm). Two other units say the same thing:
#
# $$\text{bits/char} = \frac{\mathcal{L}}{\ln 2}, \qquad \text{perplexity} = e^{\mathcal{L}}.$$
#
# Bits/char is how many bits per character an ideal compressor (arithmetic coding) driven
# by the model's probabilities would write: the model *is* a compressor. Perplexity is the
# number of equally likely characters that would leave the model as uncertain as it is on
# average: a uniform guess among $V$ characters has perplexity $V$. For reference, the
# unigram model predicts every character with its frequency $q_j$ in the training text,
# ignoring context; on that text its loss is the entropy of the frequencies,
# $-\sum_j q_j \ln q_j$ (on the validation text it is a little higher: notebook 06).

# %%
q = np.bincount(train_ids, minlength=V) / len(train_ids)
q = q[q > 0]
unigram = -(q * np.log(q)).sum()
np.testing.assert_allclose(unigram, lc.unigram_entropy(train_ids, V), rtol=1e-12)
print("unigram entropy == lc.unigram_entropy; bits/char and perplexity == lc's:\n")
print(f"{'model':28s} {'nats/char':>9s} {'bits/char':>9s} {'perplexity':>10s}")
for name, loss in [("uniform over V characters", np.log(V)),
                   ("unigram (frequencies)", unigram),
                   (f"live run, {cfg_live.max_steps} steps", val_live)]:
    bits, ppl = loss / np.log(2), np.exp(loss)
    np.testing.assert_allclose([bits, ppl], [lc.bits_per_char(loss), lc.perplexity(loss)],
                               rtol=1e-12)
    print(f"{name:28s} {loss:9.3f} {bits:9.3f} {ppl:10.2f}")

# %% [markdown]
# ## 8 · Sampling: temperature and top-k
#
# To generate text, feed a prime, turn the last logits $z$ into probabilities, draw a
# character, feed it back, and repeat. Two knobs reshape the distribution before the draw.
# The temperature $\tau$ divides the logits:
#
# $$p_j(\tau) = \frac{e^{z_j/\tau}}{\sum_k e^{z_k/\tau}}.$$
#
# $\tau = 1$ is the model's own distribution; $\tau < 1$ sharpens it toward the most
# likely character ($\tau \to 0$ is the argmax); $\tau > 1$ flattens it toward uniform.
# Top-$k$ sets $z_j = -\infty$ for every character outside the $k$ largest logits, so the
# unlikely tail, where most nonsense comes from, is never drawn. The draw itself inverts
# the cumulative distribution: with $u \sim U(0, 1)$, pick the first $j$ whose cumulative
# probability reaches $u$.

# %% tags=["exercise"]
def sample_next(z, tau, top_k, rng):
    """One id per row of the logits z (B, V): the logits divided by the temperature tau,
    all but the top_k largest set to -inf (None: keep all), the softmax, then a draw by
    inverting the cumulative distribution with u = rng.random((B, 1)). Returns (B,) ids."""
    z = z.astype(np.float64) / tau
    if top_k is not None and top_k < z.shape[1]:
        kth_largest = np.sort(z, axis=1)[:, -top_k][:, None]
        z = np.where(z < kth_largest, -np.inf, z)
    p = lc.softmax(z)
    u = rng.random((z.shape[0], 1))
    return np.minimum((p.cumsum(axis=1) < u).sum(axis=1), z.shape[1] - 1)


# %%
sample_next = ex.check_sample_next(sample_next)

# %%
z_test = np.random.default_rng(0).normal(0, 2, (1000, V))
for tau, top_k in [(1.0, None), (0.5, None), (1.5, 5)]:
    mine = sample_next(z_test, tau, top_k, np.random.default_rng(7))
    theirs = lc.sample_next(z_test, tau, top_k, np.random.default_rng(7))
    np.testing.assert_allclose(mine, theirs, rtol=0, atol=0)
    assert (top_k is None) or np.all(
        (z_test >= np.sort(z_test, axis=1)[:, -top_k][:, None])[np.arange(1000), mine])
print("sample_next == lc.sample_next on 1,000 rows at (τ, k) = (1, none), (0.5, none), "
      "(1.5, 5); top-k draws stay in the top k")

# %% [markdown]
# Sampling starts from a prime, the text that the model continues. `read_prime` feeds it
# one character per step, one stream of `len(prime)` steps, so that the state has
# read the prime in order and the last logits predict the character after it:

# %% tags=["exercise"]
def read_prime(params, ids):
    """Feed the prime ids (n,) to the model one character per step, from the zero state.

    Returns the logits (V,) of the last step, which predict the character after the
    prime, and the state (h, c), each (L, 1, H), that sampling continues from.
    """
    logits, state, _ = lc.forward(params, ids[:, None])  # one stream, T = n steps
    return logits[-1, 0], state


# %%
read_prime = ex.check_read_prime(read_prime)

# %% [markdown]
# `lc.sample` feeds the prime one character per step, each as its own input, then
# samples. (The Kaggle notebook this series replaces sets the one-hot entries of all the
# prime's characters in a single input vector: an input that is no text at all.) Text from
# the live model after 300 steps: it has learned word lengths, frequent short words, line breaks
# and speaker names in capitals, but little spelling beyond that.

# %%
for tau, top_k in [(0.5, None), (1.0, None), (1.0, 5)]:
    out = lc.sample(params_live, vocab, prime="\n", length=240, temperature=tau,
                    top_k=top_k, seed=0)
    print(f"--- τ = {tau}, top-k = {top_k} ---{out}\n")

# %% [markdown]
# How strongly does $\tau$ reshape the distribution? The entropy of the next-character
# distribution, in nats,
#
# $$\mathcal{H}(\tau) = -\sum_j p_j(\tau) \ln p_j(\tau),$$
#
# averaged over 2,000 positions of validation text. At $\tau = 1$ it is the loss the model
# expects of itself: if the text really were drawn from the model's distributions, the
# cross-entropy on these positions would equal the mean entropy, up to sampling noise. So
# comparing the two is a check of the model's confidence (a necessary condition for being
# well calibrated, not the same thing: a model can match the two on average and still be
# over-confident in some places and under-confident in others). Top-$k$ caps the entropy
# at $\ln k$.

# %%
def entropy(z, tau, top_k=None):
    """Entropy in nats of softmax(z / tau) per row of z (N, V), after top-k."""
    z = z / tau
    if top_k is not None:
        z = np.where(z < np.sort(z, axis=1)[:, -top_k][:, None], -np.inf, z)
    p = lc.softmax(z)
    return -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1)


logits_val, _, _ = lc.forward(params_live, val_ids[:2_000, None])
z_val = logits_val[:, 0, :]
assert z_val.shape == (2_000, V)
ce_val = lc.cross_entropy(z_val, val_ids[1:2_001])[0]
taus = np.linspace(0.1, 2.0, 39)
H_full = np.array([entropy(z_val, tau).mean() for tau in taus])
H_top5 = np.array([entropy(z_val, tau, top_k=5).mean() for tau in taus])
H_1 = entropy(z_val, 1.0).mean()
print(f"same 2,000 positions: mean entropy at τ = 1 {H_1:.3f} nats, "
      f"cross-entropy {ce_val:.3f} nats/char, difference {H_1 - ce_val:+.3f}")

fig, ax = plt.subplots()
ax.plot(taus, H_full, label="full distribution")
ax.plot(taus, H_top5, label="top-k, k = 5")
ax.axhline(np.log(V), color="gray", ls=":", lw=1)
ax.text(0.1, np.log(V), r"$\ln V$ (uniform)", va="bottom", color="gray")
ax.axhline(np.log(5), color="gray", ls="--", lw=1)
ax.text(0.1, np.log(5), r"$\ln 5$", va="bottom", color="gray")
ax.plot([1.0], [ce_val], "k*", ms=9, label=r"cross-entropy, $\tau$ = 1")
ax.set(title="Temperature against the entropy of the next character (live model)",
       xlabel=r"temperature $\tau$", ylabel="mean entropy (nats)", ylim=(0, 4.9))
ax.legend(loc="lower right")
plt.show()

# %% [markdown]
# On these positions the live model's mean entropy is 0.07 nats above its cross-entropy
# (2.207 against 2.133): it expects to do a little worse than it does, that is, its
# distributions are a little flatter than they need to be. It is slightly under-confident,
# not over-confident.
#
# ## 9 · The trained model
#
# The repository ships a model trained for longer with `python -m lstm_core train`:
# `lc.DEFAULT_CHECKPOINT`, `data/shakespeare_lstm.npz`. During training, `lc.train` writes
# a checkpoint at every evaluation (parameters, AdamW's moments, the carried state, the
# position in the data, the random generator's state), enough to resume the run exactly.
# The shipped file is *released* (`lc.release_checkpoint`): it keeps the parameters, the
# configuration, the vocabulary and the history, enough to sample and evaluate. (The
# original notebook saves nothing: its trained model is gone when the kernel stops.)

# %%
ckpt = lc.load_checkpoint(lc.DEFAULT_CHECKPOINT)
cfg_trained = ckpt["config"]
params_trained = ckpt["params"]
assert ckpt["vocab"] == vocab and ckpt["opt"] is None
B_t, T_t = cfg_trained.batch_size, cfg_trained.seq_len
chars_seen = ckpt["step"] * B_t * T_t
print(f"H = {cfg_trained.hidden_size}, {cfg_trained.num_layers} layer(s), "
      f"dropout {cfg_trained.dropout}, B = {B_t}, T = {T_t}, {cfg_trained.dtype}")
print(f"lr {cfg_trained.lr:g} (warm-up {cfg_trained.warmup_steps} steps, cosine to "
      f"{cfg_trained.min_lr_frac:g} · lr), weight decay {cfg_trained.weight_decay:g}, "
      f"grad_clip {cfg_trained.grad_clip:g}, "
      f"time budget {cfg_trained.time_budget or lc.DEFAULT_TIME_BUDGET:g} s")
print(f"{lc.count_params(params_trained):,} parameters (the live model: "
      f"{lc.count_params(params_live):,}), {ckpt['step']:,} steps in "
      f"{ckpt['elapsed'] / 60:.0f} min, {chars_seen:,} characters "
      f"({chars_seen / len(train_ids):.2f} epochs)")

# %% [markdown]
# Its recorded history: every `eval_every` steps the mean training loss since the last
# record (so it lags behind) and a validation estimate on `eval_chars` characters; the last
# record's validation loss is the whole validation split. The learning rate decays with
# the elapsed fraction of the time budget.

# %%
hist = ckpt["history"]
h_steps = np.array([r["step"] for r in hist])
fig, (ax, ax_lr) = plt.subplots(2, 1, figsize=(7, 4.5), sharex=True,
                                height_ratios=(3, 1))
ax.plot(h_steps, [r["train_loss"] for r in hist], "o-", ms=3, label="training")
ax.plot(h_steps, [r["val_loss"] for r in hist], "s-", ms=3, label="validation")
ax.set(title=f"The shipped model's training run (H = {cfg_trained.hidden_size}, "
       f"B = {B_t}, T = {T_t})", ylabel="loss (nats/char)")
ax.legend()
ax_lr.plot(h_steps, [r["lr"] * 1e3 for r in hist], color="gray")
ax_lr.set(xlabel="step", ylabel=r"$\eta$ (×10⁻³)")
plt.show()

# %%
val_trained = hist[-1]["val_loss"]
print(f"{'model':28s} {'nats/char':>9s} {'bits/char':>9s} {'perplexity':>10s}")
for name, loss in [("unigram (frequencies)", unigram),
                   (f"live run, {cfg_live.max_steps} steps", val_live),
                   (f"shipped, {ckpt['step']:,} steps", val_trained)]:
    print(f"{name:28s} {loss:9.3f} {lc.bits_per_char(loss):9.3f} {lc.perplexity(loss):10.2f}")
print(f"\nshipped model, last record: training {hist[-1]['train_loss']:.3f} (dropout on), "
      f"validation {val_trained:.3f} nats/char")

# %% [markdown]
# Samples after the prime `"ROMEO.\n"` (in this edition a speaker's name is followed by a
# period). The parameters are cast to float64 first, so that the drawn characters do not
# depend on the rounding of a particular machine's float32 arithmetic.

# %%
params64 = {name: p.astype(np.float64) for name, p in params_trained.items()}
for tau in (0.5, 0.8, 1.0):
    out = lc.sample(params64, vocab, prime="ROMEO.\n", length=300, temperature=tau, seed=0)
    print(f"--- τ = {tau} ---\n{out}\n")

# %% [markdown]
# The shipped model is the default recipe, `python -m lstm_core train` with no flags: one
# layer of $H = 512$, dropout 0.2, an hour on two CPU cores (`make train`). With many times
# the live model's parameters and characters read, it ends about three quarters of a nat per
# character lower. Its training loss ends below its validation loss, although dropout is
# on while the training loss is measured and off for validation: the validation plays are
# not the training plays, and what the model learns about the training text itself no
# longer carries over in full.
#
# At $\tau = 0.5$ the text is safe and repetitive; at $\tau = 1$ it is varied, with more
# invented words. Both have the play's layout: a speaker's name in capitals on its own line, then
# the speech. Notebook 06 looks for the cells that track such structure.
#
# ## Summary
#
# - Truncated BPTT reads $B$ streams in windows of $T$: the state $(h, c)$ is carried from
#   window to window and reset when the streams wrap; the gradient stops at each window.
# - A training step is forward, cross-entropy, backward, clip by global norm, AdamW, with
#   the learning rate of a warm-up + cosine schedule.
# - Our loop gives bit-for-bit the parameters of `lc.train` for the same `Config` and seed.
# - Loss in nats/char, bits/char $= \mathcal{L} / \ln 2$ and perplexity $= e^{\mathcal{L}}$
#   measure the same thing: a
#   uniform guess needs 6.4 bits/char, the unigram model 4.8, the live run after 300 steps
#   3.1, the shipped model after an hour 2.0.
# - The recipe follows the budget: `lc.choose_recipe` picks the measured best recipe for a
#   time budget or a number of steps, as `python -m lstm_core train` does.
# - Temperature trades diversity for safety, top-k removes the tail; both are applied to
#   the logits just before the draw.
#
# ## Exercises
#
# 1. Reset the state to zeros at *every* window instead of carrying it (pass `state=None`).
#    Rerun the live run: how much worse is the validation loss at the end, and why?
# 2. Keep $BT$ = 2,048 characters per step but use $T = 16$ with $B = 128$, then $T = 256$
#    with $B = 8$. Which learns fastest per step, and which per second?
# 3. Sample from the shipped model at $\tau = 0$ (greedy). Find the first repeated stretch of
#    the output and explain why greedy decoding loops.
# 4. Implement nucleus (top-p) sampling: keep the smallest set of characters whose
#    probabilities sum to at least $p$. Add its curve, for $p = 0.9$, to the entropy plot.
# 5. Evaluate the shipped model on the first 100,000 validation characters with
#    `lc.evaluate` at $B = 64, T = 100$ and at $B = 1, T = 1000$. Why does the loss differ a
#    little?
#
# ## Further reading
#
# - A. Karpathy, [*The Unreasonable Effectiveness of Recurrent Neural
#   Networks*](https://karpathy.github.io/2015/05/21/rnn-effectiveness/), 2015: character
#   models trained on Shakespeare, Wikipedia, LaTeX and C, with samples.
# - A. Karpathy, J. Johnson, L. Fei-Fei, [*Visualizing and Understanding Recurrent
#   Networks*](https://arxiv.org/abs/1506.02078), 2015: character-level LSTMs, their
#   training and what their cells track.
# - A. Holtzman, J. Buys, L. Du, M. Forbes, Y. Choi, [*The Curious Case of Neural Text
#   Degeneration*](https://arxiv.org/abs/1904.09751), ICLR 2020: why pure and greedy
#   sampling fail, top-k, and nucleus sampling.
# - I. Loshchilov, F. Hutter, [*SGDR: Stochastic Gradient Descent with Warm
#   Restarts*](https://arxiv.org/abs/1608.03983), ICLR 2017: the cosine learning-rate
#   schedule.
# - C. E. Shannon, *Prediction and Entropy of Printed English*, Bell System Technical
#   Journal 30, 1951: bits per character of English, measured with human predictors.
#
# ← Previous: [04 · AdamW](04_adamw.ipynb) · [Contents](00_contents.ipynb) ·
# Next: [06 · Inside the LSTM](06_inside_the_lstm.ipynb) →
