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
# # 02 · The forward pass
#
# ← Previous: [01 · Data preparation](01_data_preparation.ipynb) ·
# [Contents](00_contents.ipynb) ·
# Next: [03 · Backpropagation through time](03_backprop_through_time.ipynb) →

# %% [markdown]
# The forward pass turns a window of characters into a score for every possible next
# character at every position. This notebook writes it one equation at a time, runs it over
# a window, then rewrites it the way `lstm_core` computes it: four gates in one matrix
# product, and the inputs of all time steps projected before the loop starts.
#
# ## What you'll learn
#
# - the LSTM cell's equations, gate by gate, in the order of `torch.nn.LSTM` (i, f, g, o),
#   each next to the line of NumPy that computes it;
# - how the cell carries its state $(h, c)$ through a window of $T$ steps;
# - why the four gates are *fused* into one $(D, 4H)$ weight matrix, and why the input
#   projections of all $T$ steps are one matrix product;
# - how the textbook sigmoid and softmax overflow, and the stable forms that do not;
# - why an untrained model's loss is close to $\ln V$.
#
# ## What you need
#
# - [01 · Data preparation](01_data_preparation.ipynb): the vocabulary, windows $x$ and
#   targets $y$ of shape $(T, B)$, and the fact that a one-hot vector times $W_x$ is row $x$
#   of $W_x$.
# - Matrix products and broadcasting in NumPy.

# %%
import matplotlib.pyplot as plt
import numpy as np

import lstm_core as lc
import lstm_exercises as ex

plt.style.use("lstm.mplstyle")
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1. Data and parameters
#
# The data come from notebook 01's pipeline: the sorted vocabulary of $V$ characters, the
# training ids, $B$ streams, and window 0 of them. The sizes are small so that every array
# can be checked; everything is in float64, so hand-written and library results agree to
# rounding error.

# %%
text = lc.load_corpus()
vocab = lc.Vocabulary.from_text(text)
V = len(vocab)
train_ids, val_ids = lc.split_data(vocab.encode(text))

B, T, H = 4, 25, 32  # streams, time steps, hidden units
streams = lc.make_streams(train_ids, B)
x, y = lc.get_window(streams, 0, T)
assert x.shape == y.shape == (T, B)
print(f"V = {V}, B = {B}, T = {T}, H = {H}")
print("stream 0 of the window:", repr(vocab.decode(x[:, 0])))

# %% [markdown]
# `lc.init_params` draws every weight from $U(-1/\sqrt{H}, 1/\sqrt{H})$, as `torch.nn.LSTM`
# does, and sets every bias to zero except the forget gate's, which starts at 1. For one
# layer it returns:
#
# | name | shape | role |
# |---|---|---|
# | `W_x0` | $(V, 4H)$ | input weights of the four gates, side by side |
# | `W_h0` | $(H, 4H)$ | recurrent weights of the four gates |
# | `b0` | $(4H,)$ | gate biases |
# | `W_y` | $(H, V)$ | output weights |
# | `b_y` | $(V,)$ | output biases |

# %%
params = lc.init_params(V, H, num_layers=1, seed=0, dtype="float64")
expected = {"W_x0": (V, 4 * H), "W_h0": (H, 4 * H), "b0": (4 * H,), "W_y": (H, V),
            "b_y": (V,)}
assert {name: p.shape for name, p in params.items()} == expected
print(f"{lc.count_params(params):,} parameters:",
      ", ".join(f"{name} {p.shape}" for name, p in params.items()))

# %% [markdown]
# To write each gate's equation on its own, we cut the side-by-side matrices into their four
# blocks of $H$ columns, in the order i, f, g, o. Each gate then has its own input weights
# ($V \times H$), recurrent weights ($H \times H$) and bias ($H$). These are views into
# `params`, not copies.

# %%
W_xi, W_xf, W_xg, W_xo = np.split(params["W_x0"], 4, axis=1)
W_hi, W_hf, W_hg, W_ho = np.split(params["W_h0"], 4, axis=1)
b_i, b_f, b_g, b_o = np.split(params["b0"], 4)
W_y, b_y = params["W_y"], params["b_y"]
assert W_xi.shape == (V, H) and W_hi.shape == (H, H) and b_i.shape == (H,)
print("initial biases: b_i", b_i[:3], "b_f", b_f[:3], "b_g", b_g[:3], "b_o", b_o[:3], "...")

# %% [markdown]
# ## 2. The cell
#
# At step $t$ the cell reads the character $x_t$ and the previous state: the hidden state
# $h_{t-1}$ (what the cell showed the world) and the cell state $c_{t-1}$ (its memory). Four
# gates, computed from $x_t$ and $h_{t-1}$, decide what to forget from $c_{t-1}$ ($f_t$),
# what to write into it ($i_t$ times the candidate $g_t$), and how much of the new memory to
# show as $h_t$ ($o_t$). The figure is drawn by the code below.

# %%
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

fig, ax = plt.subplots(figsize=(7, 4.2))
ax.add_patch(FancyBboxPatch((0.4, 0.4), 10.0, 6.0, boxstyle="round,pad=0,rounding_size=0.4",
                            facecolor="0.96", edgecolor="0.6"))


def wire(points, arrow=True):
    """A line through `points`, with an arrow head at the end."""
    xs, ys = zip(*points)
    ax.plot(xs, ys, color="0.2", lw=1.3, solid_capstyle="round", zorder=1)
    if arrow:
        ax.add_patch(FancyArrowPatch(points[-2], points[-1], arrowstyle="-|>",
                                     mutation_scale=11, color="0.2", lw=0, zorder=2,
                                     shrinkA=0, shrinkB=0))


def box(x, y, label, color, rounding=0.12):
    ax.add_patch(FancyBboxPatch((x - 0.45, y - 0.33), 0.9, 0.66, facecolor=color,
                                boxstyle=f"round,pad=0,rounding_size={rounding}",
                                edgecolor="0.2", zorder=3))
    ax.text(x, y, label, ha="center", va="center", fontsize=10, zorder=4)


def op(x, y, symbol):
    """An element-wise operation."""
    ax.add_patch(Circle((x, y), 0.3, facecolor="white", edgecolor="0.2", zorder=3))
    ax.text(x, y, symbol, ha="center", va="center", fontsize=13, zorder=4)


C_Y, BUS_Y, GATE_Y, MID_Y, H_X = 5.5, 1.1, 2.6, 4.1, 9.6  # rows and columns of the drawing
gx = {"f": 2.4, "i": 4.0, "g": 5.5, "o": 7.1}
wire([(-0.6, C_Y), (11.5, C_Y)])  # the cell state runs along the top
wire([(-0.6, BUS_Y), (gx["o"], BUS_Y)], arrow=False)  # h_{t-1} from the left ...
wire([(1.2, -0.5), (1.2, BUS_Y)], arrow=False)  # ... joined by x_t from below
for gate_x in gx.values():
    wire([(gate_x, BUS_Y), (gate_x, GATE_Y - 0.33)])
wire([(gx["f"], GATE_Y + 0.33), (gx["f"], C_Y - 0.3)])  # f_t * c_{t-1}
wire([(gx["i"], GATE_Y + 0.33), (gx["i"], MID_Y), (gx["g"] - 0.3, MID_Y)])  # i_t * g_t
wire([(gx["g"], GATE_Y + 0.33), (gx["g"], MID_Y - 0.3)])
wire([(gx["g"], MID_Y + 0.3), (gx["g"], C_Y - 0.3)])  # ... added to the memory
wire([(8.6, C_Y), (8.6, MID_Y + 0.33)])  # tanh(c_t) ...
wire([(8.6, MID_Y - 0.33), (8.6, GATE_Y + 0.3)])
wire([(gx["o"] + 0.45, GATE_Y), (8.3, GATE_Y)])  # ... times o_t is h_t
wire([(8.9, GATE_Y), (H_X, GATE_Y)], arrow=False)
wire([(H_X, BUS_Y), (H_X, C_Y - 0.2)], arrow=False)  # passes under the c line
wire([(H_X, C_Y + 0.2), (H_X, 7.3)])
wire([(H_X, BUS_Y), (11.5, BUS_Y)])

for name, fn, color in [("f", r"$\sigma$", "#f4c7c3"), ("i", r"$\sigma$", "#c6dbef"),
                        ("g", "tanh", "#c7e9c0"), ("o", r"$\sigma$", "#fdd0a2")]:
    box(gx[name], GATE_Y, fn, color)
    ax.text(gx[name] + 0.52, GATE_Y + 0.45, f"${name}_t$", va="center", fontsize=11)
box(8.6, MID_Y, "tanh", "white", rounding=0.33)
op(gx["f"], C_Y, "×")
op(gx["g"], MID_Y, "×")
op(gx["g"], C_Y, "+")
op(8.6, GATE_Y, "×")

ax.text(-0.7, C_Y, r"$c_{t-1}$", ha="right", va="center", fontsize=12)
ax.text(11.6, C_Y, r"$c_t$", ha="left", va="center", fontsize=12)
ax.text(-0.7, BUS_Y, r"$h_{t-1}$", ha="right", va="center", fontsize=12)
ax.text(1.2, -0.6, r"$x_t$", ha="center", va="top", fontsize=12)
ax.text(11.6, BUS_Y, r"$h_t$", ha="left", va="center", fontsize=12)
ax.text(H_X, 7.4, r"$h_t \to$ logits$_t = h_t W_y + b_y$", ha="center", va="bottom",
        fontsize=11)
ax.text(1.45, 0.7, r"$e_{x_t} W_x + h_{t-1} W_h + b$, cut into four gates", va="center",
        fontsize=9, color="0.3")
ax.set_xlim(-1.8, 12.6)
ax.set_ylim(-1.3, 8.0)
ax.set_aspect("equal")
ax.axis("off")
ax.set_title("One LSTM cell at step t (× and + act element by element)")
plt.show()

# %% [markdown]
# ## 3. One step, one equation at a time
#
# We start from a state $(h_{t-1}, c_{t-1})$ as if carried in from an earlier window (random,
# seeded, so that every term matters) and the first character of each stream, $x_t$. In the
# code, $h_{t-1}$ and $c_{t-1}$ are `h_prev` and `c_prev`, and the subscript $t$ of the
# new values is dropped.
#
# The gates use the logistic sigmoid $\sigma(z) = 1 / (1 + e^{-z})$, which maps any real
# number into $(0, 1)$: a gate value near 0 blocks, near 1 lets through. We write it the
# textbook way here; section 6 shows where that breaks.

# %%
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


rng = np.random.default_rng(0)
h_prev = rng.normal(0, 0.5, (B, H))
c_prev = rng.normal(0, 1.0, (B, H))
x_t = x[0]  # (B,) character ids
assert x_t.shape == (B,) and h_prev.shape == c_prev.shape == (B, H)

# %% [markdown]
# The **input gate** decides how much of the candidate to write into the memory. $x_t$ is a
# character id; written as linear algebra, the input is its one-hot vector $e_{x_t}$, and
# $e_{x_t} W_{xi}$ is row $x_t$ of $W_{xi}$ (notebook 01), `W_xi[x_t]` in the code:
#
# $$i_t = \sigma(e_{x_t} W_{xi} + h_{t-1} W_{hi} + b_i)$$

# %%
i = sigmoid(W_xi[x_t] + h_prev @ W_hi + b_i)
assert i.shape == (B, H)

# %% [markdown]
# The **forget gate** decides how much of the old memory $c_{t-1}$ to keep:
#
# $$f_t = \sigma(e_{x_t} W_{xf} + h_{t-1} W_{hf} + b_f)$$

# %%
f = sigmoid(W_xf[x_t] + h_prev @ W_hf + b_f)
assert f.shape == (B, H)

# %% [markdown]
# The **candidate** $g_t$ is what could be written. It uses $\tanh$, with values in
# $(-1, 1)$, so the memory can be pushed up or down:
#
# $$g_t = \tanh(e_{x_t} W_{xg} + h_{t-1} W_{hg} + b_g)$$

# %%
g = np.tanh(W_xg[x_t] + h_prev @ W_hg + b_g)
assert g.shape == (B, H)

# %% [markdown]
# The **output gate** decides how much of the memory to show in $h_t$:
#
# $$o_t = \sigma(e_{x_t} W_{xo} + h_{t-1} W_{ho} + b_o)$$

# %%
o = sigmoid(W_xo[x_t] + h_prev @ W_ho + b_o)
assert o.shape == (B, H)

# %% [markdown]
# The new **cell state** keeps the fraction $f_t$ of the old memory and adds the fraction
# $i_t$ of the candidate, element by element ($\odot$):
#
# $$c_t = f_t \odot c_{t-1} + i_t \odot g_t$$

# %%
c = f * c_prev + i * g
assert c.shape == (B, H)

# %% [markdown]
# The new **hidden state** is the memory squashed into $(-1, 1)$ and gated:
#
# $$h_t = o_t \odot \tanh(c_t)$$

# %%
h = o * np.tanh(c)
assert h.shape == (B, H)

# %% [markdown]
# Finally the **output layer** turns $h_t$ into one score (logit) per character of the
# vocabulary; the softmax of the logits is the predicted distribution of the next
# character:
#
# $$\text{logits}_t = h_t W_y + b_y$$

# %%
logits_t = h @ W_y + b_y
assert logits_t.shape == (B, V)

# %% [markdown]
# With the biases at their initial values, the input and output gates start half open,
# $\sigma(0) = 0.5$ on average, while the forget gate starts near $\sigma(1) = 0.73$: early
# in training the cell keeps most of its memory (Jozefowicz et al., 2015).

# %%
for name, gate in [("i", i), ("f", f), ("g", g), ("o", o)]:
    print(f"{name}: mean {gate.mean():+.2f}, range [{gate.min():+.2f}, {gate.max():+.2f}]")

# %% [markdown]
# `lc.lstm_layer_forward` runs a layer from the input projections $e_{x_t} W_x + b$ of each
# step, shape $(T, B, 4H)$, and returns all hidden states `hs` (with `hs[0]` the state
# carried in) and a cache holding the gate activations and cell states. One step of it
# must reproduce the seven lines above; `lc.forward` must reproduce the logits.

# %%
xw = (params["W_x0"][x_t] + params["b0"])[None]  # (1, B, 4H); overwritten by the call
hs, (gates, cs, _, _, _) = lc.lstm_layer_forward(xw, h_prev, c_prev, params["W_h0"])
assert hs.shape == cs.shape == (2, B, H) and gates.shape == (1, B, 4 * H)
np.testing.assert_allclose(gates[0], np.concatenate([i, f, g, o], axis=1), rtol=1e-12)
np.testing.assert_allclose(cs[1], c, rtol=1e-12)
np.testing.assert_allclose(hs[1], h, rtol=1e-12)
print("one step by hand == lc.lstm_layer_forward: gates i, f, g, o; c_t; h_t")

logits_lc, _, _ = lc.forward(params, x[:1], (h_prev[None], c_prev[None]))
np.testing.assert_allclose(logits_lc[0], logits_t, rtol=1e-12)
print("one step by hand == lc.forward: logits of shape", logits_lc[0].shape)

# %% [markdown]
# ## 4. A whole window
#
# A window is the same step applied $T$ times, each step starting from the state the
# previous one left. We collect the seven equations into `lstm_step`, which cuts the
# fused matrices of `params` into their gate blocks as section 1 did, and loop.

# %% tags=["exercise"]
def lstm_step(x_t, h_prev, c_prev, params):
    """One step of the first layer, the four gates computed separately.

    x_t: (B,) character ids; h_prev, c_prev: (B, H), the state after step t - 1; params:
    the dict of lc.init_params, whose W_x0 (V, 4H), W_h0 (H, 4H) and b0 (4H,) hold the
    gates i, f, g, o side by side (section 1). Returns h_t and c_t, each (B, H).
    """
    W_xi, W_xf, W_xg, W_xo = np.split(params["W_x0"], 4, axis=1)
    W_hi, W_hf, W_hg, W_ho = np.split(params["W_h0"], 4, axis=1)
    b_i, b_f, b_g, b_o = np.split(params["b0"], 4)
    i = sigmoid(W_xi[x_t] + h_prev @ W_hi + b_i)
    f = sigmoid(W_xf[x_t] + h_prev @ W_hf + b_f)
    g = np.tanh(W_xg[x_t] + h_prev @ W_hg + b_g)
    o = sigmoid(W_xo[x_t] + h_prev @ W_ho + b_o)
    c = f * c_prev + i * g
    h = o * np.tanh(c)
    return h, c


# %%
lstm_step = ex.check_lstm_step(lstm_step)

# %% tags=["exercise"]
def forward_loop(x, h, c, params):
    """The first layer and the output layer over a window.

    x: (T, B) character ids; h, c: (B, H), the state carried in; params as for lstm_step,
    with W_y (H, V) and b_y (V,). Returns the logits (T, B, V) and the final h and c.
    """
    logits = []
    for t in range(len(x)):
        h, c = lstm_step(x[t], h, c, params)
        logits.append(h @ params["W_y"] + params["b_y"])
    return np.stack(logits), h, c


# %%
forward_loop = ex.check_forward_loop(forward_loop)

# %%
logits, h_T, c_T = forward_loop(x, h_prev, c_prev, params)
assert logits.shape == (T, B, V) and h_T.shape == c_T.shape == (B, H)

logits_lc, (h_lc, c_lc), _ = lc.forward(params, x, (h_prev[None], c_prev[None]))
np.testing.assert_allclose(logits, logits_lc, rtol=1e-10, atol=1e-12)
np.testing.assert_allclose(h_T, h_lc[0], rtol=1e-10, atol=1e-12)
np.testing.assert_allclose(c_T, c_lc[0], rtol=1e-10, atol=1e-12)
print(f"the loop over T = {T} steps == lc.forward: logits ({T}, {B}, {V}), final h and c "
      f"({B}, {H})")

# %% [markdown]
# The final state `(h_T, c_T)` is what training carries into window 1 of the same streams.

# %% [markdown]
# ## 5. Fused gates
#
# The four gates read the same inputs, $e_{x_t}$ and $h_{t-1}$, through different weights. Put
# side by side, the four blocks form one matrix, and one product gives all four
# pre-activations at once:
#
# $$z_t = e_{x_t} W_x + h_{t-1} W_h + b, \qquad
#   W_x = [\,W_{xi} \; W_{xf} \; W_{xg} \; W_{xo}\,] \in \mathbb{R}^{D \times 4H}, \quad
#   W_h = [\,W_{hi} \; W_{hf} \; W_{hg} \; W_{ho}\,] \in \mathbb{R}^{H \times 4H}$$
#
# $$[\,i_t \; f_t \; g_t \; o_t\,] = [\,\sigma(z_i) \; \sigma(z_f) \; \tanh(z_g) \; \sigma(z_o)\,]$$
#
# Here the input width is $D = V$; a second layer's input is the first layer's $h_t$ in place
# of $e_{x_t}$, and $D = H$. This is exactly how `lc.init_params` stores the weights (and, up to a
# transpose, how `torch.nn.LSTM` stores `weight_ih_l0` and `weight_hh_l0`).

# %%
W_x = np.concatenate([W_xi, W_xf, W_xg, W_xo], axis=1)
W_h = np.concatenate([W_hi, W_hf, W_hg, W_ho], axis=1)
b = np.concatenate([b_i, b_f, b_g, b_o])
assert W_x.shape == (V, 4 * H) and W_h.shape == (H, 4 * H) and b.shape == (4 * H,)
assert np.array_equal(W_x, params["W_x0"]) and np.array_equal(W_h, params["W_h0"])

z = W_x[x_t] + h_prev @ W_h + b  # (B, 4H): one product for all four gates
assert z.shape == (B, 4 * H)
z_i, z_f, z_g, z_o = np.split(z, 4, axis=1)
np.testing.assert_allclose(sigmoid(z_i), i, rtol=1e-12)
np.testing.assert_allclose(sigmoid(z_f), f, rtol=1e-12)
np.testing.assert_allclose(np.tanh(z_g), g, rtol=1e-12)
np.testing.assert_allclose(sigmoid(z_o), o, rtol=1e-12)
print("fused: one (B, H) @ (H, 4H) product == four separate gate computations for i, f, g, o")

# %% [markdown]
# One large product is usually faster than four small ones: the matrix library (BLAS) works
# best on large blocks, and every call from Python has a fixed cost.
#
# A second saving: the input term $e_{x_t} W_x + b$ does not depend on $h$, so it can be
# computed for all $T$ steps before the loop, as one product of a $(T B, D)$ matrix with
# $W_x$. The first layer does it with one row lookup, `W_x[x]`. A second layer's input is
# the first layer's hidden states, a dense $(T, B, H)$ array; we check the single product
# against a product per step on a two-layer model:

# %%
params2 = lc.init_params(V, H, num_layers=2, seed=1, dtype="float64")
W_x1 = params2["W_x1"]
assert W_x1.shape == (H, 4 * H)
zeros = np.zeros((B, H))
hs0, _ = lc.lstm_layer_forward(params2["W_x0"][x] + params2["b0"], zeros, zeros,
                               params2["W_h0"])
inp = hs0[1:]  # (T, B, H): layer 0's h_1 ... h_T, the input of layer 1
assert inp.shape == (T, B, H)

per_step = np.stack([inp[t] @ W_x1 for t in range(T)])  # T products of (B, H) @ (H, 4H)
one_gemm = (inp.reshape(T * B, H) @ W_x1).reshape(T, B, 4 * H)  # one (TB, H) @ (H, 4H)
np.testing.assert_allclose(one_gemm, per_step, rtol=1e-12, atol=1e-14)
print(f"one ({T * B}, {H}) @ ({H}, {4 * H}) product == {T} per-step products")

# %% [markdown]
# What is left inside the loop is the recurrent product $h_{t-1} W_h$, one per step, and the
# element-wise work. Here is the fused layer, and a two-layer forward pass built from it,
# checked against `lc.forward`:

# %%
def fused_layer(xw, h, c, W_h):
    """xw: (T, B, 4H), the input projections (row x_t of W_x) + b of every step.
    Returns the hidden states (T, B, H) and the final (h, c)."""
    H = W_h.shape[0]
    out = []
    for t in range(len(xw)):
        z = xw[t] + h @ W_h  # the only product in the loop
        i, f, o = sigmoid(z[:, :H]), sigmoid(z[:, H : 2 * H]), sigmoid(z[:, 3 * H :])
        g = np.tanh(z[:, 2 * H : 3 * H])
        c = f * c + i * g
        h = o * np.tanh(c)
        out.append(h)
    return np.stack(out), h, c


p = params2
out0, _, _ = fused_layer(p["W_x0"][x] + p["b0"], zeros, zeros, p["W_h0"])  # lookup
xw1 = (out0.reshape(T * B, H) @ p["W_x1"]).reshape(T, B, 4 * H) + p["b1"]  # one product
out1, h_1, c_1 = fused_layer(xw1, zeros, zeros, p["W_h1"])
logits2 = out1 @ p["W_y"] + p["b_y"]
assert logits2.shape == (T, B, V)

logits2_lc, (h2_lc, c2_lc), _ = lc.forward(params2, x)
np.testing.assert_allclose(logits2, logits2_lc, rtol=1e-10, atol=1e-12)
np.testing.assert_allclose(h_1, h2_lc[1], rtol=1e-10, atol=1e-12)
np.testing.assert_allclose(c_1, c2_lc[1], rtol=1e-10, atol=1e-12)
print("two fused layers by hand == lc.forward (2 layers): logits and the top layer's final "
      "h and c")

# %% [markdown]
# Per window of $T$ steps and one layer, the separate version makes $4T$ input lookups and
# $4T$ recurrent products; the fused one makes one lookup (or one product) before the loop
# and $T$ recurrent products in it. `lc.lstm_layer_forward` goes further (one `tanh` call
# for all four gates, results written into preallocated arrays), but computes the same
# numbers. For the training recipe's window:

# %%
T_ = lc.Config().seq_len
print(f"T = {T_}: separate gates {4 * T_} lookups + {4 * T_} products = {8 * T_} calls; "
      f"fused 1 lookup + {T_} products = {T_ + 1} calls")

# %% [markdown]
# Fewer, larger products matter most in the backward pass, where the weight gradients of
# all $T$ steps also become one product each (notebook 03). `python -m lstm_core bench`
# measures the whole training step.

# %% [markdown]
# ## 6. A numerically stable sigmoid and softmax
#
# ### Sigmoid
#
# The textbook formula computes $e^{-z}$, which overflows for large negative $z$: above
# about $e^{709}$ in float64 and $e^{88}$ in float32. Here is what NumPy does, with its
# warnings caught and printed instead of sent to stderr:

# %%
import warnings

z = np.array([-1000.0, -100.0, -10.0, 0.0, 10.0, 100.0, 1000.0])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    naive64 = 1 / (1 + np.exp(-z))
    naive32 = 1 / (1 + np.exp(-z.astype(np.float32)))
with np.printoptions(precision=4, suppress=False, linewidth=100):  # show tiny values
    print("z:              ", z)
    print("naive, float64: ", naive64)
    print("naive, float32: ", naive32)
for w in caught:
    print(f"caught {w.category.__name__}: {w.message}")

# %% [markdown]
# The values are still right, because $1 / (1 + \infty) = 0$; but every overflow raises a
# warning (an error, where floating-point errors are made to raise, as in this project's
# tests), and in float32, the training type, it already happens at $z = -100$. A form with
# no exponential of a large number is better. Since
# $\tanh(z/2) = \dfrac{1 - e^{-z}}{1 + e^{-z}}$, we have $1 + \tanh(z/2) = \dfrac{2}{1 + e^{-z}}$,
# so
#
# $$\sigma(z) = \frac{1}{1 + e^{-z}} = \tfrac12 + \tfrac12 \tanh\!\left(\tfrac{z}{2}\right).$$
#
# $\tanh$ saturates at $\pm 1$ and never overflows. This is `lc.sigmoid`. It has a price,
# visible below: $\tfrac12 + \tfrac12\tanh$ is accurate to a fixed *absolute* error (about
# $10^{-16}$ in float64, $10^{-7}$ in float32), not to a fixed number of digits. So
# $\sigma(-100) = 3.7 \cdot 10^{-44}$ comes out as 0, and in float32 $\sigma(-10)$ loses its
# fourth digit. A gate multiplies numbers of order 1, so an error of $10^{-7}$ in it does not
# matter.

# %% tags=["exercise"]
def stable_sigmoid(z):
    """The logistic sigmoid 1 / (1 + e^-z) of every entry of z (any shape, float32 or
    float64), computed without an overflow for any z."""
    return 0.5 + 0.5 * np.tanh(0.5 * z)


# %%
stable_sigmoid = ex.check_stable_sigmoid(stable_sigmoid)

# %%
with np.errstate(all="raise"):  # any overflow would now raise an exception
    s64 = stable_sigmoid(z)
    s32 = stable_sigmoid(z.astype(np.float32))
with np.printoptions(precision=4, suppress=False, linewidth=100):
    print("stable, float64:", s64)
    print("stable, float32:", s32)
np.testing.assert_allclose(s64, lc.sigmoid(z), rtol=1e-15)
z_moderate = np.linspace(-30, 30, 601)
np.testing.assert_allclose(stable_sigmoid(z_moderate), sigmoid(z_moderate), rtol=1e-12,
                           atol=1e-15)
print("stable_sigmoid == lc.sigmoid, with no overflow; == the textbook formula on [-30, 30]")

# %% [markdown]
# ### Softmax
#
# The softmax turns logits $l$ into probabilities:
#
# $$\operatorname{softmax}(l)_k = \frac{e^{l_k}}{\sum_j e^{l_j}}.$$
#
# Computed as written, it fails in both directions: large logits overflow to
# $\infty / \infty$, very negative ones underflow to $0 / 0$ (silently: NumPy does not warn
# about underflow), and both give `nan`. The three
# rows below differ only by a constant added to every logit, so they should give the same
# probabilities:

# %%
logits_demo = np.array([[1.0, 2.0, 3.0],
                        [1001.0, 1002.0, 1003.0],
                        [-1001.0, -1000.0, -999.0]])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    e = np.exp(logits_demo)
    naive = e / e.sum(axis=1, keepdims=True)
print("naive softmax:\n", naive)
for w in caught:
    print(f"caught {w.category.__name__}: {w.message}")

# %% [markdown]
# Multiplying numerator and denominator by $e^{-m}$ changes nothing, and with
# $m = \max_k l_k$ the largest exponent is $e^0 = 1$: nothing overflows, and the sum is at
# least 1, so nothing divides by zero:
#
# $$\operatorname{softmax}(l)_k = \frac{e^{l_k - m}}{\sum_j e^{l_j - m}}, \qquad m = \max_j l_j.$$

# %% tags=["exercise"]
def stable_softmax(l):
    """The softmax of logits l (..., V) over the last axis: probabilities of the same
    shape, each row summing to 1, computed without an overflow for any logits."""
    e = np.exp(l - l.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# %%
stable_softmax = ex.check_stable_softmax(stable_softmax)

# %%
with np.errstate(all="raise"):
    probs = stable_softmax(logits_demo)
print("stable softmax:\n", probs)
np.testing.assert_allclose(probs, lc.softmax(logits_demo), rtol=1e-15)
np.testing.assert_allclose(probs, np.broadcast_to(probs[0], probs.shape), rtol=1e-12)
print("stable_softmax == lc.softmax, with no overflow; all three rows are equal")

# %% [markdown]
# `lc.cross_entropy` uses the same shift for the log-probabilities,
# $\ln p_k = (l_k - m) - \ln \sum_j e^{l_j - m}$, so it never takes the log of an
# underflowed zero.

# %% [markdown]
# ## 7. The loss of an untrained model
#
# The loss is the mean, over all $T B$ positions of a window, of the negative
# log-probability that the model gives to the character that actually comes next (the
# cross-entropy, in nats per character):
#
# $$\mathcal{L} = -\frac{1}{T B} \sum_{t=1}^{T} \sum_{s=1}^{B} \ln p_{t,s}[y_{t,s}],
#   \qquad p_{t,s} = \operatorname{softmax}(\text{logits}_{t,s})$$
#
# where $s$ numbers the $B$ streams and $y_{t,s}$ is the id of the character that follows.
#
# We take the training recipe's model (`lc.Config()`: one layer of $H = 512$), untrained,
# and a window of the validation text.

# %%
cfg = lc.Config()
params_big = lc.init_params(V, cfg.hidden_size, cfg.num_layers, seed=0, dtype="float64")
B_v, T_v = 16, cfg.seq_len
x_v, y_v = lc.get_window(lc.make_streams(val_ids, B_v), 0, T_v)
logits_v, _, cache_v = lc.forward(params_big, x_v)
assert logits_v.shape == (T_v, B_v, V)


# %% tags=["exercise"]
def cross_entropy_loss(logits, y):
    """The mean cross-entropy of a window, in nats per character.

    logits: (T, B, V); y: (T, B) the ids of the characters that follow. Returns the mean
    over all T·B positions of -ln p[y], p = softmax(logits) over the V characters.
    """
    p = stable_softmax(logits)
    p_target = np.take_along_axis(p, y[..., None], axis=-1)[..., 0]  # p_{t,s}[y_{t,s}]
    return -np.mean(np.log(p_target))


# %%
cross_entropy_loss = ex.check_cross_entropy_loss(cross_entropy_loss)

# %%
loss_hand = cross_entropy_loss(logits_v, y_v)
p_v = lc.softmax(logits_v)  # the predicted distributions, (T, B, V)
loss, _ = lc.cross_entropy(logits_v, y_v)
np.testing.assert_allclose(loss_hand, loss, rtol=1e-12)
print(f"hand-written cross-entropy == lc.cross_entropy over a ({T_v}, {B_v}) window")
print(f"untrained loss: {loss:.4f} nats/char    ln V = ln {V} = {np.log(V):.4f}")
print(f"                {lc.bits_per_char(loss):.3f} bits/char, perplexity "
      f"{lc.perplexity(loss):.1f} (V = {V})")

# %% [markdown]
# The two are less than 0.001 apart because the untrained logits are all close to zero, and
# they are close to zero because $h_t$ is tiny. Every weight starts within
# $\pm 1/\sqrt{H} = \pm 0.044$, so the gates' pre-activations are small, the candidate $g_t$
# is small, and so are $c_t$ and $h_t = o_t \odot \tanh(c_t)$: of the order of $10^{-2}$,
# far from the bound $|h_t| < 1$. Each logit is a sum of $H$ terms $h_k W_y[k, j]$, and a sum
# of $H$ small terms of random sign has a standard deviation of about
# $\sqrt{H}\,\mathrm{std}(h)\,\mathrm{std}(W_y)$. With all logits near 0, every $e^{l_k}$
# is near 1 and the softmax is near uniform, $p_k \approx 1/V$, so each term of the loss is
# near $-\ln(1/V) = \ln V$:

# %%
_, top_layer, _ = cache_v[1][-1]  # the top (here the only) layer's (input, cache, mask)
g_top, h_top = top_layer[0][..., 2 * cfg.hidden_size : 3 * cfg.hidden_size], top_layer[3][1:]
print(f"top layer: g_t std {g_top.std():.4f}; h_t std {h_top.std():.4f}, largest |h_t| "
      f"{np.abs(h_top).max():.3f}")
print(f"W_y: std {params_big['W_y'].std():.4f}, largest |entry| "
      f"{np.abs(params_big['W_y']).max():.4f} (1/sqrt(H) = {1 / np.sqrt(cfg.hidden_size):.4f})")
print(f"sqrt(H) std(h) std(W_y) = "
      f"{np.sqrt(cfg.hidden_size) * h_top.std() * params_big['W_y'].std():.4f}")
print(f"logits: std {logits_v.std():.4f}, largest |logit| {np.abs(logits_v).max():.3f}")
print(f"V * p ranges over [{V * p_v.min():.3f}, {V * p_v.max():.3f}] (1 would be uniform)")

# %% [markdown]
# This is a useful first check of any new model: a starting loss far above $\ln V$ means
# the initial logits are too large (the model is confidently wrong); training then has to
# undo that before it learns anything. Notebook 01 found the loss of a model that knows only
# the character frequencies, about 3.3 nats; the LSTM has to get there first, then below.

# %% [markdown]
# ## Summary
#
# - One LSTM step: $i_t, f_t, o_t = \sigma(\cdot)$ and $g_t = \tanh(\cdot)$ of
#   $e_{x_t} W_x + h_{t-1} W_h + b$; then $c_t = f_t \odot c_{t-1} + i_t \odot g_t$,
#   $h_t = o_t \odot \tanh(c_t)$ and $\text{logits}_t = h_t W_y + b_y$. The gate order
#   i, f, g, o is PyTorch's.
# - A window is $T$ such steps, the state $(h, c)$ passed from each to the next; our loop
#   matches `lc.forward` to rounding error in float64.
# - Fusing the four gates into $W_x$ of shape $(D, 4H)$ and $W_h$ of shape $(H, 4H)$ gives
#   the same numbers with one product instead of four; the input term of all $T$ steps is
#   one product (or, for characters, one lookup) before the loop, leaving only
#   $h_{t-1} W_h$ inside it.
# - $\sigma(z) = \tfrac12 + \tfrac12\tanh(z/2)$ and the softmax of $l - \max l$ are the same
#   functions as the textbook forms, without overflow.
# - An untrained model predicts an almost uniform distribution, so its loss is about
#   $\ln V = 4.43$ nats per character.
#
# ## Exercises
#
# 1. With `forget_bias=1.0` the forget gate starts near $\sigma(1) \approx 0.73$. If $f_t$
#    stayed at that value and $i_t = 0$, what fraction of $c_0$ would be left after 25
#    steps? After 100? Repeat for `forget_bias=0.0` and `3.0`.
# 2. `torch.nn.LSTM` stores `weight_ih_l0` of shape $(4H, D)$, `weight_hh_l0` of shape
#    $(4H, H)$ and two biases, `bias_ih_l0` and `bias_hh_l0`. Write the lines that turn
#    them into `W_x0`, `W_h0` and `b0`. Which rows of `weight_ih_l0` belong to the forget
#    gate?
# 3. Write the number of parameters of an $L$-layer model as a formula in $V$, $H$ and $L$,
#    and check it against `lc.count_params` for a few sizes.
# 4. Another stable sigmoid uses two branches: $1/(1 + e^{-z})$ for $z \ge 0$ and
#    $e^{z}/(1 + e^{z})$ for $z < 0$. Implement it without any overflow warning (careful:
#    `np.where` evaluates both branches) and compare it with `lc.sigmoid`.
# 5. Multiply `W_y` of the untrained model by 10, then by 100, and recompute the loss. Why
#    does it move away from $\ln V$, and in which direction?
#
# ## Further reading
#
# - S. Hochreiter and J. Schmidhuber, "Long Short-Term Memory", *Neural Computation* 9(8),
#   1735–1780, 1997: the original LSTM.
# - F. A. Gers, J. Schmidhuber and F. Cummins, "Learning to Forget: Continual Prediction
#   with LSTM", *Neural Computation* 12(10), 2000: the forget gate.
# - C. Olah, [Understanding LSTM Networks](https://colah.github.io/posts/2015-08-Understanding-LSTMs/)
#   (2015): the cell, gate by gate, in pictures.
# - R. Jozefowicz, W. Zaremba and I. Sutskever, "An Empirical Exploration of Recurrent
#   Network Architectures", ICML 2015: why the forget-gate bias starts at 1.
# - PyTorch documentation, [`torch.nn.LSTM`](https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html):
#   the same equations, gate order and weight shapes.
# - I. Goodfellow, Y. Bengio and A. Courville, [*Deep Learning*](https://www.deeplearningbook.org),
#   section 4.1, "Overflow and Underflow" (2016): the stable softmax.
#
# ← Previous: [01 · Data preparation](01_data_preparation.ipynb) ·
# [Contents](00_contents.ipynb) ·
# Next: [03 · Backpropagation through time](03_backprop_through_time.ipynb) →
