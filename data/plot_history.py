"""Plot the loss curves of a training run from its metrics JSON (`train --metrics-json`).

    python data/plot_history.py runs/default/metrics.json runs/default/loss.png
"""

import json
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot(metrics_path, png_path):
    with open(metrics_path) as fh:
        m = json.load(fh)
    hist = m["history"]
    steps = [h["step"] for h in hist]
    fig, ax = plt.subplots(figsize=(7, 3.5), constrained_layout=True)
    ax.plot(steps, [h["train_loss"] for h in hist], label="training (mean since last point)")
    ax.plot(steps, [h["val_loss"] for h in hist], label="validation")
    ax.axhline(math.log(m["vocab_size"]), color="grey", ls=":", label="ln V (uniform guess)")
    cfg = m["config"]
    ax.set(xlabel="step", ylabel="loss (nats/char)", ylim=(1.0, None),
           title=f"H={cfg['hidden_size']} L={cfg['num_layers']} B={cfg['batch_size']} "
                 f"T={cfg['seq_len']}: val {m['val_loss']:.3f} nats/char "
                 f"after {m['seconds'] / 60:.0f} min")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    fig.savefig(png_path, dpi=100)
    print(f"wrote {png_path}")


if __name__ == "__main__":
    plot(*sys.argv[1:3])
