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
# # 06 · Inside the LSTM
#
# ← Previous: [05 · Training and sampling](05_training.ipynb) ·
# [Contents](00_contents.ipynb)
#
# The shipped model of notebook 05 writes text with the layout of a play: speakers' names,
# speeches, stage directions. What has it learned to keep in its state? We run it over
# validation text, read the cell states and gates out of the forward pass's cache, search
# for cells that follow simple features of the text, and test what we find on text the
# search never saw. Then we ask how much of the model's skill plain counting would give:
# n-gram models on the same data.
#
# ## What you'll learn
#
# - Where the cell states $c_t$ and the gates $i, f, g, o$ live in the cache of `lc.forward`.
# - How to search all $H$ cells for one that tracks a feature of the text, and how to tell a
#   real finding from what the search alone would produce.
# - How to draw text coloured by a cell's activation.
# - How often the gates saturate (close to 0 or 1).
# - How the LSTM compares with smoothed n-gram models, in nats/char and bits/char.
#
# ## What you need
#
# - [02 · The forward pass](02_forward_pass.ipynb): the cell equations and the cache.
# - [05 · Training and sampling](05_training.ipynb): the trained checkpoint, validation
#   loss, bits/char.

# %%
import matplotlib.pyplot as plt
import numpy as np

import lstm_core as lc
import lstm_exercises as ex

plt.style.use("lstm.mplstyle")
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1 · The model and a passage of validation text
#
# The shipped model (`lc.DEFAULT_CHECKPOINT`, notebook 05) and the corpus it was trained
# on, split as in training. The validation split (the last 10 %) was never used to update
# the parameters.

# %%
ckpt = lc.load_checkpoint(lc.DEFAULT_CHECKPOINT)
params = ckpt["params"]
vocab = ckpt["vocab"]
cfg = ckpt["config"]
V, H, L = len(vocab), cfg.hidden_size, cfg.num_layers
text = lc.load_corpus()
train_ids, val_ids = lc.split_data(vocab.encode(text))
val_text = vocab.decode(val_ids)
print(f"H = {H}, {L} layer(s), {lc.count_params(params):,} parameters, "
      f"trained {ckpt['step']:,} steps")
print(f"validation split: {len(val_ids):,} characters")

# %% [markdown]
# We read the first 60,500 characters of the validation text as one stream (a batch of
# 1). The first 500 only warm the state up from zeros; the next 40,000 (passage A) are
# where we search for interesting cells, the last 20,000 (passage B) where we test them.
# Passage A is long because some features are rare: it holds only a few dozen stage
# directions (counted below).

# %%
warmup, n_A, n_B = 500, 40_000, 20_000
ids = val_ids[: warmup + n_A + n_B]
A = slice(warmup, warmup + n_A)
B = slice(warmup + n_A, warmup + n_A + n_B)
print(f"stage directions ('[') in passage A: {val_text[A].count('[')}, "
      f"in passage B: {val_text[B].count('[')}")
print(repr(val_text[A][:300]))

# %% [markdown]
# ## 2 · Reading the cache
#
# `lc.forward(params, x, state)` returns the logits, the final state and a cache for the
# backward pass. For each layer the cache keeps the gate activations and the states of the
# whole window. Its parts are named tuples, defined in `lstm_core.py` with the shape of
# every field (they unpack by position too):
#
# ```
# cache = lc.ForwardCache(x, layers, top, params)
# cache.layers[l] = lc.LayerRecord(inp, cache, mask)
# cache.layers[l].cache = lc.LayerCache(gates, cs, tanh_cs, hs, W_h)
#   gates    (T, B, 4H)   i, f, g, o side by side
#   cs       (T+1, B, H)  cs[0] = c_0 carried in, cs[t] = c_t
#   tanh_cs  (T, B, H)    tanh_cs[t-1] = tanh(c_t)
#   hs       (T+1, B, H)  hs[0] = h_0 carried in, hs[t] = h_t
# ```
#
# A first window of 200 characters, and a check that the cached arrays satisfy the cell
# equations
#
# $$c_t = f_t \odot c_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \tanh(c_t).$$

# %%
x = ids[:200, None]  # (T, 1): one stream
logits, state, cache = lc.forward(params, x)
gates, cs, tanh_cs, hs, _ = cache.layers[-1].cache  # the last layer (here the only one)
T = x.shape[0]
assert gates.shape == (T, 1, 4 * H) and cs.shape == hs.shape == (T + 1, 1, H)
assert tanh_cs.shape == (T, 1, H) and logits.shape == (T, 1, V)
i, f, g, o = (gates[..., k * H : (k + 1) * H] for k in range(4))
np.testing.assert_allclose(cs[1:], f * cs[:-1] + i * g, rtol=1e-5, atol=1e-6)
np.testing.assert_allclose(hs[1:], o * np.tanh(cs[1:]), rtol=1e-5, atol=1e-6)
print("cached c_t and h_t satisfy the cell equations at all 200 steps")

# %% [markdown]
# All 60,500 characters, in windows of 2,000 with the state carried from one to the next.
# From each window we keep only what we need (the cache of a long window is large: $4H$ gate
# values per character): $h_t$ of every cell at every position, and $\tanh(c_t)$ and the gates
# of the first 10,000 characters of passage A.
#
# We study $h_t$ rather than $c_t$: $h_t = o_t \odot \tanh(c_t)$ is all that the output
# layer and the next step see of a cell, and it lies in $(-1, 1)$, so one colour scale fits
# every cell. The shipped model has a single layer, so its $h_t$ is exactly what the output
# layer reads; in a stacked model `cache.layers[-1]`, read here and in the rest of this
# notebook, would be the top layer, the one under the output layer.

# %%
def run_stream(params, ids, keep, window=2_000):
    """Read ids (N,) as one stream. Returns h_t (N, H) and the logits (N, V) of every
    position, and tanh(c_t) (keep, H) and the gates (keep, 4H) of the first keep."""
    state = None
    h, logits, tanh_c, gates = [], [], [], []
    for start in range(0, len(ids), window):
        z, state, cache = lc.forward(params, ids[start : start + window, None], state)
        _, layers, _, _ = cache
        g, _, tc, hs, _ = layers[-1][1]  # the last layer's (gates, cs, tanh_cs, hs, W_h)
        h.append(hs[1:, 0])
        logits.append(z[:, 0])
        if start < keep:
            tanh_c.append(tc[: keep - start, 0])
            gates.append(g[: keep - start, 0])
    return (np.concatenate(h), np.concatenate(logits), np.concatenate(tanh_c),
            np.concatenate(gates))


keep = warmup + 10_000
h, logits_all, tanh_c, gates_early = run_stream(params, ids, keep)
assert h.shape == (len(ids), H) and logits_all.shape == (len(ids), V)
assert tanh_c.shape == (keep, H) and gates_early.shape == (keep, 4 * H)
np.testing.assert_allclose(h[:T], hs[1:, 0], rtol=1e-5, atol=1e-6)  # float32 rounding
loss_AB = lc.cross_entropy(logits_all[A.start : B.stop - 1], ids[A.start + 1 : B.stop])[0]
print(f"h_t: {h.shape}; the model's loss on passages A and B: {loss_AB:.3f} nats/char")

# %% [markdown]
# ## 3 · Features of the text
#
# Three things a reader of a play keeps track of, each as one number per character $x_t$
# (the state $h_t$ has read $x_t$ and everything before it):
#
# - `in_brackets`: 1 inside a stage direction, from `[` up to (not including) `]`.
# - `column`: the characters read since the last newline (0 right after a `\n`).
# - `speaker`: 1 on a line that holds only a speaker's name in capitals and a period
#   (`PANDARUS.`); act headings such as `ACT I.` match too.

# %%
def features_of(s):
    """Feature name -> array (len(s),) for the string s."""
    chars = np.array(list(s))
    n = np.arange(len(s))
    depth = np.cumsum(chars == "[") - np.cumsum(chars == "]")
    last_newline = np.maximum.accumulate(np.where(chars == "\n", n, -1))
    speaker = np.zeros(len(s))
    pos = 0
    for line in s.split("\n"):
        name = line.rstrip()  # a few names carry a trailing space
        if name.isupper() and name.endswith(".") and name[0].isalpha():
            speaker[pos : pos + len(line)] = 1
        pos += len(line) + 1
    return {"in_brackets": (depth > 0).astype(float),
            "column": (n - last_newline).astype(float),
            "speaker": speaker}


features = features_of(val_text[: len(ids)])
demo = "AJAX.\nAh! [Aside.] No.\n"
print(f"{'x_t':12s}", " ".join(f"{c:>2}" for c in demo.replace("\n", "↵")))
for name, value in features_of(demo).items():
    print(f"{name:12s}", " ".join(f"{v:2.0f}" for v in value))

# %% [markdown]
# ## 4 · An honest search
#
# For each feature and each of the $H$ cells, the Pearson correlation $r$ between the feature
# and $h_t$ over passage A; the cell with the largest $|r|$ wins. With 512 cells to pick
# from, the winner's $|r|$ is partly luck, so two checks go with it:
#
# - **chance level**: the best $|r|$ the search finds when the feature is shifted against the
#   text by a random offset (same feature, same cells, no alignment), over 20 offsets;
# - **held-out**: the winner's $r$ on passage B, which the search never saw.

# %% tags=["exercise"]
def correlate(a, feature):
    """Pearson r of each column of a (N, H) with feature (N,): an array (H,) of
    correlations in [-1, 1] (0 for a column that never changes)."""
    a = a - a.mean(axis=0)
    fc = feature - feature.mean()
    denom = np.sqrt((a * a).sum(axis=0) * (fc * fc).sum())
    return (a.T @ fc) / np.where(denom > 0, denom, 1.0)


# %%
correlate = ex.check_correlate(correlate)

# %%
rng = np.random.default_rng(0)
shifts = rng.integers(1_000, n_A - 1_000, size=20)
best = {}
print(f"{'feature':12s} {'cell':>5s} {'r on A':>7s} {'r on B':>7s} {'chance |r|':>11s}")
for name, feature in features.items():
    r_A = correlate(h[A], feature[A])
    cell = int(np.abs(r_A).argmax())
    r_B = correlate(h[B, cell : cell + 1], feature[B])[0]
    chance = max(np.abs(correlate(h[A], np.roll(feature[A], s))).max() for s in shifts)
    best[name] = cell
    print(f"{name:12s} {cell:5d} {r_A[cell]:7.3f} {r_B:7.3f} {chance:11.3f}")

# %% [markdown]
# All three winners pass both checks: on passage B their $r$ keeps its sign and most of its
# size, and it stays several times the chance level. `speaker` is the clearest ($r = 0.672$
# on A, $0.737$ on B), `in_brackets` the weakest ($-0.291$ on A, $-0.223$ on B, against a
# chance level of 0.063). The same cell, 340, wins for both: section 5 shows what it does.
# A rare feature such as a stage direction needs a long passage A, or the search has too
# few examples to go on. The sign of $r$ carries no meaning: a cell can mark a feature by
# going up or down. Whether some cell keeps stage directions in its memory $c_t$ rather
# than in its output $h_t$ is exercise 2.

# %% [markdown]
# ## 5 · Text coloured by a cell
#
# Each character in a box coloured by $h_t$ of one cell after reading that character
# (red positive, blue negative), on excerpts of passage B. `↵` marks a newline.

# %%
def show_cell(s, values, title):
    """Draw the string s, one character per box, coloured by values (len(s),) in [-1, 1]."""
    lines = s.split("\n")[:-1]  # s ends with a newline
    width = max(len(line) for line in lines) + 1
    grid = np.full((len(lines), width), np.nan)
    k = 0
    for r, line in enumerate(lines):
        grid[r, : len(line) + 1] = values[k : k + len(line) + 1]
        k += len(line) + 1
    fig, ax = plt.subplots(figsize=(0.115 * width + 1.6, 0.2 * len(lines) + 0.9))
    mesh = ax.pcolormesh(np.ma.masked_invalid(grid), cmap="RdBu_r", vmin=-1, vmax=1,
                         edgecolors="white", linewidth=0.5)
    for r, line in enumerate(lines):
        for c, ch in enumerate(line + "↵"):
            ink = "white" if abs(grid[r, c]) > 0.6 else "black"
            ax.text(c + 0.5, r + 0.5, ch, ha="center", va="center", fontsize=8,
                    family="DejaVu Sans Mono", color=ink)
    ax.set_xlim(0, width)
    ax.set_ylim(len(lines), 0)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set(title=title, xlabel="position in the line (one box per character)",
           ylabel="line")
    fig.colorbar(mesh, ax=ax, label="$h_t$", pad=0.01, aspect=15)
    plt.show()


def excerpt(anchor, n_lines):
    """Positions (a slice of ids) of n_lines lines of passage B, from the line that starts
    with anchor."""
    first = val_text.index(anchor, B.start)
    end = first
    for _ in range(n_lines):
        end = val_text.index("\n", end) + 1
    assert B.start <= first and end <= B.stop
    return slice(first, end)


# %% [markdown]
# The best match for `in_brackets`, cell 340, does not stay high from `[` to `]` as a bracket
# cell would. It is strongly positive (red) on a speaker's name, darkest at its last
# letters, and negative (blue) on the names in capitals inside a stage direction and in the
# scene heading; it is pale on the other words of a direction and near zero through
# speech. Its negative $r$ with `in_brackets` comes mostly from the names in the
# directions, as the means below show.

# %%
cell = best["in_brackets"]
span = excerpt("SCENE 2. Troy. PANDARUS' orchard", 19)
show_cell(val_text[span], h[span, cell],
          f"Cell {cell}, the best match for in_brackets (passage B)")

# %% [markdown]
# The mean of this cell's $h_t$ over passage B, on each kind of character:

# %%
chars = np.array(list(val_text[: len(ids)]))
capital = np.char.isupper(chars)
on_name, in_dir = features["speaker"] > 0, features["in_brackets"] > 0
kinds = {"on a speaker's line": on_name,
         "in a stage direction, capital": in_dir & capital,
         "in a stage direction, other": in_dir & ~capital,
         "everywhere else": ~on_name & ~in_dir}
print(f"{f'cell {cell}, passage B':30s} {'share':>5s} {'mean h_t':>9s}")
for name, mask in kinds.items():
    print(f"{name:30s} {mask[B].mean():5.1%} {h[B, cell][mask[B]].mean():9.3f}")

# %% [markdown]
# On a speaker's line the cell is positive on average (0.511), inside a stage direction
# negative, and most on its capitals ($-0.405$ against $-0.237$), and everywhere else (91 %
# of passage B) it stays near zero. It is a cell for names: it tells a name that begins a
# speech from a name inside a stage direction. The same cell on a run of speeches: it
# rises along each name, is darkest at the last letters and the full stop, and falls back
# to near zero at the newline and through the speech, whose first letter is a capital too.

# %%
cell = best["speaker"]
span = excerpt("AJAX.\nIf I go to him", 16)
show_cell(val_text[span], h[span, cell],
          f"Cell {cell}, the best match for speaker (passage B)")

# %% [markdown]
# The `column` cell, 66, is negative (blue) through the first half of each line and turns
# positive (red) towards its end; a short line stays blue to its newline. It is a clock
# that tells the model when a line break is getting near.

# %%
cell = best["column"]
span = excerpt("ULYSSES.\nThings small as nothing", 11)
show_cell(val_text[span], h[span, cell],
          f"Cell {cell}, the best match for column (passage B)")

# %% [markdown]
# The column cell as a curve: its mean value at each position in the line, over the lines
# of passage B. It is not a steady count: it is negative from the start of the line,
# lowest from about the 15th to the 25th character, and then climbs, crossing zero at about
# the 35th. Pearson's $r$ measures how close a relation is to a straight line, so a curve like
# this one gets a lower $r$ (0.587 on passage A) than a steady count would.

# %%
col_B = features["column"][B].astype(int)
vals_B = h[B, cell]
cols = np.arange(0, 61)
mean_at = np.array([vals_B[col_B == k].mean() for k in cols])
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(cols, mean_at, "o-", ms=3)
ax.set(title=f"Cell {cell} against the position in the line (passage B)",
       xlabel="characters since the last newline", ylabel=f"mean $h_t$ of cell {cell}")
plt.show()

# %% [markdown]
# ## 6 · Gate saturation
#
# A gate near 0 or 1 acts as a switch: $f_t \approx 1$ keeps the cell's memory unchanged,
# $f_t \approx 0$ erases it; $i_t \approx 0$ ignores the input; $o_t \approx 0$ hides the cell
# from the output. The share of gate values below 0.1 or above 0.9 over the first 10,000
# characters of passage A, for all $H$ cells of the model's one layer (the one `run_stream`
# keeps and the one searched above):

# %%
gate_A = {name: gates_early[warmup:, k * H : (k + 1) * H] for k, name in enumerate("ifgo")}
assert gate_A["i"].shape == (10_000, H)
layer_name = "the only layer" if L == 1 else f"the top layer of {L}"
print(f"{layer_name}, {H} cells, 10,000 characters")
print(f"{'gate':5s} {'< 0.1':>7s} {'> 0.9':>7s} {'between':>8s}")
for name in "ifo":
    v = gate_A[name]
    low, high = (v < 0.1).mean(), (v > 0.9).mean()
    print(f"{name:5s} {low:7.3f} {high:7.3f} {1 - low - high:8.3f}")
stuck = (np.abs(tanh_c[warmup:]) > 0.99).mean(axis=0) >= 0.99
print(f"\ncells with |tanh(c_t)| > 0.99 at 99 % of the positions or more: "
      f"{stuck.sum()} of {H}")

# %% [markdown]
# The forget gate is open (above 0.9) more than half the time (0.571) and closed (below
# 0.1) at about one value in nine (0.115): most of the time a cell keeps most of its
# memory. The input gate is a switch less often: two thirds of its values (0.664) lie in
# between, so at most steps a cell adds part of $g_t$ to $c_t$. The output gate is mostly
# closed (0.761 below 0.1, 0.019 above 0.9): a cell shows its state to the output layer
# and to the next step only at the steps where its output gate opens. 226 of the 512 cells
# have a $c_t$ so far from 0 that $\tanh(c_t)$ is $\pm 1$ almost whatever happens (beyond
# $\pm 0.99$ at 99 % of the positions or more); for these stuck cells $h_t = \pm o_t$: they
# pass on their output gate alone, and the gate does the work. The histograms below show
# each gate's distribution over all the cells (log scale): $f_t$ piles up near 1, $o_t$
# near 0, $g_t$ at $\pm 1$, and $i_t$ is spread out, with a spike near 0 and a broad peak
# near 0.9.

# %%
fig, axes = plt.subplots(1, 4, figsize=(9, 2.8), sharey=True)
for ax, name in zip(axes, "ifgo", strict=True):
    lo = -1 if name == "g" else 0
    ax.hist(gate_A[name].ravel(), bins=50, range=(lo, 1), density=True, color="C0")
    ax.set(title=f"${name}_t$", xlabel="activation")
axes[0].set_ylabel("density (log scale)")
axes[0].set_yscale("log")
fig.suptitle(f"Gate activations over 10,000 characters × {H} cells")
plt.show()

# %% [markdown]
# ## 7 · Against counting: n-gram models
#
# How much of this could a model get by counting? An n-gram model predicts each character
# from the $n - 1$ before it, using how often each n-gram occurs in the training text. Unseen
# n-grams must not get probability 0, so the counts are smoothed: `lc.ngram_loss` uses
# interpolated Kneser-Ney (Chen & Goodman 1998), which subtracts a discount D from every
# count and hands the freed mass to the $(n - 1)$-gram model below. The unigram model
# ($n = 1$, add-one counts) knows only character frequencies; its loss on the validation
# split is close to `lc.unigram_entropy`, the entropy of the training frequencies.

# %%
unigram = lc.unigram_entropy(train_ids, V)
ns = np.arange(1, 7)
ngram = np.array([lc.ngram_loss(train_ids, val_ids, int(n), V) for n in ns])
n_best = int(ns[ngram.argmin()])
val_lstm = ckpt["history"][-1]["val_loss"]  # lc.evaluate on the whole split, end of training
rows = [("uniform", np.log(V)), ("unigram entropy (train)", unigram)]
rows += [(f"{n}-gram, Kneser-Ney", loss) for n, loss in zip(ns, ngram, strict=True)]
rows += [(f"LSTM, H = {H}", val_lstm)]
print(f"{'model (validation split)':26s} {'nats/char':>9s} {'bits/char':>9s}")
for name, loss in rows:
    print(f"{name:26s} {loss:9.3f} {lc.bits_per_char(loss):9.3f}")
print(f"best n: {n_best}")

# %% [markdown]
# Size is another way to compare them. An n-gram model's "parameters" are its counts: one
# per distinct n-gram of the training text, for every order up to n.

# %%
n_counts = []
for n in ns:
    keys = np.zeros(len(train_ids) - n + 1, dtype=np.int64)  # one integer per n-gram
    for k in range(n):
        keys = keys * V + train_ids[k : len(train_ids) - n + 1 + k]
    n_counts.append(len(np.unique(keys)))
print("distinct n-grams in the training text:",
      ", ".join(f"n = {n}: {c:,}" for n, c in zip(ns, n_counts, strict=True)))
print(f"counts of the 6-gram model, all orders: {sum(n_counts):,}; "
      f"parameters of the LSTM: {lc.count_params(params):,} "
      f"({lc.count_params(params) / sum(n_counts):.1f} times as many)")

# %% [markdown]
# The LSTM holds about as many numbers as the 6-gram model (1.27 M parameters against
# 1.11 M counts). The bar chart puts their losses side by side.

# %%
labels = ["uniform"] + [f"{n}-gram" for n in ns] + ["LSTM"]
values = np.array([np.log(V), *ngram, val_lstm])
colors = ["0.6"] * (1 + len(ns)) + ["C3"]
fig, ax = plt.subplots(figsize=(7, 3.3))
bars = ax.bar(labels, values, color=colors)
ax.bar_label(bars, fmt="%.2f", fontsize=8)
ax.set(title="Validation loss: n-gram models (Kneser-Ney) and the LSTM",
       ylabel="loss (nats/char)", ylim=(0, 5))
bits_axis = ax.secondary_yaxis("right", functions=(lc.bits_per_char, lambda b: b * np.log(2)))
bits_axis.set_ylabel("bits/char")
ax.grid(axis="x", visible=False)
plt.show()

# %% [markdown]
# The shipped LSTM, an hour of training on two CPU cores, beats the best count-based model
# ($n = 6$) by about a tenth of a nat per character (1.385 against 1.498 nats/char, 1.997
# against 2.162 bits/char), with about as many numbers.
# Karpathy, Johnson & Fei-Fei (2015) found well-trained LSTMs clearly ahead of n-gram
# models up to $n = 20$, with the largest gains on characters that depend on distant context,
# such as closing braces in C code. This model has learned some structure that reaches
# further back than five characters (the cells above), but every character's loss counts
# the same, and most characters are predicted from the few before them, which a 6-gram
# model simply looks up; so the lead is real but modest (exercise 4 asks where it comes
# from). The n-gram losses level off at $n = 6$ ($n = 7$ gives 1.499, see
# `data/README.md`): counting cannot go much lower on this much text.

# %% [markdown]
# ## 8 · What the model expects next
#
# The five most likely next characters after a few primes, each read from a zero state,
# with their probabilities. A name in capitals and its newline, `ROMEO.`, read with nothing
# before it, is most often followed by another newline (0.630), as a heading is; after the
# end of a speech (`I will.` and a blank line) the same name is followed by the first
# letter of a speech: all five guesses are capitals. What the model expects after a name
# depends on the state it brings to it. It finishes a familiar word (`b` → `e`, at 0.942).
# After `[Exit` it hesitates between a space before the name of who leaves (0.567) and the
# full stop of `[Exit.]` (0.386). After `My lord, I` comes a space (0.862) or an apostrophe
# (0.086).

# %%
for prime in ["ROMEO.\n", "I will.\n\nROMEO.\n", "To be, or not to b", "[Exit", "My lord, I"]:
    z, _, _ = lc.forward(params, vocab.encode(prime)[:, None])
    p = lc.softmax(z[-1, 0].astype(np.float64))
    top = np.argsort(p)[::-1][:5]
    guesses = "  ".join(f"{vocab.chars[j]!r} {p[j]:.3f}" for j in top)
    print(f"{prime!r:24s} -> {guesses}")

# %% [markdown]
# ## Summary
#
# - The forward cache holds, per layer, the gates ($i, f, g, o$ side by side), $c_t$, $\tanh(c_t)$
#   and $h_t$ for every step; reading them needs no extra code in the model.
# - A search over $H$ cells always finds a best correlation; compare it with the chance level
#   of the same search on a misaligned feature, and test it on text the search never saw.
# - The shipped model has a cell for speakers' names (it goes the other way on names inside
#   stage directions) and a cell for the position in the line, and they pass both checks.
#   The best match for stage directions is that names cell, and a weak one.
# - The forget gates are open more than half the time and the output gates mostly closed;
#   the input gates are mostly in between. 226 of the 512 cells have $\tanh(c_t)$ stuck at
#   $\pm 1$, and their output gate alone carries information.
# - Counting is a strong baseline: the hour-long LSTM, with about as many numbers as the
#   best Kneser-Ney model ($n = 6$), beats it on the validation split by about a tenth of a
#   nat per character.
#
# ## Exercises
#
# 1. Add a feature of your own (inside a word, a line of verse vs prose, the character
#    after an apostrophe) and run the search. Does a cell pass the held-out test?
# 2. Repeat the search on $c_t$ (`cs` in the cache) and on $\tanh(c_t)$ instead of $h_t$. Which
#    cells win now? What can a search on $\tanh(c_t)$ find in a cell whose $\tanh(c_t)$ is
#    stuck at $\pm 1$?
# 3. Find the cells whose forget gate is above 0.9 most of the time. Are they the same
#    cells that track long-range features such as `in_brackets`?
# 4. Compute the per-character loss of the LSTM and of the best n-gram model on passage A
#    (the n-gram one by adapting `lc.ngram_loss`). Where does the LSTM win most?
#
# ## Further reading
#
# - A. Karpathy, J. Johnson, L. Fei-Fei, [*Visualizing and Understanding Recurrent
#   Networks*](https://arxiv.org/abs/1506.02078), 2015: interpretable cells in
#   character-level LSTMs, gate saturation, and comparison with n-gram models.
# - A. Karpathy, [*The Unreasonable Effectiveness of Recurrent Neural
#   Networks*](https://karpathy.github.io/2015/05/21/rnn-effectiveness/), 2015: the quote
#   cell and the line-length cell, with pictures of text coloured by activation.
# - S. F. Chen, J. Goodman, *An Empirical Study of Smoothing Techniques for Language
#   Modeling*, Harvard University Technical Report TR-10-98, 1998: Kneser-Ney smoothing and
#   its interpolated, modified forms.
# - A. Radford, R. Jozefowicz, I. Sutskever, [*Learning to Generate Reviews and Discovering
#   Sentiment*](https://arxiv.org/abs/1704.01444), 2017: a single LSTM unit that tracks
#   sentiment, found in a character-level model.
# - K. Greff, R. K. Srivastava, J. Koutník, B. R. Steunebrink, J. Schmidhuber, [*LSTM: A
#   Search Space Odyssey*](https://arxiv.org/abs/1503.04069), IEEE TNNLS 2017: which parts
#   of the LSTM (gates, peepholes, activations) matter.
#
# ← Previous: [05 · Training and sampling](05_training.ipynb) ·
# [Contents](00_contents.ipynb)
