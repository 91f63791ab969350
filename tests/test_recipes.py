"""The recipe follows the budget: `choose_recipe`'s rule, row by row and between rows."""

import dataclasses
import math

import pytest

import lstm_core as lc

BUDGETS = sorted(lc.RECIPES)


def test_the_table_is_a_set_of_valid_configs_with_the_hour_as_the_default():
    assert lc.DEFAULT_TIME_BUDGET in lc.RECIPES
    assert lc.RECIPES[lc.DEFAULT_TIME_BUDGET][0] == {}  # Config() is the hour's recipe
    names = {f.name for f in dataclasses.fields(lc.Config)}
    for budget, (fields, steps) in lc.RECIPES.items():
        assert budget > 0 and steps >= 1
        assert set(fields) <= names - {"time_budget", "max_steps", "seed", "threads"}
        dataclasses.replace(lc.Config(), **fields).validate()


def test_no_limit_gives_the_hour_exactly():
    cfg, line = lc.choose_recipe({})
    assert cfg == lc.Config()
    assert line.startswith("recipe: the hour's recipe (no --time-budget or --max-steps given)")
    assert "H=512 L=1 B=32 T=64" in line


@pytest.mark.parametrize("budget", BUDGETS)
def test_each_measured_budget_gets_its_own_row(budget):
    cfg, line = lc.choose_recipe({"time_budget": budget})
    assert cfg == dataclasses.replace(lc.Config(), time_budget=budget, **lc.RECIPES[budget][0])
    assert line.startswith("recipe: the ")
    assert f"H={cfg.hidden_size} L={cfg.num_layers} B={cfg.batch_size} T={cfg.seq_len}" in line
    assert "as given" not in line  # --time-budget is the limit, not a part of the recipe


def _row_of(cfg):
    return [b for b in BUDGETS
            if cfg == dataclasses.replace(lc.Config(), time_budget=cfg.time_budget,
                                          max_steps=cfg.max_steps, **lc.RECIPES[b][0])]


def test_between_rows_the_nearest_on_a_log_scale_and_the_ends_beyond():
    assert _row_of(lc.choose_recipe({"time_budget": BUDGETS[0] / 10})[0]) == [BUDGETS[0]]
    assert _row_of(lc.choose_recipe({"time_budget": BUDGETS[-1] * 10})[0]) == [BUDGETS[-1]]
    for lo, hi in zip(BUDGETS, BUDGETS[1:]):
        middle = math.sqrt(lo * hi)
        assert _row_of(lc.choose_recipe({"time_budget": middle * 0.98})[0]) == [lo]
        assert _row_of(lc.choose_recipe({"time_budget": middle * 1.02})[0]) == [hi]
        assert _row_of(lc.choose_recipe({"time_budget": middle})[0]) == [hi]  # a tie


def test_max_steps_alone_picks_the_row_whose_run_made_about_as_many_steps():
    for budget in BUDGETS:
        steps = lc.RECIPES[budget][1]
        cfg, line = lc.choose_recipe({"max_steps": steps})
        assert _row_of(cfg) == [budget] and cfg.max_steps == steps
        assert f"made {steps:,} steps" in line
    cfg, _ = lc.choose_recipe({"max_steps": 10**9, "time_budget": BUDGETS[0]})
    assert _row_of(cfg) == [BUDGETS[0]]  # with both, the budget decides


def test_an_explicit_flag_overrides_its_part_only():
    for budget in BUDGETS:
        given = {"time_budget": budget, "hidden_size": 48, "lr": 1.5e-3}
        cfg, line = lc.choose_recipe(given)
        want = dataclasses.replace(lc.Config(), **{**lc.RECIPES[budget][0], **given})
        assert cfg == want
        assert line.endswith("; --hidden-size, --lr as given")
        assert "H=48 " in line and "lr 0.0015," in line


def test_the_cli_prints_the_recipe_first(tmp_path, capsys):
    text = "".join(f"line {i} of a small text, with some words.\n" for i in range(400))
    (tmp_path / "t.txt").write_text(text)
    assert lc.main(["train", "--data", str(tmp_path / "t.txt"), "--max-steps", "2",
                    "--hidden-size", "8", "--layers", "1", "--batch-size", "2", "--seq-len",
                    "8", "--out", str(tmp_path / "m.npz"), "--sample-every", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("recipe: the ")
    assert lines[0].endswith("; --batch-size, --hidden-size, --layers, --seq-len as given")
    assert lines[1].startswith("training ")


def test_each_row_is_the_best_run_of_its_budget_in_the_search_record():
    """data/recipe_search.json keeps every run of the search; each row of RECIPES is the
    recipe of the run with the lowest validation loss at its budget, with its steps."""
    import json

    record = json.loads((lc.ROOT / "data" / "recipe_search.json").read_text())
    for budget, (fields, steps) in lc.RECIPES.items():
        runs = [r for r in record if r["corpus"] == "shakespeare" and r["recipe"]
                and r["budget"] == budget and "invalid" not in r["note"]]
        best = min(runs, key=lambda r: r["val_loss"])
        cfg = dataclasses.replace(lc.Config(), **fields)
        assert best["recipe"] == {k: getattr(cfg, k) for k in best["recipe"]}, best["name"]
        assert best["steps"] == steps


SHAKESPEARE_TRAIN, MILTON_TRAIN = 4_551_552, 904_813  # training characters of each corpus


def test_on_shakespeare_every_row_holds_for_the_passes_it_was_measured_at():
    for budget in BUDGETS:
        cfg, line = lc.choose_recipe({"time_budget": budget}, SHAKESPEARE_TRAIN)
        assert _row_of(cfg) == [budget] and "many-passes" not in line
        assert lc.predicted_passes(cfg, budget, SHAKESPEARE_TRAIN) < lc.MANY_PASSES
    cfg, line = lc.choose_recipe({}, SHAKESPEARE_TRAIN)
    assert cfg == lc.Config() and "many-passes" not in line  # the default stays the hour


def test_predicted_passes_counts_the_characters_a_run_would_read():
    made = lc.RECIPES[300.0][1]
    cfg = dataclasses.replace(lc.Config(), time_budget=150.0, **lc.RECIPES[300.0][0])
    assert lc.predicted_passes(cfg, 300.0, 1000) == pytest.approx(made / 2 * 32 * 64 / 1000)
    cfg = dataclasses.replace(cfg, max_steps=10)  # fewer than the budget's: the steps decide
    assert lc.predicted_passes(cfg, 300.0, 1000) == pytest.approx(10 * 32 * 64 / 1000)
    cfg = dataclasses.replace(lc.Config(), max_steps=100)
    assert lc.predicted_passes(cfg, 3600.0, 2048) == pytest.approx(100)


def test_a_run_that_would_read_its_text_too_often_gets_the_many_passes_recipe():
    cap = int(lc.MANY_PASSES * MILTON_TRAIN / (32 * 64))  # its schedule ends after 15 passes
    want = dataclasses.replace(lc.Config(), time_budget=1800.0, max_steps=cap,
                               **lc.MANY_PASSES_RECIPE[0])
    cfg, line = lc.choose_recipe({"time_budget": 1800.0}, MILTON_TRAIN)
    assert cfg == want and cap == 6627
    passes = lc.predicted_passes(dataclasses.replace(lc.Config(), time_budget=1800.0), 3600.0,
                                 MILTON_TRAIN)
    assert passes > lc.MANY_PASSES
    assert line.startswith(
        "recipe: the many-passes recipe (the hour's recipe, the nearest measured budget to "
        f"--time-budget 1800, would read the 904,813 training characters about {passes:.0f} "
        "times, more than 15; it ends after 6,627 steps, 15 passes): H=512 L=1 B=32 T=64")
    assert "as given" not in line
    # Milton's 2- and 5-minute runs read it 6 and 9 times: their rows hold
    for budget in (120.0, 300.0):
        cfg, line = lc.choose_recipe({"time_budget": budget}, MILTON_TRAIN)
        assert _row_of(cfg) == [budget] and "many-passes" not in line
    # the threshold: just above and below it, by --max-steps
    steps = int(lc.MANY_PASSES * MILTON_TRAIN / (32 * 64))
    for n, many in ((steps, False), (steps + 1, True)):
        _, line = lc.choose_recipe({"max_steps": n}, MILTON_TRAIN)
        assert ("many-passes" in line) == many
    # an explicit flag still overrides its part, --max-steps the end of the schedule
    cfg, line = lc.choose_recipe({"time_budget": 1800.0, "dropout": 0.1}, MILTON_TRAIN)
    assert cfg == dataclasses.replace(want, dropout=0.1)
    assert "many-passes" in line and line.endswith("; --dropout as given")
    cfg, line = lc.choose_recipe({"max_steps": 20_000}, MILTON_TRAIN)
    assert cfg == dataclasses.replace(want, time_budget=None, max_steps=20_000)
    assert "many-passes" in line and "it ends after" not in line


def test_the_many_passes_recipe_is_the_best_run_on_the_slice_in_the_search_record():
    import json

    record = json.loads((lc.ROOT / "data" / "recipe_search.json").read_text())
    runs = [r for r in record if r["corpus"] == "shakespeare-slice"]
    best = min(runs, key=lambda r: r["val_loss"])
    fields, steps = lc.MANY_PASSES_RECIPE
    cfg = dataclasses.replace(lc.Config(), **fields)
    assert best["recipe"] == {k: getattr(cfg, k) for k in best["recipe"]}, best["name"]
    assert best["steps"] == steps == int(lc.MANY_PASSES * 900_000 / (32 * 64))  # 15 passes
    assert best["budget"] == 1800.0


def test_the_cli_ends_a_many_passes_run_after_its_passes(tmp_path, capsys):
    import json

    text = "".join(f"line {i} of a small text, with some words.\n" for i in range(500))
    (tmp_path / "t.txt").write_text(text)
    train_chars = int(len(text) * 0.9)
    assert lc.main(["train", "--data", str(tmp_path / "t.txt"), "--time-budget", "60",
                    "--hidden-size", "8", "--out", str(tmp_path / "m.npz"), "--sample-every",
                    "0", "--eval-every", "50", "--eval-chars", "500",
                    "--metrics-json", str(tmp_path / "m.json")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    cap = int(lc.MANY_PASSES * train_chars / (32 * 64))
    assert first.startswith("recipe: the many-passes recipe (the 2-minute recipe, the nearest "
                            "measured budget to --time-budget 60, would read the "
                            f"{train_chars:,} training characters about ")
    assert f"; it ends after {cap:,} steps, 15 passes): H=8 L=1 B=32 T=64" in first
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["steps"] == cap and metrics["config"]["dropout"] == 0.5
    assert metrics["seconds"] < 60
