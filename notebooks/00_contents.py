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
# # LSTM from scratch: contents
#
# A character-level LSTM language model, built from scratch in NumPy and taught in six
# notebooks. Read them in order: each starts with what you will learn and what you need,
# and ends with a summary, exercises and further reading. Every derivation is checked by the
# computer against the shared module `lstm_core.py`.
#
# 1. [01 · Data preparation](01_data_preparation.ipynb): from a text file to batches. The
#    sorted vocabulary, encoding, the train/validation split, $B$ parallel streams for
#    truncated backpropagation through time, and why an embedding lookup is a one-hot
#    product.
# 2. [02 · The forward pass](02_forward_pass.ipynb): the LSTM cell equation by equation, one
#    step by hand, a whole window, fused gates, numerically stable sigmoid and softmax, and
#    why an untrained model's loss is $\ln V$.
# 3. [03 · Backpropagation through time](03_backprop_through_time.ipynb): the gradients
#    derived one line at a time and checked against finite differences for every tensor;
#    the classic mistakes planted and caught; vanishing gradients in a vanilla RNN vs the
#    LSTM; clipping by global norm.
# 4. [04 · AdamW](04_adamw.ipynb): SGD, momentum, Adam and AdamW; what bias correction does
#    in the first steps; decoupled weight decay vs L2; the learning-rate schedule.
# 5. [05 · Training and sampling](05_training.ipynb): the training loop written out,
#    validation, bits per character and perplexity, sampling with temperature and top-k, and
#    the trained model.
# 6. [06 · Inside the LSTM](06_inside_the_lstm.ipynb): what a trained network learned: cells
#    that track speaker names and the position in the line (and, in its memory $c_t$, stage
#    directions), gate saturation, and how it compares with n-gram models.
#
# **Exercises.** `make exercises` writes a copy of each lesson with its exercise cells left
# for you to fill in, and a checker after each, into `exercises/` (next to this page).
#
# ## Working in JupyterLab
#
# - The lessons open **read-only** in `make lab`: run them, change cells, re-run, as much as
#   you like. Nothing is saved over the lesson, so its stored outputs stay the reference
#   that `make test` compares against.
# - To keep your work, use *File ▸ Save Notebook As…* and save it into `exercises/`, for
#   example as `exercises/01_mine.ipynb`: git ignores that folder and `make test` does not
#   run it, so your notebooks there never get in the way of the lessons.
# - Each lesson's source, `NN_topic.py` (for maintainers, see `README.md`), is hidden from the
#   file browser.
#
# ## Where this series comes from
#
# It replaces a popular single notebook, the Kaggle notebook
# [*LSTM from scratch*](https://www.kaggle.com/code/fareselmenshawii/lstm-from-scratch) by
# fareselmenshawii, which does the same job with batch 1, slowly, and with mistakes: a
# vocabulary whose order changes between runs, a wrong derivative of the candidate gate and
# wrong written gradient formulas, gradients clipped element by element, Adam's bias
# correction without the step count, the output gate never updated, weight decay on the
# biases, and a loss summed over the sequence with no validation set. The lessons
# describe each mistake where it matters (notebooks 01, 03, 04 and 05), so you do not need
# to read the original.
#
# Next: [01 · Data preparation](01_data_preparation.ipynb) →
