"""The exercise checkers (lstm_exercises.py) and the exercise generator
(notebooks/make_exercises.py).

Each checker must accept a correct solution written as the lessons write it, name each
known mistake planted into a copy of that solution, and answer "not done yet" for the stub
that `make exercises` leaves. The mistakes are planted here by hand, independently of the
variants inside the checker module, and the module's own variants are run through their
checkers too.
"""

import ast
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

import lstm_core as lc
import lstm_exercises as ex


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


# ---------------------------------------------------------------------------------------
# Solutions, as the lessons write them
# ---------------------------------------------------------------------------------------


def make_streams(ids, B):
    N = (len(ids) - 1) // B
    return ids[: B * N].reshape(B, N), ids[1 : B * N + 1].reshape(B, N)


def get_window(streams, k, T):
    inputs, targets = streams
    return inputs[:, k * T : (k + 1) * T].T, targets[:, k * T : (k + 1) * T].T


def stable_sigmoid(z):
    return 0.5 + 0.5 * np.tanh(0.5 * z)


def stable_softmax(l):
    e = np.exp(l - l.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def cross_entropy_loss(logits, y):
    p = stable_softmax(logits)
    p_target = np.take_along_axis(p, y[..., None], axis=-1)[..., 0]
    return -np.mean(np.log(p_target))


def lstm_step(x_t, h_prev, c_prev, params, transpose=False, order="ifgo", drop_o=False):
    W_xi, W_xf, W_xg, W_xo = np.split(params["W_x0"], 4, axis=1)
    W_hi, W_hf, W_hg, W_ho = np.split(params["W_h0"], 4, axis=1)
    b_i, b_f, b_g, b_o = np.split(params["b0"], 4)
    blocks = dict(zip("ifgo", zip([W_xi, W_xf, W_xg, W_xo], [W_hi, W_hf, W_hg, W_ho],
                                  [b_i, b_f, b_g, b_o])))
    blocks = {name: blocks[other] for name, other in zip("ifgo", order)}
    if transpose:
        blocks = {k: (W_x, W_h.T, b) for k, (W_x, W_h, b) in blocks.items()}

    def z(gate):
        W_x, W_h, b = blocks[gate]
        return W_x[x_t] + h_prev @ W_h + b

    i, f, g, o = sigmoid(z("i")), sigmoid(z("f")), np.tanh(z("g")), sigmoid(z("o"))
    c = f * c_prev + i * g
    h = np.tanh(c) if drop_o else o * np.tanh(c)
    return h, c


def forward_loop(x, h, c, params, carry=True):
    logits = []
    h0, c0 = h, c
    for t in range(len(x)):
        h, c = lstm_step(x[t], h if carry else h0, c if carry else c0, params)
        logits.append(h @ params["W_y"] + params["b_y"])
    return np.stack(logits), h, c


def lstm_step_backward(t, fw, dout, dz_next, dc_next, W_h, tanh_twice=False, carry_h=True):
    i, f, g, o = fw["i"][t], fw["f"][t], fw["g"][t], fw["o"][t]
    dh = dout + dz_next @ W_h.T if carry_h else dout
    dc = dh * o * (1 - fw["tanh_c"][t] ** 2) + dc_next * fw["f"][t + 1]
    do = dh * fw["tanh_c"][t]
    di = dc * g
    dg = dc * i
    df = dc * fw["c"][t - 1]
    g_prime = 1 - np.tanh(g) ** 2 if tanh_twice else 1 - g**2
    dz = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * g_prime,
                         do * o * (1 - o)], axis=1)
    return dh, dc, dz


def lstm_backward(params, fw, dlogits, step=lstm_step_backward, fancy=False):
    W_h, W_y = params["W_h0"], params["W_y"]
    x, h = fw["x"], fw["h"]
    T, B = x.shape
    H = W_h.shape[0]
    grads = {name: np.zeros_like(p) for name, p in params.items()}
    dh = np.zeros((T + 2, B, H))
    dc = np.zeros((T + 2, B, H))
    dz = np.zeros((T + 2, B, 4 * H))
    for t in range(T, 0, -1):
        grads["W_y"] += h[t].T @ dlogits[t]
        grads["b_y"] += dlogits[t].sum(axis=0)
        dh[t], dc[t], dz[t] = step(t, fw, dlogits[t] @ W_y.T, dz[t + 1], dc[t + 1], W_h)
        if fancy:
            grads["W_x0"][x[t - 1]] += dz[t]
        else:
            np.add.at(grads["W_x0"], x[t - 1], dz[t])
        grads["W_h0"] += h[t - 1].T @ dz[t]
        grads["b0"] += dz[t].sum(axis=0)
    dh[0] = dz[1] @ W_h.T
    dc[0] = dc[1] * fw["f"][1]
    grads["h0"], grads["c0"] = dh[0], dc[0]
    return grads, dh, dc, dz


def clip_by_global_norm(grads, max_norm, elementwise=False):
    norm = np.sqrt(sum(np.sum(g**2) for g in grads.values()))
    if elementwise:
        for g in grads.values():
            np.clip(g, -max_norm, max_norm, out=g)
        return norm
    if norm > max_norm:
        for g in grads.values():
            g *= max_norm / norm
    return norm


def adam(params, grads, m, v, t, lr, beta1=0.9, beta2=0.99, eps=1e-8, original=False,
         skip_o=False):
    for name, p in params.items():
        g = grads[name]
        m[name] = beta1 * m[name] + (1 - beta1) * g
        v[name] = beta2 * v[name] + (1 - beta2) * g**2
        m_hat = m[name] / (1 - (beta1 if original else beta1**t))
        v_hat = v[name] / (1 - (beta2 if original else beta2**t))
        update = lr * m_hat / (np.sqrt(v_hat) + eps)
        if skip_o and name != "b_y" and name[0] in "Wb" and name != "W_y":
            update[..., 3 * p.shape[-1] // 4 :] = 0
        p -= update


def adamw(params, grads, m, v, t, lr, beta1=0.9, beta2=0.99, eps=1e-8, wd=0.01,
          decay_biases=False):
    for name, p in params.items():
        if decay_biases or lc.is_decayed(name):
            p *= 1 - lr * wd
    adam(params, grads, m, v, t, lr, beta1, beta2, eps)


def train_step(params, opt, x, y, state, lr, grad_clip, dropout=0.0, rng=None, carry=True,
               summed=False):
    logits, new_state, cache = lc.forward(params, x, state, dropout=dropout, rng=rng)
    loss, dlogits = lc.cross_entropy(logits, y)
    if summed:
        loss, dlogits = loss * y.size, dlogits * y.size
    grads, _ = lc.backward(dlogits, cache)
    norm = lc.clip_by_global_norm(grads, grad_clip)
    opt.step(params, grads, lr)
    return loss, norm, new_state if carry else state


def sample_next(z, tau, top_k, rng):
    z = z.astype(np.float64) / tau
    if top_k is not None and top_k < z.shape[1]:
        kth_largest = np.sort(z, axis=1)[:, -top_k][:, None]
        z = np.where(z < kth_largest, -np.inf, z)
    p = lc.softmax(z)
    u = rng.random((z.shape[0], 1))
    return np.minimum((p.cumsum(axis=1) < u).sum(axis=1), z.shape[1] - 1)


def read_prime(params, ids):
    logits, state, _ = lc.forward(params, ids[:, None])
    return logits[-1, 0], state


def read_prime_one_vector(params, ids):
    """The original's priming: one input vector with a 1 at every character of the prime."""
    V, H = params["W_x0"].shape[0], params["W_h0"].shape[0]
    x = np.zeros(V)
    np.add.at(x, ids, 1)
    xw = (x @ params["W_x0"] + params["b0"])[None, None]
    zeros = np.zeros((1, H))
    hs, (_, cs, _, _, _) = lc.lstm_layer_forward(xw, zeros, zeros, params["W_h0"])
    return (hs[1] @ params["W_y"] + params["b_y"])[0], (hs[1:], cs[1:])


def correlate(a, feature):
    a = a - a.mean(axis=0)
    fc = feature - feature.mean()
    denom = np.sqrt((a * a).sum(axis=0) * (fc * fc).sum())
    return (a.T @ fc) / np.where(denom > 0, denom, 1.0)


SOLUTIONS = {"make_streams": make_streams, "get_window": get_window,
             "stable_sigmoid": stable_sigmoid, "stable_softmax": stable_softmax,
             "cross_entropy_loss": cross_entropy_loss, "lstm_step": lstm_step,
             "forward_loop": forward_loop, "lstm_step_backward": lstm_step_backward,
             "lstm_backward": lstm_backward, "clip_by_global_norm": clip_by_global_norm,
             "adam": adam, "adamw": adamw, "train_step": train_step,
             "sample_next": sample_next, "read_prime": read_prime, "correlate": correlate}
CHECKERS = {name: checker for lesson in ex.EXERCISES.values()
            for name, checker in lesson.items()}


def run_checker(checker, fn, capsys):
    returned = checker(fn)
    return returned, capsys.readouterr().out


def table_rows(out):
    """The ok column of each row of a printed table."""
    return [line.split()[-1] for line in out.splitlines()[1:]
            if line.split() and line.split()[-1] in ("yes", "NO")]


def test_every_exercise_has_a_solution_here_and_there_are_at_least_twelve():
    assert set(SOLUTIONS) == set(CHECKERS)
    assert len(CHECKERS) >= 12


@pytest.mark.parametrize("name", sorted(SOLUTIONS))
def test_checker_accepts_the_solution_and_hands_it_back(name, capsys):
    returned, out = run_checker(CHECKERS[name], SOLUTIONS[name], capsys)
    assert returned is SOLUTIONS[name]
    assert out.splitlines()[0].split()[:1] == ["checked"]
    rows = table_rows(out)
    assert rows and all(ok == "yes" for ok in rows), out
    assert f"{name} passes every check." in out


def stub(*args, **kwargs):
    """What `make exercises` leaves of a tagged function."""
    raise NotImplementedError


def stub_with_pass(*args, **kwargs):
    pass


@pytest.mark.parametrize("name", sorted(SOLUTIONS))
@pytest.mark.parametrize("the_stub", [stub, stub_with_pass])
def test_checker_says_not_done_yet_for_the_stub_and_returns_a_working_function(
        name, the_stub, capsys):
    returned, out = run_checker(CHECKERS[name], the_stub, capsys)
    assert out.startswith(f"{name}: not done yet.")
    assert len(out.splitlines()) == 1
    assert returned is not the_stub
    # what it returns is correct: the checker accepts it (it is the notebook's stand-in)
    again, out = run_checker(CHECKERS[name], returned, capsys)
    assert again is returned and "passes every check" in out


def variant_cases():
    """Every known-mistake variant of the module, with the sentence it must produce."""
    cases = []
    for name, checker in CHECKERS.items():
        spec = ex._specs(checker)
        for mistake, (variant, message) in spec.items():
            cases.append(pytest.param(name, variant, message, id=f"{name}-{mistake}"))
    return cases


@pytest.mark.parametrize(("name", "variant", "message"), variant_cases())
def test_each_known_mistake_fails_and_is_named(name, variant, message, capsys):
    returned, out = run_checker(CHECKERS[name], variant, capsys)
    assert returned is not variant
    assert "NO" in table_rows(out), out
    assert message in out, out
    assert out.count(message) == 1
    assert "passes every check" not in out


def named(out):
    """The sentence a checker printed after its table (the line before the last)."""
    return out.splitlines()[-2]


# Mistakes planted by hand into copies of the solutions above, with words the sentence that
# names them must contain.
PLANTED = [
    ("lstm_step_backward",
     lambda *a: lstm_step_backward(*a, tanh_twice=True), "1 - tanh²"),
    ("lstm_step_backward",
     lambda *a: lstm_step_backward(*a, carry_h=False), "recurrent term of dh_t"),
    ("lstm_backward",
     lambda p, fw, d: lstm_backward(p, fw, d, step=lambda *a: lstm_step_backward(
         *a, tanh_twice=True)), "1 - tanh²"),
    ("lstm_backward",
     lambda p, fw, d: lstm_backward(p, fw, d, step=lambda *a: lstm_step_backward(
         *a, carry_h=False)), "recurrent term of dh_t"),
    ("lstm_backward", lambda p, fw, d: lstm_backward(p, fw, d, fancy=True), "np.add.at"),
    ("clip_by_global_norm",
     lambda g, n: clip_by_global_norm(g, n, elementwise=True), "element by element"),
    ("adam", lambda *a, **k: adam(*a, **k, original=True), "1 - beta instead of 1 - beta**t"),
    ("adamw", lambda *a, **k: adamw(*a, **k, decay_biases=True), "biases are decayed"),
    ("adam", lambda *a, **k: adam(*a, **k, skip_o=True), "output gate is left out"),
    ("read_prime", read_prime_one_vector, "one input vector"),
    ("lstm_step", lambda *a: lstm_step(*a, transpose=True), "transposed"),
    ("lstm_step", lambda *a: lstm_step(*a, order="ifog"), "wrong order"),
    ("lstm_step", lambda *a: lstm_step(*a, drop_o=True), "output gate is left out"),
    ("cross_entropy_loss", lambda l, y: cross_entropy_loss(l, y) * y.size, "sum"),
    ("train_step", lambda *a: train_step(*a, summed=True), "summed"),
    ("forward_loop", lambda *a: forward_loop(*a, carry=False), "not carried"),
    ("train_step", lambda *a: train_step(*a, carry=False), "state returned is the one"),
]


@pytest.mark.parametrize(("name", "planted", "words"), PLANTED,
                         ids=[f"{n}-{w}" for n, _, w in PLANTED])
def test_a_mistake_planted_in_the_solution_is_named(name, planted, words, capsys):
    returned, out = run_checker(CHECKERS[name], planted, capsys)
    assert "NO" in table_rows(out)
    assert words in named(out), out
    assert re.search(r"\(0\d, section", named(out)), "the sentence points to the lesson"


def test_an_unknown_mistake_is_reported_as_such(capsys):
    def odd_sigmoid(z):
        return stable_sigmoid(z) + 1e-3

    returned, out = run_checker(ex.check_stable_sigmoid, odd_sigmoid, capsys)
    assert returned is lc.sigmoid
    assert "does not recognise" in out and "02, section 6" in out


def test_a_function_that_raises_is_shown_and_the_notebook_runs_on(capsys):
    def broken(ids, B):
        return ids.reshape(B, -1)  # not a pair, and fails for most lengths

    returned, out = run_checker(ex.check_make_streams, broken, capsys)
    assert "make_streams raised ValueError" in out
    assert returned is not broken


def test_checkers_print_rounded_numbers_only():
    # the lesson's outputs are compared by nbval: rounding noise must not show
    assert ex._fmt(3.2e-13, 1e-10) == "< 1e-11"
    assert ex._fmt(0.0, 1e-10) == "< 1e-11"  # a zero here may be 1e-17 on another machine
    assert ex._fmt(0.0, 0) == "0"
    assert ex._fmt(2.345e-3, 1e-10) == "2.3e-03"


def test_the_float64_finite_difference_reference_agrees_with_lstm_core():
    params, x, y, h_0, c_0, fw, dlogits = ex._bptt_model()
    numeric = ex._numeric_grads(params, x, y, h_0, c_0)
    grads, _, _, _ = ex._lstm_backward_ref(params, fw, dlogits)
    grads_lc, (dh0, dc0) = lc.backward(dlogits[1:-1], lc.forward(
        params, x, (h_0[None], c_0[None]))[2])
    for name in params:
        assert lc.relative_error(grads[name], grads_lc[name]) < 1e-12
        assert lc.relative_error(grads[name], numeric[name]) < lc.GRADCHECK_THRESHOLD
    assert lc.relative_error(grads["h0"], dh0[0]) < 1e-12
    assert lc.relative_error(grads["c0"], dc0[0]) < 1e-12


# ---------------------------------------------------------------------------------------
# The generator: notebooks/make_exercises.py
# ---------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "notebooks"))
import make_exercises as gen  # noqa: E402

SOLVED = '''\
# a comment the learner may keep
def area(w, h):
    """Area of a w x h rectangle, in square metres. w, h: (N,) metres."""
    # how: multiply
    return w * h


def double(x):
    """2x, same shape as x."""
    y = 2 * x
    return y
'''


def synthetic_lesson(folder):
    """A small lesson: markdown with a link up, an untagged cell with outputs, a tagged
    cell with two functions and an output, and a checker-like cell."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    md = nbformat.v4.new_markdown_cell("# 09 · Test\n[Contents](00_contents.ipynb) · "
                                       "[README](../README.md) · [next](10_next.ipynb)")
    setup = nbformat.v4.new_code_cell("import numpy as np\nprint(np.pi)")
    setup.outputs = [nbformat.v4.new_output("stream", name="stdout", text="3.14159\n")]
    setup.execution_count = 1
    tagged = nbformat.v4.new_code_cell(SOLVED)
    tagged.metadata["tags"] = ["exercise"]
    tagged.execution_count = 2
    use = nbformat.v4.new_code_cell("print(area(np.ones(2), 3 * np.ones(2)))")
    use.outputs = [nbformat.v4.new_output("stream", name="stdout", text="[3. 3.]\n")]
    use.execution_count = 3
    nb.cells = [md, setup, tagged, use]
    path = folder / "09_test.ipynb"
    nbformat.write(nb, path)
    return path, nb


def test_generator_turns_a_tagged_cell_into_a_stub_and_keeps_the_rest(tmp_path):
    path, lesson = synthetic_lesson(tmp_path)
    out = tmp_path / "exercises"
    assert gen.write_exercises([path], out, log=lambda msg: None) == [out / "09_test.ipynb"]
    nb = nbformat.read(out / "09_test.ipynb", as_version=4)
    banner, md, setup, tagged, use = nb.cells
    assert "exercise-banner" in banner.metadata["tags"] and "make exercises" in banner.source
    # every output cleared
    assert all(c.outputs == [] and c.execution_count is None
               for c in nb.cells if c.cell_type == "code")
    # untagged cells unchanged, links up fixed for the folder below
    assert setup.source == lesson.cells[1].source and use.source == lesson.cells[3].source
    assert md.source == ("# 09 · Test\n[Contents](../00_contents.ipynb) · "
                         "[README](../../README.md) · [next](10_next.ipynb)")
    # the tagged cell: signatures and docstrings kept, bodies gone, still valid Python
    assert tagged.metadata["tags"] == ["exercise"]
    assert "def area(w, h):" in tagged.source and "def double(x):" in tagged.source
    assert '"""Area of a w x h rectangle, in square metres.' in tagged.source
    assert "# a comment the learner may keep" in tagged.source
    for solution_line in ["return w * h", "# how: multiply", "y = 2 * x", "return y"]:
        assert solution_line not in tagged.source
    assert tagged.source.count("raise NotImplementedError") == 2
    assert tagged.source.count("# TODO") == 2
    namespace = {}
    exec(tagged.source, namespace)
    with pytest.raises(NotImplementedError):
        namespace["area"](1, 2)
    # not paired with a .py, and the style file beside it
    assert "jupytext" not in nb.metadata
    assert (out / "lstm.mplstyle").read_text() == (ROOT / "notebooks/lstm.mplstyle").read_text()
    assert 'formats = "ipynb"' in (out / "jupytext.toml").read_text()


def test_generator_for_a_handout_links_to_no_lesson(tmp_path):
    path, _ = synthetic_lesson(tmp_path)
    gen.write_exercises([path], tmp_path / "out", handout=True, log=lambda msg: None)
    banner = nbformat.read(tmp_path / "out" / "09_test.ipynb", as_version=4).cells[0]
    assert "09_test" in banner.source and "](../09_test.ipynb)" not in banner.source


def test_generator_keeps_a_notebook_the_learner_has_worked_in(tmp_path):
    path, _ = synthetic_lesson(tmp_path)
    out = tmp_path / "exercises"
    gen.write_exercises([path], out, log=lambda msg: None)
    target = out / "09_test.ipynb"
    nb = nbformat.read(target, as_version=4)
    nb.cells[3].source = nb.cells[3].source.replace("raise NotImplementedError",
                                                    "return w * h", 1)
    nbformat.write(nb, target)
    messages = []
    assert gen.write_exercises([path], out, log=messages.append) == []
    assert "kept" in messages[0]
    assert "return w * h" in nbformat.read(target, as_version=4).cells[3].source
    # untouched ones are regenerated; --force overwrites the learner's
    assert gen.write_exercises([path], out, force=True, log=messages.append) == [target]
    assert gen.write_exercises([path], out, log=messages.append) == [target]
    assert "return w * h" not in nbformat.read(target, as_version=4).cells[3].source


@pytest.mark.parametrize("source", ["x = 1\ndef f():\n    '''doc'''\n    return x\n",
                                    "def f():\n    return 1\n"])
def test_generator_refuses_a_tagged_cell_it_cannot_stub(source):
    with pytest.raises(ValueError):
        gen.stub_source(source)
LESSONS = gen.lessons()


def tagged_functions(nb):
    cells = [c for c in nb.cells if "exercise" in c.metadata.get("tags", [])]
    return [node.name for c in cells for node in ast.parse(c.source).body]


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_each_lesson_tags_exactly_the_exercises_its_checkers_know(lesson):
    nb = nbformat.read(lesson, as_version=4)
    assert sorted(tagged_functions(nb)) == sorted(ex.EXERCISES.get(lesson.stem, {}))


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_generated_exercise_notebook_runs_top_to_bottom(lesson, tmp_path):
    """The exercise as a learner first opens it: every checker says "not done yet", no cell
    fails, nothing is written to stderr."""
    from nbclient import NotebookClient

    gen.write_exercises([lesson], tmp_path, log=lambda msg: None)
    nb = nbformat.read(tmp_path / f"{lesson.stem}.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("name") == "stderr"]
    printed = "".join(o.get("text", "") for o in outputs)
    for name in ex.EXERCISES.get(lesson.stem, {}):
        assert f"{name}: not done yet." in printed
    assert "passes every check" not in printed


def tagged_cells(lesson):
    nb = nbformat.read(lesson, as_version=4)
    return [(k, c) for k, c in enumerate(nb.cells) if "exercise" in c.metadata.get("tags", [])]


@pytest.mark.parametrize("lesson", [p for p in LESSONS if p.stem in ex.EXERCISES],
                         ids=lambda p: p.stem)
def test_each_tagged_cell_is_followed_by_its_checker_which_passes_in_the_lesson(lesson):
    nb = nbformat.read(lesson, as_version=4)
    for k, cell in tagged_cells(lesson):
        for name in [node.name for node in ast.parse(cell.source).body]:
            checker = nb.cells[k + 1]
            assert checker.source == f"{name} = ex.check_{name}({name})", checker.source
            printed = "".join(o.get("text", "") for o in checker.outputs)
            assert printed.endswith(f"{name} passes every check.\n"), printed


def lesson_namespace(lesson):
    """The lesson's tagged functions, defined as the lesson defines them."""
    namespace = {"np": np, "lc": lc, "sigmoid": lambda z: 1 / (1 + np.exp(-z))}
    for _, cell in tagged_cells(lesson):
        exec(cell.source, namespace)
    return namespace


@pytest.mark.parametrize("lesson", [p for p in LESSONS if p.stem in ex.EXERCISES],
                         ids=lambda p: p.stem)
def test_the_lessons_own_solutions_pass_their_checkers(lesson, capsys):
    namespace = lesson_namespace(lesson)
    for name, checker in ex.EXERCISES[lesson.stem].items():
        assert checker(namespace[name]) is namespace[name]
        assert capsys.readouterr().out.endswith(f"{name} passes every check.\n")


# Mistakes planted into the lessons' own solutions, by editing their source.
IN_LESSON = [
    ("01_data_preparation", "make_streams", [("ids[1 : B * N + 1]", "ids[: B * N]")],
     "targets equal the inputs"),
    ("02_forward_pass", "lstm_step",
     [(f"h_prev @ W_h{k} ", f"h_prev @ W_h{k}.T ") for k in "ifgo"], "transposed"),
    ("02_forward_pass", "lstm_step",
     [("W_xi, W_xf, W_xg, W_xo =", "W_xi, W_xf, W_xo, W_xg ="),
      ("W_hi, W_hf, W_hg, W_ho =", "W_hi, W_hf, W_ho, W_hg ="),
      ("b_i, b_f, b_g, b_o =", "b_i, b_f, b_o, b_g =")], "wrong order"),
    ("02_forward_pass", "lstm_step", [("h = o * np.tanh(c)", "h = np.tanh(c)")],
     "output gate is left out"),
    ("02_forward_pass", "forward_loop",
     [("        h, c = lstm_step(x[t], h, c, params)\n",
       "        h_t, c_t = lstm_step(x[t], h, c, params)\n"),
      ('logits.append(h @ params["W_y"]', 'logits.append(h_t @ params["W_y"]'),
      ("return np.stack(logits), h, c", "return np.stack(logits), h_t, c_t")],
     "not carried"),
    ("02_forward_pass", "cross_entropy_loss",
     [("-np.mean(np.log(p_target))", "-np.sum(np.log(p_target))")], "sum"),
    ("03_backprop_through_time", "lstm_step_backward",
     [("dg * (1 - g**2)", "dg * (1 - np.tanh(g) ** 2)")], "1 - tanh²"),
    ("03_backprop_through_time", "lstm_step_backward",
     [("dh = dout + dz_next @ W_h.T", "dh = dout")], "recurrent term of dh_t"),
    ("03_backprop_through_time", "lstm_backward",
     [('np.add.at(grads["W_x0"], x[t - 1], dz[t])', 'grads["W_x0"][x[t - 1]] += dz[t]')],
     "np.add.at"),
    ("03_backprop_through_time", "clip_by_global_norm",
     [("    if norm > max_norm:\n        for g in grads.values():\n"
       "            g *= max_norm / norm\n",
       "    for g in grads.values():\n        np.clip(g, -max_norm, max_norm, out=g)\n")],
     "element by element"),
    ("04_adamw", "adam", [("(1 - beta1**t)", "(1 - beta1)"), ("(1 - beta2**t)", "(1 - beta2)")],
     "1 - beta instead of 1 - beta**t"),
    ("04_adamw", "adamw", [("if lc.is_decayed(name):", "if True:")], "biases are decayed"),
    ("05_training", "train_step",
     [("logits, state, cache = lc.forward(", "logits, new_state, cache = lc.forward(")],
     "state returned is the one"),
    ("05_training", "sample_next", [("/ tau", "* tau")], "multiplied by the temperature"),
    ("05_training", "read_prime", [("ids[:, None]", "ids[None, :]")], "batch of len(prime)"),
    ("06_inside_the_lstm", "correlate", [("a - a.mean(axis=0)", "a - a.mean()")],
     "whole array"),
]


@pytest.mark.parametrize(("lesson", "name", "edits", "words"), IN_LESSON,
                         ids=[f"{n}-{w}" for _, n, _, w in IN_LESSON])
def test_a_mistake_planted_in_the_lessons_solution_is_named(lesson, name, edits, words,
                                                            capsys):
    path = ROOT / "notebooks" / f"{lesson}.ipynb"
    namespace = lesson_namespace(path)
    source = next(c.source for _, c in tagged_cells(path) if f"def {name}(" in c.source)
    for old, new in edits:
        assert source.count(old) == 1, (name, old)
        source = source.replace(old, new)
    exec(source, namespace)
    returned = ex.EXERCISES[lesson][name](namespace[name])
    out = capsys.readouterr().out
    assert returned is not namespace[name]
    assert words in out.splitlines()[-2], out
