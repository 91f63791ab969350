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
# # 01 · Data preparation: worked solutions
#
# [The lesson](../01_data_preparation.ipynb) · [Contents](../00_contents.ipynb) ·
# Next: [02 · solutions](02_forward_pass_solutions.ipynb) →
#
# Worked solutions of the numbered exercises at the end of the lesson, for teachers (hand
# out `notebooks/exercises/` without this folder). Each exercise is restated, then solved;
# `make test` executes this notebook and compares its outputs like the lessons', so the
# solutions cannot drift from `lstm_core`.

# %%
import matplotlib.pyplot as plt
import numpy as np

import lstm_core as lc

plt.style.use("../lstm.mplstyle")
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# The lesson's data: the corpus, its sorted vocabulary, the ids and the 90 / 10 split.

# %%
text = lc.load_corpus()
vocab = lc.Vocabulary.from_text(text)
V = len(vocab)
ids = vocab.encode(text)
train_ids, val_ids = lc.split_data(ids)
print(f"V = {V}, {len(train_ids):,} training and {len(val_ids):,} validation ids")

# %% [markdown]
# ## Exercise 1
#
# *For a text of $n$ characters, $B$ streams and windows of $T$, write the number of
# training characters that `make_streams` and `num_windows` together never use. Check your
# formula for $B = 32, T = 64$ on `train_ids`.*
#
# `make_streams` gives each stream $N = \lfloor (n - 1)/B \rfloor$ inputs (the $-1$ leaves
# room for the last target), and `num_windows` reads $\lfloor N / T \rfloor$ whole windows
# of each. So the inputs read are $B T \lfloor N/T \rfloor$, and
#
# $$\text{unused} = n - B\,T \left\lfloor \frac{\lfloor (n-1)/B \rfloor}{T} \right\rfloor .$$
#
# (One of the unused characters, the one after the last input of the last stream, is still
# read as a target when $N$ is a multiple of $T$.) The count, by marking every position
# that some window reads as an input:

# %%
B, T = 32, 64
n = len(train_ids)
N = (n - 1) // B
formula = n - B * T * (N // T)

streams = lc.make_streams(train_ids, B)
read = np.zeros(n, dtype=bool)
for k in range(lc.num_windows(streams, T)):
    x, _ = lc.get_window(streams, k, T)  # (T, B): stream b, steps k*T .. k*T + T - 1
    positions = np.arange(B)[None, :] * N + k * T + np.arange(T)[:, None]
    assert np.array_equal(train_ids[positions], x)  # these are the positions x holds
    read[positions] = True
print(f"n = {n:,}, N = {N:,} per stream, {N // T:,} windows of T = {T}")
print(f"unused by the formula: {formula:,}; counted: {(~read).sum():,} "
      f"({100 * formula / n:.2f} % of the training text)")
assert formula == (~read).sum()

# %% [markdown]
# ## Exercise 2
#
# *Suppose each row of a batch were instead a window starting at a random position of the
# text. Which of the two checks in section 6 would fail, and what would carrying $(h, c)$
# from one batch to the next then feed the model?*
#
# Check 1 (inside a window the target at step $t$ is the input at step $t + 1$) still
# holds: each row is still a stretch of the text. Check 2 fails: the first input of row
# $b$ in the next batch is not the character after the last input of row $b$ in this one.
# Carrying $(h, c)$ would start each row from the memory of some unrelated passage, as if
# the text jumped mid-sentence; the model would learn to distrust its own state, and the
# right choice there is to start every window from zeros.

# %%
rng = np.random.default_rng(0)
n_text = len(train_ids)


def random_window(rng, B, T):
    """A batch of B windows of T starting at random positions: x, y (T, B)."""
    starts = rng.integers(0, n_text - T - 1, B)
    rows = starts[None, :] + np.arange(T)[:, None]
    return train_ids[rows], train_ids[rows + 1]


x, y = random_window(rng, 8, 12)
x_next, _ = random_window(rng, 8, 12)
print("check 1, y[t] == x[t+1] inside the window:", bool(np.array_equal(y[:-1], x[1:])))
print("check 2, y[T-1] == x_next[0] in each row: ", y[-1] == x_next[0])

# %% [markdown]
# ## Exercise 3
#
# *Build a vocabulary from the first play only and try to encode the last one. What does
# `vocab.encode` do, and why is that better than silently skipping the character?*
#
# Each work starts with its title line followed by "by William Shakespeare"; the first work
# ends where the second title begins.

# %%
heading = "\n\nby William Shakespeare"
starts = []
at = text.find(heading)
while at != -1:
    starts.append(text.rfind("\n", 0, at) + 1)
    at = text.find(heading, at + 1)
first, last = text[starts[0] : starts[1]], text[starts[-1] :]
print(f"first work: {first.splitlines()[0]!r}, {len(first):,} characters")
print(f"last work:  {last.splitlines()[0]!r}, {len(last):,} characters")
small = lc.Vocabulary.from_text(first)
try:
    small.encode(last)
except lc.LSTMError as e:
    print(f"{type(e).__name__}: {e}")

# %% [markdown]
# `encode` refuses, and names the characters it does not know. Skipping them would give a
# different text from the one the user asked for, without a word: a sampled prime, a
# validation loss or a resumed training run would silently be about other text, and the
# model's ids would no longer line up with the characters. An error at the boundary is one
# line to fix; a silent change is a wrong result found much later.
#
# ## Exercise 4
#
# *Score the validation set with a model that ignores context: predict every character with
# its frequency in the training set. Compute the mean of $-\ln p$ over `val_ids` and
# compare it with the entropy printed in section 4.*

# %%
q = np.bincount(train_ids, minlength=V) / len(train_ids)
assert np.all(q[val_ids] > 0)  # every validation character occurs in training (section 5)
val_loss = -np.mean(np.log(q[val_ids]))
share = np.bincount(ids, minlength=V) / len(ids)
entropy = -np.sum(share[share > 0] * np.log(share[share > 0]))
print(f"training frequencies on the validation ids: {val_loss:.4f} nats/char")
print(f"entropy of the whole corpus (section 4):     {entropy:.4f} nats/char")
print(f"the same model on the training ids:          {-np.mean(np.log(q[train_ids])):.4f}")
p_val = np.bincount(val_ids, minlength=V) / len(val_ids)
val_entropy = -np.sum(p_val[p_val > 0] * np.log(p_val[p_val > 0]))
print(f"entropy of the validation ids' own frequencies: {val_entropy:.4f} nats/char")
assert val_entropy <= val_loss

# %% [markdown]
# All three agree to within 0.001 nats: character frequencies hardly change from one part
# of Shakespeare to another. On the training ids this model scores exactly the entropy of
# their own frequencies, the best any context-free model can do on them. On the validation
# ids it scores a little *below* the entropy of the whole corpus, because the last plays
# happen to use their characters a little less evenly (their own entropy is lower still);
# a cross-entropy is never below the entropy of the distribution actually observed, and
# the gap between the two, 0.005 nats, is what the training frequencies get wrong about
# the validation text. About 3.33 nats/char is the number an LSTM has to beat before it can
# claim to use context.
#
# ## Exercise 5
#
# *In the backward pass, the gradient with respect to $W_x$ adds each step's gradient into
# row $x_t$. Why does `dW[x] += dz` give the wrong answer when a character occurs twice in a
# window, and what does `np.add.at(dW, x, dz)` do instead?*
#
# `dW[x] += dz` is `dW[x] = dW[x] + dz`: NumPy gathers the rows `dW[x]`, adds `dz`, and
# writes the results back to the rows `x`, one after the other. When an id appears twice,
# both writes go to the same row and the second overwrites the first, so only one of the
# two contributions survives. `np.add.at` is unbuffered: it adds every row of `dz` into its
# row of `dW` in turn, so repeated ids accumulate.

# %%
dz = np.arange(1.0, 7.0).reshape(3, 2)  # three steps' gradients, 2 columns
x_ids = np.array([4, 1, 4])  # character 4 is read twice
fancy = np.zeros((5, 2))
fancy[x_ids] += dz
add_at = np.zeros((5, 2))
np.add.at(add_at, x_ids, dz)
one_hot = np.eye(5)[x_ids]  # the definition: dW = one_hot^T dz
print("dW[x] += dz        row 4:", fancy[4], " row 1:", fancy[1])
print("np.add.at          row 4:", add_at[4], " row 1:", add_at[1])
print("one_hot(x)^T @ dz  row 4:", (one_hot.T @ dz)[4])
assert np.array_equal(add_at, one_hot.T @ dz) and not np.array_equal(fancy, add_at)

# %% [markdown]
# [The lesson](../01_data_preparation.ipynb) · [Contents](../00_contents.ipynb) ·
# Next: [02 · solutions](02_forward_pass_solutions.ipynb) →
