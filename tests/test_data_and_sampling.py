"""Corpus, vocabulary, streams, baselines and sampling."""

import hashlib
import importlib.util
import math
import subprocess
import sys

import numpy as np
import pytest

import lstm_core as lc


def test_default_corpus_is_the_pinned_shakespeare_text():
    text = lc.load_corpus()
    spec = importlib.util.spec_from_file_location("build_corpus", lc.DATA_DIR / "build_corpus.py")
    build_corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_corpus)
    assert hashlib.sha256(text.encode()).hexdigest() == build_corpus.CORPORA["shakespeare"][1]
    assert len(text) == 5_057_280 and len(set(text)) == 84


def test_vocabulary_is_sorted_and_the_same_in_every_process():
    code = "import lstm_core as lc; print(lc.Vocabulary.from_text('hello, world').chars)"
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={"PYTHONHASHSEED": str(seed)}).stdout
        for seed in (1, 2, 3)
    }
    assert outputs == {" ,dehlorw\n"}


def test_encode_decode_round_trip(small_text):
    vocab = lc.Vocabulary.from_text(small_text)
    ids = vocab.encode(small_text)
    assert ids.dtype == np.int32 and ids.min() == 0 and ids.max() == len(vocab) - 1
    assert vocab.decode(ids) == small_text


def test_encoding_an_unknown_character_is_a_clear_error():
    with pytest.raises(lc.LSTMError, match="not in the vocabulary: 'z'"):
        lc.Vocabulary.from_text("abc").encode("abz")


def test_split_is_first_ninety_last_ten_percent():
    ids = np.arange(1000)
    train, val = lc.split_data(ids)
    np.testing.assert_array_equal(train, ids[:900])
    np.testing.assert_array_equal(val, ids[900:])


def test_windows_of_a_stream_follow_one_another():
    ids = np.arange(1000)
    streams = lc.make_streams(ids, 4)
    assert streams[0].shape == (4, 249)
    x0, y0 = lc.get_window(streams, 0, 10)
    x1, _ = lc.get_window(streams, 1, 10)
    assert x0.shape == (10, 4)
    np.testing.assert_array_equal(y0, x0 + 1)  # targets are the next character
    np.testing.assert_array_equal(x1[0], x0[-1] + 1)  # window 1 continues window 0
    np.testing.assert_array_equal(x0[0], [0, 249, 498, 747])  # B contiguous slices
    assert lc.num_windows(streams, 10) == 24


def test_unigram_entropy_of_a_fair_die():
    ids = np.repeat(np.arange(6), 10)
    assert lc.unigram_entropy(ids, 6) == pytest.approx(math.log(6))


def test_ngram_probabilities_sum_to_one(small_text):
    vocab = lc.Vocabulary.from_text(small_text)
    train = vocab.encode(small_text[:15000])
    V = len(vocab)
    for n in (2, 4):
        for ctx in ("summer", "xqz and", "May,\n"):
            if not set(ctx) <= set(vocab.chars):
                continue
            prefix = vocab.encode(ctx)
            base = lc.ngram_loss(train, prefix, n, V) * len(prefix)
            total = sum(math.exp(base - lc.ngram_loss(train, np.append(prefix, c), n, V)
                                 * (len(prefix) + 1)) for c in range(V))
            assert total == pytest.approx(1.0, rel=1e-9), (n, ctx)


def test_longer_ngrams_predict_repetitive_text_better(small_text):
    vocab = lc.Vocabulary.from_text(small_text)
    train, val = lc.split_data(vocab.encode(small_text))
    losses = [lc.ngram_loss(train, val, n, len(vocab)) for n in (1, 2, 3, 5)]
    assert losses == sorted(losses, reverse=True)
    assert losses[0] == pytest.approx(lc.unigram_entropy(val, len(vocab)), abs=0.05)


@pytest.fixture(scope="module")
def model():
    vocab = lc.Vocabulary("\nabcdefgh ")
    return lc.init_params(len(vocab), 12, 2, seed=4, dtype="float64"), vocab


def test_sampling_with_a_seed_is_reproducible(model):
    params, vocab = model
    a = lc.sample(params, vocab, "abc", 50, seed=7)
    assert a == lc.sample(params, vocab, "abc", 50, seed=7)
    assert a != lc.sample(params, vocab, "abc", 50, seed=8)
    assert a.startswith("abc") and len(a) == 53


def test_temperature_zero_is_greedy_argmax(model):
    params, vocab = model
    text = lc.sample(params, vocab, "ab", 20, temperature=0)
    state, ids = None, list(vocab.encode("ab"))
    logits, state, _ = lc.forward(params, np.array(ids)[:, None])
    for _ in range(20):
        nxt = int(logits[-1, 0].argmax())
        ids.append(nxt)
        logits, state, _ = lc.forward(params, np.array([[nxt]]), state)
    assert text == vocab.decode(ids)


def test_prime_text_is_fed_one_character_per_step(model):
    params, vocab = model
    _, state_window, _ = lc.forward(params, vocab.encode("bad cafe")[:, None])
    state = None
    for ch in "bad cafe":
        _, state, _ = lc.forward(params, vocab.encode(ch)[:, None], state)
    np.testing.assert_allclose(state[0], state_window[0], rtol=1e-12)
    np.testing.assert_allclose(state[1], state_window[1], rtol=1e-12)


def test_top_k_draws_only_the_k_most_likely():
    logits = np.log(np.array([[0.05, 0.4, 0.1, 0.3, 0.15]]))
    rng = np.random.default_rng(0)
    draws = {int(lc.sample_next(logits, 1.0, 2, rng)[0]) for _ in range(300)}
    assert draws == {1, 3}


def test_sampling_frequencies_follow_the_softmax():
    p = np.array([0.1, 0.2, 0.7])
    rng = np.random.default_rng(0)
    draws = lc.sample_next(np.tile(np.log(p), (20000, 1)), 1.0, None, rng)
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / 20000, p, atol=0.01)
