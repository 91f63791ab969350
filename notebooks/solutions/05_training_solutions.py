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
# # 05 · Training and sampling: worked solutions
#
# ← Previous: [04 · solutions](04_adamw_solutions.ipynb) ·
# [The lesson](../05_training.ipynb) · [Contents](../00_contents.ipynb) ·
# Next: [06 · solutions](06_inside_the_lstm_solutions.ipynb) →
#
# Worked solutions of the numbered exercises at the end of the lesson, for teachers.
# `make test` executes this notebook and compares its outputs like the lessons'. To stay
# within a few minutes on two cores, the training runs here are smaller than the lesson's
# live run (H = 64, 150 steps), and exercise 5 reads 20,000 validation characters instead
# of 100,000; the effects asked about show all the same.

# %%
import matplotlib.pyplot as plt
import numpy as np

import lstm_core as lc

plt.style.use("../lstm.mplstyle")
np.set_printoptions(precision=4, suppress=True)

# %%
text = lc.load_corpus()
vocab = lc.Vocabulary.from_text(text)
V = len(vocab)
train_ids, val_ids = lc.split_data(vocab.encode(text))
ckpt = lc.load_checkpoint(lc.DEFAULT_CHECKPOINT)
params_trained = ckpt["params"]
print(f"V = {V}; the shipped model: H = {ckpt['config'].hidden_size}, "
      f"{ckpt['config'].num_layers} layer(s)")


def train_run(cfg, carry=True):
    """The lesson's loop (lc.train_step, warm-up + cosine), the state carried from window
    to window (reset when the streams wrap), or reset at every window with carry=False.
    Returns the parameters and the loss of every step."""
    B, T = cfg.batch_size, cfg.seq_len
    streams = lc.make_streams(train_ids, B)
    n_windows = lc.num_windows(streams, T)
    params = lc.init_params(V, cfg.hidden_size, cfg.num_layers, seed=cfg.seed,
                            dtype=cfg.dtype)
    opt = lc.AdamW(params, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay)
    losses, window = [], 0
    for s in range(cfg.max_steps):
        if window == 0 or not carry:
            state = lc.zero_state(params, B)
        x, y = lc.get_window(streams, window, T)
        lr = lc.lr_at(cfg, s, s / cfg.max_steps)
        loss, _, state = lc.train_step(params, opt, x, y, state, lr=lr,
                                       grad_clip=cfg.grad_clip)
        losses.append(loss)
        window = (window + 1) % n_windows
    return params, np.array(losses)


def small_config(**changes):
    base = dict(hidden_size=64, num_layers=1, dropout=0.0, batch_size=32, seq_len=64,
                lr=3e-2, warmup_steps=15, max_steps=150, time_budget=None, dtype="float64",
                seed=0)
    return lc.Config(**dict(base, **changes))


# %% [markdown]
# ## Exercise 1
#
# *Reset the state to zeros at every window instead of carrying it (pass `state=None`).
# Rerun the live run: how much worse is the validation loss at the end, and why?*
#
# Validation is measured twice: as `lc.evaluate` does it, reading the validation text in
# windows with the state carried, and with the state reset at every window, as the
# resetting model was trained.

# %%
def evaluate_reset(params, ids, B, T):
    """Mean loss over the windows of ids, each window starting from the zero state."""
    streams = lc.make_streams(ids, B)
    losses = []
    for k in range(lc.num_windows(streams, T)):
        x, y = lc.get_window(streams, k, T)
        logits, _, _ = lc.forward(params, x)  # no state given: zeros
        losses.append(lc.cross_entropy(logits, y)[0])
    return float(np.mean(losses))


import time

cfg1 = small_config()
val_ids_20k = val_ids[:20_000]
results, trained, seconds = {}, {}, {}
for label, carry in [("state carried", True), ("state reset every window", False)]:
    start = time.perf_counter()
    params, losses = train_run(cfg1, carry)
    seconds[label] = time.perf_counter() - start
    trained[label] = params, losses
    results[label] = (losses[-20:].mean(),
                      lc.evaluate(params, val_ids_20k, cfg1.batch_size, cfg1.seq_len),
                      evaluate_reset(params, val_ids_20k, cfg1.batch_size, cfg1.seq_len))
print(f"{'training':26s} {'train, last 20':>15s} {'val, carried':>13s} {'val, reset':>11s}")
for label, (train, val_carried, val_reset) in results.items():
    print(f"{label:26s} {train:15.3f} {val_carried:13.3f} {val_reset:11.3f}")

# %% [markdown]
# Where in a window does the state matter? The loss at each position $t$ of the window,
# averaged over the validation windows, for the model trained with the state carried, read
# with the state carried and reset:

# %%
def loss_by_position(params, ids, B, T, carry):
    """Mean -ln p at each position t = 0..T-1 of the windows of ids, (T,)."""
    streams = lc.make_streams(ids, B)
    state, per_position = None, []
    for k in range(lc.num_windows(streams, T)):
        x, y = lc.get_window(streams, k, T)
        logits, final, _ = lc.forward(params, x, state if carry else None)
        p = np.take_along_axis(lc.softmax(logits), y[..., None], axis=-1)[..., 0]
        per_position.append(-np.log(p).mean(axis=1))
        state = final
    return np.mean(per_position, axis=0)


params_carried = trained["state carried"][0]
by_position = {carry: loss_by_position(params_carried, val_ids_20k, 32, 64, carry)
               for carry in (True, False)}
print(f"{'validation read with':22s} {'t = 0':>7s} {'t = 1-4':>8s} {'t = 5-15':>9s} "
      f"{'t = 16-63':>10s}")
for carry, curve in by_position.items():
    print(f"{'state carried' if carry else 'state reset':22s} {curve[0]:7.3f} "
          f"{curve[1:5].mean():8.3f} {curve[5:16].mean():9.3f} {curve[16:].mean():10.3f}")

# %% [markdown]
# After 150 steps the two models are equally good: the one trained with the state reset is
# even a hair better on the validation text. The per-position losses say why. The state
# matters at the start of a window only: at $t = 0$ a model reading with a reset state
# has no context at all and pays 0.7 nats more, at $t = 1$ to 4 a little more, and from
# $t = 5$ on it makes no difference, because at this stage the model uses only the last
# few characters. With $T = 64$ that is a few positions in 64, and a model trained with
# resets learns to cope with them. The loss of carrying nothing grows with what the model
# could use: a model trained for an hour follows stage directions and speeches over
# hundreds of characters (notebook 06), context that a reset throws away at every window
# and that the model, never shown it, cannot learn to keep. The truncation of BPTT limits
# how far back the *gradient* reaches; resetting the state also limits what the *state*
# can carry, to less than one window.
#
# ## Exercise 2
#
# *Keep $BT$ = 2,048 characters per step but use $T = 16$ with $B = 128$, then $T = 256$ with
# $B = 8$. Which learns fastest per step, and which per second?*

# %%
runs = {(32, 64): (trained["state carried"][1],  # exercise 1's run
                   lc.evaluate(params_carried, val_ids_20k, 32, 64))}
seconds[32, 64] = seconds["state carried"]
for B_, T_ in [(128, 16), (8, 256)]:
    start = time.perf_counter()
    params, losses = train_run(small_config(batch_size=B_, seq_len=T_))
    seconds[B_, T_] = time.perf_counter() - start
    runs[B_, T_] = (losses, lc.evaluate(params, val_ids_20k, 32, 64))
print(f"{'B':>4s} {'T':>4s} {'train, last 20 steps':>21s} {'validation':>11s}")
for (B_, T_), (losses, val) in runs.items():
    print(f"{B_:4d} {T_:4d} {losses[-20:].mean():21.3f} {val:11.3f}")

# %%
# NBVAL_IGNORE_OUTPUT
# Seconds depend on the machine and its load.
for B_, T_ in [(128, 16), (32, 64), (8, 256)]:
    sec = seconds[B_, T_]
    print(f"B = {B_:3d}, T = {T_:3d}: {sec:5.1f} s for {cfg1.max_steps} steps "
          f"({cfg1.max_steps * 2048 / sec:,.0f} training chars/s)")

# %% [markdown]
# Per step the three learn about equally at this stage, within 0.03 nats/char; the long
# windows ($B = 8$) are a little behind, their gradient being an average over only 8
# streams, whose neighbouring positions are strongly correlated. Per second the
# multiply-adds are the same for all three (2,048 characters through the same layers), but
# a window is $T$ steps one after another: $T = 256$ runs 256 small products of 8 rows,
# $T = 16$ runs 16 products of 128 rows. The times above depend on the machine and on what
# else runs on it (OpenBLAS threads on a busy machine cost several times over, see the
# README); on our two cores, with one BLAS thread, a step took about 21 ms at $T = 16$ and
# $T = 64$ and 28 ms at $T = 256$. Short windows are not free either: the gradient reaches
# back at most $T$ steps, so $T = 16$ can never teach a dependency longer than 16
# characters, which a model trained for longer needs.
#
# ## Exercise 3
#
# *Sample from the shipped model at $\tau = 0$ (greedy). Find the first repeated stretch of
# the output and explain why greedy decoding loops.*

# %%
params64 = {name: p.astype(np.float64) for name, p in params_trained.items()}
greedy = lc.sample(params64, vocab, prime="ROMEO.\n", length=400, temperature=0.0)
print(greedy)


def first_repeat(s, min_len=20):
    """The first stretch of at least min_len characters that occurs again later: its
    start, the start of the repetition, and the period between them."""
    for end in range(min_len, len(s)):
        piece = s[end - min_len : end]
        again = s.find(piece, end)
        if again != -1:
            return end - min_len, again, again - (end - min_len)
    return None


start, again, period = first_repeat(greedy)
print(f"first repeated stretch: characters {start}-{start + 20} come back at {again}, "
      f"a period of {period} characters")
print(repr(greedy[start : start + period]))

# %% [markdown]
# Greedy decoding falls into a loop at once: a stage direction, two short speeches, an exit
# and a scene heading, 188 characters in all, and then the same again from "[Enter
# CORIOLANUS, and" on, with other names after "and" in the second round only. At
# $\tau = 0$ the next character is a function of the state alone, and the state is a
# function of the characters read. A passage that is likely after itself (an exit and a
# new scene are likely after any scene) brings the state back close to where it was; from
# there the same choices follow, and nothing random ever breaks the cycle. Sampling with
# $\tau > 0$ draws, now and then, a less likely character, which takes the state
# elsewhere.
#
# ## Exercise 4
#
# *Implement nucleus (top-p) sampling: keep the smallest set of characters whose
# probabilities sum to at least $p$. Add its curve, for $p = 0.9$, to the entropy plot.*
#
# Sort each row's probabilities in decreasing order; keep a character while the
# probability mass *before* it is still below $p$ (so the character that crosses $p$ is
# kept too), renormalise, draw. The entropy plot is made for the shipped model here.

# %%
def top_p_filter(z, tau, top_p):
    """Logits z (N, V) / tau with every character outside the nucleus set to -inf."""
    z = z.astype(np.float64) / tau
    p = lc.softmax(z)
    order = np.argsort(-p, axis=1, kind="stable")
    sorted_p = np.take_along_axis(p, order, axis=1)
    before = np.cumsum(sorted_p, axis=1) - sorted_p  # mass of the more likely characters
    keep_sorted = before < top_p
    keep = np.zeros_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=1)
    return np.where(keep, z, -np.inf)


def sample_top_p(z, tau, top_p, rng):
    """One id per row of z (N, V), drawn from the nucleus as lc.sample_next draws."""
    p = lc.softmax(top_p_filter(z, tau, top_p))
    u = rng.random((z.shape[0], 1))
    return np.minimum((p.cumsum(axis=1) < u).sum(axis=1), z.shape[1] - 1)


def entropy(z):
    """Entropy in nats of softmax(z) per row; -inf logits contribute nothing."""
    p = lc.softmax(z)
    return -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1)


logits_val, _, _ = lc.forward(params64, val_ids[:2_000, None])
z_val = logits_val[:, 0, :]
p_val = lc.softmax(z_val)
kept = top_p_filter(z_val, 1.0, 0.9) > -np.inf
mass = np.where(kept, p_val, 0).sum(axis=1)
assert np.all(mass >= 0.9 - 1e-12)  # the nucleus holds at least p ...
smallest = np.where(kept, p_val, np.inf).min(axis=1)
assert np.all(mass - smallest < 0.9 + 1e-12)  # ... and is the smallest set that does
draws = sample_top_p(z_val, 1.0, 0.9, np.random.default_rng(0))
assert np.all(kept[np.arange(len(draws)), draws])
print(f"nucleus p = 0.9 at τ = 1: {kept.sum(axis=1).mean():.1f} characters kept on "
      f"average (of {V}), from {kept.sum(axis=1).min()} to {kept.sum(axis=1).max()}; "
      "every draw inside it")

taus = np.linspace(0.1, 2.0, 39)
k5 = np.sort(z_val, axis=1)[:, -5][:, None]
curves = {
    "full distribution": [entropy(z_val / tau).mean() for tau in taus],
    "top-k, k = 5": [entropy(np.where(z_val < k5, -np.inf, z_val) / tau).mean()
                     for tau in taus],
    "nucleus, p = 0.9": [entropy(top_p_filter(z_val, tau, 0.9)).mean() for tau in taus],
}
fig, ax = plt.subplots()
for label, curve in curves.items():
    ax.plot(taus, curve, label=label)
ax.axhline(np.log(V), color="gray", ls=":", lw=1)
ax.text(0.1, np.log(V), "ln V (uniform)", va="bottom", color="gray")
ax.set(title="Temperature against the entropy of the next character (shipped model)",
       xlabel="temperature τ", ylabel="mean entropy (nats)", ylim=(0, 4.9))
ax.legend(loc="upper left")
plt.show()
for label, curve in curves.items():
    print(f"{label:18s} mean entropy at τ = 1: {curve[18]:.3f} nats, at τ = 2: "
          f"{curve[-1]:.3f} nats")

# %% [markdown]
# The nucleus adapts to the model's confidence: where the next character is obvious it
# keeps one (a single character holds 90 % of the probability), where the model is unsure
# it keeps up to 31 (5.2 on average); top-k keeps 5 everywhere, too many in the first case
# and too few in the second. Its entropy lies between top-k's and the full distribution's,
# and it grows with $\tau$ like the full one, since a flatter distribution needs more
# characters to reach 90 %; top-k's is capped at $\ln 5$.
#
# ## Exercise 5
#
# *Evaluate the shipped model on the first validation characters with `lc.evaluate` at
# $B = 64, T = 100$ and at $B = 1, T = 1000$. Why does the loss differ a little?*
#
# (On the first 20,000 characters rather than 100,000; see the top of the notebook.)

# %%
for B_, T_ in [(64, 100), (1, 1000)]:
    streams = lc.make_streams(val_ids_20k, B_)
    n = lc.num_windows(streams, T_)
    loss = lc.evaluate(params_trained, val_ids_20k, B_, T_)
    print(f"B = {B_:2d}, T = {T_:4d}: {loss:.3f} nats/char over {n * B_ * T_:,} characters "
          f"({B_} stream(s) of {streams[0].shape[1]:,}, {n} windows, {B_} start(s) from "
          "the zero state)")

# %% [markdown]
# The loss differs (1.520 against 1.456 nats/char) for two reasons. Every stream starts
# from the zero state, with no context, and its first characters cost more (exercise 1):
# $B = 64$ streams start 64 times, one stream once. And the two read different characters:
# `make_streams` cuts the text into $B$ slices and `num_windows` reads only whole windows of
# each, so $B = 64$ scores 64 pieces of 300 characters and $B = 1$ almost the whole text.
# With a model that uses hundreds of characters of context, 64 cold starts in 20,000
# characters are a cost that shows. Over the whole validation split, as `lc.train`
# evaluates it at the end (at the run's $B = 32$, $T = 64$: 32 streams of about 15,800
# characters), the cold starts are 32 in half a million characters.
#
# ← Previous: [04 · solutions](04_adamw_solutions.ipynb) ·
# [The lesson](../05_training.ipynb) · [Contents](../00_contents.ipynb) ·
# Next: [06 · solutions](06_inside_the_lstm_solutions.ipynb) →
