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
# # 01 · Data preparation
#
# [Contents](00_contents.ipynb) · Next: [02 · The forward pass](02_forward_pass.ipynb) →

# %% [markdown]
# A character-level language model reads text one character at a time and, at every
# position, predicts the next character. Before any model exists, the text has to become
# arrays of integers, cut into pieces that a recurrent network can read in parallel. This
# notebook does that, one step at a time, with the functions of `lstm_core` that the rest
# of the series uses.
#
# ## What you'll learn
#
# - how the corpus becomes a vocabulary of `V` characters and an array of integer ids;
# - why the vocabulary is *sorted*, and why `list(set(text))` gives different ids in
#   different Python processes;
# - why the validation set is the last 10 % of the text rather than a random sample;
# - how the training ids are cut into `B` contiguous streams and read in windows of `T`
#   characters, so that the hidden state can be carried from one window to the next
#   (truncated backpropagation through time);
# - why multiplying a one-hot vector by a matrix is the same as picking one of its rows, and
#   why the model does the second.
#
# ## What you need
#
# - Python and NumPy: arrays, indexing, `reshape`, broadcasting.
# - No earlier notebook: this is the first. The corpus is built by `make lab` (or by
#   `lc.load_corpus()` itself, the first time it is called).

# %%
import matplotlib.pyplot as plt
import numpy as np

import lstm_core as lc
import lstm_exercises as ex

plt.style.use("lstm.mplstyle")
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1. The corpus
#
# The default corpus is Shakespeare's complete works (42 plays and poems, public-domain
# Project Gutenberg editions), joined into one plain-text file. `lc.load_corpus()` returns it
# as one Python string.

# %%
text = lc.load_corpus()
print(f"{len(text):,} characters, {len(text.encode('utf-8')) / 1e6:.2f} MB")
print(text[:400])

# %% [markdown]
# ## 2. The vocabulary
#
# The model's input and output alphabet is the set of distinct characters in the text. Each
# character gets an integer id, its position in the vocabulary: `stoi` maps a character to
# its id, and `chars[i]` maps id `i` back to its character.

# %%
vocab = lc.Vocabulary.from_text(text)
V = len(vocab)
print(f"V = {V} distinct characters")
print(repr(vocab.chars))

# %% [markdown]
# `lc.Vocabulary.from_text` sorts the characters. Written by hand, that is one line, and it
# matches the module's vocabulary character for character:

# %%
chars = "".join(sorted(set(text)))
stoi = {ch: i for i, ch in enumerate(chars)}

assert chars == vocab.chars and stoi == vocab.stoi
print(f"hand-written sorted vocabulary == lc.Vocabulary.from_text(text): {V} characters, "
      f"ids 0..{V - 1}")

# %% [markdown]
# ### Why sorted: a set has no stable order
#
# Without `sorted`, the ids would follow the iteration order of `set(text)`. For strings
# that order depends on their hash values, and Python salts string hashes with a random key
# chosen when the interpreter starts (hash randomisation, a defence against denial-of-service
# attacks on dictionaries). The environment variable `PYTHONHASHSEED` fixes that key, so we
# can show the effect reproducibly: below, fresh Python processes with four different
# seeds, and the first seed once more, build `list(set(...))` and `sorted(set(...))` from the
# same 84 characters. Which order each seed gives depends on the Python version's string
# hash, so we print only how many different orders there are.

# %%
import os
import subprocess
import sys

snippet = ("import sys; print(ascii(''.join(list(set(sys.argv[1])))))\n"
           "print(ascii(''.join(sorted(set(sys.argv[1])))))")
seeds = [0, 1, 2, 3, 0]
unsorted, in_order = [], []
for seed in seeds:
    env = dict(os.environ, PYTHONHASHSEED=str(seed))
    done = subprocess.run([sys.executable, "-c", snippet, vocab.chars], env=env,
                          capture_output=True, text=True, check=True)
    set_order, sorted_order = done.stdout.splitlines()
    unsorted.append(set_order)
    in_order.append(sorted_order)
print(f"list(set(...)) with PYTHONHASHSEED = 0, 1, 2, 3: {len(set(unsorted[:4]))} different "
      f"orders of the {V} characters")
print(f"PYTHONHASHSEED = 0 a second time: the same order as the first: "
      f"{unsorted[4] == unsorted[0]}")
print(f"sorted(set(...)) in the same {len(seeds)} processes: {len(set(in_order))} order, "
      f"equal to vocab.chars: {in_order[0] == ascii(vocab.chars)}")

# %% [markdown]
# A model trained in one process stores its weights by id: row `stoi['e']` of the input
# matrix belongs to `'e'`. If the next process numbered the characters differently, the
# same weights would read every character as some other character. Sorting makes the ids a
# function of the text alone, identical on every run and every machine.

# %% [markdown]
# ## 3. Encoding and decoding
#
# `vocab.encode` turns a string into an array of ids (`int32`, one per character), and
# `vocab.decode` turns ids back into a string. Decoding what was encoded must give the
# original text back, exactly.

# %%
ids = vocab.encode(text)
assert ids.shape == (len(text),) and ids.dtype == np.int32
print("text:", repr(text[:24]))
print("ids: ", ids[:24])

# %%
hand_ids = np.array([stoi[ch] for ch in text[:1000]], dtype=np.int32)
np.testing.assert_array_equal(hand_ids, ids[:1000])
print("hand-written stoi lookup == vocab.encode on the first 1,000 characters")

assert vocab.decode(ids) == text
print(f"vocab.decode(vocab.encode(text)) == text: all {len(text):,} characters round-trip")

# %% [markdown]
# ## 4. Which characters are common
#
# Counting ids is one call, `np.bincount`. The chart shows the 30 most frequent
# characters; the space and the newline are drawn as `␣` and `↵`.

# %%
counts = np.bincount(ids, minlength=V)
assert counts.shape == (V,) and counts.sum() == len(text)
share = counts / counts.sum()
order = np.argsort(-counts, kind="stable")


def show(ch):
    """A printable label for one character."""
    return {" ": "␣", "\n": "↵"}.get(ch, ch)


top = order[:30]
fig, ax = plt.subplots(figsize=(7, 3))
ax.bar(np.arange(len(top)), 100 * share[top], color="tab:blue")
ax.set_xticks(np.arange(len(top)), [show(vocab.chars[i]) for i in top], fontsize=10)
ax.set_xlim(-0.7, len(top) - 0.3)
ax.set_title(f"The 30 most frequent of the V = {V} characters")
ax.set_xlabel("character (␣ space, ↵ newline)")
ax.set_ylabel("share of the corpus (%)")
ax.grid(axis="x", visible=False)
plt.show()

# %%
print("most frequent: " + ", ".join(f"{show(vocab.chars[i])} {100 * share[i]:.1f} %"
                                    for i in order[:6]))
print("rarest:        " + ", ".join(f"{show(vocab.chars[i])} {counts[i]}x"
                                    for i in order[::-1][:6]))

# %% [markdown]
# The distribution is far from uniform: the space alone is 15 % of all characters, and
# some characters occur only a handful of times in five million. Its entropy,
# $-\sum_k p_k \ln p_k$, is the loss (in nats per character) of the best model that ignores
# context and always predicts these frequencies; guessing uniformly costs $\ln V$. A model
# is only learning something about *sequences* once its loss falls below the entropy.

# %%
entropy = -np.sum(share * np.log(share))
print(f"uniform guess:      ln V    = {np.log(V):.3f} nats/char")
print(f"character frequencies only: = {entropy:.3f} nats/char "
      f"({lc.bits_per_char(entropy):.2f} bits/char)")

# %% [markdown]
# ## 5. Training and validation split
#
# `lc.split_data` keeps the first 90 % of the ids for training and the last 10 % for
# validation. The split is not shuffled: neighbouring characters are strongly dependent, so
# held-out characters drawn at random would sit between training characters the model has
# already seen. A contiguous tail is text the model has genuinely never read.

# %%
train_ids, val_ids = lc.split_data(ids)
n_train = int(0.9 * len(ids))
np.testing.assert_array_equal(train_ids, ids[:n_train])
np.testing.assert_array_equal(val_ids, ids[n_train:])
print(f"hand-written split == lc.split_data: {len(train_ids):,} training + "
      f"{len(val_ids):,} validation = {len(ids):,} characters")

# %% [markdown]
# The works are joined in alphabetical order of their source files, so the validation set is
# the end of *Troilus and Cressida* followed by three whole plays. Each work starts with its
# title and the line "by William Shakespeare":

# %%
heading = "\n\nby William Shakespeare"
start = 0
while (at := text.find(heading, start)) != -1:
    title_start = text.rfind("\n", 0, at) + 1
    if at >= n_train - 200_000:  # only the works near or after the split
        side = "validation" if title_start >= n_train else "training"
        print(f"{title_start:>9,}  {side:<10}  {text[title_start:at]}")
    start = at + 1
print(f"{n_train:>9,}  split")

# %% [markdown]
# Every character of the validation set also occurs in the training set, so the model can be
# scored on all of it:

# %%
in_train = np.bincount(train_ids, minlength=V) > 0
in_val = np.bincount(val_ids, minlength=V) > 0
print(f"{in_val.sum()} characters occur in validation, {in_train.sum()} in training; "
      f"in validation only: {np.flatnonzero(in_val & ~in_train).size}")

# %% [markdown]
# ## 6. Streams and windows for truncated BPTT
#
# An LSTM carries a hidden state $h$ and a cell state $c$ from one character to the next.
# Backpropagating through all 4.5 million training characters at once would mean keeping
# every step's activations for the backward pass, which is impractical. Training instead
# reads the text in *windows* of $T$ characters, backpropagates through one window at a
# time, and carries $(h, c)$ into the next window without backpropagating into the previous
# one. This is truncated backpropagation through time (truncated BPTT).
#
# To keep the matrix products large, $B$ windows are processed at once. For the carried
# state to make sense, window $k+1$ of stream $s$ must continue exactly where window $k$ of
# stream $s$ ended. `lc.make_streams` arranges that: it cuts the training ids into $B$ equal,
# contiguous slices (the *streams*), each of $N = \lfloor (n - 1) / B \rfloor$ characters,
# and lays them out as the rows of a $(B, N)$ array. The targets are the same array shifted
# by one character: the target at each position is the next character of the text.

# %% tags=["exercise"]
def make_streams(ids, B):
    """Cut the ids (n,) of a text into B contiguous streams, for truncated BPTT.

    Returns inputs and targets, int arrays of shape (B, N) with N = (n - 1) // B: row s
    is the s-th of B equal, consecutive slices of the text, and targets[s, j] is the
    character after inputs[s, j] (the same slice, shifted by one).
    """
    N = (len(ids) - 1) // B
    inputs = ids[: B * N].reshape(B, N)
    targets = ids[1 : B * N + 1].reshape(B, N)
    return inputs, targets


# %%
make_streams = ex.check_make_streams(make_streams)

# %%
B, T = 4, 12  # small, to print; the training recipe uses B = 32, T = 64
inputs, targets = make_streams(train_ids, B)
N = inputs.shape[1]

streams = lc.make_streams(train_ids, B)
assert streams[0].shape == streams[1].shape == (B, N)
np.testing.assert_array_equal(inputs, streams[0])
np.testing.assert_array_equal(targets, streams[1])
print(f"make_streams == lc.make_streams: inputs and targets of shape (B, N) = "
      f"({B}, {N:,})")
print(f"{len(train_ids) - B * N} characters at the end of the training ids are left over")

# %% [markdown]
# `lc.get_window(streams, k, T)` returns window $k$ of every stream, transposed to
# *time-major* shape $(T, B)$: `x[t]` is the $t$-th character of all $B$ streams, which is
# what the forward pass consumes at step $t$. `lc.num_windows` says how many whole windows
# fit in a stream.

# %% tags=["exercise"]
def get_window(streams, k, T):
    """Window k of every stream, time-major.

    streams: (inputs, targets), each (B, N). Returns x and y, each (T, B): x[t, s] is
    character k*T + t of stream s, and y[t, s] its target.
    """
    inputs, targets = streams
    window = slice(k * T, (k + 1) * T)
    return inputs[:, window].T, targets[:, window].T


# %%
get_window = ex.check_get_window(get_window)

# %%
n_windows = lc.num_windows(streams, T)
assert n_windows == N // T
for k in [0, 1, n_windows - 1]:
    x, y = get_window((inputs, targets), k, T)
    assert x.shape == y.shape == (T, B)
    x_lc, y_lc = lc.get_window(streams, k, T)
    np.testing.assert_array_equal(x, x_lc)
    np.testing.assert_array_equal(y, y_lc)
print(f"get_window == lc.get_window for windows 0, 1 and {n_windows - 1:,} "
      f"(the last of {n_windows:,}); x and y have shape (T, B) = ({T}, {B})")

# %% [markdown]
# Two properties make the carried state correct, and both can be checked:
#
# 1. inside a window, the target at step $t$ is the input at step $t+1$;
# 2. the first input of window $k+1$ is the character right after the last input of
#    window $k$ (equivalently, the last target of window $k$), in every stream.

# %%
for k in range(n_windows - 1):
    x, y = lc.get_window(streams, k, T)
    x_next, _ = lc.get_window(streams, k + 1, T)
    assert np.array_equal(y[:-1], x[1:])  # 1.
    assert np.array_equal(y[-1], x_next[0])  # 2.
print(f"checked for all {n_windows - 1:,} pairs of consecutive windows: y[t] == x[t+1] "
      f"inside a window and y[T-1] of window k == x[0] of window k+1")

# %%
for s in range(B):
    pieces = [vocab.decode(lc.get_window(streams, k, T)[0][:, s]) for k in range(3)]
    print(f"stream {s}: " + " | ".join(repr(p) for p in pieces))

# %% [markdown]
# The picture: the top row is the whole training text cut into $B$ streams; below, the
# first three windows of each stream, side by side. Reading along a row is reading the
# text; the arrows mark where the state $(h, c)$ leaves one window and enters the next.
# Once all windows have been read, the streams start over from window 0 and the state is
# reset to zeros, because the end of stream $s$ is not the text that precedes its start.

# %%
from matplotlib.patches import FancyArrowPatch, Rectangle

colors = plt.cm.tab10(np.arange(B))
fig, (top_ax, ax) = plt.subplots(2, 1, figsize=(7.5, 4.6), height_ratios=[1, 3.2])

for s in range(B):
    top_ax.barh(0, N / 1e6, left=s * N / 1e6, height=0.6, color=colors[s], alpha=0.6,
                edgecolor="white")
    top_ax.text((s + 0.5) * N / 1e6, 0, f"stream {s}", ha="center", va="center")
top_ax.set_xlim(0, len(train_ids) / 1e6)
top_ax.set_ylim(-0.5, 0.5)
top_ax.set_yticks([])
top_ax.grid(False)
top_ax.set_title(f"The training text cut into B = {B} streams of N = {N:,} characters")
top_ax.set_xlabel("position in the training text (million characters)")

k_shown = 3
for s in range(B):
    row = B - 1 - s  # stream 0 at the top
    for k in range(k_shown):
        piece = vocab.decode(lc.get_window(streams, k, T)[0][:, s])
        ax.add_patch(Rectangle((k * T + 1, row - 0.3), T - 2, 0.6, facecolor=colors[s],
                               alpha=0.25, edgecolor=colors[s]))
        ax.text(k * T + T / 2, row, "".join(show(ch) for ch in piece), ha="center",
                va="center", family="monospace", fontsize=9)
        if k > 0:  # the state leaves window k-1 and enters window k
            ax.add_patch(FancyArrowPatch((k * T - 1, row), (k * T + 1, row), arrowstyle="-|>",
                                         mutation_scale=10, color="0.2", shrinkA=1, shrinkB=1))
            ax.text(k * T, row + 0.3, "h, c", ha="center", va="bottom", fontsize=8,
                    color="0.2")
    ax.text(k_shown * T, row, "...", va="center")
ax.set_xlim(0, k_shown * T + 2)
ax.set_ylim(-0.6, B - 0.2)
ax.set_xticks([k * T for k in range(k_shown + 1)])
ax.set_yticks(range(B), [f"stream {s}" for s in reversed(range(B))])
ax.grid(False)
ax.set_title(f"Windows 0, 1, 2 of T = {T} characters: each continues the one before")
ax.set_xlabel("position in the stream (characters)")
plt.show()

# %% [markdown]
# With the training recipe's sizes ($B = 32$, $T = 64$), one pass over the training text is
# this many windows (optimisation steps):

# %%
cfg = lc.Config()
full = lc.make_streams(train_ids, cfg.batch_size)
print(f"B = {cfg.batch_size}, T = {cfg.seq_len}: streams of {full[0].shape[1]:,} characters, "
      f"{lc.num_windows(full, cfg.seq_len):,} windows per pass over the training text")

# %% [markdown]
# ## 7. One-hot times a matrix is a row lookup
#
# The first layer multiplies its input by a weight matrix $W_x$ of shape $(V, 4H)$ (the
# next notebook explains the $4H$). Written as linear algebra, the input character is a
# one-hot vector $e_x$ of length $V$: zeros everywhere except a 1 at position $x$. The
# product $e_x W_x$ adds up the rows of $W_x$ weighted by the entries of $e_x$, and only
# one weight is non-zero:
#
# $$e_x W_x = \sum_{k=0}^{V-1} (e_x)_k \, W_x[k] = W_x[x].$$
#
# So the product is exactly row $x$ of $W_x$, and NumPy's integer indexing `W_x[x]` fetches
# those rows for a whole $(T, B)$ window at once.

# %%
H = 16
rng = np.random.default_rng(0)
W_x = rng.normal(size=(V, 4 * H))
x, y = lc.get_window(streams, 0, T)

one_hot = (x[..., None] == np.arange(V)).astype(np.float64)  # (T, B, V)
assert one_hot.shape == (T, B, V) and np.all(one_hot.sum(axis=-1) == 1)
product = one_hot @ W_x  # (T, B, V) @ (V, 4H)
lookup = W_x[x]  # (T, B, 4H)
assert product.shape == lookup.shape == (T, B, 4 * H)
np.testing.assert_allclose(product, lookup, rtol=0, atol=0)
print(f"one_hot @ W_x == W_x[x] exactly, for a ({T}, {B}) window and W_x of shape "
      f"({V}, {4 * H})")

# %% [markdown]
# `lc.forward` begins with this lookup (`W_x0[x]`). Feeding its first layer the one-hot
# products instead gives the same logits:

# %%
params = lc.init_params(V, H, seed=0, dtype="float64")
logits, _, _ = lc.forward(params, x)

xw = one_hot.reshape(T * B, V) @ params["W_x0"] + params["b0"]  # one-hot route
zeros = np.zeros((B, H))
hs, _ = lc.lstm_layer_forward(xw.reshape(T, B, 4 * H), zeros, zeros, params["W_h0"])
logits_one_hot = hs[1:] @ params["W_y"] + params["b_y"]
assert logits.shape == logits_one_hot.shape == (T, B, V)
np.testing.assert_allclose(logits_one_hot, logits, rtol=1e-12, atol=1e-12)
print(f"lc.forward (row lookup) == the same layer fed one-hot products: logits of shape "
      f"({T}, {B}, {V})")

# %% [markdown]
# The results are equal; the costs are not. For a window of $T \cdot B$ characters the
# product does $T B V \cdot 4H$ multiply-adds, all but one in $V$ of them by zero, and first
# builds a $(T, B, V)$ array of mostly zeros. The lookup only copies $T B$ rows of $4H$
# numbers. With the training recipe's sizes:

# %%
T_, B_, H_ = cfg.seq_len, cfg.batch_size, cfg.hidden_size
print(f"one-hot product: T*B*V*4H = {T_ * B_ * V * 4 * H_:>13,} multiply-adds")
print(f"row lookup:      T*B*4H   = {T_ * B_ * 4 * H_:>13,} numbers copied "
      f"({V}x fewer operations)")

# %%
# NBVAL_IGNORE_OUTPUT
# Wall-clock times differ from machine to machine and run to run.
import time

W_big = np.random.default_rng(0).normal(size=(V, 4 * H_)).astype(np.float32)
x_big = np.random.default_rng(1).integers(0, V, size=(T_, B_))


def best_time(fn, repeats=3):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


t_product = best_time(lambda: (x_big[..., None] == np.arange(V)).astype(np.float32) @ W_big)
t_lookup = best_time(lambda: W_big[x_big])
print(f"one-hot product: {1e3 * t_product:6.1f} ms")
print(f"row lookup:      {1e3 * t_lookup:6.1f} ms")

# %% [markdown]
# The times above change from run to run and machine to machine, but the gap between them is
# typically smaller than the $V$-fold operation count: the lookup still has to write the
# whole $(T, B, 4H)$ result, as the product does. The gap grows with $V$
# (a word-level model has $V$ in the tens of thousands). The backward pass has the same
# shortcut: the gradient of a lookup adds each step's gradient into the row it came from,
# instead of a second dense product with the one-hot matrix (notebook 03).

# %% [markdown]
# ## Summary
#
# - The vocabulary is the **sorted** set of characters: $V = 84$ here, and the ids are the
#   same in every process. `list(set(text))` is not: its order depends on the hash seed.
# - `vocab.encode` and `vocab.decode` are inverse maps between text and `int32` ids.
# - The last 10 % of the text, not a random sample, is held out for validation.
# - `lc.make_streams` cuts the training ids into $B$ contiguous streams; `lc.get_window`
#   returns window $k$ of each, time-major $(T, B)$, with targets shifted by one character.
#   Window $k+1$ continues window $k$ in every stream, so $(h, c)$ is carried across.
# - A one-hot vector times $W_x$ is row $x$ of $W_x$: the model looks the row up, which costs
#   $V$ times fewer operations than the product.
#
# ## Exercises
#
# 1. For a text of $n$ characters, $B$ streams and windows of $T$, write the number of
#    training characters that `make_streams` and `num_windows` together never use. Check
#    your formula for $B = 32, T = 64$ on `train_ids`.
# 2. Suppose each row of a batch were instead a window starting at a random position of the
#    text. Which of the two checks in section 6 would fail, and what would carrying $(h, c)$
#    from one batch to the next then feed the model?
# 3. Build a vocabulary from the *first* play only and try to encode the last one. What does
#    `vocab.encode` do, and why is that better than silently skipping the character?
# 4. Score the validation set with a model that ignores context: predict every character
#    with its frequency in the *training* set. Compute the mean of $-\ln p$ over `val_ids`
#    and compare it with the entropy printed in section 4.
# 5. In the backward pass, the gradient with respect to $W_x$ adds each step's gradient
#    into row $x_t$. Why does `dW[x] += dz` give the wrong answer when a character occurs
#    twice in a window, and what does `np.add.at(dW, x, dz)` do instead?
#
# ## Further reading
#
# - A. Karpathy, [The Unreasonable Effectiveness of Recurrent Neural
#   Networks](https://karpathy.github.io/2015/05/21/rnn-effectiveness/) (2015): character
#   models on Shakespeare and other corpora, and the `char-rnn` code.
# - R. J. Williams and J. Peng, "An efficient gradient-based algorithm for on-line training of
#   recurrent network trajectories", *Neural Computation* 2(4), 1990: truncated BPTT.
# - I. Goodfellow, Y. Bengio and A. Courville, [*Deep Learning*](https://www.deeplearningbook.org),
#   chapter 10, "Sequence Modeling: Recurrent and Recursive Nets" (2016).
# - Python documentation, [`PYTHONHASHSEED`](https://docs.python.org/3/using/cmdline.html#envvar-PYTHONHASHSEED)
#   and [`object.__hash__`](https://docs.python.org/3/reference/datamodel.html#object.__hash__):
#   hash randomisation and why set order changes between processes.
# - PyTorch documentation, [`torch.nn.Embedding`](https://pytorch.org/docs/stable/generated/torch.nn.Embedding.html):
#   the same row lookup as a layer.
#
# [Contents](00_contents.ipynb) · Next: [02 · The forward pass](02_forward_pass.ipynb) →
