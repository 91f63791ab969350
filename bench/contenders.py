"""What lstm_core is measured against, side by side in the same process (`make bench`).

- The original notebook's training step, re-implemented here for timing: batch 1, T = 28,
  four separate gate matrices over the concatenation [h; x] of column vectors, float64, a
  Python loop over the steps in both directions, softmax per step, element-wise clipping
  and a per-tensor optimiser update. Its mistakes are kept where they cost time (the
  clipping, the decay of every tensor) and where they save it (Wo, bo never updated), so
  the timing is the original's. Not part of lstm_core.
- PyTorch on the CPU, when installed: nn.LSTM + nn.Linear + cross-entropy +
  clip_grad_norm_ + torch.optim.AdamW, float32, the same model as lstm_core (one-hot
  input of size V, one layer), the same batched configurations.

Each function runs one training step per call; lstm_core.bench times them.
"""

from __future__ import annotations

import numpy as np

ORIGINAL_T = 28
ORIGINAL_HIDDEN = (256, 512, 1000)


class OriginalStep:
    """One training step of the original notebook, batch 1, float64 (for timing only)."""

    def __init__(self, H, V, seed=0):
        rng = np.random.default_rng(seed)
        k = np.sqrt(1.0 / H)
        self.H, self.V = H, V
        self.W = {g: rng.uniform(-k, k, (H, H + V)) for g in "fico"}
        self.b = {g: np.zeros((H, 1)) for g in "fico"}
        self.Wy, self.by = rng.uniform(-k, k, (V, H)), np.zeros((V, 1))
        names = [f"W{g}" for g in "fic"] + [f"b{g}" for g in "fic"] + ["Wy", "by"]
        self.m = {n: np.zeros_like(self._param(n)) for n in names}
        self.v = {n: np.zeros_like(self._param(n)) for n in names}

    def _param(self, name):
        if name in ("Wy", "by"):
            return getattr(self, name)
        return (self.W if name[0] == "W" else self.b)[name[1]]

    @staticmethod
    def _sigmoid(x):
        return 1 / (1 + np.exp(-x))

    def step(self, inputs, targets, h, c, lr=1e-3):
        H, V = self.H, self.V
        W, b = self.W, self.b
        X = np.zeros((len(inputs), V))
        X[np.arange(len(inputs)), inputs] = 1
        hs, cs, gates, ps, zs = {-1: h}, {-1: c}, {}, {}, {}
        for t in range(len(inputs)):
            z = np.vstack((hs[t - 1], X[t].reshape(-1, 1)))
            f = self._sigmoid(W["f"] @ z + b["f"])
            i = self._sigmoid(W["i"] @ z + b["i"])
            g = np.tanh(W["c"] @ z + b["c"])
            cs[t] = f * cs[t - 1] + i * g
            o = self._sigmoid(W["o"] @ z + b["o"])
            hs[t] = o * np.tanh(cs[t])
            y = self.Wy @ hs[t] + self.by
            e = np.exp(y - y.max())
            ps[t], gates[t], zs[t] = e / e.sum(), (f, i, g, o), z
        dW = {k: np.zeros_like(w) for k, w in W.items()}
        db = {k: np.zeros_like(v) for k, v in b.items()}
        dWy, dby = np.zeros_like(self.Wy), np.zeros_like(self.by)
        dh_next, dc_next = np.zeros((H, 1)), np.zeros((H, 1))
        for t in reversed(range(len(inputs))):
            f, i, g, o = gates[t]
            dy = ps[t].copy()
            dy[targets[t]] -= 1
            dWy += dy @ hs[t].T
            dby += dy
            dh = self.Wy.T @ dy + dh_next
            tc = np.tanh(cs[t])
            dc = dc_next + (1 - tc**2) * o * dh
            d = {"o": o * (1 - o) * tc * dh, "c": dc * i * (1 - np.tanh(g) ** 2),
                 "i": i * (1 - i) * g * dc, "f": f * (1 - f) * cs[t - 1] * dc}
            for k in "ocif":
                dW[k] += d[k] @ zs[t].T
                db[k] += d[k]
            dh_next = sum(W[k][:, :H].T @ d[k] for k in "fico")
            dc_next = dc * f
        grads = {**{f"W{k}": v for k, v in dW.items()}, **{f"b{k}": v for k, v in db.items()},
                 "Wy": dWy, "by": dby}
        for gr in grads.values():
            np.clip(gr, -1, 1, out=gr)
        for name in self.m:  # the original's update: (1 - beta) correction, decay on all
            p, gr = self._param(name), grads[name]
            self.m[name] = 0.9 * self.m[name] + 0.1 * gr
            self.v[name] = 0.999 * self.v[name] + 0.001 * gr**2
            m_hat, v_hat = self.m[name] / 0.1, self.v[name] / 0.001
            p -= lr * (m_hat / (np.sqrt(v_hat) + 1e-8) + 1e-4 * p)
        return hs[len(inputs) - 1], cs[len(inputs) - 1]


def original_step_fn(H, V, T=ORIGINAL_T):
    """One training step of the original notebook per call, on fixed random characters."""
    model = OriginalStep(H, V)
    ids = np.random.default_rng(0).integers(0, V, T + 1)
    state = [np.zeros((H, 1)), np.zeros((H, 1))]

    def step():
        state[:] = model.step(ids[:-1], ids[1:], *state)

    return step


def torch_step_fn(B, T, H, V):
    """One PyTorch training step per call: the same model, float32, on the CPU."""
    import torch

    torch.manual_seed(0)
    lstm, head = torch.nn.LSTM(V, H), torch.nn.Linear(H, V)
    params = list(lstm.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.01)
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, V, (T, B), generator=gen)
    y = torch.randint(0, V, (T, B), generator=gen).reshape(-1)
    one_hot = torch.nn.functional.one_hot(x, V).float()
    state = [(torch.zeros(1, B, H), torch.zeros(1, B, H))]

    def step():
        opt.zero_grad(set_to_none=True)
        out, (h, c) = lstm(one_hot, state[0])
        loss = torch.nn.functional.cross_entropy(head(out).reshape(-1, V), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        state[0] = (h.detach(), c.detach())

    return step


def torch_version():
    """PyTorch's version, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch.__version__.split("+")[0]


def make(kind, B, T, H, V):
    """(step function, characters per step) of a contender: "torch" at a batched
    configuration, or "original" (batch 1, T = ORIGINAL_T; B and T are ignored)."""
    if kind == "torch":
        return torch_step_fn(B, T, H, V), B * T
    if kind == "original":
        return original_step_fn(H, V), ORIGINAL_T
    raise ValueError(kind)
