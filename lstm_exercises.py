"""Checkers for the exercise cells of the notebooks.

Each lesson tags the cells a learner should write `exercise`; `make exercises` turns them
into stubs in notebooks/exercises/. Right after each one, a checker cell hands the
learner's function to one of the `check_*` functions below, which

- runs it on small seeded random inputs and compares the result with lstm_core (gradients
  also with centred finite differences in float64), printing one line per comparison:
  what was checked, the largest error, the threshold, ok;
- when the answer is wrong, runs the classic mistakes (each a variant written below) on
  the same inputs and, if the learner's output equals one of them, names it in one
  sentence, with the section of the lesson that explains it;
- while the function is still a stub (it raises NotImplementedError or returns None),
  prints "not done yet" and raises nothing.

A checker returns the learner's function once it passes; until then it returns a correct
version, so that the cells below it run on. In a notebook:

    make_streams = ex.check_make_streams(make_streams)

This module is tooling beside the chapter: lstm_core.py knows nothing of it.
"""

from __future__ import annotations

import math

import numpy as np

import lstm_core as lc

# Where each lesson explains what its checkers test (the sections of the notebooks).
WHERE = {
    "streams": "01, section 6: Streams and windows for truncated BPTT",
    "step": "02, section 3: One step, one equation at a time",
    "window": "02, section 4: A whole window",
    "fused": "02, section 5: Fused gates",
    "stable": "02, section 6: A numerically stable sigmoid and softmax",
    "loss": "02, section 7: The loss of an untrained model",
    "derivation": "03, section 2: The derivation, one gradient at a time",
    "loop": "03, section 3: The backward pass as one loop",
    "planted": "03, section 6: The original notebook's mistakes, caught",
    "clipping": "03, section 8: Clipping, by global norm, not element by element",
    "adam": "04, section: Adam",
    "adamw": "04, section: AdamW",
    "bias": "04, section: Bias correction in the first steps",
    "l2": "04, section: Decoupled weight decay vs L2 in Adam",
    "carry": "05, section 1: Streams and windows",
    "train_step": "05, section 3: One training step",
    "sampling": "05, section 8: Sampling, temperature and top-k",
    "search": "06, section 4: An honest search",
}

MATCH_TOLERANCE = 1e-7  # a learner's output "is" a known mistake when this close to it


class _NotDone(Exception):
    """The learner's function is still the stub."""


class _Raised:
    """What a run produced when the function raised: compared by type and message."""

    def __init__(self, exc: Exception):
        self.kind = type(exc).__name__
        lines = str(exc).strip().splitlines()
        self.message = lines[0] if lines else ""

    def __eq__(self, other):
        return isinstance(other, _Raised) and (self.kind, self.message) == (other.kind,
                                                                            other.message)

    def __str__(self):
        return f"raised {self.kind}" + (f": {self.message}" if self.message else "")


def _call(fn, *args, **kwargs):
    """fn(*args), with floating-point overflow and invalid operations raised (a stable
    formula has none); NotImplementedError means the stub."""
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        try:
            return fn(*args, **kwargs)
        except NotImplementedError:
            raise _NotDone from None


def _each(fn, *args):
    """fn(*args) for one case of several: an exception (other than the stub's) becomes
    this case's output, so that the other cases still run."""
    try:
        return _returned(_call(fn, *args))
    except _NotDone:
        raise
    except Exception as exc:
        return _Raised(exc)


def _returned(value):
    """value, or _NotDone for None (a stub whose body is `pass` returns None)."""
    if value is None:
        raise _NotDone
    return value


def _error(a, b) -> float:
    """Largest |a - b| relative to the larger of the two arrays' largest entries (as
    lc.relative_error); inf when the shapes differ."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return math.inf
    if a.size == 0:
        return 0.0
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return 0.0 if np.array_equal(a, b, equal_nan=True) else math.inf
    scale = max(float(np.abs(a).max()), float(np.abs(b).max()), 1e-12)
    return float(np.abs(a - b).max() / scale)


def _mismatch(a, b) -> float:
    """The share of entries that differ (for ids and other integers); inf for a shape."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return math.inf
    return float(np.mean(a != b)) if a.size else 0.0


def _shape(a) -> str:
    return "x".join(map(str, np.shape(a))) or "scalar"


def _fmt(err, threshold) -> str:
    """An error for the table: exact zero, a bound when it is rounding noise, else 2
    digits."""
    if isinstance(err, str):
        return err
    if math.isinf(err):
        return "wrong shape"
    if threshold > 0 and err < threshold / 10:  # exact zero too: it may be 1e-17 elsewhere
        return f"< {threshold / 10:.0e}"
    if err == 0:
        return "0"
    return f"{err:.1e}"


class _Check:
    """One row of the table: a label, the learner's value, the right value, a threshold,
    and how to measure the error (relative error for floats, share differing for ids)."""

    def __init__(self, label, threshold=1e-10, exact=False):
        self.label, self.threshold, self.exact = label, threshold, exact


def _same(out, other) -> bool:
    """Whether two runs produced the same thing, to MATCH_TOLERANCE."""
    if isinstance(out, _Raised) or isinstance(other, _Raised):
        return out == other
    if out.keys() != other.keys():
        return False
    for key in out:
        a, b = out[key], other[key]
        if isinstance(a, _Raised) or isinstance(b, _Raised):
            if not (isinstance(a, _Raised) and a == b):
                return False
        elif _error(a, b) > MATCH_TOLERANCE:
            return False
    return True


def _grade(name, fn, run, checks, truth, variants, messages, fallback, where):
    """Run fn, print the table, name a recognised mistake; return fn if it passes, else
    `fallback` (a correct version, so that the notebook runs on).

    run(fn) -> dict key -> array (or raises _NotDone); checks: key -> _Check; truth: key
    -> the right value (from lstm_core, or finite differences); variants: mistake -> a
    function like fn with that mistake; messages: mistake -> one sentence; where: the key
    of WHERE for a mistake not recognised.
    """
    _SPECS[name] = {m: (variants[m], messages[m]) for m in variants}
    try:
        out = _run_safely(run, fn)
    except _NotDone:
        print(f"{name}: not done yet. Write its body in the cell above and run both cells "
              "again; until then the cells below use a correct version.")
        return fallback
    rows, ok_all = [], True
    for key, check in checks.items():
        if isinstance(out, _Raised):
            err, shown = math.inf, str(out)
        elif isinstance(out[key], _Raised):
            err, shown = math.inf, f"{out[key].kind}"
        else:
            mine, right = out[key], truth[key]
            err = _mismatch(mine, right) if check.exact else _error(mine, right)
            shown = "0" if check.exact and err == 0 else _fmt(err, check.threshold)
            if math.isinf(err):
                shown = f"shape {_shape(mine)}, not {_shape(right)}"
        ok = err <= check.threshold
        ok_all &= ok
        rows.append((check.label, shown, check.threshold, ok))
    width = max(40, max(len(r[0]) for r in rows))
    print(f"{'checked':{width}s} {'max error':>12s} {'threshold':>9s}  ok")
    for label, shown, threshold, ok in rows:
        if isinstance(out, _Raised):
            shown = "raised"
        limit = "0" if threshold == 0 else f"{threshold:.0e}"
        print(f"{label:{width}s} {shown:>12s} {limit:>9s}  {'yes' if ok else 'NO'}")
    if isinstance(out, _Raised):
        print(f"{name} {out}.")
    else:
        for key in checks:
            if isinstance(out[key], _Raised):
                print(f"{name} {out[key]} ({checks[key].label}).")
                break
    if ok_all:
        print(f"{name} passes every check.")
        return fn
    for mistake, variant in variants.items():
        try:
            if _same(out, _run_safely(run, variant)):
                print(messages[mistake])
                break
        except _NotDone:  # a variant never is the stub; be safe all the same
            continue
    else:
        print(f"{name} is wrong, in a way this checker does not recognise: compare it line "
              f"by line with {WHERE[where]}.")
    print("Until it passes, the cells below use a correct version.")
    return fallback


_SPECS = {}  # name -> {mistake: (variant, message)}, filled by _grade


def _specs(checker) -> dict:
    """The known mistakes of a checker: {mistake: (variant, the sentence that names it)}."""
    import contextlib
    import io

    def stub(*args, **kwargs):
        raise NotImplementedError

    with contextlib.redirect_stdout(io.StringIO()):
        checker(stub)
    return _SPECS[checker.__name__.removeprefix("check_")]


def _run_safely(run, fn):
    """run(fn), with an exception of the function recorded as the run's output."""
    try:
        return run(fn)
    except _NotDone:
        raise
    except Exception as exc:  # the learner's bug: shown in the table, then compared
        return _Raised(exc)


# --------------------------------------------------------------------------------------
# 01 · Data preparation
# --------------------------------------------------------------------------------------


def _make_streams_ref(ids, B):
    return lc.make_streams(ids, B)


def _streams_unshifted(ids, B):
    n = (len(ids) - 1) // B
    inputs = ids[: n * B].reshape(B, n)
    return inputs, inputs.copy()


def _streams_interleaved(ids, B):
    n = (len(ids) - 1) // B
    return ids[: n * B].reshape(n, B).T, ids[1 : n * B + 1].reshape(n, B).T


def _streams_no_minus_one(ids, B):
    n = len(ids) // B
    return ids[: n * B].reshape(B, n), ids[1 : n * B + 1].reshape(B, n)


def _streams_transposed(ids, B):
    inputs, targets = lc.make_streams(ids, B)
    return inputs.T, targets.T


def check_make_streams(make_streams):
    """make_streams(ids, B) -> (inputs, targets), each (B, N) with N = (len(ids) - 1) // B."""
    rng = np.random.default_rng(1)
    cases = [(rng.integers(0, 20, 103).astype(np.int32), 4),
             (rng.integers(0, 20, 100).astype(np.int32), 4),
             (rng.integers(0, 20, 101).astype(np.int32), 5)]

    def run(fn):
        out = {}
        for k, (ids, B) in enumerate(cases):
            got = _returned(_call(fn, ids.copy(), B))
            inputs, targets = got
            out[f"inputs{k}"], out[f"targets{k}"] = inputs, targets
        return out

    checks = {}
    for k, (ids, B) in enumerate(cases):
        checks[f"inputs{k}"] = _Check(f"inputs, {len(ids)} ids, B = {B}", 0, exact=True)
        checks[f"targets{k}"] = _Check(f"targets, {len(ids)} ids, B = {B}", 0, exact=True)
    variants = {"unshifted": _streams_unshifted, "interleaved": _streams_interleaved,
                "no_minus_one": _streams_no_minus_one, "transposed": _streams_transposed}
    messages = {
        "unshifted": "The targets equal the inputs: each target is the *next* character, "
                     f"so the targets are the ids shifted by one ({WHERE['streams']}).",
        "interleaved": "The streams are interleaved: reshape(N, B).T deals consecutive "
                       "characters to different streams, so a stream no longer reads the "
                       f"text in order; cut B contiguous slices with reshape(B, N) "
                       f"({WHERE['streams']}).",
        "no_minus_one": "N = len(ids) // B leaves no target for the last character when B "
                        "divides len(ids): the targets reach one id further, so N = "
                        f"(len(ids) - 1) // B ({WHERE['streams']}).",
        "transposed": "The streams are columns: inputs and targets have shape (B, N), one "
                      f"stream per row ({WHERE['streams']}).",
    }
    return _grade("make_streams", make_streams, run, checks, run(_make_streams_ref), variants,
                  messages, _make_streams_ref, "streams")


def _get_window_ref(streams, k, T):
    return lc.get_window(streams, k, T)


def _window_not_transposed(streams, k, T):
    inputs, targets = streams
    s = slice(k * T, (k + 1) * T)
    return inputs[:, s], targets[:, s]


def _window_overlapping(streams, k, T):
    inputs, targets = streams
    s = slice(k, k + T)
    return inputs[:, s].T, targets[:, s].T


def _window_reshaped(streams, k, T):
    inputs, targets = streams
    s = slice(k * T, (k + 1) * T)
    B = inputs.shape[0]
    return inputs[:, s].reshape(T, B), targets[:, s].reshape(T, B)


def check_get_window(get_window):
    """get_window(streams, k, T) -> (x, y), window k of every stream, each (T, B)."""
    rng = np.random.default_rng(2)
    streams = lc.make_streams(rng.integers(0, 30, 203).astype(np.int32), 4)  # (4, 50)
    T = 7

    def run(fn):
        out = {}
        for k in (0, 1, 6):
            x, y = _returned(_call(fn, streams, k, T))
            out[f"x{k}"], out[f"y{k}"] = x, y
        return out

    checks = {}
    for k in (0, 1, 6):
        checks[f"x{k}"] = _Check(f"x of window {k}, B = 4, T = {T}", 0, exact=True)
        checks[f"y{k}"] = _Check(f"y of window {k}", 0, exact=True)
    variants = {"not_transposed": _window_not_transposed, "overlapping": _window_overlapping,
                "reshaped": _window_reshaped}
    messages = {
        "not_transposed": "The window is (B, T): the forward pass reads x[t], all B streams "
                          "at step t, so the window is time-major, (T, B): transpose it "
                          f"({WHERE['streams']}).",
        "overlapping": "Window k starts at character k instead of k·T: consecutive windows "
                       "overlap, and window k + 1 no longer continues window k, so the "
                       f"carried state would be wrong ({WHERE['streams']}).",
        "reshaped": "reshape(T, B) is not a transpose: it keeps the order of the entries "
                    "and scrambles the streams; use .T to swap the axes "
                    f"({WHERE['streams']}).",
    }
    return _grade("get_window", get_window, run, checks, run(_get_window_ref), variants, messages,
                  _get_window_ref, "streams")


# --------------------------------------------------------------------------------------
# 02 · The forward pass
# --------------------------------------------------------------------------------------

_Z_EXTREME = np.array([-1000.0, -100.0, -10.0, 0.0, 10.0, 100.0, 1000.0])


def _sigmoid_naive(z):
    return 1 / (1 + np.exp(-z))


def _sigmoid_no_half_inside(z):
    return 0.5 + 0.5 * np.tanh(z)


def _sigmoid_no_shift(z):
    return 0.5 * np.tanh(0.5 * z)


def check_stable_sigmoid(stable_sigmoid):
    """stable_sigmoid(z) -> 1 / (1 + e^-z), element by element, with no overflow."""
    z = np.concatenate([_Z_EXTREME, np.linspace(-30, 30, 61)])

    def run(fn):
        return {"f64": _each(fn, z.copy()), "f32": _each(fn, z.astype(np.float32))}

    checks = {"f64": _Check("float64, z from -1000 to 1000, vs lc.sigmoid", 1e-12),
              "f32": _Check("float32, the same z, vs lc.sigmoid", 1e-6)}
    variants = {"naive": _sigmoid_naive, "no_half_inside": _sigmoid_no_half_inside,
                "no_shift": _sigmoid_no_shift}
    messages = {
        "naive": "This is the textbook 1 / (1 + e^-z): e^-z overflows for z below about "
                 "-709 in float64 and -88 in float32; write it as 1/2 + 1/2 tanh(z / 2) "
                 f"({WHERE['stable']}).",
        "no_half_inside": "The argument of tanh is z, but the identity is sigmoid(z) = 1/2 + "
                          f"1/2 tanh(z / 2), with half of z ({WHERE['stable']}).",
        "no_shift": "The + 1/2 is missing: 1/2 tanh(z / 2) lies in (-1/2, 1/2), the sigmoid "
                    f"is 1/2 + 1/2 tanh(z / 2) ({WHERE['stable']}).",
    }
    return _grade("stable_sigmoid", stable_sigmoid, run, checks, run(lc.sigmoid), variants,
                  messages, lc.sigmoid, "stable")


def _softmax_naive(l):
    e = np.exp(l)
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_global_max(l):
    e = np.exp(l - l.max())
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_axis0(l):
    e = np.exp(l - l.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def _softmax_min(l):
    e = np.exp(l - l.min(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_no_keepdims(l):
    e = np.exp(l - l.max(axis=-1))
    return e / e.sum(axis=-1)


def check_stable_softmax(stable_softmax):
    """stable_softmax(l) -> softmax over the last axis, with no overflow."""
    rng = np.random.default_rng(3)
    demo = np.array([[1.0, 2.0, 3.0], [1001.0, 1002.0, 1003.0], [-1001.0, -1000.0, -999.0]])
    random = rng.normal(0, 3, (4, 7))
    spread = np.array([[-5.0, 0.0, 800.0, 2.0]])  # logits 805 apart
    window = rng.normal(0, 2, (2, 3, 5))  # (T, B, V): over the last axis

    def run(fn):
        return {"demo": _each(fn, demo.copy()), "random": _each(fn, random.copy()),
                "spread": _each(fn, spread.copy()), "window": _each(fn, window.copy())}

    checks = {"demo": _Check("logits near 1, 1000 and -1000, vs lc.softmax", 1e-12),
              "random": _Check("(4, 7) random logits, vs lc.softmax", 1e-12),
              "spread": _Check("logits from -5 to 800, vs lc.softmax", 1e-12),
              "window": _Check("(T, B, V) = (2, 3, 5), over the last axis", 1e-12)}
    variants = {"naive": _softmax_naive, "global_max": _softmax_global_max,
                "axis0": _softmax_axis0, "min": _softmax_min,
                "no_keepdims": _softmax_no_keepdims}
    messages = {
        "naive": "This is softmax as written: e^l overflows for logits near 1000; subtract "
                 f"each row's max first ({WHERE['stable']}).",
        "global_max": "The max subtracted is that of the whole array, not of each row: a row "
                      "far below it underflows to 0 / 0; take max(axis=-1, keepdims=True) "
                      f"({WHERE['stable']}).",
        "axis0": "The softmax runs over axis 0: the probabilities of one position are the "
                 f"last axis, V characters; use axis=-1 ({WHERE['stable']}).",
        "min": "The min is subtracted instead of the max: then the largest exponent is "
               f"still huge and overflows; subtract the max ({WHERE['stable']}).",
        "no_keepdims": "The max and the sum lose their last axis (keepdims=False) and "
                       "broadcast against the wrong one; keep it with keepdims=True "
                       f"({WHERE['stable']}).",
    }
    return _grade("stable_softmax", stable_softmax, run, checks, run(lc.softmax), variants,
                  messages, lc.softmax, "stable")


def _ce_ref(logits, y):
    return lc.cross_entropy(logits, y)[0]


def _log_p_target(logits, y):
    p = lc.softmax(logits)
    return np.log(np.take_along_axis(p, y[..., None], axis=-1)[..., 0])


def _ce_sum(logits, y):
    return -float(np.sum(_log_p_target(logits, y)))


def _ce_bits(logits, y):
    return -float(np.mean(_log_p_target(logits, y))) / math.log(2)


def _ce_no_minus(logits, y):
    return float(np.mean(_log_p_target(logits, y)))


def _ce_mean_over_streams(logits, y):
    return -float(np.sum(_log_p_target(logits, y), axis=0).mean())


def _ce_wrong_axis(logits, y):
    p = lc.softmax(logits, axis=0)
    return -float(np.mean(np.log(np.take_along_axis(p, y[..., None], axis=-1)[..., 0])))


def check_cross_entropy_loss(cross_entropy_loss):
    """cross_entropy_loss(logits, y) -> the mean of -ln p(y) over all positions, nats/char."""
    rng = np.random.default_rng(4)
    logits = rng.normal(0, 2, (5, 3, 6))
    y = rng.integers(0, 6, (5, 3))

    def run(fn):
        return {"loss": np.asarray(_returned(_call(fn, logits.copy(), y.copy())),
                                   dtype=np.float64)}

    checks = {"loss": _Check("loss of a (T, B, V) = (5, 3, 6) window, vs lc.cross_entropy",
                             1e-12)}
    variants = {"sum": _ce_sum, "bits": _ce_bits, "no_minus": _ce_no_minus,
                "mean_over_streams": _ce_mean_over_streams, "wrong_axis": _ce_wrong_axis}
    messages = {
        "sum": "This is the sum over the window where the mean belongs: L = -(1 / TB) times "
               f"the sum, nats per character, whatever T and B are ({WHERE['loss']}).",
        "bits": "This is the loss in bits (log base 2); the loss is in nats, with the "
                f"natural log, and bits/char = nats / ln 2 ({WHERE['loss']}).",
        "no_minus": "The minus sign is missing: ln p is negative, the loss -ln p is "
                    f"positive ({WHERE['loss']}).",
        "mean_over_streams": "This sums over the T steps and averages over the B streams "
                             "only: the mean runs over all T·B positions "
                             f"({WHERE['loss']}).",
        "wrong_axis": "The softmax runs over the time axis: each position's distribution "
                      f"is over the V characters, the last axis ({WHERE['loss']}).",
    }
    return _grade("cross_entropy_loss", cross_entropy_loss, run, checks, run(_ce_ref), variants,
                  messages, _ce_ref, "loss")


def _step_model(seed=5, V=7, H=4, B=3):
    rng = np.random.default_rng(seed)
    params = lc.init_params(V, H, 1, seed=rng, dtype="float64")
    for p in params.values():
        p += rng.normal(0, 0.3, p.shape)  # every gate off zero, every bias nonzero
    x_t = np.array([1, 4, 1])[:B]  # a repeated character too
    h_prev, c_prev = rng.normal(0, 0.5, (B, H)), rng.normal(0, 1.0, (B, H))
    return params, x_t, h_prev, c_prev


def _lstm_step_variant(mistake=None):
    """One LSTM step from the fused params, with one of the step's classic mistakes."""

    def step(x_t, h_prev, c_prev, params):
        W_x, W_h, b = params["W_x0"], params["W_h0"], params["b0"]
        H = W_h.shape[0]
        blocks = [slice(k * H, (k + 1) * H) for k in range(4)]
        order = {"ifog": [0, 1, 3, 2], "figo": [1, 0, 2, 3], "igfo": [0, 2, 1, 3]}.get(
            mistake, [0, 1, 2, 3])
        z = []
        for k in order:
            W_hk = W_h[:, blocks[k]].T if mistake == "transposed" else W_h[:, blocks[k]]
            z.append(W_x[x_t][:, blocks[k]] + h_prev @ W_hk + b[blocks[k]])
        i, f, o = lc.sigmoid(z[0]), lc.sigmoid(z[1]), lc.sigmoid(z[3])
        g = lc.sigmoid(z[2]) if mistake == "sigmoid_g" else np.tanh(z[2])
        c = f * c_prev + (g if mistake == "no_input_gate" else i * g)
        if mistake == "no_tanh_c":
            h = o * c
        elif mistake == "no_output_gate":
            h = np.tanh(c)
        else:
            h = o * np.tanh(c)
        return h, c

    return step


_STEP_MISTAKES = ["ifog", "figo", "igfo", "transposed", "sigmoid_g", "no_input_gate",
                  "no_tanh_c", "no_output_gate"]


def _lstm_step_ref(x_t, h_prev, c_prev, params):
    xw = (params["W_x0"][x_t] + params["b0"])[None]
    hs, cache = lc.lstm_layer_forward(xw, h_prev, c_prev, params["W_h0"])
    return hs[1], cache[1][1]


def check_lstm_step(lstm_step):
    """lstm_step(x_t, h_prev, c_prev, params) -> (h_t, c_t), each (B, H)."""
    params, x_t, h_prev, c_prev = _step_model()

    def run(fn):
        h, c = _returned(_call(fn, x_t.copy(), h_prev.copy(), c_prev.copy(),
                               {k: p.copy() for k, p in params.items()}))
        return {"h": h, "c": c}

    checks = {"c": _Check("c_t, B = 3, H = 4, vs lc.lstm_layer_forward"),
              "h": _Check("h_t, vs lc.lstm_layer_forward")}
    variants = {m: _lstm_step_variant(m) for m in _STEP_MISTAKES}
    order_msg = ("The gates are read in the wrong order: the four blocks of H columns of "
                 "W_x, W_h and b are i, f, g, o, PyTorch's order "
                 f"({WHERE['fused']}).")
    messages = {
        "ifog": order_msg, "figo": order_msg, "igfo": order_msg,
        "transposed": "The recurrent weights are transposed: with h_prev of shape (B, H), "
                      "the product is h_prev @ W_h, rows of W_h indexed by the units of "
                      "h_{t-1} (PyTorch's weight_hh is the transpose) "
                      f"({WHERE['step']}).",
        "sigmoid_g": "The candidate g_t uses the sigmoid; it uses tanh, so that the memory "
                     f"can be pushed down as well as up ({WHERE['step']}).",
        "no_input_gate": "The input gate is left out of the cell update: c_t = f_t * c_{t-1} "
                         f"+ i_t * g_t ({WHERE['step']}).",
        "no_tanh_c": "h_t = o_t * c_t misses the tanh: h_t = o_t * tanh(c_t) "
                     f"({WHERE['step']}).",
        "no_output_gate": "The output gate is left out: h_t = o_t * tanh(c_t), not tanh(c_t) "
                          f"({WHERE['step']}).",
    }
    return _grade("lstm_step", lstm_step, run, checks, run(_lstm_step_ref), variants, messages,
                  _lstm_step_ref, "step")


def _forward_loop_ref(x, h, c, params):
    logits, (h_T, c_T), _ = lc.forward(params, x, (h[None], c[None]))
    return logits, h_T[0], c_T[0]


def _forward_loop_variant(mistake):
    step = _lstm_step_ref

    def forward_loop(x, h, c, params):
        h0, c0 = h, c
        logits = []
        for t in range(len(x)):
            if mistake == "no_carry":
                h, c = step(x[t], h0, c0, params)
            elif mistake == "logits_before":
                logits.append(h @ params["W_y"] + params["b_y"])
                h, c = step(x[t], h, c, params)
                continue
            else:
                h, c = step(x[t], h, c, params)
            out = c if mistake == "logits_from_c" else h
            logits.append(out @ params["W_y"] + params["b_y"])
        if mistake == "initial_state":
            return np.stack(logits), h0, c0
        return np.stack(logits), h, c

    return forward_loop


def check_forward_loop(forward_loop):
    """forward_loop(x, h, c, params) -> logits (T, B, V) and the final h, c (B, H)."""
    params, _, h0, c0 = _step_model(seed=6)
    x = np.random.default_rng(6).integers(0, 7, (5, 3))

    def run(fn):
        logits, h, c = _returned(_call(fn, x.copy(), h0.copy(), c0.copy(),
                                       {k: p.copy() for k, p in params.items()}))
        return {"logits": logits, "h": h, "c": c}

    checks = {"logits": _Check("logits, T = 5, B = 3, V = 7, vs lc.forward"),
              "h": _Check("final h_T, vs lc.forward"),
              "c": _Check("final c_T, vs lc.forward")}
    mistakes = ["no_carry", "logits_before", "logits_from_c", "initial_state"]
    variants = {m: _forward_loop_variant(m) for m in mistakes}
    messages = {
        "no_carry": "Every step starts from the initial state: the state is not carried "
                    "from one step to the next; each step must start from the (h, c) the "
                    f"previous step returned ({WHERE['window']}).",
        "logits_before": "The logits are taken from h before the step: logits_t = h_t W_y + "
                         f"b_y uses the new state ({WHERE['window']}).",
        "logits_from_c": "The logits are computed from c_t; the output layer reads h_t "
                         f"({WHERE['window']}).",
        "initial_state": "The state returned is the one passed in: return the final "
                         "(h_T, c_T), which the next window starts from "
                         f"({WHERE['window']}).",
    }
    return _grade("forward_loop", forward_loop, run, checks, run(_forward_loop_ref), variants,
                  messages, _forward_loop_ref, "window")


# --------------------------------------------------------------------------------------
# 03 · Backpropagation through time
# --------------------------------------------------------------------------------------


def forward_steps(params, x, h_0, c_0):
    """The dict of notebook 03's forward_steps, built from lc.forward's cache: arrays with
    T + 2 rows indexed by the t of the equations (rows 0 and T + 1 of the gates zero)."""
    T, B = x.shape
    H = params["W_h0"].shape[0]
    logits, _, cache = lc.forward(params, x, (h_0[None], c_0[None]))
    gates, cs, tanh_cs, hs, _ = cache[1][0][1]
    fw = {name: np.zeros((T + 2, B, H)) for name in ("i", "f", "g", "o", "c", "tanh_c", "h")}
    for k, name in enumerate("ifgo"):
        fw[name][1 : T + 1] = gates[:, :, k * H : (k + 1) * H]
    fw["c"][: T + 1], fw["h"][: T + 1] = cs, hs
    fw["tanh_c"][1 : T + 1] = tanh_cs
    fw["z"] = np.zeros((T + 2, B, 4 * H))
    fw["z"][1 : T + 1] = params["W_x0"][x] + hs[:-1] @ params["W_h0"] + params["b0"]
    fw["logits"] = np.zeros((T + 2, B, params["W_y"].shape[1]))
    fw["logits"][1 : T + 1] = logits
    fw["x"] = x
    return fw


def _step_backward_variant(mistake=None):
    """One step of BPTT as in notebook 03, with one classic mistake planted (None: none)."""

    def lstm_step_backward(t, fw, dout, dz_next, dc_next, W_h):
        i, f, g, o = fw["i"][t], fw["f"][t], fw["g"][t], fw["o"][t]
        c, c_prev, tanh_c, h = fw["c"][t], fw["c"][t - 1], fw["tanh_c"][t], fw["h"][t]
        f_next = fw["f"][t] if mistake == "f_t" else fw["f"][t + 1]
        dh = dout if mistake == "no_dh_carry" else dout + dz_next @ W_h.T
        if mistake == "dc_i_c":
            through_h = dh * i * c * (1 - c)
        elif mistake == "dc_no_o":
            through_h = dh * (1 - tanh_c**2)
        else:
            through_h = dh * o * (1 - tanh_c**2)
        dc = through_h if mistake == "no_dc_carry" else through_h + dc_next * f_next
        do = dc * h if mistake == "o_h_dc" else dh * tanh_c
        di = dc * c if mistake == "i_c" else dc * g
        dg = dc * i
        df = dc * c_prev
        if mistake == "tanh_twice":
            g_prime = 1 - np.tanh(g) ** 2
        elif mistake == "c_squared":
            g_prime = 1 - c**2
        else:
            g_prime = 1 - g**2
        parts = [di * i * (1 - i), df * f * (1 - f), dg * g_prime, do * o * (1 - o)]
        if mistake == "order":
            parts = [parts[0], parts[1], parts[3], parts[2]]
        return dh, dc, np.concatenate(parts, axis=1)

    return lstm_step_backward


_BACKWARD_STEP_MISTAKES = ["tanh_twice", "no_dh_carry", "no_dc_carry", "f_t", "c_squared",
                           "i_c", "o_h_dc", "dc_i_c", "dc_no_o", "order"]

_STEP_BACKWARD_MESSAGES = {
    "tanh_twice": "This is the 1 - tanh² mistake: g_t is already tanh(z_g), so its "
                  "derivative is 1 - g_t², and 1 - tanh(g_t)² applies tanh a second time "
                  f"({WHERE['derivation']}, at “The gate pre-activations”; {WHERE['planted']}).",
    "no_dh_carry": "The recurrent term of dh_t is missing: h_t also feeds the four gates of "
                   "step t + 1, so dh_t = dlogits_t W_y^T + dz_{t+1} W_h^T "
                   f"({WHERE['derivation']}, at “The hidden state”).",
    "no_dc_carry": "The carried term of dc_t is missing: c_t also feeds c_{t+1}, so dc_t "
                   "gains dc_{t+1} * f_{t+1} "
                   f"({WHERE['derivation']}, at “The cell state”).",
    "f_t": "dc_{t+1} is carried back through f_t, the forget gate of the wrong step: "
           f"c_{{t+1}} = f_{{t+1}} * c_t + ..., so it is f_{{t+1}} ({WHERE['derivation']}, "
           "at “The cell state”).",
    "c_squared": "The candidate's derivative uses the cell state, 1 - c_t²; the candidate "
                 f"is g_t, so it is 1 - g_t² "
                 f"({WHERE['derivation']}, at “The gate pre-activations”).",
    "i_c": "The input gate's gradient uses c_t where g_t belongs: c_t = ... + i_t * g_t, "
           f"so di_t = dc_t * g_t ({WHERE['derivation']}, at “The gate outputs”).",
    "o_h_dc": "The output gate's gradient uses h_t and dc_t; h_t = o_t * tanh(c_t), so "
              f"do_t = dh_t * tanh(c_t) ({WHERE['derivation']}, at “The gate outputs”).",
    "dc_i_c": "The term of dc_t that comes through h_t has i_t * c_t * (1 - c_t); h_t = "
              "o_t * tanh(c_t), so it is dh_t * o_t * (1 - tanh²(c_t)) "
              f"({WHERE['derivation']}, at “The cell state”).",
    "dc_no_o": "The term of dc_t that comes through h_t misses o_t: h_t = o_t * tanh(c_t), "
               f"so it is dh_t * o_t * (1 - tanh²(c_t)) "
               f"({WHERE['derivation']}, at “The cell state”).",
    "order": "The four gate gradients are stacked in the wrong order: dz_t has the order of "
             f"z_t, i, f, g, o ({WHERE['derivation']}, at “The gate pre-activations”).",
}


def _bptt_model(seed=7):
    """A small float64 model, a window with a character repeated within a step, a random
    carried-in state, and the forward dict and dlogits of notebook 03."""
    V, H, B, T = 5, 3, 3, 4
    rng = np.random.default_rng(seed)
    params = lc.init_params(V, H, 1, seed=rng, dtype="float64")
    for p in params.values():
        p += rng.normal(0, 0.3, p.shape)
    x = rng.integers(0, V, (T, B))
    x[1] = [2, 2, 4]  # two streams read the same character at the same step
    y = rng.integers(0, V, (T, B))
    h_0, c_0 = rng.normal(0, 0.5, (B, H)), rng.normal(0, 0.5, (B, H))
    fw = forward_steps(params, x, h_0, c_0)
    logits, _, _ = lc.forward(params, x, (h_0[None], c_0[None]))
    dlogits = np.zeros((T + 2, B, V))
    dlogits[1 : T + 1] = lc.cross_entropy(logits, y)[1]
    return params, x, y, h_0, c_0, fw, dlogits


def _numeric_grads(params, x, y, h_0, c_0):
    """Centred finite differences in float64 of every parameter and of h0, c0."""
    params = {k: p.copy() for k, p in params.items()}
    h_0, c_0 = h_0.copy(), c_0.copy()

    def loss():
        logits, _, _ = lc.forward(params, x, (h_0[None], c_0[None]))
        return lc.cross_entropy(logits, y)[0]

    tensors = dict(params, h0=h_0, c0=c_0)
    return {name: lc.numerical_gradient(loss, value) for name, value in tensors.items()}


def _backward_variant(step, mistake=None):
    """notebook 03's lstm_backward around `step`, with one loop mistake (None: none)."""

    def lstm_backward(params, fw, dlogits):
        W_h, W_y = params["W_h0"], params["W_y"]
        x, h = fw["x"], fw["h"]
        T, B = x.shape
        H = W_h.shape[0]
        grads = {name: np.zeros_like(p) for name, p in params.items()}
        dh = np.zeros((T + 2, B, H))
        dc = np.zeros((T + 2, B, H))
        dz = np.zeros((T + 2, B, 4 * H))
        steps = range(1, T + 1) if mistake == "forwards" else range(T, 0, -1)
        for t in steps:
            if mistake == "assigned":
                grads["W_y"] = h[t].T @ dlogits[t]
                grads["b_y"] = dlogits[t].sum(axis=0)
            else:
                grads["W_y"] += h[t].T @ dlogits[t]
                grads["b_y"] += dlogits[t].sum(axis=0)
            dz_next = np.zeros_like(dz[t + 1]) if mistake == "no_dz_next" else dz[t + 1]
            dh[t], dc[t], dz[t] = step(t, fw, dlogits[t] @ W_y.T, dz_next, dc[t + 1], W_h)
            if mistake == "fancy_index":
                grads["W_x0"][x[t - 1]] += dz[t]
            else:
                np.add.at(grads["W_x0"], x[t - 1], dz[t])
            if mistake == "assigned":
                grads["W_h0"] = h[t - 1].T @ dz[t]
                grads["b0"] = dz[t].sum(axis=0)
            else:
                grads["W_h0"] += h[t - 1].T @ dz[t]
                grads["b0"] += dz[t].sum(axis=0)
        if mistake == "state_from_dh":
            dh[0], dc[0] = dh[1], dc[1]
        else:
            dh[0] = dz[1] @ W_h.T
            dc[0] = dc[1] * fw["f"][1]
        grads["h0"], grads["c0"] = dh[0], dc[0]
        return grads, dh, dc, dz

    return lstm_backward


_step_backward_ref = _step_backward_variant(None)
_lstm_backward_ref = _backward_variant(_step_backward_ref)


def check_lstm_step_backward(lstm_step_backward):
    """lstm_step_backward(t, fw, dout, dz_next, dc_next, W_h) -> dh_t, dc_t (B, H), dz_t
    (B, 4H). Run at t = T, ..., 1 in a loop; its dz is compared with lstm_core and the
    gradients built from it with finite differences."""
    params, x, y, h_0, c_0, fw, dlogits = _bptt_model()
    T = x.shape[0]
    names = ("W_x0", "W_h0", "b0", "h0", "c0")

    def run(fn):
        fw_copy = {k: v.copy() for k, v in fw.items()}
        grads, dh, dc, dz = _call(_backward_variant(_strict_step(fn)), params, fw_copy,
                                  dlogits)
        out = {"dh": dh[1 : T + 1], "dc": dc[1 : T + 1], "dz": dz[1 : T + 1]}
        out.update({name: grads[name] for name in names})
        return out

    truth = run(_step_backward_ref)  # dh, dc: the derivation, written out below
    layer_cache = lc.forward(params, x, (h_0[None], c_0[None]))[2][1][0][1]
    zeros = np.zeros_like(h_0)
    truth["dz"] = lc.lstm_layer_backward(dlogits[1 : T + 1] @ params["W_y"].T, zeros, zeros,
                                         layer_cache)[0]
    numeric = _numeric_grads(params, x, y, h_0, c_0)
    truth.update({name: numeric[name] for name in names})
    checks = {"dh": _Check(f"dh_t, t = {T}..1, vs the derivation"),
              "dc": _Check(f"dc_t, t = {T}..1, vs the derivation"),
              "dz": _Check(f"dz_t, t = {T}..1, vs lc.lstm_layer_backward")}
    for name in names:
        checks[name] = _Check(f"d{name} from your steps, vs finite differences",
                              lc.GRADCHECK_THRESHOLD)
    variants = {m: _step_backward_variant(m) for m in _BACKWARD_STEP_MISTAKES}
    return _grade("lstm_step_backward", lstm_step_backward, run, checks, truth, variants,
                  _STEP_BACKWARD_MESSAGES, _step_backward_ref, "derivation")


def _strict_step(fn):
    """The learner's step, returning exactly three arrays (None means not done)."""

    def step(*args):
        got = fn(*args)
        if got is None:
            raise _NotDone
        dh, dc, dz = got
        return dh, dc, dz

    return step


_LOOP_MESSAGES = {
    "forwards": "The loop runs forwards in time: dh_t needs dz_{t+1} and dc_{t+1}, so the "
                f"steps go t = T, T - 1, ..., 1 ({WHERE['loop']}).",
    "assigned": "A gradient is assigned (=) at each step instead of added (+=): W_x, W_h, "
                "b, W_y and b_y are used at every step, so their gradients sum over the "
                f"steps ({WHERE['derivation']}, at “The gate parameters”).",
    "no_dz_next": "The recurrent term of dh_t is missing: the loop must hand dz_{t+1} to "
                  "step t, since h_t also feeds the gates of step t + 1 "
                  f"({WHERE['derivation']}, at “The hidden state”).",
    "fancy_index": "dW_x[ids] += dz keeps only one of two streams that read the same "
                   "character at the same step; np.add.at(dW_x, ids, dz) adds both "
                   f"({WHERE['derivation']}, at “The gate parameters”).",
    "state_from_dh": "The gradient of the state carried in is taken from step 1's dh and "
                     "dc: dh_0 = dz_1 W_h^T and dc_0 = dc_1 * f_1, the terms that step 1 "
                     f"hands back ({WHERE['derivation']}, at “Back to step t - 1”).",
}


def check_lstm_backward(lstm_backward):
    """lstm_backward(params, fw, dlogits) -> grads (params' keys, plus h0, c0), dh, dc
    (T+2, B, H), dz (T+2, B, 4H). Every gradient vs finite differences in float64."""
    params, x, y, h_0, c_0, fw, dlogits = _bptt_model(seed=8)
    T = x.shape[0]
    names = list(params) + ["h0", "c0"]

    def run(fn):
        fw_copy = {k: v.copy() for k, v in fw.items()}
        grads, dh, dc, dz = _returned(_call(fn, {k: p.copy() for k, p in params.items()},
                                            fw_copy, dlogits.copy()))
        out = {name: grads[name] for name in names}
        out["dz"] = dz[1 : T + 1]
        return out

    truth = _numeric_grads(params, x, y, h_0, c_0)
    layer_cache = lc.forward(params, x, (h_0[None], c_0[None]))[2][1][0][1]
    zeros = np.zeros_like(h_0)
    truth["dz"] = lc.lstm_layer_backward(dlogits[1 : T + 1] @ params["W_y"].T, zeros, zeros,
                                         layer_cache)[0]
    checks = {name: _Check(f"d{name}, vs finite differences", lc.GRADCHECK_THRESHOLD)
              for name in names}
    checks["dz"] = _Check(f"dz_t, t = {T}..1, vs lc.lstm_layer_backward")
    variants = {m: _backward_variant(_step_backward_ref, m) for m in _LOOP_MESSAGES}
    variants.update({f"step:{m}": _backward_variant(_step_backward_variant(m))
                     for m in _BACKWARD_STEP_MISTAKES if m != "no_dh_carry"})  # = no_dz_next
    messages = dict(_LOOP_MESSAGES)
    messages.update({f"step:{m}": _STEP_BACKWARD_MESSAGES[m] for m in _BACKWARD_STEP_MISTAKES})
    return _grade("lstm_backward", lstm_backward, run, checks, truth, variants, messages,
                  _lstm_backward_ref, "loop")


def _clip_ref(grads, max_norm):
    return lc.clip_by_global_norm(grads, max_norm)


def _clip_elementwise(grads, max_norm):
    norm = lc.global_norm(grads)
    for g in grads.values():
        np.clip(g, -max_norm, max_norm, out=g)
    return norm


def _clip_per_tensor(grads, max_norm):
    norm = lc.global_norm(grads)
    for g in grads.values():
        n = float(np.linalg.norm(g))
        if n > max_norm:
            g *= max_norm / n
    return norm


def _clip_rebinding(grads, max_norm):
    norm = lc.global_norm(grads)
    if norm > max_norm:
        for g in grads.values():
            g = g * (max_norm / norm)  # noqa: PLW2901 - the mistake: the array is untouched
    return norm


def _clip_norm_after(grads, max_norm):
    lc.clip_by_global_norm(grads, max_norm)
    return lc.global_norm(grads)


def _clip_sum_of_norms(grads, max_norm):
    norm = sum(float(np.linalg.norm(g)) for g in grads.values())
    if norm > max_norm:
        for g in grads.values():
            g *= max_norm / norm
    return norm


def _clip_always(grads, max_norm):
    norm = lc.global_norm(grads)
    for g in grads.values():
        g *= max_norm / norm
    return norm


def check_clip_by_global_norm(clip_by_global_norm):
    """clip_by_global_norm(grads, max_norm) -> the global norm before clipping; scales
    every gradient of the dict, in place, by one factor when that norm exceeds max_norm."""
    rng = np.random.default_rng(9)
    grads = {"W_x0": rng.normal(0, 0.5, (5, 8)), "W_h0": rng.normal(0, 0.1, (2, 8)),
             "b0": rng.normal(0, 3.0, 8), "W_y": rng.normal(0, 0.2, (2, 5)),
             "b_y": rng.normal(0, 1.5, 5)}
    limits = (1.0, 2.0, 100.0)  # the norm is about 10: clipped twice, then left alone

    def run(fn):
        out = {}
        for limit in limits:
            g = {k: v.copy() for k, v in grads.items()}
            out[f"norm{limit:g}"] = np.asarray(_returned(_call(fn, g, limit)), np.float64)
            out[f"grads{limit:g}"] = np.concatenate([v.ravel() for v in g.values()])
        return out

    checks = {}
    for limit in limits:
        checks[f"grads{limit:g}"] = _Check(f"gradients after clipping to {limit:g}, "
                                           "vs lc.clip_by_global_norm", 1e-5)
        checks[f"norm{limit:g}"] = _Check(f"norm returned, limit {limit:g}", 1e-12)
    variants = {"elementwise": _clip_elementwise, "per_tensor": _clip_per_tensor,
                "rebinding": _clip_rebinding, "norm_after": _clip_norm_after,
                "sum_of_norms": _clip_sum_of_norms, "always": _clip_always}
    messages = {
        "elementwise": "This clips element by element: it cuts the large entries and leaves "
                       "the small ones, which turns the gradient; scale every tensor by the "
                       f"one factor max_norm / ||g|| ({WHERE['clipping']}).",
        "per_tensor": "Each tensor is clipped to its own norm: that changes their relative "
                      "sizes and so the direction; the norm is one, over all tensors "
                      f"together ({WHERE['clipping']}).",
        "rebinding": "The gradients are unchanged: g = g * scale makes a new array and "
                     "drops it; scale in place with g *= scale "
                     f"({WHERE['clipping']}).",
        "norm_after": "The norm returned is the one after clipping; return the norm before, "
                      f"which training logs ({WHERE['clipping']}).",
        "sum_of_norms": "The global norm is the sum of the tensors' norms; it is the square "
                        "root of the sum of all squared entries, "
                        f"sqrt(sum ||g_k||²) ({WHERE['clipping']}).",
        "always": "Gradients already below the limit are scaled up to it: clip only when "
                  f"the norm exceeds max_norm ({WHERE['clipping']}).",
    }
    return _grade("clip_by_global_norm", clip_by_global_norm, run, checks, run(_clip_ref),
                  variants, messages, _clip_ref, "clipping")


# --------------------------------------------------------------------------------------
# 04 · AdamW
# --------------------------------------------------------------------------------------


def _adam_variant(mistake=None, decay="none"):
    """notebook 04's adam (decay "none") or adamw, with one mistake planted (None: none).

    decay: "none" (Adam), "weights" (AdamW, the W_* tensors), "all" (biases too), "l2"
    (L2 in the gradient), "after" (decoupled, after the Adam step), "wd" (by wd, not
    lr * wd)."""

    def update(params, grads, m, v, t, lr, beta1=0.9, beta2=0.99, eps=1e-8, wd=0.01):
        for name, p in params.items():
            decayed = name.startswith("W") or decay == "all"
            if decay in ("weights", "all") and decayed:
                p *= 1 - lr * wd
            if decay == "wd" and decayed:
                p *= 1 - wd
            g = grads[name]
            if decay == "l2" and decayed:
                g = g + wd * p
            if mistake == f"skip:{name}":
                continue
            m_new = beta1 * m[name] + (1 - beta1) * g
            v_new = beta2 * v[name] + (1 - beta2) * g**2
            if mistake != "not_kept":
                m[name], v[name] = m_new, v_new
            if mistake == "one_minus_beta":
                m_hat, v_hat = m_new / (1 - beta1), v_new / (1 - beta2)
            elif mistake == "no_correction":
                m_hat, v_hat = m_new, v_new
            else:
                m_hat, v_hat = m_new / (1 - beta1**t), v_new / (1 - beta2**t)
            if mistake == "stored_hat":
                m[name], v[name] = m_hat, v_hat
            if mistake == "eps_inside":
                step = lr * m_hat / np.sqrt(v_hat + eps)
            else:
                step = lr * m_hat / (np.sqrt(v_hat) + eps)
            gate_tensor = name.startswith(("W_x", "W_h", "b")) and name != "b_y"
            if mistake == "no_output_gate" and gate_tensor:
                H4 = p.shape[-1]
                step[..., 3 * H4 // 4 :] = 0  # the o block is never updated
            p -= step
            if decay == "after" and decayed:
                p *= 1 - lr * wd

    return update


def _adam_model():
    """Parameters of a small one-layer LSTM (V = 5, H = 2), and five steps of gradients of
    different scales per tensor."""
    rng = np.random.default_rng(10)
    params = lc.init_params(5, 2, 1, seed=rng, dtype="float64")
    for p in params.values():
        p += rng.normal(0, 0.5, p.shape)
    scales = {"W_x0": 0.1, "W_h0": 1.0, "b0": 0.01, "W_y": 3.0, "b_y": 0.3}
    grads = [{n: rng.normal(0, scales[n], p.shape) for n, p in params.items()}
             for _ in range(5)]
    return params, grads


def _run_optimiser(fn, params, grad_steps, **hyper):
    """Five steps of fn(params, grads, m, v, t, lr, ...); returns the parameters after
    every step and the final m and v, flattened."""
    params = {k: p.copy() for k, p in params.items()}
    m = {k: np.zeros_like(p) for k, p in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    before = {k: p.copy() for k, p in params.items()}
    after = []
    for t, grads in enumerate(grad_steps, start=1):
        _call(fn, params, {k: g.copy() for k, g in grads.items()}, m, v, t, **hyper)
        after.append(np.concatenate([p.ravel() for p in params.values()]))
    if all(np.array_equal(params[k], before[k]) for k in params):
        raise _NotDone  # nothing moved: the body is still empty
    return {"params": np.stack(after), "m": _flat(m), "v": _flat(v)}


def _flat(arrays):
    return np.concatenate([a.ravel() for a in arrays.values()])


def _lc_adamw_run(params, grad_steps, hyper, weight_decay):
    """What lc.AdamW does on the same five steps: the truth of the optimiser checks."""
    theirs = {k: p.copy() for k, p in params.items()}
    opt = lc.AdamW(theirs, hyper["lr"], hyper["beta1"], hyper["beta2"], hyper["eps"],
                   weight_decay)
    after = []
    for grads in grad_steps:
        opt.step(theirs, {k: g.copy() for k, g in grads.items()})
        after.append(_flat(theirs))
    return {"params": np.stack(after), "m": _flat(opt.m), "v": _flat(opt.v)}


_ADAM_MESSAGES = {
    "one_minus_beta": "The bias correction divides by 1 - beta instead of 1 - beta**t: the "
                      "total weight the average has given to real gradients after t steps "
                      f"is 1 - beta^t ({WHERE['bias']}; the original notebook's mistake).",
    "no_correction": "There is no bias correction: m and v start at zero and are too small "
                     "in the first steps until divided by 1 - beta1**t and 1 - beta2**t "
                     f"({WHERE['bias']}).",
    "eps_inside": "eps is inside the square root: the step is m_hat / (sqrt(v_hat) + eps) "
                  f"({WHERE['adam']}).",
    "not_kept": "m and v are not kept between steps: assign m[name] and v[name], the dicts "
                f"the caller keeps, not a local name ({WHERE['adam']}).",
    "stored_hat": "The bias-corrected m_hat and v_hat are stored back into m and v: keep "
                  "the running averages uncorrected and correct them anew at every step "
                  f"({WHERE['adam']}).",
    "no_output_gate": "The output gate is left out of the update: the o block of W_x, W_h "
                      "and b never moves, as the original's Wo and bo; loop over every "
                      f"tensor and every column ({WHERE['adamw']}).",
}


def _skip_message(name):
    return (f"The tensor {name} is never updated: loop over every name of params, so that "
            f"no tensor is left out, as the original left out Wo and bo ({WHERE['adamw']}).")


def check_adam(adam):
    """adam(params, grads, m, v, t, lr, beta1, beta2, eps): one Adam step, in place.
    Five steps, checked against lc.AdamW with weight_decay = 0."""
    params, grad_steps = _adam_model()
    hyper = {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}

    def reference(params, grads, m, v, t, lr, beta1=0.9, beta2=0.99, eps=1e-8):
        return _adam_variant(None, "none")(params, grads, m, v, t, lr, beta1, beta2, eps)

    def run(fn):
        return _run_optimiser(fn, params, grad_steps, **hyper)

    truth = _lc_adamw_run(params, grad_steps, hyper, weight_decay=0.0)
    checks = {"params": _Check("parameters after each of 5 steps, vs lc.AdamW"),
              "m": _Check("m after 5 steps, vs lc.AdamW"),
              "v": _Check("v after 5 steps, vs lc.AdamW")}
    mistakes = list(_ADAM_MESSAGES) + [f"skip:{n}" for n in params]
    variants = {}
    for mk in mistakes:
        def variant(params, grads, m, v, t, lr, beta1=0.9, beta2=0.99, eps=1e-8, _mk=mk):
            return _adam_variant(_mk, "none")(params, grads, m, v, t, lr, beta1, beta2, eps)
        variants[mk] = variant
    messages = dict(_ADAM_MESSAGES)
    messages.update({f"skip:{n}": _skip_message(n) for n in params})
    return _grade("adam", adam, run, checks, truth, variants, messages, reference, "adam")


_ADAMW_MESSAGES = {
    "decay_all": "The biases are decayed too: weight decay applies to the weight matrices "
                 "only (lc.is_decayed), a bias is not a measure of the model's complexity "
                 f"and the forget-gate bias of 1 would fade ({WHERE['adamw']}).",
    "l2": "This is L2 in the gradient (g + wd * p), which Adam then divides by sqrt(v_hat); "
          "AdamW decays the weights apart from the gradient, p *= 1 - lr * wd "
          f"({WHERE['l2']}).",
    "no_decay": "The weights are not decayed: AdamW multiplies every weight matrix by "
                f"1 - lr * wd before the Adam step ({WHERE['adamw']}).",
    "wd": "The decay factor is 1 - wd; it is 1 - lr * wd, so that the decay follows the "
          f"learning rate and its schedule ({WHERE['adamw']}).",
    "after": "The decay comes after the Adam step; AdamW (and lc.AdamW, as "
             "torch.optim.AdamW) decays first, then steps "
             f"({WHERE['adamw']}).",
}


def check_adamw(adamw):
    """adamw(params, grads, m, v, t, lr, beta1, beta2, eps, wd): one AdamW step, in place.
    Five steps, checked against lc.AdamW."""
    params, grad_steps = _adam_model()
    hyper = {"lr": 0.05, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "wd": 0.1}

    def reference(params, grads, m, v, t, lr, beta1=0.9, beta2=0.99, eps=1e-8, wd=0.01):
        return _adam_variant(None, "weights")(params, grads, m, v, t, lr, beta1, beta2, eps,
                                              wd)

    def run(fn):
        return _run_optimiser(fn, params, grad_steps, **hyper)

    truth = _lc_adamw_run(params, grad_steps, hyper, weight_decay=hyper["wd"])
    checks = {"params": _Check("parameters after each of 5 steps, vs lc.AdamW"),
              "m": _Check("m after 5 steps, vs lc.AdamW"),
              "v": _Check("v after 5 steps, vs lc.AdamW")}
    plan = {"decay_all": (None, "all"), "l2": (None, "l2"), "no_decay": (None, "none"),
            "wd": (None, "wd"), "after": (None, "after")}
    plan.update({mk: (mk, "weights") for mk in _ADAM_MESSAGES})
    plan.update({f"skip:{n}": (f"skip:{n}", "weights") for n in params})
    variants = {}
    for key, (mk, decay) in plan.items():
        def variant(params, grads, m, v, t, lr, beta1=0.9, beta2=0.99, eps=1e-8, wd=0.01,
                    _mk=mk, _decay=decay):
            return _adam_variant(_mk, _decay)(params, grads, m, v, t, lr, beta1, beta2, eps,
                                              wd)
        variants[key] = variant
    messages = dict(_ADAMW_MESSAGES)
    messages.update(_ADAM_MESSAGES)
    messages.update({f"skip:{n}": _skip_message(n) for n in params})
    return _grade("adamw", adamw, run, checks, truth, variants, messages, reference,
                  "adamw")


# --------------------------------------------------------------------------------------
# 05 · Training and sampling
# --------------------------------------------------------------------------------------


def _train_step_variant(mistake=None):
    """notebook 05's train_step, with one mistake planted (None: none)."""

    def train_step(params, opt, x, y, state, lr, grad_clip, dropout=0.0, rng=None):
        if mistake == "no_dropout":
            dropout, rng = 0.0, None
        logits, new_state, cache = lc.forward(params, x, state, dropout=dropout, rng=rng)
        loss, dlogits = lc.cross_entropy(logits, y)
        if mistake == "sum":
            loss, dlogits = loss * y.size, dlogits * y.size
        grads, _ = lc.backward(dlogits, cache)
        if mistake == "no_clip":
            norm = lc.global_norm(grads)
        elif mistake == "elementwise":
            norm = lc.global_norm(grads)
            for g in grads.values():
                np.clip(g, -grad_clip, grad_clip, out=g)
        else:
            norm = lc.clip_by_global_norm(grads, grad_clip)
        if mistake == "norm_after":
            norm = lc.global_norm(grads)
        opt.step(params, grads, None if mistake == "no_lr" else lr)
        if mistake == "no_carry":
            return loss, norm, state
        return loss, norm, new_state

    return train_step


def check_train_step(train_step):
    """train_step(params, opt, x, y, state, lr, grad_clip, dropout, rng) -> (loss in
    nats/char, gradient norm before clipping, final state). Three steps in a row, the state
    carried, against lc.train_step."""
    rng = np.random.default_rng(11)
    V, H, B, T = 6, 4, 3, 5
    windows = [(rng.integers(0, V, (T, B)), rng.integers(0, V, (T, B))) for _ in range(3)]
    cases = {"clip": (0.05, 0.0), "no clip": (100.0, 0.0), "dropout": (100.0, 0.3)}

    def run(fn):
        out = {}
        for label, (grad_clip, dropout) in cases.items():
            params = lc.init_params(V, H, 2, seed=3, dtype="float64")
            opt = lc.AdamW(params, lr=1e-3)  # the lr passed to each step is 2e-2
            state = lc.zero_state(params, B)
            drop_rng = np.random.default_rng(5)
            losses, norms = [], []
            for x, y in windows:
                got = _returned(_call(fn, params, opt, x, y, state, 2e-2, grad_clip,
                                      dropout, drop_rng))
                loss, norm, state = got
                losses.append(loss)
                norms.append(norm)
            out[f"{label}: params"] = np.concatenate([p.ravel() for p in params.values()])
            out[f"{label}: losses"] = np.array(losses, dtype=np.float64)
            out[f"{label}: norms"] = np.array(norms, dtype=np.float64)
            out[f"{label}: state"] = np.stack(state)
        return out

    checks = {}
    for label, (grad_clip, dropout) in cases.items():
        what = f"grad_clip {grad_clip:g}, dropout {dropout:g}"
        checks[f"{label}: losses"] = _Check(f"losses of 3 steps, {what}", 1e-10)
        checks[f"{label}: norms"] = _Check("  gradient norms before clipping", 1e-10)
        checks[f"{label}: params"] = _Check("  parameters after 3 steps", 1e-10)
        checks[f"{label}: state"] = _Check("  final state (h, c)", 1e-10)
    mistakes = ["no_clip", "elementwise", "sum", "no_carry", "no_lr", "norm_after",
                "no_dropout"]
    variants = {m: _train_step_variant(m) for m in mistakes}
    messages = {
        "no_clip": "The update uses the unclipped gradient: clip it by global norm "
                   "(lc.clip_by_global_norm) between backward and opt.step "
                   f"({WHERE['train_step']}).",
        "elementwise": "The gradient is clipped element by element, which turns it; clip by "
                       f"global norm ({WHERE['clipping']}).",
        "sum": "The loss is summed over the window where the mean belongs: the loss and its "
               f"gradient are per character, a mean over T·B positions ({WHERE['loss']}).",
        "no_carry": "The state returned is the one passed in: the final state of this "
                    "window must be returned, so that the next window, which continues the "
                    f"same streams, starts from it ({WHERE['carry']}).",
        "no_lr": "The learning rate passed in is not used: give it to opt.step(params, "
                 "grads, lr), since the schedule changes it at every step "
                 f"({WHERE['train_step']}).",
        "norm_after": "The norm returned is the one after clipping; return the norm before "
                      f"({WHERE['train_step']}).",
        "no_dropout": "dropout and rng are not passed to lc.forward: with dropout > 0 the "
                      f"forward pass draws its masks from rng ({WHERE['train_step']}).",
    }
    return _grade("train_step", train_step, run, checks, run(_train_step_lc), variants,
                  messages, _train_step_lc, "train_step")


def _train_step_lc(params, opt, x, y, state, lr, grad_clip, dropout=0.0, rng=None):
    """lc.train_step with the positional signature of notebook 05's train_step."""
    return lc.train_step(params, opt, x, y, state, lr=lr, grad_clip=grad_clip,
                         dropout=dropout, rng=rng)


def _sample_next_variant(mistake=None):
    """notebook 05's sample_next, with one mistake planted (None: none)."""

    def sample_next(z, tau, top_k, rng):
        z = z.astype(np.float64)
        if mistake == "tau_times":
            z = z * tau
        elif mistake != "no_tau":
            z = z / tau
        if top_k is not None and top_k < z.shape[1] and mistake != "no_top_k":
            kth = {"k_plus_1": -top_k - 1, "smallest": top_k - 1}.get(mistake, -top_k)
            threshold = np.sort(z, axis=1)[:, kth][:, None]
            if mistake == "smallest":
                z = np.where(z > threshold, -np.inf, z)
            else:
                z = np.where(z < threshold, -np.inf, z)
        p = lc.softmax(z)
        if mistake == "p_over_tau":
            p = lc.softmax(z * tau) / tau
        if mistake == "greedy":
            return p.argmax(axis=1)
        u = rng.random() if mistake == "one_u" else rng.random((z.shape[0], 1))
        return np.minimum((p.cumsum(axis=1) < u).sum(axis=1), z.shape[1] - 1)

    return sample_next


def check_sample_next(sample_next):
    """sample_next(z, tau, top_k, rng) -> one id per row of the logits z (B, V), drawn with
    u = rng.random((B, 1)) and the cumulative distribution, as lc.sample_next."""
    z = np.random.default_rng(12).normal(0, 2, (400, 9))
    cases = [(1.0, None), (0.5, None), (2.0, None), (1.5, 3), (0.8, 1)]

    def run(fn):
        out = {}
        for tau, top_k in cases:
            got = _returned(_call(fn, z.copy(), tau, top_k, np.random.default_rng(7)))
            out[f"{tau}, {top_k}"] = np.asarray(got)
        return out

    checks = {f"{tau}, {top_k}": _Check(f"draws at τ = {tau:g}, top-k = {top_k}, "
                                        "share differing from lc.sample_next", 0, exact=True)
              for tau, top_k in cases}
    mistakes = ["tau_times", "no_tau", "no_top_k", "k_plus_1", "smallest", "p_over_tau",
                "greedy", "one_u"]
    variants = {m: _sample_next_variant(m) for m in mistakes}
    messages = {
        "tau_times": "The logits are multiplied by the temperature; they are divided, z / τ, "
                     f"so that τ < 1 sharpens the distribution ({WHERE['sampling']}).",
        "no_tau": "The temperature is not used: divide the logits by τ before the softmax "
                  f"({WHERE['sampling']}).",
        "no_top_k": "top_k is not used: set every logit below the k-th largest to -inf "
                    f"before the softmax ({WHERE['sampling']}).",
        "k_plus_1": "Top-k keeps k + 1 characters: the threshold is the k-th largest logit, "
                    f"np.sort(z, axis=1)[:, -k] ({WHERE['sampling']}).",
        "smallest": "Top-k keeps the k smallest logits; it keeps the k largest "
                    f"({WHERE['sampling']}).",
        "p_over_tau": "The temperature divides the probabilities; it divides the logits, "
                      f"before the softmax ({WHERE['sampling']}).",
        "greedy": "This always picks the most likely character (τ → 0): draw from the "
                  "distribution with u = rng.random((B, 1)) and the cumulative "
                  f"probabilities ({WHERE['sampling']}).",
        "one_u": "One u is drawn for all rows: every row needs its own draw, "
                 f"u = rng.random((B, 1)) ({WHERE['sampling']}).",
    }
    return _grade("sample_next", sample_next, run, checks, run(lc.sample_next), variants, messages,
                  lc.sample_next, "sampling")


def _read_prime_variant(mistake=None):
    """Feeding the prime ids (n,): correctly (None) or with one mistake planted."""

    def read_prime(params, ids):
        if mistake == "one_vector":  # several one-hot entries in one input vector
            H = params["W_h0"].shape[0]
            xw = (params["W_x0"][ids].sum(axis=0) + params["b0"])[None, None]
            zeros = np.zeros((1, H))
            hs, cache = lc.lstm_layer_forward(xw, zeros, zeros, params["W_h0"])
            logits = hs[1] @ params["W_y"] + params["b_y"]
            return logits[0], (hs[1][None], cache[1][1][None])
        if mistake == "batch":  # len(prime) streams of one step, where one stream belongs
            logits, state, _ = lc.forward(params, ids[None, :])
            return logits[-1, 0], state
        if mistake == "last_only":
            ids = ids[-1:]
        if mistake == "reversed":
            ids = ids[::-1]
        logits, state, _ = lc.forward(params, ids[:, None])
        return (logits[0, 0] if mistake == "first_logits" else logits[-1, 0]), state

    return read_prime


def check_read_prime(read_prime):
    """read_prime(params, ids) -> logits (V,) after the prime ids (n,), read one character
    per step from the zero state, and the state (h, c), each (L, 1, H)."""
    rng = np.random.default_rng(13)
    params = lc.init_params(8, 5, 1, seed=rng, dtype="float64")
    for p in params.values():
        p += rng.normal(0, 0.3, p.shape)
    ids = np.array([3, 1, 6, 6, 0, 2])

    def run(fn):
        logits, (h, c) = _returned(_call(fn, {k: p.copy() for k, p in params.items()},
                                         ids.copy()))
        return {"logits": logits, "h": h, "c": c}

    checks = {"logits": _Check("logits after a prime of 6 characters, vs lc.forward"),
              "h": _Check("h after the prime, vs lc.forward"),
              "c": _Check("c after the prime, vs lc.forward")}
    mistakes = ["one_vector", "batch", "last_only", "reversed", "first_logits"]
    variants = {m: _read_prime_variant(m) for m in mistakes}
    messages = {
        "one_vector": "The prime is fed as one input vector with several one-hot entries at "
                      "once (the original's mistake): the model then reads an unordered bag "
                      "of characters in a single step; feed it one character per step, a "
                      f"window of T = len(prime) ({WHERE['sampling']}).",
        "batch": "The prime is fed as a batch of len(prime) streams of one character each "
                 "(ids[None, :]): it must be one stream of T = len(prime) steps, "
                 f"ids[:, None] ({WHERE['sampling']}).",
        "last_only": "Only the last character of the prime is read: feed all of it, so that "
                     f"the state has read the whole prime ({WHERE['sampling']}).",
        "reversed": "The prime is read backwards: feed it in the order of the text "
                    f"({WHERE['sampling']}).",
        "first_logits": "The logits returned are those after the first character; the next "
                        f"character follows the last one, logits[-1] ({WHERE['sampling']}).",
    }
    return _grade("read_prime", read_prime, run, checks, run(_read_prime_variant(None)), variants,
                  messages, _read_prime_variant(None), "sampling")


# --------------------------------------------------------------------------------------
# 06 · Inside the LSTM
# --------------------------------------------------------------------------------------


def _correlate_variant(mistake=None):
    """notebook 06's correlate (Pearson r of each column with a feature), with one mistake
    planted (None: none)."""

    def correlate(a, feature):
        if mistake == "not_centred":
            ac, fc = a, feature
        elif mistake == "global_mean":
            ac, fc = a - a.mean(), feature - feature.mean()
        else:
            ac, fc = a - a.mean(axis=0), feature - feature.mean()
        N = len(feature)
        if mistake == "covariance":
            return ac.T @ fc / N
        if mistake == "no_sqrt":
            return (ac.T @ fc) / ((ac * ac).sum(axis=0) * (fc * fc).sum())
        if mistake == "mixed_n":
            return (ac.T @ fc / (N - 1)) / (ac.std(axis=0) * fc.std())
        denom = np.sqrt((ac * ac).sum(axis=0) * (fc * fc).sum())
        r = (ac.T @ fc) / np.where(denom > 0, denom, 1.0)
        return np.abs(r) if mistake == "abs" else r

    return correlate


def check_correlate(correlate):
    """correlate(a, feature) -> Pearson r (H,) of each column of a (N, H) with feature (N,)."""
    rng = np.random.default_rng(14)
    N, H = 300, 6
    feature = (rng.random(N) < 0.3).astype(float)
    a = rng.normal(0, 1, (N, H)) * np.array([1, 0.1, 3, 1, 2, 0.5]) + np.arange(H)
    a[:, 0] += 2 * feature  # a cell that goes up on the feature
    a[:, 3] -= 1.5 * feature  # and one that goes down
    column = np.arange(N) % 40.0  # a second feature: a position in a line

    def run(fn):
        return {"binary": np.asarray(_returned(_call(fn, a.copy(), feature.copy()))),
                "column": np.asarray(_returned(_call(fn, a.copy(), column.copy())))}

    checks = {"binary": _Check("r of 6 cells with a 0/1 feature, vs np.corrcoef", 1e-10),
              "column": _Check("r with a position-in-the-line feature, vs np.corrcoef",
                               1e-10)}
    mistakes = ["not_centred", "global_mean", "covariance", "no_sqrt", "mixed_n", "abs"]
    variants = {m: _correlate_variant(m) for m in mistakes}
    messages = {
        "not_centred": "The columns are not centred: without subtracting each column's mean "
                       "this is the cosine similarity, not the correlation "
                       f"({WHERE['search']}).",
        "global_mean": "The mean subtracted is that of the whole array: each column (cell) "
                       f"needs its own mean, a.mean(axis=0) ({WHERE['search']}).",
        "covariance": "This is the covariance: divide by the product of the two standard "
                      f"deviations so that r lies in [-1, 1] ({WHERE['search']}).",
        "no_sqrt": "The denominator misses its square root: r = cov / sqrt(var(a) var(f)) "
                   f"({WHERE['search']}).",
        "mixed_n": "The covariance divides by N - 1 and the standard deviations by N: use "
                   f"the same N in both, and it cancels ({WHERE['search']}).",
        "abs": "This returns |r|: keep the sign, a cell can mark a feature by going down as "
               f"well as up; the search takes the largest |r| ({WHERE['search']}).",
    }

    def reference(a, feature):
        full = np.corrcoef(np.column_stack([a, feature]).T)
        return full[-1, :-1]

    return _grade("correlate", correlate, run, checks, run(reference), variants, messages,
                  _correlate_variant(None), "search")


# The exercises of each lesson: the function a tagged cell defines, and its checker.
EXERCISES = {
    "01_data_preparation": {"make_streams": check_make_streams,
                            "get_window": check_get_window},
    "02_forward_pass": {"lstm_step": check_lstm_step, "forward_loop": check_forward_loop,
                        "stable_sigmoid": check_stable_sigmoid,
                        "stable_softmax": check_stable_softmax,
                        "cross_entropy_loss": check_cross_entropy_loss},
    "03_backprop_through_time": {"lstm_step_backward": check_lstm_step_backward,
                                 "lstm_backward": check_lstm_backward,
                                 "clip_by_global_norm": check_clip_by_global_norm},
    "04_adamw": {"adam": check_adam, "adamw": check_adamw},
    "05_training": {"train_step": check_train_step, "sample_next": check_sample_next,
                    "read_prime": check_read_prime},
    "06_inside_the_lstm": {"correlate": check_correlate},
}
