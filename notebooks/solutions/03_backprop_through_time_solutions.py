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
# # 03 · Backpropagation through time: worked solutions
#
# ← Previous: [02 · solutions](02_forward_pass_solutions.ipynb) ·
# [The lesson](../03_backprop_through_time.ipynb) · [Contents](../00_contents.ipynb) ·
# Next: [04 · solutions](04_adamw_solutions.ipynb) →
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
# ## The backward pass by hand, for any number of layers (exercise 4)
#
# Exercise 4 asks for the lesson's `lstm_backward` extended to two layers; exercises 1 to 3
# use it too, so it comes first. One layer's loop is the lesson's, written for a layer
# whose input projections $x_t W_x + b$ are given (`layer_forward`) and whose $h_t$ receive
# the gradient `dout[t]` from above (`layer_backward`). Arrays keep the lesson's numbering:
# $T + 2$ rows, row $t$ for step $t$, rows 0 and $T + 1$ zero where nothing exists.
# `tanh_twice=True` plants the original's mistake (exercise 3).

# %%
def layer_forward(xw, h_0, c_0, W_h):
    """One layer over a window. xw: (T, B, 4H) input projections; h_0, c_0: (B, H).
    Returns a dict of arrays with T + 2 rows: i, f, g, o, c, tanh_c, h (T+2, B, H)."""
    T, B, H4 = xw.shape
    H = H4 // 4
    fw = {k: np.zeros((T + 2, B, H), xw.dtype) for k in ("i", "f", "g", "o", "c", "tanh_c",
                                                          "h")}
    fw["h"][0], fw["c"][0] = h_0, c_0
    for t in range(1, T + 1):
        z = xw[t - 1] + fw["h"][t - 1] @ W_h
        fw["i"][t], fw["f"][t] = lc.sigmoid(z[:, :H]), lc.sigmoid(z[:, H : 2 * H])
        fw["g"][t], fw["o"][t] = np.tanh(z[:, 2 * H : 3 * H]), lc.sigmoid(z[:, 3 * H :])
        fw["c"][t] = fw["f"][t] * fw["c"][t - 1] + fw["i"][t] * fw["g"][t]
        fw["tanh_c"][t] = np.tanh(fw["c"][t])
        fw["h"][t] = fw["o"][t] * fw["tanh_c"][t]
    return fw


def layer_backward(dout, fw, W_h, tanh_twice=False):
    """BPTT through one layer. dout: (T+2, B, H), the gradient reaching h_t from above
    (rows 1..T). Returns dz (T+2, B, 4H), dh, dc (T+2, B, H) with row 0 the gradient of
    the state carried in, and dW_h (H, 4H)."""
    i, f, g, o, c, tanh_c, h = (fw[k] for k in ("i", "f", "g", "o", "c", "tanh_c", "h"))
    T = dout.shape[0] - 2
    dh, dc = np.zeros_like(dout), np.zeros_like(dout)
    dz = np.zeros(dout.shape[:2] + (4 * dout.shape[2],), dout.dtype)
    dW_h = np.zeros_like(W_h)
    for t in range(T, 0, -1):
        dh[t] = dout[t] + dz[t + 1] @ W_h.T
        dc[t] = dh[t] * o[t] * (1 - tanh_c[t] ** 2) + dc[t + 1] * f[t + 1]
        g_prime = 1 - np.tanh(g[t]) ** 2 if tanh_twice else 1 - g[t] ** 2
        dz[t] = np.concatenate([dc[t] * g[t] * i[t] * (1 - i[t]),
                                dc[t] * c[t - 1] * f[t] * (1 - f[t]),
                                dc[t] * i[t] * g_prime,
                                dh[t] * tanh_c[t] * o[t] * (1 - o[t])], axis=1)
        dW_h += h[t - 1].T @ dz[t]
    dh[0] = dz[1] @ W_h.T
    dc[0] = dc[1] * f[1]
    return dz, dh, dc, dW_h


def backward_by_hand(params, x, y, h_0, c_0, tanh_twice=False):
    """Loss and gradients of an L-layer model by the loops above. h_0, c_0: (L, B, H).
    Returns (loss, grads) with the keys of params plus h0, c0 of shape (L, B, H)."""
    L = lc.num_layers_of(params)
    T, B = x.shape
    fws, inputs = [], []
    inp = None
    for layer in range(L):
        W_x, b = params[f"W_x{layer}"], params[f"b{layer}"]
        xw = W_x[x] + b if layer == 0 else inp @ W_x + b  # (T, B, 4H)
        fws.append(layer_forward(xw, h_0[layer], c_0[layer], params[f"W_h{layer}"]))
        inputs.append(inp)
        inp = fws[-1]["h"][1 : T + 1]  # (T, B, H): this layer's h_1 .. h_T
    loss, dlogits = lc.cross_entropy(inp @ params["W_y"] + params["b_y"], y)
    grads = {"W_y": np.einsum("tbh,tbv->hv", inp, dlogits), "b_y": dlogits.sum(axis=(0, 1))}
    dout = np.zeros((T + 2,) + inp.shape[1:], inp.dtype)
    dout[1 : T + 1] = dlogits @ params["W_y"].T  # layer L-1's h_t feeds the output layer
    dh0, dc0 = np.zeros_like(h_0), np.zeros_like(c_0)
    for layer in reversed(range(L)):
        W_x = params[f"W_x{layer}"]
        dz, dh, dc, grads[f"W_h{layer}"] = layer_backward(dout, fws[layer],
                                                          params[f"W_h{layer}"], tanh_twice)
        dz_steps = dz[1 : T + 1]  # (T, B, 4H)
        grads[f"b{layer}"] = dz_steps.sum(axis=(0, 1))
        if layer == 0:
            grads["W_x0"] = np.zeros_like(W_x)
            np.add.at(grads["W_x0"], x, dz_steps)
        else:
            grads[f"W_x{layer}"] = np.einsum("tbh,tbk->hk", inputs[layer], dz_steps)
            dout = np.zeros_like(dout)
            dout[1 : T + 1] = dz_steps @ W_x.T  # layer l-1's h_t feeds layer l's gates
        dh0[layer], dc0[layer] = dh[0], dc[0]
    return loss, dict(grads, h0=dh0, c0=dc0)


# %% [markdown]
# The lesson's model (section 1) and its gradient check: finite differences of `lc.forward`.

# %%
V, H, B, T = 10, 8, 3, 6
rng = np.random.default_rng(0)
params = lc.init_params(V, H, num_layers=1, seed=rng, dtype="float64")
for p in params.values():
    p += rng.normal(0, 0.1, p.shape)
x = rng.integers(0, V, (T, B))
y = rng.integers(0, V, (T, B))
h_0 = rng.normal(0, 0.5, (1, B, H))
c_0 = rng.normal(0, 0.5, (1, B, H))


def loss_of(params, h_0, c_0):
    """A function of no arguments: the loss, read from the arrays it closes over."""
    return lambda: lc.cross_entropy(lc.forward(params, x, (h_0, c_0))[0], y)[0]


loss, grads = backward_by_hand(params, x, y, h_0, c_0)
tensors = dict(params, h0=h_0, c0=c_0)
numeric = {name: lc.numerical_gradient(loss_of(params, h_0, c_0), value)
           for name, value in tensors.items()}
worst = max(lc.relative_error(grads[name], numeric[name]) for name in tensors)
print(f"backward_by_hand vs finite differences, all {len(tensors)} tensors: largest "
      f"relative error below 1e-7: {worst < 1e-7}")

# %% [markdown]
# ## Exercise 1
#
# *Choose $\epsilon$. Rerun the gradient check of section 5 with
# `lc.numerical_gradient(loss_fn, value, eps)` for $\epsilon = 10^{-1}, 10^{-3}, \dots,
# 10^{-11}$, and plot the largest relative error against $\epsilon$ on log-log axes. Explain
# both sides of the minimum. Where would the minimum be with a one-sided difference?*

# %%
def one_sided_gradient(f, x, eps):
    """(f(x + eps) - f(x)) / eps, entry by entry."""
    grad = np.zeros_like(x)
    base = f()
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        grad[idx] = (f() - base) / eps
        x[idx] = old
    return grad


epsilons = 10.0 ** -np.arange(1, 12)
errors = {"centred": [], "one-sided": []}
for eps in epsilons:
    for kind, fd in [("centred", lc.numerical_gradient), ("one-sided", one_sided_gradient)]:
        errors[kind].append(max(
            lc.relative_error(grads[name], fd(loss_of(params, h_0, c_0), value, eps))
            for name, value in tensors.items()))
best = {kind: float(epsilons[int(np.argmin(errs))]) for kind, errs in errors.items()}
print(f"{'eps':>7s} {'centred':>9s} {'one-sided':>10s}   (largest relative error, "
      "order of magnitude)")
for k, eps in enumerate(epsilons):
    print(f"{eps:7.0e} {errors['centred'][k]:9.0e} {errors['one-sided'][k]:10.0e}")
print(f"smallest error: centred at eps = {best['centred']:.0e}, one-sided at "
      f"eps = {best['one-sided']:.0e}")

fig, ax = plt.subplots(figsize=(6, 3.5))
for kind, errs in errors.items():
    ax.loglog(epsilons, errs, "o-", ms=3, label=kind)
ax.axhline(lc.GRADCHECK_THRESHOLD, color="0.5", ls=":", lw=1)
ax.text(1e-11, 1.5 * lc.GRADCHECK_THRESHOLD, "threshold", fontsize=8)
ax.set(title="Finite differences against the analytic gradient", xlabel="ε",
       ylabel="largest relative error")
ax.invert_xaxis()
ax.legend()
plt.show()

# %% [markdown]
# On the large-$\epsilon$ side the error is truncation: the centred difference is off by
# $\tfrac{\epsilon^2}{6} f'''$, so the error falls by a factor of 100 for each factor of 10
# in $\epsilon$ (a line of slope 2). On the small-$\epsilon$ side it is rounding: each loss
# carries an error of about $10^{-16} L$, and dividing the difference of two by $2\epsilon$
# turns it into $\approx 10^{-16} L / \epsilon$, a line of slope $-1$. The two meet where
# $\epsilon^2 \approx 10^{-16}/\epsilon$, $\epsilon \approx 10^{-16/3} \approx 10^{-5}$: the
# lesson's choice, where the error is about $10^{-8}$. A one-sided difference is off by
# $\tfrac{\epsilon}{2} f''$: slope 1 only, a hundred times worse than the centred one at
# $\epsilon = 10^{-3}$ already. Its rounding side is the same line (a difference of two
# rounded losses over $\epsilon$), so the minimum moves to smaller $\epsilon$, about
# $10^{-6}$ here (in theory $\sqrt{10^{-16}} = 10^{-8}$ times a ratio of derivatives that
# this model sets), and is much higher: about $5 \cdot 10^{-7}$, just under the threshold.
# A one-sided check could not tell a correct gradient from a slightly wrong one.
#
# ## Exercise 2
#
# *A wrong normalisation. Plant a mistake that forgets the $1/(TB)$ of
# $d\mathrm{logits}_t$. What relative error does the check report, and for which tensors? Why
# is it the same number for all of them?*

# %%
N = T * B
logits, _, cache = lc.forward(params, x, (h_0, c_0))
_, dlogits = lc.cross_entropy(logits, y)
grads_lc, (dh0, dc0) = lc.backward(dlogits * N, cache)  # the 1/(TB) forgotten
planted = dict(grads_lc, h0=dh0, c0=dc0)
print(f"{'tensor':8s} {'max rel. error':>14s}   (N = TB = {N}, (N - 1) / N = {(N - 1) / N:.4f})")
for name in tensors:
    print(f"{name:8s} {lc.relative_error(planted[name], numeric[name]):14.4f}")

# %% [markdown]
# Every tensor fails, with the same error, $(N - 1)/N = 17/18$. The backward pass is linear
# in $d\mathrm{logits}$, so forgetting the factor multiplies every gradient by exactly
# $N$: $a = N n$. The relative error is $\max|a - n| / \max(|a|, |n|) = (N - 1)\max|n| /
# (N \max|n|) = (N-1)/N$, whatever the tensor. A mistake that scales every gradient by one
# factor does not change the direction of the step, which is why such a loss, summed
# instead of averaged, still trains, at a learning rate $N$ times too large.
#
# ## Exercise 3
#
# *Float32. Run the check in float32 (`dtype="float32"` and $\epsilon = 10^{-3}$). How large
# are the errors of the correct gradients now, and why does a float32 check need a threshold
# near $10^{-2}$, where it can no longer tell some mistakes apart?*

# %%
params32 = {name: p.astype(np.float32) for name, p in params.items()}
h32, c32 = h_0.astype(np.float32), c_0.astype(np.float32)
tensors32 = dict(params32, h0=h32, c0=c32)
numeric32 = {name: lc.numerical_gradient(loss_of(params32, h32, c32), value, 1e-3)
             for name, value in tensors32.items()}
_, right32 = backward_by_hand(params32, x, y, h32, c32)
_, wrong32 = backward_by_hand(params32, x, y, h32, c32, tanh_twice=True)
_, wrong64 = backward_by_hand(params, x, y, h_0, c_0, tanh_twice=True)
print(f"{'tensor':8s} {'correct, float32':>17s} {'tanh twice, float32':>20s} "
      f"{'tanh twice, float64':>20s}")
for name in tensors:
    print(f"{name:8s} {lc.relative_error(right32[name], numeric32[name]):17.0e} "
          f"{lc.relative_error(wrong32[name], numeric32[name]):20.0e} "
          f"{lc.relative_error(wrong64[name], numeric[name]):20.0e}")

# %% [markdown]
# In float32 each loss carries a rounding error of about $10^{-7} L$, so with
# $\epsilon = 10^{-3}$ (near the best centred $\epsilon$ for float32, $10^{-7/3}$) the
# finite differences are only good to about $10^{-4}$ to $10^{-3}$ of the gradient, and the
# correct gradients' errors above reach $5 \cdot 10^{-3}$. A threshold must sit above that,
# near $10^{-2}$, so that a correct gradient never fails. Then a mistake whose error is below
# $10^{-2}$ passes: $\tanh$ applied twice still fails on $W_x$, $W_h$, $b$ and $h_0$, but on
# $c_0$ its error, $3 \cdot 10^{-3}$, is no larger than the correct gradient's noise, and a
# subtler mistake, or a model where this one matters less, would pass on every tensor. In
# float64 the same mistake is at least three orders of magnitude above a threshold of
# $10^{-6}$ that the correct gradients beat by two: that is why gradient checks run in
# float64 (`lc.gradcheck` does), even for a model that trains in float32.
#
# ## Exercise 4
#
# *Two layers by hand. Extend `lstm_backward` to two layers: layer 1's loop receives
# $d\mathrm{logits}_t W_y^\top$, and layer 0's receives $dz^{(1)}_t W_{x1}^\top$ in place of
# it. Check it with `cmp` against `lc.backward`.*
#
# `backward_by_hand` above is the solution: the layers run in reverse order, the top one
# receiving `dlogits @ W_y.T`, each lower one `dz @ W_x.T` of the layer above; $W_{x1}$'s
# gradient is a product with layer 0's $h_t$, $W_{x0}$'s a row lookup (`np.add.at`). The
# lesson's `cmp`, and the check on a two-layer model with a random carried-in state:

# %%
def cmp(name, mine, theirs, source):
    """Assert that two arrays agree, and print one line: exact or close, max |difference|."""
    assert mine.shape == theirs.shape, (name, mine.shape, theirs.shape)
    np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-15)
    diff = float(np.abs(mine - theirs).max())
    exact = np.array_equal(mine, theirs)
    shown = "0" if exact else ("< 1e-15" if diff < 1e-15 else f"{diff:.0e}")
    print(f"{name:8s} {str(mine.shape):12s} {source:24s} {'exact' if exact else 'close':6s} "
          f"{shown:>8s}")


rng = np.random.default_rng(1)
params2 = lc.init_params(V, H, num_layers=2, seed=rng, dtype="float64")
for p in params2.values():
    p += rng.normal(0, 0.1, p.shape)
h2, c2 = rng.normal(0, 0.5, (2, B, H)), rng.normal(0, 0.5, (2, B, H))
loss2, mine = backward_by_hand(params2, x, y, h2, c2)
logits2, _, cache2 = lc.forward(params2, x, (h2, c2))
loss2_lc, dlogits2 = lc.cross_entropy(logits2, y)
theirs, (dh0_lc, dc0_lc) = lc.backward(dlogits2, cache2)
assert np.isclose(loss2, loss2_lc, rtol=1e-13)
print(f"{'tensor':8s} {'shape':12s} {'compared with lc.':24s} {'match':6s} {'max|diff|':>8s}")
for name in params2:
    cmp(name, mine[name], theirs[name], "backward")
cmp("h0", mine["h0"], dh0_lc, "backward")
cmp("c0", mine["c0"], dc0_lc, "backward")

# %% [markdown]
# ## Exercise 5
#
# *Beyond vanishing. In section 7, multiply the vanilla RNN's $W_h$ by 3, and set the LSTM's
# forget bias to 3. What happens to the curves? Why can a forget gate near 1 let the gradient
# grow with the lag, although $f < 1$?*
#
# The lesson's experiment, with the two changes as parameters: a gradient at the last step
# only, its norm $k$ steps back relative to $k = 0$, geometric mean over 5 seeds.

# %%
V_lag, H_lag, B_lag, T_lag = 16, 32, 16, 60
SEEDS = range(5)


def rnn_lag_norms(seed, scale=1.0):
    """||dL_T / dh_{T-k}|| for k = 0..T of a vanilla tanh RNN, W_h times scale."""
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(H_lag)
    W_x = rng.uniform(-k, k, (V_lag, H_lag))
    W_h = scale * rng.uniform(-k, k, (H_lag, H_lag))
    W_y = rng.uniform(-k, k, (H_lag, V_lag))
    x = rng.integers(0, V_lag, (T_lag, B_lag))
    y_T = rng.integers(0, V_lag, B_lag)
    h = np.zeros((T_lag + 1, B_lag, H_lag))
    for t in range(1, T_lag + 1):
        h[t] = np.tanh(W_x[x[t - 1]] + h[t - 1] @ W_h)
    dh = ((lc.softmax(h[T_lag] @ W_y) - np.eye(V_lag)[y_T]) / B_lag) @ W_y.T
    norms = [np.linalg.norm(dh)]
    for t in range(T_lag, 0, -1):
        dh = (dh * (1 - h[t] ** 2)) @ W_h.T
        norms.append(np.linalg.norm(dh))
    return np.array(norms)


def lstm_lag_norms(seed, forget_bias):
    """||dL_T/dh_{T-k}||, ||dL_T/dc_{T-k}|| for k = 0..T, and the mean forget gate."""
    rng = np.random.default_rng(seed)
    p = lc.init_params(V_lag, H_lag, 1, forget_bias=forget_bias, seed=rng, dtype="float64")
    x = rng.integers(0, V_lag, (T_lag, B_lag))
    y_T = rng.integers(0, V_lag, B_lag)
    zero = np.zeros((B_lag, H_lag))
    fw = layer_forward(p["W_x0"][x] + p["b0"], zero, zero, p["W_h0"])
    dout = np.zeros((T_lag + 2, B_lag, H_lag))
    dlogits_T = (lc.softmax(fw["h"][T_lag] @ p["W_y"] + p["b_y"]) - np.eye(V_lag)[y_T])
    dout[T_lag] = dlogits_T / B_lag @ p["W_y"].T
    _, dh, dc, _ = layer_backward(dout, fw, p["W_h0"])
    lags = np.arange(T_lag + 1)
    return (np.linalg.norm(dh[T_lag - lags], axis=(1, 2)),
            np.linalg.norm(dc[T_lag - lags], axis=(1, 2)), float(fw["f"][1 : T_lag + 1].mean()))


def geometric_mean_ratio(norms):
    norms = np.array(norms)
    return np.exp(np.log(norms / norms[:, :1]).mean(axis=0))


curves, mean_f = {}, {}
for scale in (1.0, 3.0):
    curves[f"vanilla RNN, W_h x {scale:.0f}"] = geometric_mean_ratio(
        [rnn_lag_norms(s, scale) for s in SEEDS])
for fb in (1.0, 3.0):
    runs = [lstm_lag_norms(s, fb) for s in SEEDS]
    curves[f"LSTM, forget bias {fb:.0f}: h"] = geometric_mean_ratio([r[0] for r in runs])
    curves[f"LSTM, forget bias {fb:.0f}: c"] = geometric_mean_ratio([r[1] for r in runs])
    mean_f[fb] = np.mean([r[2] for r in runs])
print(f"{'relative gradient norm':28s} {'k=1':>8s} {'k=10':>8s} {'k=30':>8s} "
      f"{f'k={T_lag}':>8s} {'factor per step':>16s}")
for name, curve in curves.items():
    per_step = (curve[T_lag] / curve[10]) ** (1 / (T_lag - 10))
    print(f"{name:28s} " + " ".join(f"{curve[k]:8.1e}" for k in (1, 10, 30, T_lag))
          + f" {per_step:16.2f}")
for fb, mf in mean_f.items():
    print(f"mean forget gate with bias {fb:.0f}: {mf:.2f}")

fig, ax = plt.subplots(figsize=(7, 4))
for name, curve in curves.items():
    ax.semilogy(np.arange(T_lag + 1), curve, ls=":" if name.endswith(": c") else "-",
                label=name)
ax.set(title=f"Gradient of the last step's loss, k steps back (H = {H_lag})",
       xlabel="time lag k (steps)", ylabel="gradient norm, relative to k = 0",
       xlim=(0, T_lag))
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Both curves turn upwards. The vanilla RNN with $W_h$ three times larger **explodes**: its
# factor per step is now 1.13, and 60 steps back the gradient is 800 times its size at the
# last step; the same products that shrank the gradient now inflate it. The LSTM with a
# forget bias of 3 ($f \approx 0.95$) no longer vanishes either: its cell-path gradient
# stays near 1 for 30 steps and then grows, to 9 times at $k = 60$.
#
# It grows although every $f < 1$ because the cell path is not the only one. Going back one
# step, $dc_t = dc_{t+1} \odot f_{t+1} + dh_t \odot o_t \odot (1 - \tanh^2 c_t)$, and
# $dh_t = dz_{t+1} W_h^\top$ is itself made from $dc_{t+1}$ (through the gates of step
# $t + 1$). So the gradient that step $t + 1$ hands back is $f_{t+1}$ times $dc_{t+1}$ *plus*
# what re-enters through $W_h$ and the gates; with $f$ near 1 the first part already keeps
# almost everything, and the second pushes the total factor per step above 1 (here 1.05).
# A forget gate near 1 removes the vanishing, and with it the brake: that is one reason why
# training clips the gradient by its global norm (section 8) and why the forget bias starts
# at 1, not 3.
#
# ← Previous: [02 · solutions](02_forward_pass_solutions.ipynb) ·
# [The lesson](../03_backprop_through_time.ipynb) · [Contents](../00_contents.ipynb) ·
# Next: [04 · solutions](04_adamw_solutions.ipynb) →
