"""`python -m lstm_core export` hands a model to PyTorch: loaded by safetensors into
torch.nn.LSTM + nn.Linear with no code of ours, it must give the same logits, final state
and greedy samples as lstm_core.

Run with `make test-oracle` (it installs torch and safetensors if missing).
"""

import json

import numpy as np
import torch
from conftest import TINY, run_cli
from safetensors import safe_open
from safetensors.torch import load_file

import lstm_core as lc


def test_an_exported_model_runs_the_same_in_torch(corpus_file, tmp_path):
    ckpt, exported = tmp_path / "m.npz", tmp_path / "m.safetensors"
    trained = run_cli("train", "--data", corpus_file, *TINY, "--layers", 2, "--max-steps", 30,
                      "--lr", 0.02, "--out", ckpt)
    assert trained.returncode == 0, trained.stderr
    done = run_cli("export", "--checkpoint", ckpt, "--out", exported)
    assert done.returncode == 0, done.stderr

    # What a torch user writes (the README's recipe), with none of lstm_core's code.
    with safe_open(str(exported), "pt") as f:
        meta = f.metadata()
    chars, H, L = json.loads(meta["vocab"]), int(meta["hidden_size"]), int(meta["num_layers"])
    V = len(chars)
    f32 = torch.float32  # the checkpoint's dtype (the other oracle module sets float64)
    model = torch.nn.ModuleDict({"lstm": torch.nn.LSTM(V, H, L, dtype=f32),
                                 "linear": torch.nn.Linear(H, V, dtype=f32)})
    model.load_state_dict(load_file(str(exported)))

    ours = lc.load_checkpoint(ckpt)
    assert "".join(chars) == ours["vocab"].chars
    params = ours["params"]
    prime = "Shall I compare thee"
    ids = ours["vocab"].encode(prime)
    logits, (hT, cT), _ = lc.forward(params, ids[:, None])
    with torch.no_grad():
        x = torch.nn.functional.one_hot(torch.from_numpy(ids.astype(np.int64)), V).float()
        out, (t_h, t_c) = model["lstm"](x[:, None, :])
        t_logits = model["linear"](out)
    close = dict(rtol=1e-4, atol=1e-5)  # float32 in both, different summation orders
    np.testing.assert_allclose(logits, t_logits.numpy(), **close)
    np.testing.assert_allclose(hT, t_h.numpy(), **close)
    np.testing.assert_allclose(cT, t_c.numpy(), **close)

    # Greedy continuations: temperature 0 in lstm_core, argmax in torch.
    ours_text = lc.sample(params, ours["vocab"], prime, 80, temperature=0)
    text, state, x = prime, None, x[:, None, :]
    with torch.no_grad():
        for _ in range(80):
            out, state = model["lstm"](x, state)
            nxt = int(model["linear"](out[-1, 0]).argmax())
            text += chars[nxt]
            x = torch.nn.functional.one_hot(torch.tensor([[nxt]]), V).float()
    assert text == ours_text
