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
# # 03 · Backpropagation through time
#
# ← Previous: [02 · The forward pass](02_forward_pass.ipynb) ·
# [Contents](00_contents.ipynb) · Next: [04 · AdamW](04_adamw.ipynb) →

# %% [markdown]
# ## What you'll learn
#
# - How the gradient of the loss flows backwards through an unrolled LSTM, one equation per
#   gradient, and why $h_t$ and $c_t$ each collect gradient from two places.
# - How to write the backward pass as a plain loop over time, and check it tensor by tensor
#   against `lstm_core`.
# - How to check every gradient with centred finite differences, and how to read a table of
#   relative errors.
# - What the gradient mistakes of a popular notebook, the one this series replaces, look
#   like in that table.
# - Why the gradient fades with the time lag in a vanilla RNN, and how the LSTM's cell path
#   through the forget gate slows the fading.
# - Why gradients are clipped by their global norm, and not element by element.
#
# ## What you need
#
# - [02 · The forward pass](02_forward_pass.ipynb): the cell equations, the fused gates
#   $z_t = e_{x_t} W_x + h_{t-1} W_h + b$ in the order $i, f, g, o$, and the cross-entropy loss.
# - The chain rule for arrays, in three cases, for the loss $\mathcal{L}$. If
#   $u = v \odot w$ (element-wise), then
#   $\partial \mathcal{L}/\partial v = \partial \mathcal{L}/\partial u \odot w$. If
#   $u = v W$, then $\partial \mathcal{L}/\partial v = (\partial \mathcal{L}/\partial u)\, W^\top$
#   and $\partial \mathcal{L}/\partial W = v^\top (\partial \mathcal{L}/\partial u)$. If a
#   variable is used in two places, its gradient is the sum of the gradients from both uses.

# %%
import matplotlib.pyplot as plt
import numpy as np

import lstm_core as lc
import lstm_exercises as ex

plt.style.use("lstm.mplstyle")
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1 · A small model to differentiate
#
# A gradient check runs the forward pass twice for every entry of every parameter, so the
# model is tiny: $V = 10$ characters, $H = 8$ units, $B = 3$ streams, $T = 6$ steps, in
# float64. Random ids stand in for text: the gradient formulas do not depend on what the
# characters mean. Two choices make the check strict. Every parameter is moved off its
# initial value, because a zero bias can hide a mistake that multiplies by it. And the
# window starts from a random state $(h_0, c_0)$, as it does in the middle of a stream,
# where truncated BPTT carries the state in from the previous window.

# %%
V, H, B, T = 10, 8, 3, 6
rng = np.random.default_rng(0)
params = lc.init_params(V, H, num_layers=1, seed=rng, dtype="float64")
for p in params.values():
    p += rng.normal(0, 0.1, p.shape)  # off the initial values, so every path carries gradient
x = rng.integers(0, V, (T, B))  # x[t-1] holds the ids x_t of step t (data arrays start at 0)
y = rng.integers(0, V, (T, B))  # the targets, y[t-1] for step t
h_0 = rng.normal(0, 0.5, (B, H))
c_0 = rng.normal(0, 0.5, (B, H))

expected = {"W_x0": (V, 4 * H), "W_h0": (H, 4 * H), "b0": (4 * H,), "W_y": (H, V), "b_y": (V,)}
for name, p in params.items():
    assert p.shape == expected[name] and p.dtype == np.float64
    print(f"{name:5s} {str(p.shape):8s}")

# %% [markdown]
# ### The forward pass again, keeping what the backward pass needs
#
# For $t = 1, \dots, T$, with $e_{x_t}$ the one-hot vectors of the ids $x_t$:
#
# $$
# \begin{aligned}
# z_t &= e_{x_t} W_x + h_{t-1} W_h + b = [\,z_{i,t},\ z_{f,t},\ z_{g,t},\ z_{o,t}\,] \\
# i_t &= \sigma(z_{i,t}) \qquad f_t = \sigma(z_{f,t}) \qquad g_t = \tanh(z_{g,t})
#       \qquad o_t = \sigma(z_{o,t}) \\
# c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
# h_t &= o_t \odot \tanh(c_t) \\
# \mathrm{logits}_t &= h_t W_y + b_y \\
# \mathcal{L} &= -\frac{1}{TB} \sum_{t=1}^{T} \sum_{s=1}^{B}
#      \ln \operatorname{softmax}(\mathrm{logits}_{t,s})_{y_{t,s}}
# \end{aligned}
# $$
#
# Here $s$ numbers the $B$ streams. `forward_steps` keeps every intermediate, and numbers
# the arrays with the $t$ of the equations: `h[t]` is $h_t$ and `h[0]` is $h_0$. Each array
# has $T + 2$ rows; row 0 of the gates (there is no step 0) and row $T + 1$ of everything
# (there is no step $T + 1$ in this window) stay zero. In the backward pass those zero
# rows at $T + 1$ say "nothing comes back from after the window".

# %%
def forward_steps(params, x, h_0, c_0):
    """One LSTM layer and the output layer, step by step, keeping every intermediate.

    x: (T, B) ids; h_0, c_0: (B, H). Returns a dict of arrays with T + 2 rows, indexed by
    the t of the equations: z (T+2, B, 4H); i, f, g, o, c, tanh_c, h (T+2, B, H);
    logits (T+2, B, V); and x itself.
    """
    W_x, W_h, b, W_y, b_y = (params[k] for k in ("W_x0", "W_h0", "b0", "W_y", "b_y"))
    T, B = x.shape
    H, V = W_y.shape
    z = np.zeros((T + 2, B, 4 * H))
    i, f, g, o, c, tanh_c, h = (np.zeros((T + 2, B, H)) for _ in range(7))
    logits = np.zeros((T + 2, B, V))
    h[0], c[0] = h_0, c_0
    for t in range(1, T + 1):
        z[t] = W_x[x[t - 1]] + h[t - 1] @ W_h + b  # row lookup = one-hot x_t times W_x
        i[t] = lc.sigmoid(z[t, :, :H])
        f[t] = lc.sigmoid(z[t, :, H : 2 * H])
        g[t] = np.tanh(z[t, :, 2 * H : 3 * H])
        o[t] = lc.sigmoid(z[t, :, 3 * H :])
        c[t] = f[t] * c[t - 1] + i[t] * g[t]
        tanh_c[t] = np.tanh(c[t])
        h[t] = o[t] * tanh_c[t]
        logits[t] = h[t] @ W_y + b_y
    return {"x": x, "z": z, "i": i, "f": f, "g": g, "o": o, "c": c, "tanh_c": tanh_c,
            "h": h, "logits": logits}


fw = forward_steps(params, x, h_0, c_0)
steps = slice(1, T + 1)  # the rows of the real steps t = 1..T
assert fw["h"].shape == (T + 2, B, H) and fw["logits"].shape == (T + 2, B, V)

logits_lc, (h_T_lc, c_T_lc), cache_lc = lc.forward(params, x, (h_0[None], c_0[None]))
np.testing.assert_allclose(fw["logits"][steps], logits_lc, rtol=1e-12, atol=1e-14)
np.testing.assert_allclose(fw["h"][T], h_T_lc[0], rtol=1e-12, atol=1e-14)
np.testing.assert_allclose(fw["c"][T], c_T_lc[0], rtol=1e-12, atol=1e-14)
print("forward_steps agrees with lc.forward: logits", logits_lc.shape, "and the final h, c")

# %% [markdown]
# ## 2 · The derivation, one gradient at a time
#
# Write $dX$ for $\partial \mathcal{L} / \partial X$: an array of the shape of $X$, called `dX` in
# the code. The loss reaches a parameter through every step of the window, so the chain
# rule runs over the unrolled graph, from the last step back to the first: that is
# backpropagation through time (Werbos 1990). At step $t$ we need the gradients of the
# step's outputs, $dh_t$ and $dc_t$; from them we get the gradients of its parameters and of
# its inputs $h_{t-1}$ and $c_{t-1}$, which are the outputs of step $t - 1$.
#
# Two variables of step $t$ are used twice:
#
# - $h_t$ feeds the output of step $t$ ($\mathrm{logits}_t = h_t W_y + b_y$) **and** all
#   four gates of step $t + 1$ ($z_{t+1} = e_{x_{t+1}} W_x + h_t W_h + b$);
# - $c_t$ feeds $h_t = o_t \odot \tanh(c_t)$ **and** the next cell,
#   $c_{t+1} = f_{t+1} \odot c_t + i_{t+1} \odot g_{t+1}$.
#
# So $dh_t$ and $dc_t$ are each a sum of two terms, and the second term of each comes from
# step $t + 1$: that is why the pass runs backwards in time. We now compute every gradient
# of the last step, $t = T$, one cell per equation. At $t = T$ the terms from step $T + 1$
# are zero, because the window ends there. Section 3 repeats the same lines in a loop for
# $t = T, T - 1, \dots, 1$.
#
# The first gradient is that of the mean cross-entropy with respect to the logits: the
# softmax minus the one-hot target, divided by the $TB$ positions of the mean.
#
# $$d\mathrm{logits}_t = \frac{1}{TB}
#   \left(\operatorname{softmax}(\mathrm{logits}_t) - \operatorname{onehot}(y_t)\right)$$

# %%
N = T * B  # the loss is a mean over N positions
dlogits = np.zeros_like(fw["logits"])  # rows 0 and T+1 stay zero: no output there
for t in range(1, T + 1):
    dlogits[t] = (lc.softmax(fw["logits"][t]) - np.eye(V)[y[t - 1]]) / N

loss_lc, dlogits_lc = lc.cross_entropy(logits_lc, y)
np.testing.assert_allclose(dlogits[steps], dlogits_lc, rtol=1e-12, atol=1e-15)
print(f"loss = {loss_lc:.4f} nats (ln V = {np.log(V):.4f}); dlogits agrees with "
      "lc.cross_entropy")

# %% [markdown]
# The output layer is the same at every step and holds no recursion; its gradients are
# sums over the steps (and, for the bias, over the streams):
#
# $$dW_y = \sum_{t=1}^{T} h_t^\top\, d\mathrm{logits}_t$$
#
# $$db_y = \sum_{t=1}^{T} \sum_{s=1}^{B} d\mathrm{logits}_{t,s}$$

# %%
W_x, W_h, W_y = params["W_x0"], params["W_h0"], params["W_y"]
i, f, g, o = fw["i"], fw["f"], fw["g"], fw["o"]
c, tanh_c, h = fw["c"], fw["tanh_c"], fw["h"]

dW_y = sum(h[t].T @ dlogits[t] for t in range(1, T + 1))
db_y = sum(dlogits[t].sum(axis=0) for t in range(1, T + 1))
assert dW_y.shape == W_y.shape and db_y.shape == params["b_y"].shape

# %% [markdown]
# **The hidden state.** $h_t$ is used by the output of step $t$ and by $z_{t+1}$, so
#
# $$dh_t = d\mathrm{logits}_t\, W_y^\top + dz_{t+1}\, W_h^\top$$
#
# The second term carries the gradient of all four gates of step $t + 1$ back through
# $W_h$. At $t = T$ it is zero: $dz_{T+1} = 0$.

# %%
t = T
dz_next = np.zeros((B, 4 * H))  # dz_{T+1}: no step T+1 in this window
dh_t = dlogits[t] @ W_y.T + dz_next @ W_h.T
assert dh_t.shape == (B, H)

# %% [markdown]
# **The cell state.** $c_t$ is used by $h_t = o_t \odot \tanh(c_t)$ and by
# $c_{t+1} = f_{t+1} \odot c_t + i_{t+1} \odot g_{t+1}$, so
#
# $$dc_t = dh_t \odot o_t \odot \left(1 - \tanh^2(c_t)\right) + dc_{t+1} \odot f_{t+1}$$
#
# The second term is the gradient of the next cell times the **next** step's forget gate,
# $f_{t+1}$: the derivative of $c_{t+1}$ with respect to $c_t$. No weight matrix and no
# squashing function stand on this path, only a multiplication by $f$; section 7 shows
# what that buys. At $t = T$ the term is zero: $dc_{T+1} = 0$.

# %%
dc_next = np.zeros((B, H))  # dc_{T+1}
f_next = np.zeros((B, H))  # f_{T+1} does not exist; it only ever multiplies dc_{T+1} = 0
dc_t = dh_t * o[t] * (1 - tanh_c[t] ** 2) + dc_next * f_next
assert dc_t.shape == (B, H)

# %% [markdown]
# **The gate outputs**, from $h_t = o_t \odot \tanh(c_t)$ and
# $c_t = f_t \odot c_{t-1} + i_t \odot g_t$:
#
# $$do_t = dh_t \odot \tanh(c_t)$$
#
# $$di_t = dc_t \odot g_t$$
#
# $$dg_t = dc_t \odot i_t$$
#
# $$df_t = dc_t \odot c_{t-1}$$
#
# $do_t$ uses $dh_t$; the other three use $dc_t$, which already holds the part of $dh_t$
# that passes through $\tanh(c_t)$.

# %%
do_t = dh_t * tanh_c[t]
di_t = dc_t * g[t]
dg_t = dc_t * i[t]
df_t = dc_t * c[t - 1]

# %% [markdown]
# **The gate pre-activations.** The derivative of $\sigma$ is $\sigma(1 - \sigma)$ and that
# of $\tanh$ is $1 - \tanh^2$, both written with the gate's own value:
#
# $$dz_{i,t} = di_t \odot i_t \odot (1 - i_t)$$
#
# $$dz_{f,t} = df_t \odot f_t \odot (1 - f_t)$$
#
# $$dz_{g,t} = dg_t \odot (1 - g_t^2)$$
#
# $$dz_{o,t} = do_t \odot o_t \odot (1 - o_t)$$
#
# $g_t$ is already $\tanh(z_{g,t})$, so its derivative is $1 - g_t^2$. Writing
# $1 - \tanh^2(g_t)$ applies $\tanh$ a second time; section 6 shows what that does.

# %%
dz_t = np.concatenate([di_t * i[t] * (1 - i[t]),  # same order as z: i, f, g, o
                       df_t * f[t] * (1 - f[t]),
                       dg_t * (1 - g[t] ** 2),
                       do_t * o[t] * (1 - o[t])], axis=1)
assert dz_t.shape == (B, 4 * H)

# %% [markdown]
# **The gate parameters**, from $z_t = e_{x_t} W_x + h_{t-1} W_h + b$. Each step adds its
# share:
#
# $$dW_x \mathrel{+}= e_{x_t}^\top dz_t$$
#
# $$dW_h \mathrel{+}= h_{t-1}^\top dz_t$$
#
# $$db \mathrel{+}= \sum_{s=1}^{B} dz_{t,s}$$
#
# $e_{x_t}$ is one-hot, so $e_{x_t}^\top dz_t$ adds row $s$ of $dz_t$ to row $x_{t,s}$ of $dW_x$:
# the gradient of a row lookup. `np.add.at` adds twice when two streams read the same
# character (`dW_x[ids] += ...` would keep only one of the two).

# %%
dW_x_T = np.zeros_like(W_x)  # the contributions of step T alone
np.add.at(dW_x_T, x[t - 1], dz_t)
dW_h_T = h[t - 1].T @ dz_t
db_T = dz_t.sum(axis=0)
assert dW_x_T.shape == W_x.shape and dW_h_T.shape == W_h.shape and db_T.shape == (4 * H,)

# %% [markdown]
# **Back to step $t - 1$.** The inputs $h_{t-1}$ and $c_{t-1}$ of step $t$ receive
# gradient through $z_t$ and through $c_t = f_t \odot c_{t-1} + \dots$. These are the
# second terms of $dh_{t-1}$ and $dc_{t-1}$ (the equations above with $t - 1$ in place of
# $t$), which step $t$ hands to step $t - 1$. At $t = 1$ there is no earlier step and no
# output: these terms are the whole gradient of the state carried into the window:
#
# $$dh_0 = dz_1 W_h^\top$$
#
# $$dc_0 = dc_1 \odot f_1$$

# %%
dh_from_step_T = dz_t @ W_h.T  # the second term of dh_{T-1}
dc_from_step_T = dc_t * f[t]  # the second term of dc_{T-1}
assert dh_from_step_T.shape == dc_from_step_T.shape == (B, H)

# %% [markdown]
# ## 3 · The backward pass as one loop
#
# The same lines, for $t = T, T - 1, \dots, 1$. Arrays `dh`, `dc`, `dz` keep the gradient
# of every step, numbered like the forward arrays; their zero row $T + 1$ plays
# $dz_{T+1} = 0$ and $dc_{T+1} = 0$, so the loop needs no special case for the last step.

# %% [markdown]
# One step of the loop is a function of its own, `lstm_step_backward`: the lines of
# section 2 for any $t$. The loop hands it what step $t$ needs: the gradient that reaches
# $h_t$ from the output of step $t$, and $dz_{t+1}$, $dc_{t+1}$ from step $t + 1$.

# %% tags=["exercise"]
def lstm_step_backward(t, fw, dout, dz_next, dc_next, W_h):
    """One step of backpropagation through time: the lines of section 2 at step t (1..T).

    fw: the dict of forward_steps (rows indexed by t; row T + 1 is zero). dout: (B, H),
    dlogits_t W_y^T, the gradient that reaches h_t from the output of step t. dz_next:
    (B, 4H) and dc_next: (B, H), dz_{t+1} and dc_{t+1} from step t + 1 (zeros at t = T).
    W_h: (H, 4H). Returns dh_t and dc_t, each (B, H), and dz_t (B, 4H), the gates in the
    order i, f, g, o.
    """
    i, f, g, o = fw["i"][t], fw["f"][t], fw["g"][t], fw["o"][t]
    tanh_c, c_prev, f_next = fw["tanh_c"][t], fw["c"][t - 1], fw["f"][t + 1]
    dh = dout + dz_next @ W_h.T  # the output at t, and the gates of step t+1
    dc = dh * o * (1 - tanh_c**2) + dc_next * f_next  # through h_t, and through c_{t+1}
    do = dh * tanh_c
    di = dc * g
    dg = dc * i
    df = dc * c_prev
    dz = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2),
                         do * o * (1 - o)], axis=1)
    return dh, dc, dz


# %%
lstm_step_backward = ex.check_lstm_step_backward(lstm_step_backward)

# %% tags=["exercise"]
def lstm_backward(params, fw, dlogits):
    """Backpropagation through time for one LSTM layer and the output layer.

    fw: the dict of forward_steps; dlogits: (T+2, B, V), rows 1..T used.
    Returns grads (the keys and shapes of params, plus "h0" and "c0" of shape (B, H): the
    gradient of the state carried in) and dh, dc (T+2, B, H), dz (T+2, B, 4H): the
    gradient of every step, dh[t] = dL/dh_t.
    """
    W_h, W_y = params["W_h0"], params["W_y"]
    x, h = fw["x"], fw["h"]
    T, B = x.shape
    H = W_h.shape[0]
    grads = {name: np.zeros_like(p) for name, p in params.items()}
    dh = np.zeros((T + 2, B, H))  # row T+1 stays zero: nothing after the window
    dc = np.zeros((T + 2, B, H))
    dz = np.zeros((T + 2, B, 4 * H))
    for t in range(T, 0, -1):
        grads["W_y"] += h[t].T @ dlogits[t]
        grads["b_y"] += dlogits[t].sum(axis=0)
        dh[t], dc[t], dz[t] = lstm_step_backward(t, fw, dlogits[t] @ W_y.T, dz[t + 1],
                                                 dc[t + 1], W_h)
        np.add.at(grads["W_x0"], x[t - 1], dz[t])
        grads["W_h0"] += h[t - 1].T @ dz[t]
        grads["b0"] += dz[t].sum(axis=0)
    dh[0] = dz[1] @ W_h.T
    dc[0] = dc[1] * fw["f"][1]
    grads["h0"], grads["c0"] = dh[0], dc[0]
    return grads, dh, dc, dz


# %%
lstm_backward = ex.check_lstm_backward(lstm_backward)

# %%
grads, dh, dc, dz = lstm_backward(params, fw, dlogits)
for name, p in params.items():
    assert grads[name].shape == p.shape
assert grads["h0"].shape == grads["c0"].shape == (B, H)

# the loop's last step is the walk-through of section 2, line for line
for name, loop_value, cell_value in [("dh_T", dh[T], dh_t), ("dc_T", dc[T], dc_t),
                                     ("dz_T", dz[T], dz_t), ("dW_y", grads["W_y"], dW_y),
                                     ("db_y", grads["b_y"], db_y)]:
    np.testing.assert_allclose(loop_value, cell_value, rtol=1e-12, atol=1e-15, err_msg=name)
np.testing.assert_allclose(dz[T] @ W_h.T, dh_from_step_T, rtol=1e-12, atol=1e-15)
print("the loop reproduces the walk-through of step T: dh_T, dc_T, dz_T, dW_y, db_y")

# %% [markdown]
# ## 4 · The same gradients from `lstm_core`
#
# `lc.backward` computes the same gradients, organised for speed: each step's arithmetic
# works on the four gates side by side in one $(B, 4H)$ array, in place, and each weight
# gradient is one matrix product over all $T$ steps (`lc.lstm_layer_backward` does the
# per-layer recursion). A different order of additions gives different rounding, so the
# tensors agree to about 16 digits rather than bit for bit. One line per tensor: *exact*
# (every bit equal) or *close* (`np.testing.assert_allclose` with `rtol=1e-12`), and the
# largest absolute difference.

# %%
def cmp(name, mine, theirs, source):
    """Assert that two arrays agree, and print one line: exact or close, max |difference|."""
    assert mine.shape == theirs.shape, (name, mine.shape, theirs.shape)
    np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-15)
    diff = float(np.abs(mine - theirs).max())
    exact = np.array_equal(mine, theirs)
    # differences below 1e-15 are rounding noise whose digits change with the machine
    shown = "0" if exact else ("< 1e-15" if diff < 1e-15 else f"{diff:.0e}")
    print(f"{name:8s} {str(mine.shape):12s} {source:24s} {'exact' if exact else 'close':6s} "
          f"{shown:>8s}")


grads_lc, (dh0_lc, dc0_lc) = lc.backward(dlogits_lc, cache_lc)
layer_cache = cache_lc[1][0][1]  # forward's cache: (x, [(input, layer cache, mask)], ...)
dhs = dlogits_lc @ W_y.T  # (T, B, H): what the output layer sends to each h_t
zeros = np.zeros((B, H))
dz_lc, dW_h_lc, dh0_layer, dc0_layer = lc.lstm_layer_backward(dhs, zeros, zeros, layer_cache)

print(f"{'tensor':8s} {'shape':12s} {'compared with lc.':24s} {'match':6s} {'max|diff|':>8s}")
cmp("dlogits", dlogits[steps], dlogits_lc, "cross_entropy")
cmp("dz", dz[steps], dz_lc, "lstm_layer_backward")
cmp("dW_h", grads["W_h0"], dW_h_lc, "lstm_layer_backward")
cmp("dh0", grads["h0"], dh0_layer, "lstm_layer_backward")
cmp("dc0", grads["c0"], dc0_layer, "lstm_layer_backward")
for name in params:
    cmp(name, grads[name], grads_lc[name], "backward")
cmp("h0", grads["h0"], dh0_lc[0], "backward")
cmp("c0", grads["c0"], dc0_lc[0], "backward")

# %% [markdown]
# ## 5 · Checking every gradient by finite differences
#
# Agreeing with `lstm_core` proves that two pieces of code compute the same thing, not that
# the thing is the gradient. For that we go back to the definition, with centred
# differences, one entry $\theta_j$ of one tensor at a time:
#
# $$\frac{\partial \mathcal{L}}{\partial \theta_j} \approx
#   \frac{\mathcal{L}(\theta + \epsilon e_j) - \mathcal{L}(\theta - \epsilon e_j)}{2 \epsilon},
#   \qquad \epsilon = 10^{-5}$$
#
# The centred difference is off by $O(\epsilon^2)$ (a one-sided one by $O(\epsilon)$), and in
# float64 the rounding of the two losses adds about
# $10^{-16} \mathcal{L} / \epsilon \approx 10^{-11}$.
# `lc.numerical_gradient` does this, and `lc.relative_error` compares the two gradients of
# a tensor by their largest difference, relative to their largest entry:
#
# $$\text{error} = \frac{\max_j |a_j - n_j|}{\max\left(\max_j |a_j|,\ \max_j |n_j|\right)}$$
#
# With correct formulas the errors here are of the order of $10^{-10}$ to $10^{-8}$; the
# wrong formulas of section 6 give $10^{-3}$ or more. The threshold, $10^{-6}$
# (`lc.GRADCHECK_THRESHOLD`), sits between the two. The losses come from `lc.forward`, so
# the check does not reuse our forward pass. The digits of errors this small are rounding
# noise and change from one machine to another, so the tests do not compare the tables of
# correct gradients; they compare the line printed after each.

# %%
THRESHOLD = lc.GRADCHECK_THRESHOLD


def fmt_err(err):
    """A relative error for a table, to two significant digits."""
    return f"{err:.1e}"


def loss_fn():
    logits, _, _ = lc.forward(params, x, (h_0[None], c_0[None]))
    return lc.cross_entropy(logits, y)[0]


# numerical_gradient nudges the array in place, so it is given the arrays loss_fn reads
tensors = dict(params, h0=h_0, c0=c_0)
numeric = {name: lc.numerical_gradient(loss_fn, value) for name, value in tensors.items()}
print(f"{sum(v.size for v in tensors.values())} entries, "
      f"{2 * sum(v.size for v in tensors.values())} forward passes")


def check_table(analytic, numeric, correct=None):
    """Print tensor, max relative error, threshold, pass; return the names that fail.
    A tensor whose gradient equals the one in `correct` exactly is marked "unchanged"."""
    print(f"{'tensor':8s} {'max rel. error':>14s} {'threshold':>10s}  pass")
    failed = []
    for name in numeric:
        err = lc.relative_error(analytic[name], numeric[name])
        ok = err <= THRESHOLD
        same = correct is not None and np.array_equal(analytic[name], correct[name])
        shown = "unchanged" if same else fmt_err(err)
        print(f"{name:8s} {shown:>14s} {THRESHOLD:10.0e}  {'yes' if ok else 'NO'}")
        if not ok:
            failed.append(name)
    return failed


def summary(errors):
    """One line that does not depend on the rounding noise of the errors."""
    passed = sum(err <= THRESHOLD for err in errors)
    print(f"{passed} of {len(errors)} tensors pass the threshold {THRESHOLD:.0e}; every error "
          f"is below 1e-07: {max(errors) < 1e-7}")


# %%
# NBVAL_IGNORE_OUTPUT
# The digits of these errors are rounding noise: they differ from machine to machine.
failed = check_table(grads, numeric)
assert not failed

# %%
summary([lc.relative_error(grads[name], numeric[name]) for name in numeric])

# %% [markdown]
# Every tensor passes, including $h_0$ and $c_0$: the gradient that truncated BPTT stops at
# the window's edge is correct too. `lc.gradcheck` runs the same check on `lc.backward`,
# here with two layers: layer 0's $h_t$ then feeds layer 1's gates instead of the output
# layer, so its first gradient term becomes $dz^{(1)}_t W_{x1}^\top$ (layer 1's input, in
# place of $e_{x_t}$, is layer 0's $h_t$).

# %%
# NBVAL_IGNORE_OUTPUT
# The digits of these errors are rounding noise: they differ from machine to machine.
rows = lc.gradcheck(num_layers=2, seed=0)
print(f"{'tensor':8s} {'shape':>8s} {'max rel. error':>14s} {'threshold':>10s}  pass")
for r in rows:
    shape = "x".join(map(str, r["shape"]))
    print(f"{r['name']:8s} {shape:>8s} {fmt_err(r['error']):>14s} {r['threshold']:10.0e}  "
          f"{'yes' if r['ok'] else 'NO'}")
assert all(r["ok"] for r in rows)

# %%
summary([r["error"] for r in rows])

# %% [markdown]
# ## 6 · A popular notebook's mistakes, caught
#
# The series replaces a popular notebook, the Kaggle notebook
# [*LSTM from scratch*](https://www.kaggle.com/code/fareselmenshawii/lstm-from-scratch)
# by fareselmenshawii ("the original" below). It trains an LSTM with a backward pass that
# has one wrong line, and prints BPTT formulas that are wrong in several more places; each
# is described below. We plant each of
# them, one at a time, into a copy of `lstm_backward` and run the check of section 5 on the
# result. `backward_with(mistake, ...)` below is that copy: the loop of section 3 with a
# switch at each place where a mistake goes. With `mistake=None` it must give exactly the
# gradients of `lstm_backward`.

# %%
MISTAKES = ["candidate: 1 - tanh(g)^2", "candidate: 1 - c^2", "input gate: c instead of g",
            "output gate: h and dc", "dc: i c (1 - c)", "dc: carried through f_t",
            "dh: no carried term", "dc: no carried term"]


def backward_with(mistake, params, fw, dlogits):
    """lstm_backward with one of MISTAKES planted (None: none). Returns grads only."""
    assert mistake is None or mistake in MISTAKES
    W_h, W_y = params["W_h0"], params["W_y"]
    x, i, f, g, o = fw["x"], fw["i"], fw["f"], fw["g"], fw["o"]
    c, tanh_c, h = fw["c"], fw["tanh_c"], fw["h"]
    T, B = x.shape
    H = W_h.shape[0]
    grads = {name: np.zeros_like(p) for name, p in params.items()}
    dh = np.zeros((T + 2, B, H))
    dc = np.zeros((T + 2, B, H))
    dz = np.zeros((T + 2, B, 4 * H))
    for t in range(T, 0, -1):
        grads["W_y"] += h[t].T @ dlogits[t]
        grads["b_y"] += dlogits[t].sum(axis=0)
        carried_h = dz[t + 1] @ W_h.T
        if mistake == "dh: no carried term":
            carried_h = 0
        dh[t] = dlogits[t] @ W_y.T + carried_h
        through_h = dh[t] * o[t] * (1 - tanh_c[t] ** 2)
        if mistake == "dc: i c (1 - c)":
            through_h = dh[t] * i[t] * c[t] * (1 - c[t])
        carried_c = dc[t + 1] * f[t + 1]
        if mistake == "dc: carried through f_t":
            carried_c = dc[t + 1] * f[t]
        if mistake == "dc: no carried term":
            carried_c = 0
        dc[t] = through_h + carried_c
        do = dh[t] * tanh_c[t]
        if mistake == "output gate: h and dc":
            do = dc[t] * h[t]
        di = dc[t] * g[t]
        if mistake == "input gate: c instead of g":
            di = dc[t] * c[t]
        dg = dc[t] * i[t]
        tanh_prime = 1 - g[t] ** 2
        if mistake == "candidate: 1 - tanh(g)^2":
            tanh_prime = 1 - np.tanh(g[t]) ** 2
        if mistake == "candidate: 1 - c^2":
            tanh_prime = 1 - c[t] ** 2
        df = dc[t] * c[t - 1]
        dz[t] = np.concatenate([di * i[t] * (1 - i[t]), df * f[t] * (1 - f[t]),
                                dg * tanh_prime, do * o[t] * (1 - o[t])], axis=1)
        np.add.at(grads["W_x0"], x[t - 1], dz[t])
        grads["W_h0"] += h[t - 1].T @ dz[t]
        grads["b0"] += dz[t].sum(axis=0)
    grads["h0"] = dz[1] @ W_h.T
    grads["c0"] = dc[1] * f[1]
    return grads


clean = backward_with(None, params, fw, dlogits)
for name in grads:
    assert np.array_equal(clean[name], grads[name])
print("backward_with(None) gives exactly the gradients of lstm_backward")

# %% [markdown]
# ### The mistake in the code: $\tanh$ applied twice
#
# The original keeps the candidate $g_t$ (its `cc`) after the $\tanh$, and then computes
# its derivative as $1 - \tanh^2(g_t)$, where the right one is $1 - g_t^2$. Since
# $|\tanh(g)| < |g|$ for $g \ne 0$, the wrong factor is larger than the right one wherever
# $g_t \ne 0$ (both are 1 at $g_t = 0$), so training still "works", only with the wrong
# gradient:

# %%
for g_value in (0.0, 0.5, 0.9, -0.9):
    print(f"g_t = {g_value:+.1f}: right 1 - g^2 = {1 - g_value**2:.2f}, "
          f"wrong 1 - tanh(g)^2 = {1 - np.tanh(g_value) ** 2:.2f}")

# %% [markdown]
# The check fails on every tensor that lies behind $z_{g,t}$ on the way back, and passes
# on the output layer, which the mistake cannot reach: its gradients are unchanged, equal
# to the correct ones of section 5.

# %%
failed = check_table(backward_with("candidate: 1 - tanh(g)^2", params, fw, dlogits), numeric,
                     correct=grads)
assert failed  # the check catches it

# %% [markdown]
# ### The mistakes in the written formulas
#
# The formulas printed above the original's code disagree with its code, and with the
# derivation in section 2. In our symbols (its $a_t$ is our $h_t$, its $\tilde c_t$ our
# $g_t$):
#
# - `candidate: 1 - c^2`: its $dW_c$ uses $1 - c_t^2$, with the cell state, where the
#   candidate's $1 - g_t^2$ belongs.
# - `input gate: c instead of g`: its $dz_{i,t}$ uses $c_t$ where $g_t$ belongs.
# - `output gate: h and dc`: its $dz_{o,t}$ uses $h_t$ and $dc_t$ where $\tanh(c_t)$ and
#   $dh_t$ belong.
# - `dc: i c (1 - c)`: in its $dc_t$, the term from $dh_t$ has the factor
#   $i_t \odot c_t \odot (1 - c_t)$ where $o_t \odot (1 - \tanh^2(c_t))$ belongs.
# - `dc: carried through f_t`: its $dc_t$ carries $dc_{t+1} \odot f_t$, the forget gate of
#   the wrong step, where $dc_{t+1} \odot f_{t+1}$ belongs.
# - `dh: no carried term`: its $dh_t$ carries a term assembled from gradients times gate
#   values times the forget, candidate and output blocks of the weights, with no input-gate
#   part, where $dz_{t+1} W_h^\top$ belongs.
#
# The carried term of $dh_t$ in the original cannot be coded as written (it uses $dc_t$ to
# compute $dh_t$, which $dc_t$ itself needs); we plant its bluntest form, the term left
# out. The last line below drops the other carried term, $dc_{t+1} \odot f_{t+1}$: the
# original keeps it, but it is the one that section 7 is about, and the check should
# catch its absence too.

# %%
for mistake in MISTAKES[1:]:
    print(f"planted: {mistake}")
    failed = check_table(backward_with(mistake, params, fw, dlogits), numeric, correct=grads)
    assert failed, mistake  # the check must catch it
    print()

# %% [markdown]
# Every planted mistake fails the check on the LSTM layer's tensors and on $h_0$, $c_0$,
# with errors from about $10^{-3}$ to above 1: at least a thousand times the threshold.
# $W_y$ and $b_y$ are unchanged every time, since their gradients use only $h_t$ and
# $d\mathrm{logits}_t$, which no mistake touches. The test is as strong as it is simple:
# even the subtlest mistake, $\tanh$ applied twice, misses the threshold on $c_0$ by a
# factor of more than 2,000.

# %% [markdown]
# ## 7 · Gradient norm against time lag
#
# How much does the loss at the last step, $\mathcal{L}_T$, depend on the hidden state $k$ steps
# earlier? Its gradient $\partial \mathcal{L}_T / \partial h_{T-k}$ answers; we plot its norm
# relative to $k = 0$. For a **vanilla RNN**,
#
# $$h_t = \tanh(e_{x_t} W_x + h_{t-1} W_h + b)$$
#
# and one step back multiplies by the derivative of $\tanh$ and by $W_h^\top$:
#
# $$dh_{t-1} = \left(dh_t \odot (1 - h_t^2)\right) W_h^\top$$
#
# With $W_h$ drawn from $U(-1/\sqrt{H}, 1/\sqrt{H})$ (PyTorch's default), each step shrinks
# the gradient by a roughly constant factor, so its norm falls exponentially with $k$
# (Bengio et al. 1994, Pascanu et al. 2013).

# %%
V_lag, H_lag, B_lag, T_lag = 16, 32, 16, 60
SEEDS = range(5)


def rnn_lag_norms(seed):
    """||dL_T / dh_{T-k}|| for k = 0..T of a vanilla tanh RNN at initialisation."""
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(H_lag)
    W_x = rng.uniform(-k, k, (V_lag, H_lag))
    W_h = rng.uniform(-k, k, (H_lag, H_lag))
    b = np.zeros(H_lag)
    W_y = rng.uniform(-k, k, (H_lag, V_lag))
    b_y = np.zeros(V_lag)
    x = rng.integers(0, V_lag, (T_lag, B_lag))
    y_T = rng.integers(0, V_lag, B_lag)  # the target of the last step
    h = np.zeros((T_lag + 1, B_lag, H_lag))
    for t in range(1, T_lag + 1):
        h[t] = np.tanh(W_x[x[t - 1]] + h[t - 1] @ W_h + b)
    dlogits_T = (lc.softmax(h[T_lag] @ W_y + b_y) - np.eye(V_lag)[y_T]) / B_lag
    dh = dlogits_T @ W_y.T  # dh_T
    norms = [np.linalg.norm(dh)]
    for t in range(T_lag, 0, -1):
        dh = (dh * (1 - h[t] ** 2)) @ W_h.T  # dh_{t-1}
        norms.append(np.linalg.norm(dh))
    return np.array(norms)


# %% [markdown]
# For the **LSTM** we reuse `forward_steps` and `lstm_backward`, with a gradient at the
# last step only. `dh[T - k]` is then $\partial \mathcal{L}_T / \partial h_{T-k}$, all paths
# included, and `dc[T - k]` is $\partial \mathcal{L}_T / \partial c_{T-k}$. We compare two
# forget-gate biases: 0, where $f_t \approx \sigma(0) = 0.5$ at initialisation, and 1 (the
# default of `lc.init_params`, after Jozefowicz et al. 2015), where
# $f_t \approx \sigma(1) \approx 0.73$. Each curve is the geometric mean over 5 seeds (a
# mean of logarithms, which suits a log scale).

# %%
def lstm_lag_norms(seed, forget_bias):
    """||dL_T/dh_{T-k}||, ||dL_T/dc_{T-k}|| for k = 0..T, and the mean forget gate."""
    rng = np.random.default_rng(seed)
    p = lc.init_params(V_lag, H_lag, 1, forget_bias=forget_bias, seed=rng, dtype="float64")
    x = rng.integers(0, V_lag, (T_lag, B_lag))
    y_T = rng.integers(0, V_lag, B_lag)
    zero = np.zeros((B_lag, H_lag))
    fw = forward_steps(p, x, zero, zero)
    dlogits = np.zeros_like(fw["logits"])
    dlogits[T_lag] = (lc.softmax(fw["logits"][T_lag]) - np.eye(V_lag)[y_T]) / B_lag
    _, dh, dc, _ = lstm_backward(p, fw, dlogits)
    lags = np.arange(T_lag + 1)  # k = 0..T: rows T, T-1, ..., 0
    dh_norms = np.linalg.norm(dh[T_lag - lags], axis=(1, 2))
    dc_norms = np.linalg.norm(dc[T_lag - lags], axis=(1, 2))
    return dh_norms, dc_norms, float(fw["f"][1 : T_lag + 1].mean())


def geometric_mean_ratio(norms):
    """Each seed's norms relative to its k = 0 value, then the mean of the logarithms."""
    norms = np.array(norms)
    return np.exp(np.log(norms / norms[:, :1]).mean(axis=0))


curves = {"vanilla RNN (tanh)": geometric_mean_ratio([rnn_lag_norms(s) for s in SEEDS])}
mean_f = {}
for fb in (0.0, 1.0):
    runs = [lstm_lag_norms(s, fb) for s in SEEDS]
    curves[f"LSTM, forget bias {fb:.0f}: h"] = geometric_mean_ratio([r[0] for r in runs])
    curves[f"LSTM, forget bias {fb:.0f}: c"] = geometric_mean_ratio([r[1] for r in runs])
    mean_f[fb] = np.mean([r[2] for r in runs])
assert all(curve.shape == (T_lag + 1,) for curve in curves.values())

print(f"{'relative gradient norm':28s} {'k=1':>8s} {'k=10':>8s} {'k=30':>8s} "
      f"{f'k={T_lag}':>8s} {'factor per step':>16s}")
for name, curve in curves.items():
    per_step = (curve[T_lag] / curve[10]) ** (1 / (T_lag - 10))  # from k = 10 to k = T
    print(f"{name:28s} " + " ".join(f"{curve[k]:8.1e}" for k in (1, 10, 30, T_lag))
          + f" {per_step:16.2f}")
for fb, mf in mean_f.items():
    print(f"mean forget gate with bias {fb:.0f}: {mf:.2f}")
for fb in (0, 1):
    ratio = curves[f"LSTM, forget bias {fb}: c"] / curves[f"LSTM, forget bias {fb}: h"]
    print(f"forget bias {fb}: c curve / h curve at k = 1, 10, 30, {T_lag}: "
          + ", ".join(f"{ratio[k]:.1f}" for k in (1, 10, 30, T_lag)))
gap = np.abs(np.log10(curves["LSTM, forget bias 0: c"] / curves["vanilla RNN (tanh)"]))
print(f"forget bias 0, c curve against the vanilla RNN: at most a factor of "
      f"{10 ** gap.max():.1f} apart, at any k")

# %%
dh_label = r"$\partial \mathcal{L}_T / \partial h_{T-k}$"
dc_label = r"$\partial \mathcal{L}_T / \partial c_{T-k}$"
styles = {  # name: (colour, line style, legend label)
    "vanilla RNN (tanh)": ("0.75", "-", f"vanilla RNN (tanh): {dh_label}"),
    "LSTM, forget bias 0: h": ("tab:orange", "-", f"LSTM, forget bias 0: {dh_label}"),
    "LSTM, forget bias 0: c": ("tab:orange", ":", f"LSTM, forget bias 0: {dc_label}"),
    "LSTM, forget bias 1: h": ("tab:blue", "-", f"LSTM, forget bias 1: {dh_label}"),
    "LSTM, forget bias 1: c": ("tab:blue", ":", f"LSTM, forget bias 1: {dc_label}"),
}
fig, ax = plt.subplots(figsize=(7, 4))
for name, curve in curves.items():
    color, style, label = styles[name]
    wide = name.startswith("vanilla")  # a wide grey band, so the curve on it stays visible
    ax.semilogy(np.arange(T_lag + 1), curve, color=color, linestyle=style, label=label,
                lw=5 if wide else 1.5, zorder=1 if wide else 2)
ax.set_title(f"Gradient of the last step's loss, k steps back (H = {H_lag}, at initialisation)")
ax.set_xlabel("time lag k (steps)")
ax.set_ylabel("gradient norm, relative to k = 0")
ax.set_xlim(0, T_lag)
ax.legend(loc="lower left")
plt.show()

# %% [markdown]
# What the plot shows:
#
# - **The vanilla RNN's gradient vanishes exponentially**: a factor of about 0.64 per
#   step, $10^{-12}$ after 60 steps. Each step multiplies by $(1 - h_t^2)$ and $W_h^\top$,
#   and at this initialisation their product shrinks the gradient. An input 30 steps back
#   has practically no say in the gradient, so the RNN cannot learn to use it.
# - **The LSTM with forget bias 0 fades just as fast.** The cell path multiplies by
#   $f_{t+1} \approx 0.5$ at every step (the term $dc_{t+1} \odot f_{t+1}$ of section 2),
#   no better than the RNN. The gates alone do not cure vanishing gradients.
# - **With forget bias 1 the cell path carries the gradient much further.** With
#   $f \approx 0.73$ the gradient keeps a factor of about 0.86 per step instead of 0.64
#   (more than $f$, because at every step some gradient also re-enters the cell through
#   $h_t$ and the gates): after 60 steps, $10^{-5}$ instead of $10^{-12}$. Training can
#   push $f$ towards 1 in the units that need a long memory, and then the cell path loses
#   almost nothing per step; the RNN's only path, through $W_h$ and $\tanh$, has no such
#   gate (Hochreiter & Schmidhuber 1997; the forget gate is from Gers et al. 2000).
#
# On the log scale each $h$ curve runs parallel to its $c$ curve, lower by a roughly
# constant factor (3.6 to 6.2 in the table): $h_{T-k}$ reaches $\mathcal{L}_T$ only through the
# gates of the next step, $dh_{T-k} = dz_{T-k+1} W_h^\top$ (its output term is zero, since
# only the last step has a loss here), and most of $dz_{T-k+1}$ comes from $dc_{T-k+1}$,
# scaled down by the gate derivatives and $W_h$ on the way. With forget bias 0 the $c$ curve
# (orange, dotted) lies almost on the vanilla RNN's, never more than a factor of 1.6 away:
# the wide grey band under it.
#
# The opposite failure, **exploding** gradients, comes from the same products when the
# factor per step exceeds 1 (a larger $W_h$, or weights grown large in training). Then a
# single window can produce a huge gradient, and that is what clipping is for.

# %% [markdown]
# ## 8 · Clipping: by global norm, not element by element
#
# Clipping by global norm (Pascanu et al. 2013) rescales all gradients together by one
# factor when their joint norm exceeds a limit $\kappa$ (`grad_clip`). Here $g$ stands for
# all the gradient tensors together, as `lc.clip_by_global_norm` computes it:
#
# $$\|g\| = \sqrt{\textstyle\sum_{\text{tensors}} \sum_j g_j^2}, \qquad
#   g \leftarrow g \cdot \frac{\kappa}{\|g\| + 10^{-6}} \quad \text{if } \|g\| > \kappa$$
#
# (the $10^{-6}$, as in PyTorch's `clip_grad_norm_`, leaves the clipped norm a hair below
# $\kappa$). One factor for all entries keeps the direction of the gradient; only the step gets
# shorter. The original (section 6) instead clips each entry to $[-1, 1]$. That shortens the
# large entries and leaves the small ones alone, so the clipped gradient points somewhere
# else. We measure the direction by the cosine similarity with the unclipped gradient,
# $\cos = \langle g, g' \rangle / (\|g\|\,\|g'\|)$, on real gradients: an untrained LSTM
# ($H = 64$) on a window of Shakespeare, $B = 8$ streams of $T = 50$ characters, from
# `lc.loss_and_grads` (forward, loss and backward for one window). The original sums the
# loss over the positions of a window instead of averaging it, which makes the gradient
# larger by the number of positions, here $TB = 400$; we do the same, so that its clipping
# has something to clip.

# %% [markdown]
# Written out, clipping by global norm takes a few lines (`lc.clip_by_global_norm` adds
# $10^{-6}$ to the norm before dividing, so that it never divides by zero):

# %% tags=["exercise"]
def clip_by_global_norm(grads, max_norm):
    """Scale every gradient of the dict grads, in place, by one factor max_norm / ||g||
    when their global norm ||g|| (the square root of the sum of all their squared entries)
    exceeds max_norm. Returns ||g|| before clipping."""
    norm = np.sqrt(sum(np.sum(g**2) for g in grads.values()))
    if norm > max_norm:
        for g in grads.values():
            g *= max_norm / norm
    return norm


# %%
clip_by_global_norm = ex.check_clip_by_global_norm(clip_by_global_norm)

# %%
text = lc.load_corpus()
vocab = lc.Vocabulary.from_text(text)
ids = vocab.encode(text[:20_000])
x_c, y_c = lc.get_window(lc.make_streams(ids, 8), 0, 50)
assert x_c.shape == y_c.shape == (50, 8)
params_c = lc.init_params(len(vocab), 64, 1, seed=0, dtype="float64")
loss_c, grads_mean, _ = lc.loss_and_grads(params_c, x_c, y_c)
grads_sum = {name: gr * x_c.size for name, gr in grads_mean.items()}  # the summed loss


def flat(grads):
    return np.concatenate([gr.ravel() for gr in grads.values()])


def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


g_raw = flat(grads_sum)
elementwise = {name: np.clip(gr, -1, 1) for name, gr in grads_sum.items()}
by_norm = {name: gr.copy() for name, gr in grads_sum.items()}
norm_before = clip_by_global_norm(by_norm, 1.0)  # scales by_norm in place
np.testing.assert_allclose(norm_before, np.linalg.norm(g_raw), rtol=1e-12)

nonzero = g_raw != 0  # rows of W_x0 for characters absent from the window stay zero
print(f"loss {loss_c:.4f} nats/char; {g_raw.size} gradient entries, {nonzero.sum()} nonzero")
print(f"{'clipping':26s} {'global norm':>11s} {'cosine with unclipped':>22s} "
      f"{'nonzero entries changed':>24s}")
for name, clipped in [("none", grads_sum), ("element-wise to [-1, 1]", elementwise),
                      ("global norm to 1", by_norm)]:
    g_clip = flat(clipped)
    changed = np.mean(g_clip[nonzero] != g_raw[nonzero])
    print(f"{name:26s} {np.linalg.norm(g_clip):11.4f} {cosine(g_raw, g_clip):22.4f} "
          f"{changed:24.1%}")

# %% [markdown]
# Global-norm clipping changes every nonzero entry, all by the same factor, and the cosine
# stays 1. Element-wise clipping changes fewer than one entry in a hundred, yet turns the
# gradient far away from the unclipped one. Where it turns it shows in each tensor's share
# of the squared norm: the few large entries, most of them in the biases, are cut down to
# 1, so the biases' share collapses (from 96 % to 32 % of the squared norm, $b$ and $b_y$
# together) and the weight matrices, whose many small entries are left alone, take over.

# %%
def shares(grads):
    """Each tensor's share of the squared global norm."""
    total = sum(float(np.vdot(gr, gr)) for gr in grads.values())
    return {name: float(np.vdot(gr, gr)) / total for name, gr in grads.items()}


before, after_elem, after_norm = shares(grads_sum), shares(elementwise), shares(by_norm)
print(f"{'':19s} {'share of the squared norm':^38s}")
print(f"{'tensor':6s} {'clipped':>12s} {'unclipped':>12s} {'element-wise':>13s} "
      f"{'global norm':>12s}")
for name, gr in grads_sum.items():
    clipped = f"{np.sum(np.abs(gr) > 1)}/{gr.size}"
    print(f"{name:6s} {clipped:>12s} {before[name]:12.1%} {after_elem[name]:13.1%} "
          f"{after_norm[name]:12.1%}")

# %% [markdown]
# The smaller the limit, the further element-wise clipping turns the gradient; at a limit
# far below every entry it keeps only the signs. Global-norm clipping keeps the direction
# at every limit:

# %%
print(f"{'limit':>6s} {'cosine, element-wise':>21s} {'cosine, global norm':>20s}")
for limit in (10.0, 3.0, 1.0, 0.3, 0.1, 0.01):
    elem = flat({name: np.clip(gr, -limit, limit) for name, gr in grads_sum.items()})
    scaled = {name: gr.copy() for name, gr in grads_sum.items()}
    lc.clip_by_global_norm(scaled, limit)
    print(f"{limit:6g} {cosine(g_raw, elem):21.4f} {cosine(g_raw, flat(scaled)):20.4f}")

# %% [markdown]
# `lstm_core` clips by global norm after every backward pass (`Config.grad_clip`, default
# 1.0, on the mean loss). Notebook 04 feeds the clipped gradient to AdamW.

# %% [markdown]
# ## Summary
#
# - Backpropagation through time is the chain rule on the unrolled network, run from the
#   last step to the first. $h_t$ and $c_t$ are each used twice, so each gradient has two
#   terms: $dh_t = d\mathrm{logits}_t W_y^\top + dz_{t+1} W_h^\top$ and
#   $dc_t = dh_t \odot o_t \odot (1 - \tanh^2 c_t) + dc_{t+1} \odot f_{t+1}$.
# - The gate gradients use the gates' own values: $\sigma' = \sigma(1-\sigma)$, and
#   $1 - g_t^2$ for the candidate, which is already a $\tanh$.
# - Our step-by-step loop agrees with `lc.backward` and `lc.lstm_layer_backward` to
#   rounding; centred finite differences in float64 confirm every tensor, $h_0$ and $c_0$
#   included, to better than $10^{-7}$, for one layer and for two.
# - Every mistake of the Kaggle notebook of section 6, planted into the loop, fails that
#   check by at least three orders of magnitude.
# - A vanilla RNN's gradient vanishes exponentially with the time lag. The LSTM's cell path
#   multiplies by $f$ per step, so it carries the gradient far only when $f$ is near 1:
#   hence the forget bias of 1.
# - Clip by global norm: it keeps the gradient's direction. Clipping each entry to
#   $[-1, 1]$ turns it.
#
# ## Exercises
#
# 1. **Choose $\epsilon$.** Rerun the gradient check of section 5 with
#    `lc.numerical_gradient(loss_fn, value, eps)` for $\epsilon = 10^{-1}, 10^{-3}, \dots,
#    10^{-11}$, and plot the largest relative error against $\epsilon$ on log-log axes.
#    Explain both sides of the minimum (truncation $\propto \epsilon^2$, rounding
#    $\propto 1/\epsilon$). Where would the minimum be with a one-sided difference?
# 2. **A wrong normalisation.** Plant a mistake that forgets the $1/(TB)$ of
#    $d\mathrm{logits}_t$. What relative error does the check report, and for which
#    tensors? Why is it the same number for all of them?
# 3. **Float32.** Run the check in float32 (`dtype="float32"` and $\epsilon = 10^{-3}$).
#    How large are the errors of the correct gradients now, and why does a float32 check
#    need a threshold near $10^{-2}$, where it can no longer tell some mistakes apart?
# 4. **Two layers by hand.** Extend `lstm_backward` to two layers: layer 1's loop receives
#    $d\mathrm{logits}_t W_y^\top$, and layer 0's receives $dz^{(1)}_t W_{x1}^\top$ in
#    place of it. Check it with `cmp` against `lc.backward`.
# 5. **Beyond vanishing.** In section 7, multiply the vanilla RNN's $W_h$ by 3, and set
#    the LSTM's forget bias to 3. What happens to the curves? Why can a forget gate near 1
#    let the gradient grow with the lag, although $f < 1$?
#
# ## Further reading
#
# - P. J. Werbos, [Backpropagation through time: what it does and how to do
#   it](https://doi.org/10.1109/5.58337), *Proceedings of the IEEE* 78(10), 1990.
# - Y. Bengio, P. Simard, P. Frasconi, [Learning long-term dependencies with gradient
#   descent is difficult](https://doi.org/10.1109/72.279181), *IEEE Transactions on Neural
#   Networks* 5(2), 1994.
# - S. Hochreiter, J. Schmidhuber, [Long short-term
#   memory](https://doi.org/10.1162/neco.1997.9.8.1735), *Neural Computation* 9(8), 1997.
# - F. A. Gers, J. Schmidhuber, F. Cummins, [Learning to forget: continual prediction with
#   LSTM](https://doi.org/10.1162/089976600300015015), *Neural Computation* 12(10), 2000.
# - R. Pascanu, T. Mikolov, Y. Bengio, [On the difficulty of training recurrent neural
#   networks](https://arxiv.org/abs/1211.5063), ICML 2013: vanishing and exploding
#   gradients, and clipping by norm.
# - R. Jozefowicz, W. Zaremba, I. Sutskever, [An empirical exploration of recurrent network
#   architectures](https://proceedings.mlr.press/v37/jozefowicz15.html), ICML 2015: the
#   forget bias of 1.
# - CS231n, [Gradient checks](https://cs231n.github.io/neural-networks-3/#gradcheck):
#   centred differences, relative error, and the pitfalls of both.
# - A. Karpathy, [Building makemore part 4: becoming a backprop
#   ninja](https://www.youtube.com/watch?v=q8SA3rM6ckI): a backward pass written by hand and
#   compared, tensor by tensor, with an autograd reference.
#
# ← Previous: [02 · The forward pass](02_forward_pass.ipynb) ·
# [Contents](00_contents.ipynb) · Next: [04 · AdamW](04_adamw.ipynb) →
