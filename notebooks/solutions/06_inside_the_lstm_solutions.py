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
# # 06 · Inside the LSTM: worked solutions
#
# ← Previous: [05 · solutions](05_training_solutions.ipynb) ·
# [The lesson](../06_inside_the_lstm.ipynb) · [Contents](../00_contents.ipynb)
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
# The lesson's setting: the shipped model, the first 60,500 validation characters read as
# one stream, passage A (40,000 characters, to search) and passage B (20,000, to test).
# This version of `run_stream` keeps $c_t$ of every position too, and the forget gates of
# the first 10,000 characters of passage A.

# %%
ckpt = lc.load_checkpoint(lc.DEFAULT_CHECKPOINT)
params, vocab, cfg = ckpt["params"], ckpt["vocab"], ckpt["config"]
V, H = len(vocab), cfg.hidden_size
text = lc.load_corpus()
train_ids, val_ids = lc.split_data(vocab.encode(text))
val_text = vocab.decode(val_ids)
warmup, n_A, n_B = 500, 40_000, 20_000
ids = val_ids[: warmup + n_A + n_B]
A = slice(warmup, warmup + n_A)
B = slice(warmup + n_A, warmup + n_A + n_B)


def run_stream(params, ids, keep, window=2_000):
    """Read ids (N,) as one stream. Returns h_t and c_t (N, H) and the logits (N, V) of
    every position, and the forget gates (keep, H) of the first keep positions."""
    state = None
    h, c, logits, forget = [], [], [], []
    for start in range(0, len(ids), window):
        z, state, cache = lc.forward(params, ids[start : start + window, None], state)
        gates, cs, _, hs, _ = cache[1][-1][1]  # the last layer (here the only one)
        h.append(hs[1:, 0])
        c.append(cs[1:, 0])
        logits.append(z[:, 0])
        if start < keep:
            forget.append(gates[: keep - start, 0, H : 2 * H])
    return (np.concatenate(h), np.concatenate(c), np.concatenate(logits),
            np.concatenate(forget))


h, c, logits_all, forget = run_stream(params, ids, warmup + 10_000)
assert h.shape == c.shape == (len(ids), H) and forget.shape == (warmup + 10_000, H)
print(f"h_t and c_t of {len(ids):,} positions, H = {H}")

# %% [markdown]
# The lesson's features and its honest search, as a function: the best cell on passage A,
# its correlation on passage B, and the chance level of the same search on a misaligned
# feature.

# %%
def features_of(s):
    """Feature name -> array (len(s),) for the string s (the lesson's three)."""
    chars = np.array(list(s))
    n = np.arange(len(s))
    depth = np.cumsum(chars == "[") - np.cumsum(chars == "]")
    last_newline = np.maximum.accumulate(np.where(chars == "\n", n, -1))
    speaker = np.zeros(len(s))
    pos = 0
    for line in s.split("\n"):
        name = line.rstrip()
        if name.isupper() and name.endswith(".") and name[0].isalpha():
            speaker[pos : pos + len(line)] = 1
        pos += len(line) + 1
    return {"in_brackets": (depth > 0).astype(float),
            "column": (n - last_newline).astype(float), "speaker": speaker}


def correlate(a, feature):
    """Pearson r of each column of a (N, H) with feature (N,)."""
    a = a - a.mean(axis=0)
    fc = feature - feature.mean()
    denom = np.sqrt((a * a).sum(axis=0) * (fc * fc).sum())
    return (a.T @ fc) / np.where(denom > 0, denom, 1.0)


shifts = np.random.default_rng(0).integers(1_000, n_A - 1_000, size=20)


def search(states, feature):
    """(cell, r on A, r on B, chance |r|) of the best cell for a feature."""
    r_A = correlate(states[A], feature[A])
    cell = int(np.abs(r_A).argmax())
    r_B = correlate(states[B, cell : cell + 1], feature[B])[0]
    chance = max(np.abs(correlate(states[A], np.roll(feature[A], s))).max() for s in shifts)
    return cell, float(r_A[cell]), float(r_B), float(chance)


def print_search(rows):
    print(f"{'feature':18s} {'cell':>5s} {'r on A':>7s} {'r on B':>7s} {'chance |r|':>11s}")
    for name, (cell, r_A, r_B, chance) in rows.items():
        print(f"{name:18s} {cell:5d} {r_A:7.3f} {r_B:7.3f} {chance:11.3f}")


features = features_of(val_text[: len(ids)])
best_h = {name: search(h, feature) for name, feature in features.items()}
print_search(best_h)

# %% [markdown]
# ## Exercise 1
#
# *Add a feature of your own (inside a word, a line of verse vs prose, the character after
# an apostrophe) and run the search. Does a cell pass the held-out test?*
#
# Three features: `in_word` (the character read is a letter), `after_apostrophe` (the
# character read follows a `'`), and `line_starts_upper` (the line being read begins with a
# capital letter). In this edition every line of verse starts with a capital and prose runs
# on in lower case, so the last is a rough verse-or-prose feature (speakers' names and
# headings count as capitals too).

# %%
chars = np.array(list(val_text[: len(ids)]))
is_letter = np.char.isalpha(chars)
line_start = np.maximum.accumulate(np.where(np.r_[True, chars[:-1] == "\n"],
                                            np.arange(len(chars)), 0))
own = {"in_word": is_letter.astype(float),
       "after_apostrophe": np.r_[False, chars[:-1] == "'"].astype(float),
       "line_starts_upper": np.char.isupper(chars[line_start]).astype(float)}
print({name: f"{f[A].mean():.3f}" for name, f in own.items()}, "(share of passage A)")
print_search({name: search(h, feature) for name, feature in own.items()})

# %% [markdown]
# `in_word` passes both checks easily: cell 218 goes down inside words ($r = -0.68$ on
# passage A, $-0.72$ on B, chance 0.02), the word boundary being what the model needs for
# spaces and capitals. `after_apostrophe` passes too, weakly ($r = -0.22$ on A and $-0.18$
# on B against a chance level of 0.02): it is a rare feature (0.6 % of the characters),
# and one that the character itself, not the state, mostly carries. `line_starts_upper` is
# the one to look at twice. Its chance level is high (0.17) because the feature is
# constant along each line, so a misaligned copy still overlaps itself. Cell 141's
# $r = 0.56$ on passage A is well above it, and on passage B it keeps $0.41$: it passes,
# but it loses more on the held-out text than the other winners, and a winner that the
# search had found by luck would have lost everything there.
#
# ## Exercise 2
#
# *Repeat the search on $c_t$ (`cs` in the cache) and on $\tanh(c_t)$ instead of $h_t$.
# Which cells win now? What can a search on $\tanh(c_t)$ find in a cell whose $\tanh(c_t)$
# is stuck at $\pm 1$?*

# %%
tanh_c = np.tanh(c)
stuck = (np.abs(tanh_c[A]) > 0.99).mean(axis=0) >= 0.99
rows = {}
for name, feature in features.items():
    for label, states in [("h", h), ("c", c), ("tanh c", tanh_c)]:
        rows[f"{name}, {label}"] = search(states, feature)
print_search(rows)
print(f"\ncells with |tanh(c_t)| > 0.99 at 99 % of passage A or more: {stuck.sum()} of {H}")
print("winners that are stuck cells:",
      sorted({cell for cell, *_ in rows.values() if stuck[cell]}) or "none")
r_stuck = np.abs(correlate(tanh_c[A][:, stuck], features["column"][A]))
print(f"largest |r| of a stuck cell's tanh(c_t) with column: {r_stuck.max():.3f}")

# %% [markdown]
# For `column` the same cell, 66, wins on $h_t$, $c_t$ and $\tanh(c_t)$, but its memory
# follows the position in the line much more closely than its output ($r = 0.89$ on $c_t$,
# $0.86$ on $\tanh(c_t)$ and $0.59$ on $h_t$ on passage A; $0.89$, $0.84$ and $0.49$ on B):
# the count is in $c_t$, and $h_t = o_t \tanh(c_t)$ shows it only as far as the output gate
# lets it through. For `speaker` the three searches agree closely ($r$ from 0.67 to 0.70 on
# A); cell 340 wins on $h_t$ and $\tanh(c_t)$, cell 149 on $c_t$. For `in_brackets` the
# search on $c_t$ does much better: cell 176's $c_t$ has $r = -0.62$ on A and $-0.49$ on
# B, against $-0.29$ and $-0.22$ for the best $h_t$ (the names cell 340); on $\tanh(c_t)$
# cell 202 wins ($-0.42$, $-0.38$). So this model does keep stage directions in memory:
# in the $c_t$ of cell 176, whose $h_t$ shows them less clearly.
#
# 220 of the 512 cells are stuck by the lesson's measure, $|\tanh(c_t)| > 0.99$ at 99 % of
# the positions (here of passage A). A search on $\tanh(c_t)$ sees nothing of such a cell
# but its sign and its rare moments away from $\pm 1$: it cannot find a graded quantity in
# it (the best stuck cell reaches $|r| = 0.17$ with `column`), but it could find a switch,
# a cell that sits at $+1$ or $-1$ and flips. In this model none of the winners is a stuck
# cell.
#
# ## Exercise 3
#
# *Find the cells whose forget gate is above 0.9 most of the time. Are they the same cells
# that track long-range features such as `in_brackets`?*

# %%
f_A = forget[warmup:]  # (10,000, H): the first 10,000 characters of passage A
open_share = (f_A > 0.9).mean(axis=0)
long_memory = np.flatnonzero(open_share >= 0.9)
print(f"cells whose forget gate is above 0.9 at 90 % of the positions or more: "
      f"{len(long_memory)} of {H}")
print(f"{'feature':12s} {'cell':>5s} {'share of f > 0.9':>17s} {'among them':>11s}")
for name, (cell, *_) in best_h.items():
    print(f"{name:12s} {cell:5d} {open_share[cell]:17.3f} {str(cell in long_memory):>11s}")
r_brackets = np.abs(correlate(h[A], features["in_brackets"][A]))
print(f"mean |r| with in_brackets: {r_brackets[long_memory].mean():.3f} for those cells, "
      f"{np.delete(r_brackets, long_memory).mean():.3f} for the others")

# %% [markdown]
# About a third of the cells keep their memory most of the time: 179 of 512 have
# $f_t > 0.9$ at 90 % of the positions or more. The `column` cell 66 is one of them
# (93 %): a counter must keep its count from one character to the next. The names cell
# 340, the winner for both `in_brackets` and `speaker`, is not (56 %): a name is something
# to hold for a few characters and then to drop, as the lesson's picture shows it doing at
# the newline. Across all cells, an open forget gate says nothing about tracking brackets
# (mean $|r|$ 0.024 for the open cells, 0.032 for the others): a long memory is common,
# and what makes a cell track a feature is when it writes and when it forgets.
#
# ## Exercise 4
#
# *Compute the per-character loss of the LSTM and of the best n-gram model on passage A
# (the n-gram one by adapting `lc.ngram_loss`). Where does the LSTM win most?*
#
# `lc.ngram_loss` returns the mean of $-\ln p$; the adaptation returns every position's
# $-\ln p$ instead (the body is the same, with `lc.`'s two helpers).

# %%
def ngram_losses(train_ids, val_ids, n, vocab_size):
    """-ln p of every val character under the interpolated Kneser-Ney n-gram model of
    lc.ngram_loss (n >= 2), in nats: an array of len(val_ids)."""
    ids = np.concatenate([train_ids, val_ids]).astype(np.int64)
    start = len(train_ids)
    train64 = ids[:start]
    p = np.full(len(val_ids), 1.0 / vocab_size)
    for order in range(1, n + 1):
        if order < n:
            longer = np.unique(lc._ngram_keys(train64, order + 1, vocab_size))
            keys, counts = np.unique(longer % vocab_size**order, return_counts=True)
        else:
            keys, counts = np.unique(lc._ngram_keys(train64, order, vocab_size),
                                     return_counts=True)
        n1, n2 = (counts == 1).sum(), (counts == 2).sum()
        D = n1 / (n1 + 2 * n2) if n1 + 2 * n2 > 0 else 0.5
        ctx_keys, inverse = np.unique(keys // vocab_size, return_inverse=True)
        ctx_total = np.bincount(inverse, weights=counts)
        ctx_types = np.bincount(inverse)
        query = lc._ngram_keys(ids, order, vocab_size)[start - order + 1 :]
        count = lc._lookup(keys, counts, query)
        total = lc._lookup(ctx_keys, ctx_total, query // vocab_size)
        types = lc._lookup(ctx_keys, ctx_types, query // vocab_size)
        seen = total > 0
        p = np.where(seen, (np.maximum(count - D, 0) + D * types * p)
                     / np.where(seen, total, 1.0), p)
    return -np.log(p)


targets = np.arange(A.start + 1, A.stop + 1)  # the characters predicted in passage A
ngram = ngram_losses(train_ids, val_ids[: A.stop + 1], 6, V)[targets]
logits_A = logits_all[A.start : A.stop].astype(np.float64)  # position t predicts t + 1
lstm = -np.log(np.take_along_axis(lc.softmax(logits_A), ids[targets][:, None], axis=1)[:, 0])
np.testing.assert_allclose(ngram_losses(train_ids, val_ids[:2_000], 6, V).mean(),
                           lc.ngram_loss(train_ids, val_ids[:2_000], 6, V), rtol=1e-12)
print(f"passage A, {len(targets):,} characters: LSTM {lstm.mean():.3f}, 6-gram "
      f"{ngram.mean():.3f} nats/char (the adaptation agrees with lc.ngram_loss)")

target_chars = chars[targets]
prev_chars = chars[targets - 1]
groups = {
    "first letter of a word": is_letter[targets] & ~is_letter[targets - 1],
    "later letter of a word": is_letter[targets] & is_letter[targets - 1],
    "space": target_chars == " ",
    "newline": target_chars == "\n",
    "punctuation": np.isin(target_chars, list(".,;:!?'-")),
    "first character of a line": prev_chars == "\n",
    "inside a stage direction": features["in_brackets"][targets] > 0,
    "on a speaker's line": features["speaker"][targets] > 0,
}
print(f"\n{'characters predicted':27s} {'share':>6s} {'LSTM':>6s} {'6-gram':>7s} "
      f"{'LSTM wins by':>13s} {'x share':>8s}")
for name, mask in groups.items():
    wins = (ngram - lstm)[mask]
    print(f"{name:27s} {mask.mean():6.1%} {lstm[mask].mean():6.3f} {ngram[mask].mean():7.3f} "
          f"{wins.mean():13.3f} {wins.sum() / len(targets):8.3f}")

# %% [markdown]
# On passage A the LSTM is ahead overall (1.462 against 1.543 nats/char), as on the whole
# validation split (the lesson's section 7). Passage A is the end of *Troilus and
# Cressida*, whose beginning lies in the training text: the n-gram model has counted this
# play's names and phrases. The table shows where each wins. The LSTM wins on the
# characters that depend on more than the last five: where a word ends (spaces, and
# punctuation, 0.63 nats better), where a line ends (newlines, 0.71 nats better: the
# `column` cell's job), and how the next word or line begins. The 6-gram model wins inside
# words, where it looks up spellings it has seen, though only by 0.06 nats (most
# characters are there, so even that weighs), inside stage directions, and most on
# speakers' lines (1.25 nats), names it has counted in this very play. The last column is
# each group's contribution to the difference of the mean losses, in nats/char (the
# groups overlap).
#
# ← Previous: [05 · solutions](05_training_solutions.ipynb) ·
# [The lesson](../06_inside_the_lstm.ipynb) · [Contents](../00_contents.ipynb)
