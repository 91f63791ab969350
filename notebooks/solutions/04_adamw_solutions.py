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
# # 04 · AdamW: worked solutions
#
# ← Previous: [03 · solutions](03_backprop_through_time_solutions.ipynb) ·
# [The lesson](../04_adamw.ipynb) · [Contents](../00_contents.ipynb) ·
# Next: [05 · solutions](05_training_solutions.ipynb) →
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
# The lesson's optimisers, its toy problem and its LSTM setting, as the lesson writes them.

# %%
def sgd(params, grads, lr):
    for name, p in params.items():
        p -= lr * grads[name]


def momentum(params, grads, u, lr, mu=0.9):
    for name, p in params.items():
        u[name] = mu * u[name] + grads[name]
        p -= lr * u[name]


def adam(params, grads, m, v, t, lr, beta1=0.9, beta2=0.99, eps=1e-8):
    for name, p in params.items():
        g = grads[name]
        m[name] = beta1 * m[name] + (1 - beta1) * g
        v[name] = beta2 * v[name] + (1 - beta2) * g**2
        m_hat = m[name] / (1 - beta1**t)
        v_hat = v[name] / (1 - beta2**t)
        p -= lr * m_hat / (np.sqrt(v_hat) + eps)


def adamw(params, grads, m, v, t, lr, beta1=0.9, beta2=0.99, eps=1e-8, wd=0.01):
    for name, p in params.items():
        if lc.is_decayed(name):
            p *= 1 - lr * wd
    adam(params, grads, m, v, t, lr, beta1, beta2, eps)


a = np.array([1.0, 100.0])
c = np.array([1.0, 1.0])
W_start = np.array([-4.0, 1.5])


def toy_loss(params):
    return 0.5 * float(np.sum(a * (params["W"] - c) ** 2))


def toy_grads(params):
    return {"W": a * (params["W"] - c)}


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


cfg = lc.Config()
text = lc.load_corpus()
vocab = lc.Vocabulary.from_text(text)
train_ids, val_ids = lc.split_data(vocab.encode(text[:120_000]))
V, H, B, T, steps = len(vocab), 64, 16, 32, 150
streams = lc.make_streams(train_ids, B)


def run_lstm(update, steps=steps, lr_of_step=None):
    """update(params, grads, t, state) after clipping, one window per step, the state
    carried (and reset when the streams wrap); returns the losses and the parameters.
    lr_of_step(t), when given, is passed to update as state["lr"]."""
    params = lc.init_params(V, H, 1, seed=0, dtype="float64")
    state = {key: {name: np.zeros_like(p) for name, p in params.items()}
             for key in ("u", "m", "v")}
    n_windows = lc.num_windows(streams, T)
    losses, trace = [], []
    for k in range(steps):
        if k % n_windows == 0:
            h = lc.zero_state(params, B)
        x, y = lc.get_window(streams, k % n_windows, T)
        loss, grads, h = lc.loss_and_grads(params, x, y, h)
        lc.clip_by_global_norm(grads, cfg.grad_clip)
        if lr_of_step is not None:
            state["lr"] = lr_of_step(k)
        update(params, grads, k + 1, state)
        losses.append(loss)
        trace.append(float(params["b0"][H : 2 * H].mean()))  # the forget-gate bias
    return np.array(losses), params, np.array(trace)


print(f"V = {V}, {len(train_ids):,} training characters, {lc.num_windows(streams, T)} "
      f"windows of {B} x {T}")

# %% [markdown]
# ## Exercise 1
#
# *Rerun the LSTM comparison with each optimiser's learning rate multiplied by 3 and by
# 1/3. Which one is best for 150 steps, and which would you trust for 10 000?*

# %%
base = {"SGD": 10.0, "momentum": 3.0, "AdamW": 0.03}  # Adam runs within 0.01 of AdamW


def update_for(name, lr):
    if name == "SGD":
        return lambda p, g, t, s: sgd(p, g, lr=lr)
    if name == "momentum":
        return lambda p, g, t, s: momentum(p, g, s["u"], lr=lr, mu=0.9)
    if name == "Adam":
        return lambda p, g, t, s: adam(p, g, s["m"], s["v"], t, lr=lr)
    return lambda p, g, t, s: adamw(p, g, s["m"], s["v"], t, lr=lr, wd=cfg.weight_decay)


grid = {}
for name, lr in base.items():
    for factor in (1 / 3, 1.0, 3.0):
        losses, params, _ = run_lstm(update_for(name, lr * factor))
        grid[name, factor] = (losses[-20:].mean(), lc.evaluate(params, val_ids, B, T))
print(f"{'optimiser':10s} {'lr':>7s} {'train, last 20':>15s} {'validation':>11s}  (nats/char)")
for (name, factor), (train, val) in grid.items():
    print(f"{name:10s} {base[name] * factor:7.3g} {train:15.3f} {val:11.3f}")

# %% [markdown]
# (Adam is left out: the lesson shows it within 0.01 nats/char of AdamW over these 150
# steps.) The lesson's grid holds: for each optimiser its rate is the best of the three,
# on the training loss and on the validation loss, and the order of the optimisers is the
# same at every factor, AdamW ahead of momentum ahead of SGD. Three times smaller is too
# slow for a run this short; three times larger overshoots, most for SGD, whose step is
# the gradient itself. AdamW at 0.09 is close behind 0.03 on the training loss, and is
# the choice I would trust least for 10,000 steps: a rate that is only just not too large
# early in training becomes too large later, when the loss surface is sharper and the
# gradients smaller, and a sprint of 150 steps cannot show that. For a long run take the
# rate of the sprint as the peak of a schedule that decays (`lc.lr_at`, exercise 5).
#
# ## Exercise 2
#
# *Nesterov momentum. Sutskever et al. (2013) evaluate the gradient after the momentum step.
# In the form used here that is $u \leftarrow \mu u + g$, $p \leftarrow p - \eta(g + \mu u)$.
# Write `nesterov(params, grads, u, lr, mu)`, add it to the toy comparison and compare its
# path with momentum's.*

# %%
def nesterov(params, grads, u, lr, mu=0.9):
    for name, p in params.items():
        u[name] = mu * u[name] + grads[name]
        p -= lr * (grads[name] + mu * u[name])


toy = {
    "momentum, lr 0.003": run_toy(lambda p, g, t, s: momentum(p, g, s["u"], lr=0.003)),
    "Nesterov, lr 0.003": run_toy(lambda p, g, t, s: nesterov(p, g, s["u"], lr=0.003)),
}
print(f"{'optimiser':20s} {'L(step 50)':>11s} {'L(step 200)':>12s} "
      f"{'largest |W_2 - c_2|, steps 10-50':>33s}")
for label, (losses, path) in toy.items():
    swing = np.abs(path[10:51, 1] - c[1]).max()
    print(f"{label:20s} {losses[50]:11.4f} {losses[200]:12.2e} {swing:33.4f}")

fig, (ax_path, ax_loss) = plt.subplots(1, 2, figsize=(9, 3.8))
w1, w2 = np.meshgrid(np.linspace(-4.5, 1.6, 200), np.linspace(0.5, 1.6, 200))
ax_path.contour(w1, w2, 0.5 * (a[0] * (w1 - c[0]) ** 2 + a[1] * (w2 - c[1]) ** 2),
                levels=np.geomspace(0.05, 40, 10), colors="0.75", linewidths=0.8)
for label, (losses, path) in toy.items():
    ax_path.plot(path[:, 0], path[:, 1], lw=1, label=label)
    ax_loss.semilogy(losses, lw=1.2, label=label)
ax_path.plot(*c, "k*", ms=9)
ax_path.set(title="Paths on the contours of L", xlabel="$W_1$", ylabel="$W_2$")
ax_loss.set(title="Loss", xlabel="step", ylabel="L (log scale)")
ax_loss.legend(fontsize=8)
plt.show()

# %% [markdown]
# Nesterov's step is the momentum step plus a look-ahead $\mu u$ that already includes the
# new gradient. Along the steep axis, where momentum overshoots, the look-ahead sees the
# gradient turn and brakes earlier: after step 10 its swings across the valley are five
# times smaller than momentum's. At the same learning rate its loss is lower at step 50,
# and thirty times lower at step 200.
#
# ## Exercise 3
#
# *When is "none" too large? For a constant gradient the first uncorrected step is
# $(1-\beta_1)/\sqrt{1-\beta_2}$ times $\eta$. For which $(\beta_1, \beta_2)$ is it above 1?
# Show that the original's formula equals no correction exactly when
# $\sqrt{1-\beta_2} = 1-\beta_1$.*
#
# At $t = 1$, $m_1 = (1-\beta_1) g$ and $v_1 = (1-\beta_2) g^2$, so the uncorrected step is
# $\eta\,(1-\beta_1)/\sqrt{1-\beta_2}$, above $\eta$ exactly when
# $1 - \beta_1 > \sqrt{1 - \beta_2}$, i.e. $\beta_2 > 1 - (1-\beta_1)^2$. For $\beta_1 = 0.9$
# that is $\beta_2 > 0.99$: PyTorch's default 0.999 gives 3.16 $\eta$. For the original's
# formula, at every step
#
# $$\frac{m/(1-\beta_1)}{\sqrt{v/(1-\beta_2)}} = \frac{\sqrt{1-\beta_2}}{1-\beta_1}\cdot
# \frac{m}{\sqrt v},$$
#
# the uncorrected step times a constant; it equals the uncorrected step at every $t$ exactly
# when the constant is 1, $\sqrt{1-\beta_2} = 1-\beta_1$. Numerically, with the lesson's
# closed forms $m_t = (1-\beta_1^t) g$, $v_t = (1-\beta_2^t) g^2$:

# %%
def first_step_none(beta1, beta2):
    return (1 - beta1) / np.sqrt(1 - beta2)


print(f"{'beta1':>6s} {'beta2':>7s} {'first step, none':>17s} {'original / none':>16s}")
ts = np.arange(1, 1001)
for beta1, beta2 in [(0.9, 0.99), (0.9, 0.999), (0.9, 0.9), (0.8, 0.96), (0.99, 0.999)]:
    none = (1 - beta1**ts) / np.sqrt(1 - beta2**ts)
    original = ((1 - beta1**ts) / (1 - beta1)) / np.sqrt((1 - beta2**ts) / (1 - beta2))
    ratio = original / none
    assert np.allclose(ratio, np.sqrt(1 - beta2) / (1 - beta1), rtol=1e-12)  # constant
    print(f"{beta1:6.2f} {beta2:7.3f} {first_step_none(beta1, beta2):17.3f} "
          f"{ratio[0]:16.3f}")

# %% [markdown]
# The ratio is the same at every step; it is 1 for (0.9, 0.99), the module's defaults, and
# for (0.8, 0.96), both on the curve $\beta_2 = 1 - (1-\beta_1)^2$, where the original's
# formula is exactly no correction at all.
#
# ## Exercise 4
#
# *Decaying the biases. Copy `adamw`, decay every tensor (as the original notebook did), and
# train the LSTM for 150 steps with $\lambda = 1$. Plot the mean forget-gate bias
# `b0[H:2*H]` against the step for both versions. What does the decay do to the cell's
# memory at the start of training?*

# %%
def adamw_all(params, grads, m, v, t, lr, beta1=0.9, beta2=0.99, eps=1e-8, wd=0.01):
    for p in params.values():  # the original's mistake: biases decay too
        p *= 1 - lr * wd
    adam(params, grads, m, v, t, lr, beta1, beta2, eps)


runs = {
    "AdamW, weights only": run_lstm(
        lambda p, g, t, s: adamw(p, g, s["m"], s["v"], t, lr=0.03, wd=1.0)),
    "every tensor decayed": run_lstm(
        lambda p, g, t, s: adamw_all(p, g, s["m"], s["v"], t, lr=0.03, wd=1.0)),
}
fig, ax = plt.subplots(figsize=(6, 3))
for label, (losses, _, trace) in runs.items():
    ax.plot(np.arange(1, steps + 1), trace, label=label)
    f_gate = float(lc.sigmoid(trace[-1]))
    print(f"{label:22s} forget bias after {steps} steps {trace[-1]:.3f} "
          f"(f near {f_gate:.2f}); training loss, last 20 steps {losses[-20:].mean():.3f}")
ax.set(title="Mean forget-gate bias, AdamW with lr 0.03 and wd 1", xlabel="step",
       ylabel="mean of b0[H:2H]")
ax.legend()
plt.show()

# %% [markdown]
# With the biases decayed, every step multiplies the forget bias by $1 - \eta\lambda = 0.97$
# on top of what the gradient does: after 150 steps the initial bias of 1 is down to 0.03,
# and the forget gate starts from $\sigma(0) \approx 0.5$ instead of 0.73. The cell then
# halves its memory at every step (exercise 1 of notebook 02): after 25 steps a few
# hundred-millionths of it are left instead of four ten-thousandths. With AdamW's decay on
# the weights only, the bias is moved by its gradient alone, and barely moves in 150 steps.
# The training loss is about the same for both after 150 steps (a decay this strong also
# holds all the weight matrices back): what the bias decay takes away, a long memory, is
# what a model needs later, to learn from context further back than a few characters.
#
# ## Exercise 5
#
# *Warm-up on the LSTM. Train 300 steps with AdamW at a constant 0.03 and with `lc.lr_at`
# (`warmup_steps=30`, `lr=0.03`, `max_steps=300`). Compare the first 50 steps and the final
# loss.*

# %%
sched = lc.Config(lr=0.03, warmup_steps=30, max_steps=300, time_budget=None)
constant = run_lstm(lambda p, g, t, s: adamw(p, g, s["m"], s["v"], t, lr=0.03),
                    steps=300)
scheduled = run_lstm(lambda p, g, t, s: adamw(p, g, s["m"], s["v"], t, lr=s["lr"]),
                     steps=300, lr_of_step=lambda k: lc.lr_at(sched, k, k / sched.max_steps))
print(f"{'learning rate':22s} {'mean loss, steps 1-50':>22s} {'last 20 steps':>14s} "
      f"{'validation':>11s}")
for label, (losses, params, _) in [("constant 0.03", constant),
                                   ("warm-up + cosine", scheduled)]:
    print(f"{label:22s} {losses[:50].mean():22.3f} {losses[-20:].mean():14.3f} "
          f"{lc.evaluate(params, val_ids, B, T):11.3f}")

fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(np.arange(1, 301), constant[0], lw=0.8, label="constant 0.03")
ax.plot(np.arange(1, 301), scheduled[0], lw=0.8, label="lc.lr_at: warm-up 30, cosine")
ax.set(title="AdamW on the LSTM, 300 steps", xlabel="step", ylabel="training loss (nats/char)")
ax.legend()
plt.show()

# %% [markdown]
# Here the schedule loses on both counts. During the warm-up its steps are smaller, so the
# first 50 steps are behind (3.4 against 3.1 nats/char on average); and over 300 steps
# the cosine brings the rate down to a tenth long before the model has learned what a
# constant 0.03 lets it learn, so it ends 0.2 nats/char behind. A small model with its
# gradient clipped does not diverge at 0.03 from the first step, so the warm-up protects
# against nothing, and a run this short has nothing to settle. Warm-up pays for larger
# models and rates, where the first steps, taken while Adam's $v$ is still a poor estimate,
# can throw the weights far off; the decay pays when the run is long enough to reach the
# point where a large rate only adds noise, which is how `lc.train` uses it over an hour.
#
# ← Previous: [03 · solutions](03_backprop_through_time_solutions.ipynb) ·
# [The lesson](../04_adamw.ipynb) · [Contents](../00_contents.ipynb) ·
# Next: [05 · solutions](05_training_solutions.ipynb) →
