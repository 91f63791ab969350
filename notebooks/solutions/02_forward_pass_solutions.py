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
# # 02 · The forward pass: worked solutions
#
# ← Previous: [01 · solutions](01_data_preparation_solutions.ipynb) ·
# [The lesson](../02_forward_pass.ipynb) · [Contents](../00_contents.ipynb) ·
# Next: [03 · solutions](03_backprop_through_time_solutions.ipynb) →
#
# Worked solutions of the numbered exercises at the end of the lesson, for teachers.
# `make test` executes this notebook and compares its outputs like the lessons'.

# %%
import matplotlib.pyplot as plt
import numpy as np

import lstm_core as lc

plt.style.use("../lstm.mplstyle")
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## Exercise 1
#
# *With `forget_bias=1.0` the forget gate starts near $\sigma(1) \approx 0.73$. If $f_t$
# stayed at that value and $i_t = 0$, what fraction of $c_0$ would be left after 25 steps?
# After 100? Repeat for `forget_bias=0.0` and `3.0`.*
#
# With $i_t = 0$ the cell update is $c_t = f\, c_{t-1}$, so $c_T = f^T c_0$: the fraction
# left is $f^T = \sigma(b_f)^T$. A loop over the update confirms the closed form.

# %%
print(f"{'forget_bias':>11s} {'f = sigma(b_f)':>14s} {'after 25 steps':>15s} "
      f"{'after 100 steps':>16s}")
for b_f in (0.0, 1.0, 3.0):
    f = float(lc.sigmoid(np.float64(b_f)))
    c = 1.0
    for _ in range(100):
        c = f * c + 0.0  # i_t = 0: nothing is written
        if _ == 24:
            c_25 = c
    assert np.isclose(c_25, f**25) and np.isclose(c, f**100)
    print(f"{b_f:11.1f} {f:14.4f} {f**25:15.2e} {f**100:16.2e}")

# %% [markdown]
# With a forget bias of 0 the memory halves at every step and is gone (below $10^{-7}$)
# within 25 steps; with 1, four ten-thousandths are left after 25 steps and nothing after
# 100; only with 3 does almost a third survive 25 steps, and still 0.8 % after 100. The
# same factor $f$ multiplies the gradient on the cell path (notebook 03, section 7).
#
# ## Exercise 2
#
# *`torch.nn.LSTM` stores `weight_ih_l0` of shape $(4H, D)$, `weight_hh_l0` of shape
# $(4H, H)$ and two biases, `bias_ih_l0` and `bias_hh_l0`. Write the lines that turn them
# into `W_x0`, `W_h0` and `b0`. Which rows of `weight_ih_l0` belong to the forget gate?*
#
# PyTorch computes $z = W_{ih}\, x + b_{ih} + W_{hh}\, h + b_{hh}$ with column vectors;
# we compute $z = x W_x + h W_h + b$ with row vectors. Both stack the gates in the order
# i, f, g, o. So
#
# ```python
# W_x0 = weight_ih_l0.T                 # (D, 4H)
# W_h0 = weight_hh_l0.T                 # (H, 4H)
# b0 = bias_ih_l0 + bias_hh_l0          # (4H,): the two biases only ever appear summed
# ```
#
# and the forget gate is the second block: rows `H : 2*H` of `weight_ih_l0` (columns
# `H : 2*H` of `W_x0`). Without PyTorch installed, we check the lines on arrays laid out as
# PyTorch lays them out: made from our parameters, with the bias split in two at random,
# then turned back and run through `lc.forward`.

# %%
V, H, B, T = 11, 5, 3, 7
params = lc.init_params(V, H, 1, seed=0, dtype="float64")
rng = np.random.default_rng(0)
split = rng.normal(0, 1, 4 * H)
weight_ih_l0, weight_hh_l0 = params["W_x0"].T.copy(), params["W_h0"].T.copy()  # (4H, D)
bias_ih_l0, bias_hh_l0 = params["b0"] - split, split
assert weight_ih_l0.shape == (4 * H, V) and weight_hh_l0.shape == (4 * H, H)

converted = dict(params, W_x0=weight_ih_l0.T, W_h0=weight_hh_l0.T,
                 b0=bias_ih_l0 + bias_hh_l0)
x = rng.integers(0, V, (T, B))
np.testing.assert_allclose(lc.forward(converted, x)[0], lc.forward(params, x)[0],
                           rtol=1e-12, atol=1e-14)
forget = slice(H, 2 * H)
np.testing.assert_array_equal(weight_ih_l0[forget], params["W_x0"][:, forget].T)
print(f"converted weights give the same logits; the forget gate is rows {H}:{2 * H} of "
      f"weight_ih_l0 (H = {H}), and its bias starts at {converted['b0'][forget][0]:.1f}")

# %% [markdown]
# ## Exercise 3
#
# *Write the number of parameters of an $L$-layer model as a formula in $V$, $H$ and $L$,
# and check it against `lc.count_params` for a few sizes.*
#
# Layer 0 has $W_{x0}$ $(V, 4H)$, $W_{h0}$ $(H, 4H)$ and $b_0$ $(4H)$; each further layer
# has $W_{xl}$ $(H, 4H)$, $W_{hl}$ $(H, 4H)$ and $b_l$ $(4H)$; the output layer has $W_y$
# $(H, V)$ and $b_y$ $(V)$:
#
# $$P = 4H(V + H + 1) + (L - 1)\, 4H(2H + 1) + V(H + 1).$$

# %%
def n_params(V, H, L):
    return 4 * H * (V + H + 1) + (L - 1) * 4 * H * (2 * H + 1) + V * (H + 1)


print(f"{'V':>4s} {'H':>5s} {'L':>2s} {'formula':>11s} {'lc.count_params':>16s}")
for V_, H_, L_ in [(84, 512, 1), (84, 128, 1), (65, 256, 3), (7, 5, 1), (1000, 64, 4)]:
    counted = lc.count_params(lc.init_params(V_, H_, L_))
    assert n_params(V_, H_, L_) == counted
    print(f"{V_:4d} {H_:5d} {L_:2d} {n_params(V_, H_, L_):11,d} {counted:16,d}")

# %% [markdown]
# The default recipe (first row) is the 1,265,748 parameters that `train` reports. For
# $H \gg V$ the count grows like $8 L H^2$: doubling $H$ quadruples the model.
#
# ## Exercise 4
#
# *Another stable sigmoid uses two branches: $1/(1 + e^{-z})$ for $z \ge 0$ and
# $e^{z}/(1 + e^{z})$ for $z < 0$. Implement it without any overflow warning (careful:
# `np.where` evaluates both branches) and compare it with `lc.sigmoid`.*
#
# `np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))` computes both
# branches for every entry, so `np.exp(-z)` still overflows at $z = -1000$ and `np.exp(z)`
# at $z = 1000$, even though those entries are then thrown away. Both branches can be
# written with $e = e^{-|z|} \in (0, 1]$, which never overflows:
# $1/(1 + e)$ for $z \ge 0$ and $e/(1 + e)$ for $z < 0$.

# %%
def two_branch_sigmoid(z):
    e = np.exp(-np.abs(z))  # at most 1: no overflow, whatever the sign of z
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


z = np.concatenate([[-1000.0, -100.0, -10.0], np.linspace(-30, 30, 601), [100.0, 1000.0]])
with np.errstate(over="raise", invalid="raise"):  # an overflow would raise here
    for dtype in (np.float64, np.float32):
        mine, theirs = two_branch_sigmoid(z.astype(dtype)), lc.sigmoid(z.astype(dtype))
        tol = 1e-15 if dtype is np.float64 else 1e-6
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=tol)
        print(f"{np.dtype(dtype).name}: two_branch_sigmoid == lc.sigmoid to {tol:.0e}, "
              "with no overflow")
with np.errstate(over="raise"):
    try:
        np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))
    except FloatingPointError as e:
        print(f"the naive np.where version: FloatingPointError: {e}")

# %% [markdown]
# ## Exercise 5
#
# *Multiply `W_y` of the untrained model by 10, then by 100, and recompute the loss. Why
# does it move away from $\ln V$, and in which direction?*
#
# The lesson's setting: the default recipe's model, untrained, on a window of the
# validation text. Scaling $W_y$ by $s$ scales every logit by $s$ (the bias $b_y$ is 0).

# %%
text = lc.load_corpus()
vocab = lc.Vocabulary.from_text(text)
V = len(vocab)
_, val_ids = lc.split_data(vocab.encode(text))
cfg = lc.Config()
params_big = lc.init_params(V, cfg.hidden_size, cfg.num_layers, seed=0, dtype="float64")
x_v, y_v = lc.get_window(lc.make_streams(val_ids, 16), 0, cfg.seq_len)
print(f"ln V = {np.log(V):.4f}")
print(f"{'W_y times':>9s} {'loss (nats/char)':>17s} {'std of the logits':>18s} "
      f"{'largest p, mean':>16s}")
for scale in (1, 10, 100, 1000):
    scaled = dict(params_big, W_y=scale * params_big["W_y"])
    logits, _, _ = lc.forward(scaled, x_v)
    loss, _ = lc.cross_entropy(logits, y_v)
    print(f"{scale:9d} {loss:17.4f} {logits.std():18.4f} "
          f"{lc.softmax(logits).max(axis=-1).mean():16.4f}")

# %% [markdown]
# The loss does not simply rise. For small logits $l$, each term of the loss,
# $-l_y + \ln \sum_k e^{l_k}$, is close to
#
# $$\ln V - (l_y - \bar l) + \tfrac12 \operatorname{var}(l),$$
#
# with $\bar l$ and $\operatorname{var}(l)$ the mean and variance over the $V$ characters.
# Scaling the logits by $s$ scales the middle term by $s$ and the last one by $s^2$:

# %%
logits, _, _ = lc.forward(params_big, x_v)
l_y = np.take_along_axis(logits, y_v[..., None], axis=-1)[..., 0]  # (T, B): the next one's
favour = (l_y - logits.mean(axis=-1)).mean()  # l_y - mean(l), averaged over the window
spread = 0.5 * logits.var(axis=-1).mean()  # var(l) / 2, averaged over the window
for scale in (1, 10, 100):
    approx = np.log(V) - scale * favour + scale**2 * spread
    loss, _ = lc.cross_entropy(scale * logits, y_v)
    print(f"times {scale:3d}: ln V - {scale} * {favour:.5f} + {scale}^2 * {spread:.2e} = "
          f"{approx:.4f}; the loss: {loss:.4f}")

# %% [markdown]
# The middle term is a matter of chance: these untrained weights happen to give the
# character that comes next a slightly larger logit than the average, so at times 10 the
# loss is 0.004 nats *below* $\ln V$. The $s^2$ term wins from times 100 on, and the loss
# rises fast (times 100: +0.15 nats; times 1000: 15.6 nats, three and a half times
# $\ln V$). Larger logits make the softmax sharper: at times 1000 the most likely character
# gets 0.73 of the probability on average, where a uniform guess gives each $1/V = 0.012$.
# The characters it favours are chosen by untrained weights, so they are rarely the right
# ones, and the actual next character gets far less than $1/V$. A uniform guess is the best
# an ignorant model can do; confidence without knowledge costs nats. That is why initial
# logits should be small, and why a first loss far above $\ln V$ points to a bad
# initialisation.
#
# ← Previous: [01 · solutions](01_data_preparation_solutions.ipynb) ·
# [The lesson](../02_forward_pass.ipynb) · [Contents](../00_contents.ipynb) ·
# Next: [03 · solutions](03_backprop_through_time_solutions.ipynb) →
