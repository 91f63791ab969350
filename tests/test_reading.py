"""The module reads like its lessons: named caches, one flag per Config field, a flat loop."""

import dataclasses

import numpy as np
import pytest

import lstm_core as lc


def test_the_caches_are_named_and_still_unpack_by_position():
    params = lc.init_params(7, 5, 2, seed=0, dtype="float64")
    x = np.random.default_rng(0).integers(0, 7, (6, 3))
    _, (h, c), cache = lc.forward(params, x, dropout=0.2, rng=np.random.default_rng(1))
    assert isinstance(cache, lc.ForwardCache) and cache._fields == ("x", "layers", "top",
                                                                    "params")
    x_, layers, top, params_ = cache  # as notebook 06 and lstm_exercises unpack it
    assert x_ is cache.x and top is cache.top and params_ is params and len(layers) == 2
    record = cache.layers[-1]
    assert isinstance(record, lc.LayerRecord) and record._fields == ("inp", "cache", "mask")
    assert cache.layers[0].inp is None and record.mask.shape == (6, 3, 5)
    layer = record.cache
    assert isinstance(layer, lc.LayerCache)
    assert layer._fields == ("gates", "cs", "tanh_cs", "hs", "W_h")
    gates, cs, tanh_cs, hs, W_h = layer
    assert gates.shape == (6, 3, 20) and cs.shape == hs.shape == (7, 3, 5)
    assert tanh_cs.shape == (6, 3, 5) and W_h is params["W_h1"]
    np.testing.assert_array_equal(cs[-1], c[1])  # cs[T] = c_T, the state handed on
    np.testing.assert_array_equal(hs[-1], h[1])
    np.testing.assert_array_equal(cache[1][0][1].cs, cache.layers[0].cache[1])


def test_every_config_field_is_a_train_flag_with_its_help(capsys):
    assert lc.main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    train = next(a for a in lc.build_parser()._actions if a.dest == "command").choices["train"]
    by_dest = {a.dest: a for a in train._actions}
    for f in dataclasses.fields(lc.Config):
        flag = lc._flag(f.name)
        action = by_dest[f.name]
        assert action.option_strings == [flag] and action.default is None
        assert f.metadata["help"] and action.help.startswith(f.metadata["help"])
        assert text.count(f"  {flag} ") == 1, flag  # documented once
        assert (f.name in lc.RESUMABLE_CHANGES) == ("may change on --resume" in action.help)
    assert by_dest["num_layers"].option_strings == ["--layers"]
    for flag in ("--data", "--out", "--resume", "--overwrite", "--stop-at", "--metrics-json"):
        assert f"  {flag}" in text
    assert lc._flag_list(lc.RESUMABLE_CHANGES) in by_dest["resume"].help


@pytest.mark.parametrize("flag,value,phrase", [
    ("--beta1", "1", "--beta1 must be in [0, 1)"),
    ("--beta2", "nan", "--beta2 must be in [0, 1)"),
    ("--eps", "0", "--eps must be > 0"),
    ("--forget-bias", "inf", "--forget-bias must be a finite number"),
    ("--min-lr-frac", "1.5", "--min-lr-frac must be in [0, 1]"),
    ("--eval-chars", "0", "--eval-chars must be a positive integer"),
])
def test_the_flags_new_to_the_command_line_are_checked_before_any_work(tmp_path, capsys, flag,
                                                                       value, phrase):
    out = tmp_path / "m.npz"
    assert lc.main(["train", "--data", str(tmp_path / "missing.txt"), "--out", str(out),
                    flag, value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {phrase}"), err
    assert not out.exists()


def test_resume_config_takes_changes_or_a_config_and_keeps_the_recipe():
    saved = lc.Config(max_steps=10)
    assert lc.resume_config(saved, {"max_steps": 20}).max_steps == 20
    assert lc.resume_config(saved, dataclasses.replace(saved, threads=1)).threads == 1
    for changes in ({"lr": 1e-2}, dataclasses.replace(saved, lr=1e-2)):
        with pytest.raises(lc.LSTMError, match="--lr cannot change when resuming"):
            lc.resume_config(saved, changes)


def test_the_loop_of_train_is_its_parts_in_order(small_text):
    """start_run, run_step, run_evaluation, finish_run, called by hand as notebook 05's
    loop is written, give lc.train's parameters and history exactly."""
    cfg = lc.Config(hidden_size=8, num_layers=1, batch_size=4, seq_len=16, max_steps=12,
                    eval_every=5, eval_chars=500, warmup_steps=2, dtype="float64", threads=1,
                    sample_every=0)
    vocab = lc.Vocabulary.from_text(small_text)
    run = lc.start_run(cfg, lc.training_data(small_text, vocab, cfg), verbose=False)
    while lc.run_progress(run) < 1.0:
        lc.run_step(run)
        if run.step % cfg.eval_every == 0:
            lc.run_evaluation(run)
    mine = lc.finish_run(run)
    theirs = lc.train(cfg, text=small_text, verbose=False)
    for name in theirs.params:
        np.testing.assert_array_equal(mine.params[name], theirs.params[name])
    strip = [{k: r[k] for k in ("step", "train_loss", "val_loss", "lr")} for r in mine.history]
    assert strip == [{k: r[k] for k in ("step", "train_loss", "val_loss", "lr")}
                     for r in theirs.history]
    assert [r["step"] for r in mine.history] == [5, 10, 12]
