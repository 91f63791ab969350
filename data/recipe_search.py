"""The record of the search for a recipe per time budget (data/README.md, "Recipes by budget").

Every run of the search is kept in data/recipe_search.json: its budget, its recipe, the
steps it made, its validation loss and its curve. This script adds runs to that record
and draws the table and the plot from it:

    python data/recipe_search.py add NAME METRICS_JSON [--corpus milton] [--note TEXT]
    python data/recipe_search.py add-peer NAME --seconds S --steps N --val V [--note TEXT]
    python data/recipe_search.py table          # the markdown table of data/README.md
    python data/recipe_search.py plot PNG       # validation loss against minutes
    python data/recipe_search.py slice OUT      # a small text cut from Shakespeare

NAME is the run's row in the table; METRICS_JSON is what `train --metrics-json` wrote.
`slice` writes the small text the many-passes recipe was searched on: the last 900,000
characters of Shakespeare's training split and the first 100,000 of its validation split,
so that `train --data OUT` trains on the first and validates on the second (its 90/10
split falls exactly between them). Milton's training text is about as long (904,813).
"""

import argparse
import json
from pathlib import Path

RECORD = Path(__file__).resolve().parent / "recipe_search.json"
RECIPE_KEYS = ("hidden_size", "num_layers", "batch_size", "seq_len", "lr", "warmup_steps",
               "dropout", "weight_decay")


def load() -> list:
    return json.loads(RECORD.read_text()) if RECORD.exists() else []


def save(runs: list) -> None:
    RECORD.write_text(json.dumps(runs, indent=1) + "\n")


def add(name, metrics_path, corpus="shakespeare", note=""):
    m = json.loads(Path(metrics_path).read_text())
    cfg = m["config"]
    budget = cfg["time_budget"]
    if budget is None and cfg["max_steps"] is None:
        budget = 3600.0  # lstm_core.DEFAULT_TIME_BUDGET: a run with no limit given
    run = {"name": name, "corpus": corpus, "budget": budget,
           "recipe": {k: cfg[k] for k in RECIPE_KEYS}, "steps": m["steps"],
           "seconds": m["seconds"], "chars_per_sec": m["chars_per_sec"],
           "val_loss": round(m["val_loss"], 4), "train_loss": round(m["train_loss"], 4),
           "curve": [[h["seconds"], round(h["val_loss"], 4)] for h in m["history"]],
           "note": note}
    runs = [r for r in load() if r["name"] != name] + [run]
    save(runs)


def add_peer(name, seconds, steps, val, note=""):
    run = {"name": name, "corpus": "shakespeare", "budget": seconds, "recipe": None,
           "steps": steps, "seconds": seconds, "chars_per_sec": None, "val_loss": val,
           "train_loss": None, "curve": [[seconds, val]], "note": note}
    save([r for r in load() if r["name"] != name] + [run])


def table() -> str:
    rows = ["| run | corpus | budget | H | L | B | T | lr | warm-up | dropout | wd | steps | "
            "chars/s | val loss | note |", "|" + "---|" * 15]
    for r in load():
        c = r["recipe"]
        cells = ([c["hidden_size"], c["num_layers"], c["batch_size"], c["seq_len"],
                  f"{c['lr']:g}", c["warmup_steps"], f"{c['dropout']:g}",
                  f"{c['weight_decay']:g}"] if c else ["small GPT (nanoGPT)"] + [""] * 7)
        speed = f"{r['chars_per_sec']:,.0f}" if r["chars_per_sec"] else ""
        rows.append("| " + " | ".join(map(str, [r["name"], r["corpus"], f"{r['budget']:g} s",
                                                *cells, f"{r['steps']:,}", speed,
                                                f"{r['val_loss']:.3f}", r["note"]])) + " |")
    return "\n".join(rows)


def write_slice(out, train_chars=900_000, val_chars=100_000):
    import lstm_core as lc

    train, val = lc.split_data(lc.load_corpus())  # a str slices as the ids would
    Path(out).write_text(train[-train_chars:] + val[:val_chars], encoding="utf-8")
    print(f"wrote {out}: the last {train_chars:,} characters of Shakespeare's training split "
          f"and the first {val_chars:,} of its validation split")


def plot(png_path, names=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    for r in load():
        if r["corpus"] != "shakespeare" or (names and r["name"] not in names):
            continue
        t = [s / 60 for s, _ in r["curve"]]
        v = [v for _, v in r["curve"]]
        if r["recipe"] is None:
            ax.plot(t, v, "k*", ms=10, label=r["name"])
        else:
            c = r["recipe"]
            dropout = f" dropout {c['dropout']:g}" if c["dropout"] else ""
            ax.plot(t, v, ".-", label=f"{r['name']}: H={c['hidden_size']} L={c['num_layers']} "
                    f"B={c['batch_size']} T={c['seq_len']} lr {c['lr']:g}{dropout}")
    ax.set(xscale="log", xlabel="minutes (log scale)", ylabel="validation loss (nats/char)",
           ylim=(1.3, 2.6), title="Shakespeare: validation loss against wall time")
    ax.grid(alpha=0.3, which="both")
    ax.legend(frameon=False, fontsize=7)
    fig.savefig(png_path, dpi=100)
    print(f"wrote {png_path}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("add")
    a.add_argument("name")
    a.add_argument("metrics")
    a.add_argument("--corpus", default="shakespeare")
    a.add_argument("--note", default="")
    p = sub.add_parser("add-peer")
    p.add_argument("name")
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--val", type=float, required=True)
    p.add_argument("--note", default="")
    sub.add_parser("table")
    g = sub.add_parser("plot")
    g.add_argument("png")
    g.add_argument("names", nargs="*")
    c = sub.add_parser("slice")
    c.add_argument("out")
    args = ap.parse_args(argv)
    if args.cmd == "add":
        add(args.name, args.metrics, args.corpus, args.note)
    elif args.cmd == "add-peer":
        add_peer(args.name, args.seconds, args.steps, args.val, args.note)
    elif args.cmd == "slice":
        write_slice(args.out)
    elif args.cmd == "table":
        print(table())
    else:
        plot(args.png, args.names)


if __name__ == "__main__":
    main()
