"""An independent reference: the same weights in torch.nn.LSTM + Linear + cross-entropy
must give the same logits, loss, final state and gradients (float64, 1e-9).

Run with `make test-oracle` (it installs torch==2.13.0, CPU build, if missing).
"""

import numpy as np
import pytest
import torch

import lstm_core as lc

torch.set_default_dtype(torch.float64)


def to_torch(params, V, H, L):
    """Our fused (in, 4H) matrices are torch's (4H, in) transposed, gates i, f, g, o in both;
    our single bias b is torch's b_ih (with b_hh = 0)."""
    lstm = torch.nn.LSTM(V, H, num_layers=L)
    head = torch.nn.Linear(H, V)
    with torch.no_grad():
        for layer in range(L):
            getattr(lstm, f"weight_ih_l{layer}").copy_(torch.from_numpy(params[f"W_x{layer}"].T))
            getattr(lstm, f"weight_hh_l{layer}").copy_(torch.from_numpy(params[f"W_h{layer}"].T))
            getattr(lstm, f"bias_ih_l{layer}").copy_(torch.from_numpy(params[f"b{layer}"]))
            getattr(lstm, f"bias_hh_l{layer}").zero_()
        head.weight.copy_(torch.from_numpy(params["W_y"].T))
        head.bias.copy_(torch.from_numpy(params["b_y"]))
    return lstm, head


@pytest.mark.parametrize("L", [1, 2])
def test_logits_loss_state_and_gradients_equal_torch(L):
    V, H, T, B = 13, 10, 9, 4
    rng = np.random.default_rng(L)
    params = lc.init_params(V, H, L, seed=L, dtype="float64")
    x, y = rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))
    h0, c0 = rng.normal(0, 0.5, (L, B, H)), rng.normal(0, 0.5, (L, B, H))

    logits, (hT, cT), cache = lc.forward(params, x, (h0, c0))
    loss, dlogits = lc.cross_entropy(logits, y)
    grads, (dh0, dc0) = lc.backward(dlogits, cache)

    lstm, head = to_torch(params, V, H, L)
    one_hot = torch.nn.functional.one_hot(torch.from_numpy(x), V).double()
    th0 = torch.tensor(h0, requires_grad=True)
    tc0 = torch.tensor(c0, requires_grad=True)
    out, (t_hT, t_cT) = lstm(one_hot, (th0, tc0))
    t_logits = head(out)
    t_loss = torch.nn.functional.cross_entropy(t_logits.reshape(-1, V),
                                               torch.from_numpy(y).reshape(-1))
    t_loss.backward()

    close = dict(rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(logits, t_logits.detach().numpy(), **close)
    assert loss == pytest.approx(t_loss.item(), rel=1e-12)
    np.testing.assert_allclose(hT, t_hT.detach().numpy(), **close)
    np.testing.assert_allclose(cT, t_cT.detach().numpy(), **close)
    for layer in range(L):
        np.testing.assert_allclose(grads[f"W_x{layer}"],
                                   getattr(lstm, f"weight_ih_l{layer}").grad.numpy().T, **close)
        np.testing.assert_allclose(grads[f"W_h{layer}"],
                                   getattr(lstm, f"weight_hh_l{layer}").grad.numpy().T, **close)
        np.testing.assert_allclose(grads[f"b{layer}"],
                                   getattr(lstm, f"bias_ih_l{layer}").grad.numpy(), **close)
    np.testing.assert_allclose(grads["W_y"], head.weight.grad.numpy().T, **close)
    np.testing.assert_allclose(grads["b_y"], head.bias.grad.numpy(), **close)
    np.testing.assert_allclose(dh0, th0.grad.numpy(), **close)
    np.testing.assert_allclose(dc0, tc0.grad.numpy(), **close)


def test_adamw_steps_equal_torch_optim_adamw():
    rng = np.random.default_rng(0)
    params = {"W_h0": rng.normal(size=(5, 8)), "b0": rng.normal(size=8)}
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    ours = lc.AdamW(params, lr=0.01, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.1)
    theirs = torch.optim.AdamW([{"params": [tparams["W_h0"]], "weight_decay": 0.1},
                                {"params": [tparams["b0"]], "weight_decay": 0.0}],
                               lr=0.01, betas=(0.9, 0.99), eps=1e-8)
    for _ in range(5):
        grads = {k: rng.normal(size=v.shape) for k, v in params.items()}
        ours.step(params, grads)
        for k, t in tparams.items():
            t.grad = torch.from_numpy(grads[k])
        theirs.step()
    for k in params:
        np.testing.assert_allclose(params[k], tparams[k].detach().numpy(), rtol=1e-12)


def test_global_norm_clipping_equals_torch():
    rng = np.random.default_rng(1)
    grads = {"a": rng.normal(size=(4, 4)) * 3, "b": rng.normal(size=7)}
    tensors = [torch.tensor(g, requires_grad=True) for g in grads.values()]
    for t, g in zip(tensors, grads.values()):
        t.grad = torch.from_numpy(g.copy())
    torch.nn.utils.clip_grad_norm_(tensors, 1.0)
    lc.clip_by_global_norm(grads, 1.0)
    for t, g in zip(tensors, grads.values()):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-9)
