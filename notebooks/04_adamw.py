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
# # 04 · AdamW
#
# ← Previous: [03 · Backpropagation through time](03_backprop_through_time.ipynb) ·
# [Contents](00_contents.ipynb) ·
# Next: [05 · Training and sampling](05_training.ipynb) →

# %% [markdown]
# Notebook 03 gave us the gradient $g = \partial L / \partial p$ of the loss for every
# parameter tensor $p$. This notebook turns gradients into updates: four optimisers, each an
# equation and a few lines of NumPy, ending at the AdamW that `lstm_core` trains with.
#
# ## What you'll learn
#
# - SGD, SGD with momentum, Adam and AdamW, each as an equation and as a function over a
#   dict of parameters; our AdamW checked against `lc.AdamW`.
# - What bias correction does in the first steps, and what happens when $1-\beta^t$ is
#   written $1-\beta$.
# - Why weight decay in Adam must be decoupled from the gradient (AdamW), not added to it
#   as an L2 penalty.
# - How the four optimisers compare on an ill-conditioned toy problem and on the LSTM.
# - The learning-rate schedule of `lstm_core`: linear warm-up, then cosine decay.
#
# ## What you need
#
# - [01 · Data preparation](01_data_preparation.ipynb): streams and windows for truncated
#   BPTT.
# - [02 · The forward pass](02_forward_pass.ipynb): the parameters `W_x`, `W_h`, `b`, `W_y`,
#   `b_y` and the loss in nats per character.
# - [03 · Backpropagation through time](03_backprop_through_time.ipynb): `lc.loss_and_grads`
#   and clipping by global norm.

# %%
import matplotlib.pyplot as plt
import numpy as np

import lstm_core as lc
import lstm_exercises as ex

plt.style.use("lstm.mplstyle")
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## Notation
#
# Every optimiser below updates each tensor $p$ of a dict `params` from its gradient $g$ in
# `grads` (same keys, same shapes), in place. The Greek letters are hyperparameters and have
# ASCII names in the code: $\eta$ `lr` (learning rate), $\mu$ `mu`, $\beta_1$ `beta1`,
# $\beta_2$ `beta2`, $\varepsilon$ `eps`, $\lambda$ `wd` (weight decay). $t = 1, 2, \dots$
# counts the steps. Squares, square roots and divisions act element by element.
#
# A toy problem to run them on: two weights in one tensor `W`, and a quadratic loss that is
# 100 times steeper along $W_2$ than along $W_1$,
#
# $$\mathcal{L}(W) = \tfrac12 \sum_k a_k (W_k - c_k)^2, \qquad g_k = a_k (W_k - c_k),
# \qquad a = (1, 100),\; c = (1, 1).$$

# %%
a = np.array([1.0, 100.0])  # curvature along each axis: condition number 100
c = np.array([1.0, 1.0])  # the minimum, where the loss is 0
W_start = np.array([-4.0, 1.5])


def toy_loss(params):
    return 0.5 * float(np.sum(a * (params["W"] - c) ** 2))


def toy_grads(params):
    return {"W": a * (params["W"] - c)}


params = {"W": W_start.copy()}
print(f"loss at the start: {toy_loss(params):.2f}, gradient: {toy_grads(params)['W']}")

# %% [markdown]
# ## SGD
#
# Step against the gradient:
#
# $$p \leftarrow p - \eta\, g$$


# %%
def sgd(params, grads, lr):
    for name, p in params.items():
        p -= lr * grads[name]


# %% [markdown]
# Along axis $k$ of the toy problem one step multiplies the distance to the minimum by
# $1 - \eta a_k$. It shrinks only if $\eta < 2 / a_k$, so the steep axis caps the learning
# rate at $2/100 = 0.02$, and at that rate the shallow axis closes only 2 % of its distance
# per step. This is what ill-conditioning means.

# %%
params = {"W": W_start.copy()}
for _ in range(3):
    sgd(params, toy_grads(params), lr=0.019)
    print(f"W = {params['W']}, L = {toy_loss(params):.3f}")

# %% [markdown]
# ## SGD with momentum
#
# Keep a running sum $u$ of past gradients, decayed by $\mu$ each step, and step along it
# (Sutskever et al. 2013 write the same method with a velocity $-\eta u$):
#
# $$u \leftarrow \mu u + g, \qquad p \leftarrow p - \eta\, u$$
#
# Where successive gradients agree (the shallow axis), $u$ grows towards $g / (1-\mu)$,
# ten times $g$ for $\mu = 0.9$; where they alternate in sign (the steep axis), they largely
# cancel.


# %%
def momentum(params, grads, u, lr, mu=0.9):
    for name, p in params.items():
        u[name] = mu * u[name] + grads[name]
        p -= lr * u[name]


# %% [markdown]
# ## Adam
#
# Adam (Kingma & Ba 2015) keeps two running averages per weight: $m$ of the gradient and
# $v$ of its square, both started at zero. Because they start at zero they are too small in
# the first steps, by the factors $1-\beta_1^t$ and $1-\beta_2^t$; dividing by those factors
# (bias correction) undoes that. The step is then $\hat m$ divided by the root mean square
# $\sqrt{\hat v}$, so every weight moves by about $\eta$, whatever the scale of its
# gradient:
#
# $$m \leftarrow \beta_1 m + (1-\beta_1)\, g, \qquad v \leftarrow \beta_2 v + (1-\beta_2)\, g^2$$
#
# $$\hat m = \frac{m}{1-\beta_1^t}, \qquad \hat v = \frac{v}{1-\beta_2^t}, \qquad
# p \leftarrow p - \eta\, \frac{\hat m}{\sqrt{\hat v} + \varepsilon}$$
#
# The defaults are those of `lc.Config` ($\beta_2 = 0.99$; PyTorch's default is 0.999).


# %% tags=["exercise"]
def adam(params, grads, m, v, t, lr, beta1=0.9, beta2=0.99, eps=1e-8):
    """One Adam step, in place, on every tensor of the dict params.

    grads, m, v: dicts with the keys and shapes of params; m and v, the running averages
    of the gradient and of its square, are updated in place. t: the number of this step,
    1, 2, ...; lr: the learning rate.
    """
    for name, p in params.items():
        g = grads[name]
        m[name] = beta1 * m[name] + (1 - beta1) * g
        v[name] = beta2 * v[name] + (1 - beta2) * g**2
        m_hat = m[name] / (1 - beta1**t)
        v_hat = v[name] / (1 - beta2**t)
        p -= lr * m_hat / (np.sqrt(v_hat) + eps)


# %%
adam = ex.check_adam(adam)


# %% [markdown]
# ## AdamW
#
# Weight decay shrinks weights towards zero, a regulariser. AdamW (Loshchilov & Hutter 2019)
# applies it as its own step, outside $m$ and $v$: every weight matrix is multiplied by
# $1 - \eta\lambda$, then Adam runs on the gradient of the loss alone. Biases are not
# decayed: a bias shifts a unit's input, and pulling it to zero has nothing to do with the
# model's complexity (it would also undo the forget-gate bias of 1 that the LSTM starts
# with). `lc.is_decayed(name)` says which tensors decay: the names that start with `W`.
#
# $$p \leftarrow (1 - \eta\lambda)\, p \quad \text{(weight matrices only)}, \qquad
# \text{then the Adam step above.}$$
#
# This is the form of PyTorch's `torch.optim.AdamW`, and of `lc.AdamW`: the decay is
# multiplied by the learning rate $\eta$, so it follows the learning-rate schedule and a
# given $\lambda$ decays less at a smaller $\eta$. The paper's Algorithm 2 writes
# $p \leftarrow p - s_t(\alpha\, \hat m / (\sqrt{\hat v} + \varepsilon) + \lambda p)$, with
# $\alpha$ the learning rate and $s_t$ the schedule's multiplier: there $\lambda$ is the
# fraction removed per step at full schedule, whatever $\alpha$ is. The two agree when the
# paper's $\lambda$ equals PyTorch's $\eta\lambda$: with the module's defaults, that is the
# $\eta\lambda = 8 \cdot 10^{-5}$ per step printed in the check below.


# %% tags=["exercise"]
def adamw(params, grads, m, v, t, lr, beta1=0.9, beta2=0.99, eps=1e-8, wd=0.01):
    """One AdamW step, in place: every weight matrix (lc.is_decayed) multiplied by
    1 - lr * wd, then the Adam step of `adam` on every tensor. Arguments as for adam;
    wd: the weight decay."""
    for name, p in params.items():
        if lc.is_decayed(name):
            p *= 1 - lr * wd
    adam(params, grads, m, v, t, lr, beta1, beta2, eps)


# %%
adamw = ex.check_adamw(adamw)

# %%
print({name: lc.is_decayed(name) for name in ["W_x0", "W_h0", "b0", "W_y", "b_y"]})

# %% [markdown]
# Each function loops over the names of the dict, so no tensor can be left out. (The
# Kaggle notebook
# [*LSTM from scratch*](https://www.kaggle.com/code/fareselmenshawii/lstm-from-scratch)
# by fareselmenshawii, which this series replaces and which we call "the original" below,
# wrote one block of update code per tensor; the output gate's weights $W_o$, $b_o$ had no
# block, so they kept their initial values for the whole training run.)
#
# ### Check: our `adamw` against `lc.AdamW`
#
# A small two-layer LSTM in float64, five steps on random windows. Both optimisers get the
# same gradients; after every step their parameters and both moments must agree.

# %%
cfg = lc.Config()  # lr, beta1, beta2, eps, weight_decay: the module's defaults
V, H, layers, B, T = 11, 6, 2, 4, 8
rng = np.random.default_rng(0)
mine = lc.init_params(V, H, layers, seed=0, dtype="float64")
theirs = {name: p.copy() for name, p in mine.items()}
start = {name: p.copy() for name, p in mine.items()}
m = {name: np.zeros_like(p) for name, p in mine.items()}
v = {name: np.zeros_like(p) for name, p in mine.items()}
opt = lc.AdamW(theirs, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay)
for t in range(1, 6):
    x, y = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    assert x.shape == y.shape == (T, B)
    _, grads, _ = lc.loss_and_grads(mine, x, y)
    adamw(mine, grads, m, v, t, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay)
    opt.step(theirs, grads)
    for name in mine:
        assert mine[name].shape == theirs[name].shape == grads[name].shape
        np.testing.assert_allclose(mine[name], theirs[name], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(m[name], opt.m[name], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(v[name], opt.v[name], rtol=1e-12, atol=1e-18)
assert opt.t == 5
assert all(np.all(mine[name] != start[name]) for name in mine)  # every weight moved
print(f"adamw() and lc.AdamW agree on all {len(mine)} tensors ({', '.join(mine)}) and on "
      f"m and v after each of 5 steps (rtol 1e-12); every weight moved.")

# %% [markdown]
# With a zero gradient, $m$ and $v$ stay zero and the Adam step is $0/(0+\varepsilon) = 0$:
# what remains is the decay alone. Each weight matrix must be scaled by exactly
# $1 - \eta\lambda$ and each bias left as it was.

# %%
mine = lc.init_params(V, H, layers, seed=0, dtype="float64")
theirs = {name: p.copy() for name, p in mine.items()}
before = {name: p.copy() for name, p in mine.items()}
zeros = {name: np.zeros_like(p) for name, p in mine.items()}
m = {name: np.zeros_like(p) for name, p in mine.items()}
v = {name: np.zeros_like(p) for name, p in mine.items()}
adamw(mine, zeros, m, v, 1, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay)
lc.AdamW(theirs, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay).step(theirs, zeros)
print(f"1 - lr * wd = {1 - cfg.lr * cfg.weight_decay:.6f}")
print(f"{'tensor':6s} {'decayed':>8s} {'new / old':>10s}")
for name, p in before.items():
    expected = (1 - cfg.lr * cfg.weight_decay) if lc.is_decayed(name) else 1.0
    np.testing.assert_allclose(mine[name], expected * p, rtol=1e-15, atol=0)
    np.testing.assert_allclose(theirs[name], expected * p, rtol=1e-15, atol=0)
    nonzero = p != 0  # the biases are mostly zeros: compare where there is something
    ratio = (theirs[name][nonzero] / p[nonzero]).mean() if nonzero.any() else 1.0
    print(f"{name:6s} {str(lc.is_decayed(name)):>8s} {ratio:10.6f}")
print("adamw() and lc.AdamW both decay exactly the W_* tensors, by 1 - lr*wd; biases untouched")

# %% [markdown]
# ## The four on the toy problem
#
# Each optimiser runs 200 steps from the same start, with its state ($u$, or $m$ and $v$)
# at zero. SGD runs just under its limit $2/a_2 = 0.02$; the learning rates of momentum and
# Adam are values that converge without wild overshoots (try others). AdamW gets
# $\lambda = 0.05$.


# %%
def run_toy(update, steps=200):
    """Apply update(params, grads, t, state) for t = 1..steps; return losses and path."""
    params = {"W": W_start.copy()}
    state = {key: {"W": np.zeros(2)} for key in ("u", "m", "v")}
    losses, path = [toy_loss(params)], [params["W"].copy()]
    for t in range(1, steps + 1):
        update(params, toy_grads(params), t, state)
        losses.append(toy_loss(params))
        path.append(params["W"].copy())
    return np.array(losses), np.array(path)


toy_updates = {
    "SGD, lr 0.019": lambda p, g, t, state: sgd(p, g, lr=0.019),
    "momentum, lr 0.003": lambda p, g, t, state: momentum(p, g, state["u"], lr=0.003, mu=0.9),
    "Adam, lr 0.1": lambda p, g, t, state: adam(p, g, state["m"], state["v"], t, lr=0.1),
    "AdamW, lr 0.1": lambda p, g, t, state: adamw(p, g, state["m"], state["v"], t, lr=0.1,
                                                  wd=0.05),
}
toy_runs = {label: run_toy(update) for label, update in toy_updates.items()}
print(f"{'optimiser':18s} {'L(step 50)':>11s} {'L(step 200)':>12s}  final W")
for label, (losses, path) in toy_runs.items():
    assert losses.shape == (201,) and path.shape == (201, 2)
    print(f"{label:18s} {losses[50]:11.4f} {losses[200]:12.2e}  {path[-1]}")

# %%
fig, (ax_path, ax_loss) = plt.subplots(1, 2, figsize=(9, 3.8))
w1, w2 = np.meshgrid(np.linspace(-4.5, 1.6, 200), np.linspace(0.5, 1.6, 200))
ax_path.contour(w1, w2, 0.5 * (a[0] * (w1 - c[0]) ** 2 + a[1] * (w2 - c[1]) ** 2),
                levels=np.geomspace(0.05, 40, 10), colors="0.75", linewidths=0.8)
for label, (losses, path) in toy_runs.items():
    ax_path.plot(path[:, 0], path[:, 1], lw=1, label=label)
    ax_loss.semilogy(losses, lw=1.2, label=label)
ax_path.plot(*c, "k*", ms=9)
ax_path.set(title=r"Paths on the contours of $\mathcal{L}$", xlabel="$W_1$", ylabel="$W_2$")
ax_loss.set(title="Loss", xlabel="step", ylabel=r"$\mathcal{L}$ (log scale)", ylim=(1e-8, 100))
ax_loss.legend(fontsize=8)
plt.show()

# %% [markdown]
# SGD zig-zags across the steep axis (each step multiplies the distance along it by
# $1 - 0.019 \cdot 100 = -0.9$) and crawls along the shallow one (by $0.981$): after 200
# steps it is still 0.1 short of $c_1$. Momentum gathers speed along the shallow axis, where
# the gradients keep their sign. Adam divides each axis's step by that axis's gradient scale,
# so both axes move at about $\eta$ per step from the start, whatever their curvature. Both
# reach $\mathcal{L} < 10^{-7}$.
#
# AdamW is still short of $c$ at step 200 ($W_1 = 0.96$), but that is not where it stops.
# Adam divides the gradient by $\sqrt{\hat v}$, and $\hat v$ still remembers the large
# gradients of the first steps, so near $c$ the gradient's step is much smaller than
# $\eta$, and the decay, $\eta\lambda W = 0.005$ per step, holds $W$ back. As $\hat v$ forgets
# them ($\beta_2 = 0.99$: over some hundreds of steps), the step regains a size of about
# $\eta$ whatever the gradient, which the decay cannot balance. So AdamW reaches $c$ after
# all, and then oscillates around it, as Adam does too once its $\hat v$ has decayed. Run
# longer:

# %%
long_runs = {label: run_toy(toy_updates[label], steps=5000)
             for label in ("Adam, lr 0.1", "AdamW, lr 0.1")}
print(f"{'':14s} {'W_1 at step':^28s}  {'last 1000 of 5000 steps':^40s}")
print(f"{'optimiser':14s} " + " ".join(f"{s:>8d}" for s in (200, 500, 1000))
      + f"  {'mean W':>16s}  {'W_1 from..to':>13s}  {'W_2 from..to':>13s}")
for label, (_, path) in long_runs.items():
    last = path[-1000:]
    lo, hi, mean = last.min(axis=0), last.max(axis=0), last.mean(axis=0)
    print(f"{label:14s} " + " ".join(f"{path[s, 0]:8.4f}" for s in (200, 500, 1000))
          + f"  ({mean[0]:.4f}, {mean[1]:.4f})  {lo[0]:.3f}..{hi[0]:.3f}  "
          f"{lo[1]:.3f}..{hi[1]:.3f}")

# %% [markdown]
# Over the last 1000 of 5000 steps both are at $c = (1, 1)$ on average, but neither settles:
# Adam's normalised step keeps moving some weights by up to about 0.01 around $c$ ($W_2$ for
# Adam, both for AdamW). A smaller $\eta$ at the end, as the schedule of the last
# section gives, is what lets the weights settle. Weight decay is a regulariser; it does
# not lower the training loss, and here it only slows the approach to $c$.
#
# ## Bias correction in the first steps
#
# Feed Adam a constant gradient $g$. Then $m_t = (1-\beta_1^t)\, g$ and
# $v_t = (1-\beta_2^t)\, g^2$ exactly, so $\hat m = g$, $\hat v = g^2$, and every step has
# the size $\eta$: with correct bias correction, $|\Delta p| / \eta = 1$ from the very first
# step. Without correction, or with the original's formula, which divides by $1-\beta$
# instead of $1-\beta^t$, the step size changes over time. We use the original's
# $\beta_1 = 0.9$, $\beta_2 = 0.999$ and $\varepsilon = 0$ here, and compute $|\Delta p|/\eta$
# for the three denominators:
#
# $$\frac{|\Delta p|}{\eta} = \frac{m / d_1}{\sqrt{v / d_2}}, \qquad
# (d_1, d_2) = \begin{cases} (1-\beta_1^t,\; 1-\beta_2^t) & \text{correct} \\
# (1, 1) & \text{none} \\ (1-\beta_1,\; 1-\beta_2) & \text{the original} \end{cases}$$

# %%
denominators = {
    "correct: 1 - beta**t": lambda beta, t: 1 - beta**t,
    "none": lambda beta, t: 1.0,
    "original: 1 - beta": lambda beta, t: 1 - beta,
}


def step_sizes(beta1, beta2, steps, g=1.0):
    """|update| / lr at t = 1..steps for a constant gradient g, for each denominator."""
    m = v = 0.0
    sizes = {label: np.empty(steps) for label in denominators}
    for t in range(1, steps + 1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        for label, d in denominators.items():
            sizes[label][t - 1] = abs((m / d(beta1, t)) / np.sqrt(v / d(beta2, t)))
    return sizes


beta1, beta2, steps = 0.9, 0.999, 2000
sizes = step_sizes(beta1, beta2, steps)
ts = np.arange(1, steps + 1)
# The same numbers in closed form: m = (1 - beta1**t) g and v = (1 - beta2**t) g**2.
none = (1 - beta1**ts) / np.sqrt(1 - beta2**ts)
np.testing.assert_allclose(sizes["correct: 1 - beta**t"], 1.0, rtol=1e-12)
np.testing.assert_allclose(sizes["none"], none, rtol=1e-12)
np.testing.assert_allclose(sizes["original: 1 - beta"],
                           none * np.sqrt(1 - beta2) / (1 - beta1), rtol=1e-12)
print("the simulated step sizes match the closed forms (rtol 1e-12)")

orig = sizes["original: 1 - beta"]
peak = int(np.argmax(orig)) + 1
back = int(np.argmax((ts > peak) & (orig < 1))) + 1  # first step after the peak below 1
limit = np.sqrt(1 - beta2) / (1 - beta1)
print(f"{'t':>5s} " + " ".join(f"{label:>21s}" for label in denominators))
for t in [1, 2, 5, peak, 100, 1000, 2000]:
    print(f"{t:5d} " + " ".join(f"{sizes[label][t - 1]:21.3f}" for label in denominators))
print(f"original: peak {orig.max():.2f} at t = {peak}, below 1 from t = {back}, "
      f"limit sqrt(1 - beta2) / (1 - beta1) = {limit:.3f}")

# %%
fig, ax = plt.subplots()
legend = {"correct: 1 - beta**t": r"correct: $1-\beta^t$", "none": "none",
          "original: 1 - beta": r"original: $1-\beta$"}
for label, size in sizes.items():
    ax.semilogx(ts, size, label=legend[label])
ax.axhline(limit, color="0.5", ls=":", lw=1)
ax.text(2.2, limit + 0.06, r"original's limit $\sqrt{1-\beta_2}\,/\,(1-\beta_1)$", fontsize=8)
ax.set(title=r"Adam step size for a constant gradient ($\beta_1=0.9,\ \beta_2=0.999$)",
       xlabel="step t (log scale)", ylabel="|update| / learning rate", ylim=(0, 7))
ax.legend()
plt.show()

# %% [markdown]
# Read the three curves left to right.
#
# - **None.** $m_1 = (1-\beta_1) g$ but $\sqrt{v_1} = \sqrt{1-\beta_2}\,|g|$, so the first
#   step is $(1-\beta_1)/\sqrt{1-\beta_2} = 3.16$ times too large; the steps grow to 6.57
#   times $\eta$ at $t = 12$ and come back towards $\eta$ only as $v$ fills up, over
#   thousands of steps (1.26 at $t = 1000$). Bias correction exists to remove exactly this.
# - **The original** divides by the constants $1-\beta_1$ and $1-\beta_2$, which are the
#   right factors at $t = 1$ only. So its first step is right; after that $m/(1-\beta_1)$
#   overestimates $g$ by $(1-\beta_1^t)/(1-\beta_1)$, which reaches its limit
#   $1/(1-\beta_1) = 10$ within a few tens of steps, while $\sqrt{v/(1-\beta_2)}$
#   overestimates $|g|$ by $\sqrt{(1-\beta_2^t)/(1-\beta_2)}$, which approaches
#   $\sqrt{1/(1-\beta_2)} = 31.6$ only over thousands of steps. The numerator's inflation
#   comes first, so the early steps are up to 2.08 times too large (at $t = 12$); once the
#   denominator's inflation catches up, the steps fall below $\eta$ (from $t = 106$) and
#   settle at $\sqrt{1-\beta_2}/(1-\beta_1) = 0.32$ times $\eta$: in the long run it trains
#   at a third of the learning rate it asks for. In fact it is "none" times that constant,
#   at every $t$.
# - **Correct** ($1-\beta^t$): the same step size from the first step on.
#
# With the module's $\beta_2 = 0.99$ the constant is $\sqrt{0.01}/0.1 = 1$: there the
# original's formula is exactly no correction at all, with early steps up to 2.13 times too
# large.

# %%
sizes_99 = step_sizes(0.9, 0.99, 1000)
np.testing.assert_allclose(sizes_99["original: 1 - beta"], sizes_99["none"], rtol=1e-12)
print(f"beta2 = 0.99: original == none at every step; peak {sizes_99['none'].max():.2f} at "
      f"t = {int(np.argmax(sizes_99['none'])) + 1}")

# %% [markdown]
# ## Decoupled weight decay vs L2 in Adam
#
# The classic way to regularise is an L2 penalty $\tfrac{\lambda}{2}\|p\|^2$ added to the
# loss, which adds $\lambda p$ to the gradient:
#
# $$g \leftarrow g + \lambda p \quad \text{(weight matrices only)}, \qquad
# \text{then the Adam step.}$$


# %%
def adam_l2(params, grads, m, v, t, lr, beta1=0.9, beta2=0.99, eps=1e-8, wd=0.01):
    grads = {name: grads[name] + wd * p if lc.is_decayed(name) else grads[name]
             for name, p in params.items()}
    adam(params, grads, m, v, t, lr, beta1, beta2, eps)


# %% [markdown]
# For SGD the two are the same method: $p - \eta(g + \lambda p) = (1-\eta\lambda)p - \eta g$.
# For Adam they are not. In `adam_l2` the term $\lambda p$ goes into $m$ and $v$ and is
# divided by $\sqrt{\hat v}$ like the rest of the gradient: a weight whose gradients are
# large is decayed by only about $\eta\lambda p / \sqrt{\hat v}$ per step, and one whose
# gradients are small is decayed hard. In `adamw` every weight matrix is multiplied by
# $1-\eta\lambda$, whatever its gradients.
#
# A toy problem shows it. Thirteen weights $W_k$, each pulled towards 1 by its own loss
# $\tfrac12 s_k (W_k-1)^2$, with gradient scales $s_k$ from $10^{-3}$ to $10^{3}$ and noisy
# gradients, as from minibatches:
#
# $$g_k = s_k\,(W_k - 1 + \xi_t), \qquad \xi_t \sim \mathcal N(0, 1),$$
#
# one $\xi_t$ per step, shared by all $k$. Adam's step does not depend on the scale of a
# weight's gradient, so without decay all thirteen weights follow the same path. We use a
# large $\lambda = 1$ so that the decay shows within 2000 steps.

# %%
s = np.logspace(-3, 3, 13)  # gradient scale of each weight
xi = np.random.default_rng(0).normal(size=2000)  # the gradient noise, one draw per step
lr_toy, wd_toy = 0.01, 1.0


def run_decay(update, steps=2000):
    """Weights W (steps + 1, 13) under update(params, grads, m, v, t)."""
    params = {"W": np.ones_like(s)}
    m, v = {"W": np.zeros_like(s)}, {"W": np.zeros_like(s)}
    path = [params["W"].copy()]
    for t in range(1, steps + 1):
        grads = {"W": s * (params["W"] - 1 + xi[t - 1])}
        update(params, grads, m, v, t)
        path.append(params["W"].copy())
    return np.array(path), v["W"] / (1 - 0.99**steps)  # and v_hat (adam's beta2 = 0.99)


decay_runs = {
    "no decay": run_decay(lambda p, g, m, v, t: adam(p, g, m, v, t, lr_toy)),
    "Adam + L2": run_decay(lambda p, g, m, v, t: adam_l2(p, g, m, v, t, lr_toy, wd=wd_toy)),
    "AdamW": run_decay(lambda p, g, m, v, t: adamw(p, g, m, v, t, lr_toy, wd=wd_toy)),
}
settled = {label: path[1000:].mean(axis=0) for label, (path, _) in decay_runs.items()}
for label in ("no decay", "AdamW"):  # the same path for every s_k, up to eps
    path = decay_runs[label][0]
    assert path.shape == (2001, 13)
    np.testing.assert_allclose(path, path[:, [6]] * np.ones(13), rtol=1e-4)
print("without decay and with AdamW, all 13 weights follow one path (rtol 1e-4)")
v_hat = decay_runs["Adam + L2"][1]
print(f"{'s_k':>8s} {'no decay':>9s} {'Adam + L2':>10s} {'AdamW':>7s} "
      f"{'L2 decay rate':>14s} {'AdamW decay rate':>17s}")
for k in range(0, 13, 2):
    print(f"{s[k]:8.0e} " + " ".join(f"{settled[label][k]:{w}.3f}" for label, w in
                                     [("no decay", 9), ("Adam + L2", 10), ("AdamW", 7)])
          + f" {lr_toy * wd_toy / np.sqrt(v_hat[k]):14.1e} {lr_toy * wd_toy:17.1e}")

# %% [markdown]
# The first three columns are the mean of $W_k$ over the last 1000 steps. The decay rates
# are the fraction of $W_k$ that the decay term removes per step: $\eta\lambda/\sqrt{\hat v}$
# for L2 (with $\hat v$ at the last step) and $\eta\lambda$ for AdamW.

# %%
fig, (ax_t, ax_s) = plt.subplots(1, 2, figsize=(9, 3.6))
steps_axis = np.arange(2001)
for k, ls in [(2, "-"), (6, "--"), (10, ":")]:
    ax_t.plot(steps_axis, decay_runs["Adam + L2"][0][:, k], color="C1", ls=ls, lw=1,
              label=f"Adam + L2, $s_k$ = {s[k]:g}")
ax_t.plot(steps_axis, decay_runs["AdamW"][0][:, 6], color="C2", lw=1,
          label="AdamW, every $s_k$")
ax_t.set(title="Weights over time", xlabel="step", ylabel="$W_k$")
ax_t.legend(fontsize=8, loc="lower right", bbox_to_anchor=(1, 0.08))
for label, color in [("no decay", "C0"), ("Adam + L2", "C1"), ("AdamW", "C2")]:
    ax_s.semilogx(s, settled[label], "o-", color=color, ms=4, label=label)
ax_s.semilogx(s, s / (s + wd_toy), "k:", lw=1, label=r"$s_k / (s_k + \lambda)$")
ax_s.set(title="Where each weight settles", xlabel="gradient scale $s_k$ (log scale)",
         ylabel="mean $W_k$, last 1000 steps")
ax_s.legend(fontsize=8)
plt.show()

# %% [markdown]
# With L2 in Adam the outcome depends on the gradient scale. A weight with $s_k = 10^3$ is
# barely decayed: $\sqrt{\hat v} \approx s_k$, so its decay rate is about $\eta\lambda/s_k$.
# A weight with $s_k = 10^{-3}$ is pushed to 0 and held there (its "rate" above 1 says that
# the decay term outweighs the loss's gradient; Adam then moves the weight by about $\eta$
# per step towards 0, past it and back). Where each weight settles follows $s_k/(s_k+\lambda)$,
# the minimum of the loss plus the L2 penalty. With AdamW every weight is decayed at the
# same rate $\eta\lambda$, and all of them settle at the same value, a little below 0.5
# here, where the decay balances the pull of the loss. That uniform shrinkage is what
# "weight decay" promises, and what Loshchilov & Hutter found to regularise better in Adam.
#
# ## The four on the LSTM
#
# Now the real problem: a one-layer LSTM with $H = 64$ on the first 120 000 characters of the
# corpus, $B = 16$ streams and windows of $T = 32$ steps, in float64 so that the curves
# are the same on every machine. Every run starts from the same initial weights, reads the
# same 150 windows (each once, so its training loss is measured on text it has not seen
# yet) and clips the gradient to a global norm of 1 (so SGD, whose step is $\eta$ times a
# gradient of norm at most 1, needs a large $\eta$). Each learning rate was picked from a
# sweep of 150-step runs in steps of about 3 (SGD 1 to 30, momentum 0.1 to 10, Adam 0.005 to
# 0.1) that this notebook does not repeat; exercise 1 checks the neighbours of each choice.
# AdamW runs through `lc.train_step`, with `lc.AdamW`.

# %%
text = lc.load_corpus()
vocab = lc.Vocabulary.from_text(text)
train_ids, val_ids = lc.split_data(vocab.encode(text[:120_000]))
V, H, B, T, steps = len(vocab), 64, 16, 32, 150
streams = lc.make_streams(train_ids, B)
assert streams[0].shape == (B, (len(train_ids) - 1) // B)
assert lc.num_windows(streams, T) >= steps
print(f"V = {V}, {len(train_ids):,} training and {len(val_ids):,} validation characters, "
      f"{lc.num_windows(streams, T)} windows of {B} x {T}")


def run_lstm(update):
    """150 steps of update(params, grads, t, state) after clipping; losses and params."""
    params = lc.init_params(V, H, 1, seed=0, dtype="float64")
    state = {key: {name: np.zeros_like(p) for name, p in params.items()}
             for key in ("u", "m", "v")}
    h = lc.zero_state(params, B)
    losses = []
    for k in range(steps):
        x, y = lc.get_window(streams, k, T)
        loss, grads, h = lc.loss_and_grads(params, x, y, h)
        lc.clip_by_global_norm(grads, cfg.grad_clip)
        update(params, grads, k + 1, state)
        losses.append(loss)
    return np.array(losses), params


def run_lstm_adamw(lr, wd):
    params = lc.init_params(V, H, 1, seed=0, dtype="float64")
    opt = lc.AdamW(params, lr, cfg.beta1, cfg.beta2, cfg.eps, wd)
    h = lc.zero_state(params, B)
    losses = []
    for k in range(steps):
        x, y = lc.get_window(streams, k, T)
        loss, _, h = lc.train_step(params, opt, x, y, h, lr=lr, grad_clip=cfg.grad_clip)
        losses.append(loss)
    return np.array(losses), params


lstm_runs = {
    "SGD, lr 10": run_lstm(lambda p, g, t, state: sgd(p, g, lr=10.0)),
    "momentum, lr 3": run_lstm(
        lambda p, g, t, state: momentum(p, g, state["u"], lr=3.0, mu=0.9)),
    "Adam, lr 0.03": run_lstm(
        lambda p, g, t, state: adam(p, g, state["m"], state["v"], t, lr=0.03)),
    "AdamW, lr 0.03": run_lstm_adamw(lr=0.03, wd=cfg.weight_decay),
}
print(f"uniform guess: ln V = {np.log(V):.3f} nats/char")
print(f"{'optimiser':16s} {'train, last 20 steps':>21s} {'validation':>11s}  (nats/char)")
for label, (losses, params) in lstm_runs.items():
    assert losses.shape == (steps,)
    val = lc.evaluate(params, val_ids, B, T)
    print(f"{label:16s} {losses[-20:].mean():21.3f} {val:11.3f}")
adam_gap = np.abs(lstm_runs["Adam, lr 0.03"][0] - lstm_runs["AdamW, lr 0.03"][0])
print(f"Adam and AdamW: training losses at most {adam_gap.max():.3f} apart at any step")
print(f"decay alone over {steps} steps: (1 - lr * wd)^{steps} = "
      f"{(1 - 0.03 * cfg.weight_decay) ** steps:.3f}")

# %%
fig, ax = plt.subplots()
styles = {"SGD, lr 10": ("C0", "-", 1), "momentum, lr 3": ("C1", "-", 1),
          "Adam, lr 0.03": ("C2", "-", 4), "AdamW, lr 0.03": ("black", "--", 1)}
for label, (losses, _) in lstm_runs.items():
    color, ls, lw = styles[label]  # Adam wide, AdamW thin on top: they nearly coincide
    ax.plot(np.arange(1, steps + 1), losses, color=color, ls=ls, lw=lw, label=label,
            alpha=0.5 if lw > 1 else 1)
ax.axhline(np.log(V), color="0.5", ls=":", lw=1)
ax.text(steps, np.log(V) + 0.05, "ln V: the uniform guess", ha="right", va="bottom", fontsize=8)
ax.set(title=f"One-layer LSTM, H = {H}, B = {B}, T = {T}, float64", xlabel="step",
       ylabel="training loss (nats/char)")
ax.legend(loc="upper right", bbox_to_anchor=(1, 0.74))
plt.show()

# %% [markdown]
# The order is the toy problem's: Adam well ahead of momentum, momentum ahead of SGD. The
# LSTM's tensors have gradients of very different scales, and Adam's per-weight scaling
# gives each a sensible step. Adam and AdamW end within 0.01 nats/char of each other, and
# their curves lie on top of each other in the plot (AdamW is the thin dashed line on
# Adam's wide one): at $\eta\lambda = 3\cdot10^{-4}$ per step, 150 steps of decay alone
# shrink the weights by only 4 %. Whether decay helps this model in a long run is a
# question these 150 steps cannot answer, and this notebook does not measure it.
#
# ## The learning-rate schedule
#
# `lc.train` does not use one learning rate throughout. `lc.lr_at(cfg, step, progress)`
# rises linearly over `cfg.warmup_steps` steps, while $m$ and $v$ are still young and
# noisy, and then follows a cosine from `cfg.lr` down to `cfg.min_lr_frac * cfg.lr` as the
# run's progress goes from 0 to 1; smaller steps at the end let the weights settle. With a
# step budget, progress is `step / cfg.max_steps` (with a time budget it is the fraction of
# the time used, so the schedule then depends on the machine's speed). The cosine is a
# function of the whole run's progress, warm-up included: when warm-up ends at progress
# 0.1 it has already come down 2 % from its peak, the small drop at step 100 below.

# %%
sched = lc.Config(max_steps=1000, time_budget=None)
lrs = np.array([lc.lr_at(sched, step, step / sched.max_steps)
                for step in range(sched.max_steps)])
assert lrs.shape == (sched.max_steps,)
for step in [0, sched.warmup_steps - 1, sched.warmup_steps, 500, sched.max_steps - 1]:
    print(f"step {step:4d}: lr = {lrs[step]:.2e}")

# %%
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(lrs)
ax.axvline(sched.warmup_steps, color="0.6", ls=":", lw=1)
ax.text(sched.warmup_steps + 10, 0.3 * sched.lr, "end of warm-up", fontsize=8)
ax.set(title=f"lc.lr_at: warm-up over {sched.warmup_steps} steps, then cosine to "
       f"{sched.min_lr_frac:g} x lr", xlabel="step", ylabel="learning rate")
plt.show()

# %% [markdown]
# ## Summary
#
# - SGD steps along $-g$; its learning rate is capped by the steepest direction, so the
#   shallow ones crawl. Momentum sums past gradients, speeding up where they agree.
# - Adam divides a running mean $m$ of the gradient by the root of a running mean $v$ of
#   its square: every weight moves at about $\eta$ per step, whatever its gradient's scale.
# - Bias correction divides $m$ and $v$ by $1-\beta_1^t$ and $1-\beta_2^t$, the total weight
#   their averages have given to real gradients so far (the rest went to the zeros they
#   started from). Dividing by $1-\beta$ instead is right at $t = 1$ only: with
#   $\beta_2 = 0.999$ the early steps are up to 2.08 times too large and the late ones 0.32
#   times too small.
# - AdamW decays the weight matrices by $1-\eta\lambda$ per step, outside $m$ and $v$; the
#   same decay as an L2 gradient term would be divided by $\sqrt{\hat v}$ and barely touch
#   weights with large gradients. Biases are not decayed.
# - `adamw` here and `lc.AdamW` agree to 1e-12; `lc.train` adds warm-up and cosine decay of
#   the learning rate with `lc.lr_at`.
#
# ## Exercises
#
# 1. **Check the grid.** Rerun the LSTM comparison with each optimiser's learning rate
#    multiplied by 3 and by 1/3. Which one is best for 150 steps, and which would you trust
#    for 10 000?
# 2. **Nesterov momentum.** Sutskever et al. (2013) evaluate the gradient after the momentum
#    step. In the form used here that is $u \leftarrow \mu u + g$,
#    $p \leftarrow p - \eta(g + \mu u)$. Write `nesterov(params, grads, u, lr, mu)`, add it to
#    the toy comparison and compare its path with momentum's.
# 3. **When is "none" too large?** For a constant gradient the first uncorrected step is
#    $(1-\beta_1)/\sqrt{1-\beta_2}$ times $\eta$. For which $(\beta_1, \beta_2)$ is it above 1?
#    Show that the original's formula equals no correction exactly when
#    $\sqrt{1-\beta_2} = 1-\beta_1$.
# 4. **Decaying the biases.** Copy `adamw`, decay every tensor (as the original notebook
#    did), and train the LSTM for 150 steps with $\lambda = 1$. Plot the mean forget-gate bias
#    `b0[H:2*H]` against the step for both versions. What does the decay do to the cell's
#    memory at the start of training?
# 5. **Warm-up on the LSTM.** Train 300 steps with AdamW at a constant 0.03 and with
#    `lc.lr_at` (`warmup_steps=30`, `lr=0.03`, `max_steps=300`). Compare the first 50 steps
#    and the final loss.
#
# ## Further reading
#
# - D. P. Kingma, J. Ba, [Adam: A Method for Stochastic Optimization](https://arxiv.org/abs/1412.6980),
#   ICLR 2015. Section 3 derives the bias correction.
# - I. Loshchilov, F. Hutter, [Decoupled Weight Decay Regularization](https://arxiv.org/abs/1711.05101),
#   ICLR 2019. Why L2 and weight decay differ in Adam, and AdamW.
# - PyTorch, [`torch.optim.AdamW`](https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html):
#   the same algorithm as `lc.AdamW`, written out as pseudocode.
# - I. Sutskever, J. Martens, G. Dahl, G. Hinton, [On the importance of initialization and
#   momentum in deep learning](https://proceedings.mlr.press/v28/sutskever13.html), ICML 2013.
#   Momentum and Nesterov's accelerated gradient for deep and recurrent networks.
# - I. Loshchilov, F. Hutter, [SGDR: Stochastic Gradient Descent with Warm
#   Restarts](https://arxiv.org/abs/1608.03983), ICLR 2017. The cosine schedule.
#
# ← Previous: [03 · Backpropagation through time](03_backprop_through_time.ipynb) ·
# [Contents](00_contents.ipynb) ·
# Next: [05 · Training and sampling](05_training.ipynb) →
