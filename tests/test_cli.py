"""The command line, checkpoints and every bad input of DESIGN.md's list."""

import json

import numpy as np
import pytest
from conftest import TINY, run_cli

import lstm_core as lc


def assert_one_line_error(result, *phrases):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A checkpoint of a short CLI training run on the small corpus."""
    from conftest import VERSES

    tmp = tmp_path_factory.mktemp("trained")
    rng = np.random.default_rng(0)
    corpus = tmp / "corpus.txt"
    corpus.write_text("".join(VERSES[i] for i in rng.integers(0, len(VERSES), 500)))
    ckpt, metrics = tmp / "model.npz", tmp / "metrics.json"
    result = run_cli("train", "--data", corpus, *TINY, "--max-steps", 20, "--seed", 3,
                     "--out", ckpt, "--metrics-json", metrics)
    assert result.returncode == 0, result.stderr
    return corpus, ckpt, metrics, result


def test_train_runs_saves_and_reports_validation_loss(trained):
    corpus, ckpt, metrics, result = trained
    assert "validation loss:" in result.stdout and "nats/char" in result.stdout
    m = json.loads(metrics.read_text())
    for key in ("val_loss", "train_loss", "steps", "seconds", "chars_per_sec", "params"):
        assert key in m
    assert m["steps"] == 20 and m["params"] == lc.count_params(lc.load_checkpoint(ckpt)["params"])
    assert m["val_loss"] < np.log(m["vocab_size"])  # it learned something in 20 steps
    assert f"{m['val_loss']:.4f}" in result.stdout


def test_sample_from_a_checkpoint_is_reproducible(trained):
    _, ckpt, _, _ = trained
    a = run_cli("sample", "--checkpoint", ckpt, "--prime", "Shall", "--length", 40,
                "--seed", 1)
    b = run_cli("sample", "--checkpoint", ckpt, "--prime", "Shall", "--length", 40,
                "--seed", 1)
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout and a.stdout.startswith("Shall")
    assert len(a.stdout) in (45, 46)  # prime + 40 characters (+ a final newline)


def test_gradcheck_command_prints_every_tensor_under_threshold():
    result = run_cli("gradcheck", "--layers", 2, "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 10 and all(r["ok"] and r["error"] <= 1e-6 for r in rows)


def test_checkpoint_round_trip(tmp_path):
    params = lc.init_params(6, 4, 2, seed=0)
    opt = lc.AdamW(params)
    opt.step(params, {k: np.ones_like(v) for k, v in params.items()})
    state = lc.zero_state(params, 3)
    rng = np.random.default_rng(5)
    rng.random(3)
    cfg = lc.Config(hidden_size=4, num_layers=2, batch_size=3)
    vocab = lc.Vocabulary("abcdef")
    lc.save_checkpoint(tmp_path / "c.npz", params=params, opt=opt, state=state, vocab=vocab,
                       cfg=cfg, step=7, window=2, elapsed=1.5, rng=rng,
                       history=[{"step": 7, "val_loss": 1.0}])
    back = lc.load_checkpoint(tmp_path / "c.npz")
    assert back["config"] == cfg and back["vocab"] == vocab
    assert (back["step"], back["window"], back["elapsed"]) == (7, 2, 1.5)
    assert back["opt"].t == 1 and back["history"] == [{"step": 7, "val_loss": 1.0}]
    for k in params:
        np.testing.assert_array_equal(back["params"][k], params[k])
        np.testing.assert_array_equal(back["opt"].m[k], opt.m[k])
        np.testing.assert_array_equal(back["opt"].v[k], opt.v[k])
    restored = np.random.default_rng()
    restored.bit_generator.state = back["rng"]
    assert restored.random() == rng.random()


def test_resume_equals_an_uninterrupted_run(trained, tmp_path):
    corpus = trained[0]
    flags = [*TINY, "--max-steps", 12, "--dropout", 0.2, "--seed", 11]
    whole, part = tmp_path / "whole.npz", tmp_path / "part.npz"
    assert run_cli("train", "--data", corpus, *flags, "--out", whole).returncode == 0
    first = run_cli("train", "--data", corpus, *flags, "--out", part, "--stop-at", 7)
    assert first.returncode == 0, first.stderr
    assert lc.load_checkpoint(part)["step"] == 7
    second = run_cli("train", "--data", corpus, "--resume", part, "--max-steps", 12)
    assert second.returncode == 0, second.stderr
    a, b = lc.load_checkpoint(whole), lc.load_checkpoint(part)
    assert b["step"] == 12
    for k in a["params"]:
        np.testing.assert_array_equal(a["params"][k], b["params"][k])  # bitwise
        np.testing.assert_array_equal(a["opt"].m[k], b["opt"].m[k])


def test_an_interrupted_save_leaves_the_previous_checkpoint_intact(trained, tmp_path,
                                                                   monkeypatch):
    _, ckpt, _, _ = trained
    path = tmp_path / "keep.npz"
    path.write_bytes(ckpt.read_bytes())
    before = path.read_bytes()
    loaded = lc.load_checkpoint(path)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(lc.os, "fsync", crash)  # fails after the temp file is half written
    with pytest.raises(lc.LSTMError, match="cannot write .*keep.npz: disk full"):
        lc.save_checkpoint(path, params=loaded["params"], opt=loaded["opt"],
                           state=loaded["state"], vocab=loaded["vocab"], cfg=loaded["config"])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.npz"]  # no temp file left behind


def test_training_refuses_to_overwrite_an_existing_file(corpus_file, tmp_path):
    mine = tmp_path / "notes.npz"
    mine.write_text("my precious notes")
    result = run_cli("train", "--data", corpus_file, *TINY, "--max-steps", 2, "--out", mine)
    assert_one_line_error(result, "exists", "--overwrite")
    assert mine.read_text() == "my precious notes"


# --- bad input: one line, non-zero exit, nothing lost ----------------------------------

def test_missing_data_file(tmp_path):
    assert_one_line_error(run_cli("train", "--data", tmp_path / "nope.txt", "--max-steps", 1,
                                  "--out", tmp_path / "m.npz"), "not found")


def test_empty_data_file(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    assert_one_line_error(run_cli("train", "--data", tmp_path / "empty.txt", "--max-steps", 1,
                                  "--out", tmp_path / "m.npz"), "empty")


def test_non_utf8_data_file(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    assert_one_line_error(run_cli("train", "--data", tmp_path / "latin1.txt", "--max-steps", 1,
                                  "--out", tmp_path / "m.npz"), "not UTF-8")


def test_corpus_shorter_than_one_window(tmp_path):
    (tmp_path / "short.txt").write_text("To be, or not to be.")
    assert_one_line_error(run_cli("train", "--data", tmp_path / "short.txt", *TINY,
                                  "--max-steps", 1, "--out", tmp_path / "m.npz"), "too short")


@pytest.mark.parametrize("flag,value,phrase", [
    ("--hidden-size", 0, "--hidden-size must be a positive integer"),
    ("--layers", -1, "--layers must be a positive integer"),
    ("--batch-size", 0, "--batch-size must be a positive integer"),
    ("--seq-len", 0, "--seq-len must be a positive integer"),
    ("--max-steps", 0, "--max-steps must be a positive integer"),
    ("--lr", 0, "--lr must be > 0"),
    ("--lr", -0.1, "--lr must be > 0"),
    ("--dropout", 1.0, "--dropout must be in [0, 1)"),
    ("--time-budget", 0, "--time-budget must be > 0"),
    ("--grad-clip", "nan", "--grad-clip must be > 0"),
    ("--weight-decay", -1, "--weight-decay must be >= 0"),
    ("--hidden-size", "many", "invalid int value"),
])
def test_bad_training_flags(corpus_file, tmp_path, flag, value, phrase):
    args = ["train", "--data", corpus_file, *TINY, "--max-steps", 2, "--out", tmp_path / "m.npz"]
    assert_one_line_error(run_cli(*args, flag, value), phrase)
    assert not (tmp_path / "m.npz").exists()


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(corpus_file, tmp_path):
    ckpt = tmp_path / "m.npz"
    good = run_cli("train", "--data", corpus_file, *TINY, "--max-steps", 5, "--out", ckpt)
    assert good.returncode == 0
    boom = run_cli("train", "--data", corpus_file, "--resume", ckpt, "--max-steps", 50,
                   "--lr", 1e30)
    assert_one_line_error(boom, "--lr cannot change")  # a resume keeps its recipe
    boom = run_cli("train", "--data", corpus_file, *TINY, "--max-steps", 50, "--lr", 1e30,
                   "--warmup-steps", 1, "--eval-every", 1, "--out", ckpt, "--overwrite")
    assert_one_line_error(boom, "loss became", f"the last good checkpoint is {ckpt}")
    step = lc.load_checkpoint(ckpt)["step"]
    assert 1 <= step < 50  # saved before the loss became NaN, never after


@pytest.mark.parametrize("args,phrase", [
    (["--prime", "Shall I zzz"], "not in the vocabulary"),
    (["--temperature", "-1"], "--temperature must be >= 0"),
    (["--top-k", "0"], "--top-k must be a positive integer"),
    (["--length", "-5"], "--length must be an integer >= 0"),
])
def test_bad_sampling_flags(trained, args, phrase):
    assert_one_line_error(run_cli("sample", "--checkpoint", trained[1], *args), phrase)


def test_missing_checkpoint(tmp_path):
    assert_one_line_error(run_cli("sample", "--checkpoint", tmp_path / "none.npz"),
                          "checkpoint not found")


def test_truncated_checkpoint(trained, tmp_path):
    cut = tmp_path / "cut.npz"
    cut.write_bytes(trained[1].read_bytes()[:5000])
    assert_one_line_error(run_cli("sample", "--checkpoint", cut), "not a readable")


def test_foreign_checkpoints(tmp_path):
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    assert_one_line_error(run_cli("sample", "--checkpoint", tmp_path / "other.npz"),
                          "not a readable")
    (tmp_path / "text.npz").write_text("hello")
    assert_one_line_error(run_cli("sample", "--checkpoint", tmp_path / "text.npz"),
                          "not a readable")
    meta = np.frombuffer(json.dumps({"format": "something else"}).encode(), np.uint8)
    np.savez(tmp_path / "json.npz", meta=meta)
    assert_one_line_error(run_cli("sample", "--checkpoint", tmp_path / "json.npz"),
                          "not an lstm_core checkpoint")


def test_resume_on_text_with_another_vocabulary(trained, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("completely different characters: XYZ 123 \u00e9\u00e8 " * 400)
    copy = tmp_path / "copy.npz"
    copy.write_bytes(trained[1].read_bytes())
    before = copy.read_bytes()
    assert_one_line_error(run_cli("train", "--data", other, "--resume", copy,
                                  "--max-steps", 30), "vocabulary")
    assert copy.read_bytes() == before


def test_resume_refuses_a_changed_model_size(trained, tmp_path):
    copy = tmp_path / "copy.npz"
    copy.write_bytes(trained[1].read_bytes())
    assert_one_line_error(run_cli("train", "--data", trained[0], "--resume", copy,
                                  "--hidden-size", 32), "--hidden-size cannot change")


def test_a_released_model_samples_like_its_checkpoint_but_cannot_resume(trained, tmp_path):
    corpus, ckpt, _, _ = trained
    small = tmp_path / "released.npz"
    result = run_cli("release", "--checkpoint", ckpt, "--out", small)
    assert result.returncode == 0, result.stderr
    assert small.stat().st_size < ckpt.stat().st_size / 2
    flags = ["--prime", "And", "--length", 60, "--seed", 2]
    assert (run_cli("sample", "--checkpoint", small, *flags).stdout
            == run_cli("sample", "--checkpoint", ckpt, *flags).stdout)
    assert_one_line_error(run_cli("train", "--data", corpus, "--resume", small,
                                  "--max-steps", 40), "not resumed", "released")


def read_safetensors(path):
    """A reader of the format's specification, independent of lstm_core's writer."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__")
    data = raw[8 + n :]
    kinds = {"F32": "<f4", "F64": "<f8"}
    tensors = {name: np.frombuffer(data[h["data_offsets"][0] : h["data_offsets"][1]],
                                   kinds[h["dtype"]]).reshape(h["shape"])
               for name, h in header.items()}
    return tensors, meta


def test_export_writes_torch_names_and_layouts_and_keeps_inputs(trained, tmp_path):
    _, ckpt, _, _ = trained
    out = tmp_path / "m.safetensors"
    result = run_cli("export", "--checkpoint", ckpt, "--out", out)
    assert result.returncode == 0, result.stderr
    tensors, meta = read_safetensors(out)
    ours = lc.load_checkpoint(ckpt)
    p, V = ours["params"], len(ours["vocab"])
    assert json.loads(meta["vocab"]) == ours["vocab"].chars  # id i is character i
    assert (int(meta["hidden_size"]), int(meta["num_layers"])) == (16, 1)
    assert sorted(tensors) == ["linear.bias", "linear.weight", "lstm.bias_hh_l0",
                               "lstm.bias_ih_l0", "lstm.weight_hh_l0", "lstm.weight_ih_l0"]
    assert tensors["lstm.weight_ih_l0"].shape == (64, V)  # (4H, V): one-hot input of size V
    np.testing.assert_array_equal(tensors["lstm.weight_ih_l0"], p["W_x0"].T)
    np.testing.assert_array_equal(tensors["lstm.weight_hh_l0"], p["W_h0"].T)
    np.testing.assert_array_equal(tensors["lstm.bias_ih_l0"], p["b0"])
    assert not tensors["lstm.bias_hh_l0"].any()
    np.testing.assert_array_equal(tensors["linear.weight"], p["W_y"].T)
    before = out.read_bytes()
    assert_one_line_error(run_cli("export", "--checkpoint", ckpt, "--out", out),
                          "exists", "--overwrite")
    assert_one_line_error(run_cli("export", "--checkpoint", ckpt, "--out", ckpt),
                          "--out", "--checkpoint")
    assert out.read_bytes() == before and lc.load_checkpoint(ckpt)["step"] == 20


def test_train_prints_a_sample_at_each_evaluation_unless_told_not_to(corpus_file, tmp_path):
    flags = ["--data", corpus_file, *TINY, "--max-steps", 10, "--threads", 1]  # bitwise
    on = run_cli("train", *flags, "--out", tmp_path / "a.npz", "--metrics-json",
                 tmp_path / "a.json")
    assert on.returncode == 0, on.stderr
    history = json.loads((tmp_path / "a.json").read_text())["history"]
    assert [r["step"] for r in history] == [5, 10]
    for r in history:  # 200 characters after the newline prime, printed under the loss line
        assert r["sample"].startswith("\n") and len(r["sample"]) == 1 + 200
        assert r["sample"] in on.stdout
    off = run_cli("train", *flags, "--sample-every", 0, "--out", tmp_path / "b.npz",
                  "--metrics-json", tmp_path / "b.json")
    assert off.returncode == 0, off.stderr
    assert all("sample" not in r for r in json.loads((tmp_path / "b.json").read_text())["history"])
    a, b = lc.load_checkpoint(tmp_path / "a.npz"), lc.load_checkpoint(tmp_path / "b.npz")
    for k in a["params"]:  # sampling draws from its own generator: training is unchanged
        np.testing.assert_array_equal(a["params"][k], b["params"][k])
    assert_one_line_error(run_cli("train", *flags, "--sample-every", -1, "--out",
                                  tmp_path / "c.npz"), "--sample-every")
