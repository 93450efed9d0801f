"""History: what fit() measured, per epoch, and the learning-curve plot."""
import math

__all__ = ["History"]


class History:
    """Per-epoch records: history.history["loss"], ["val_loss"], ["val_accuracy"], ["lr"],
    ["time"], ["grad_norm"], ... (one list entry per epoch, Keras-style), plus `epoch`."""

    def __init__(self):
        self.history = {}
        self.epoch = []
        self.stopped_early = False
        self.stop_reason = None

    def append(self, epoch, logs):
        self.epoch.append(epoch)
        n = len(self.epoch)
        for k, v in logs.items():
            col = self.history.setdefault(k, [math.nan] * (n - 1))
            col.append(v)
        for k, col in self.history.items():
            if len(col) < n:
                col.append(math.nan)

    def __getitem__(self, key):
        return self.history[key]

    def __contains__(self, key):
        return key in self.history

    def __len__(self):
        return len(self.epoch)

    def last(self, key, default=None):
        col = self.history.get(key)
        return col[-1] if col else default

    def state_dict(self):
        return {"history": {k: list(v) for k, v in self.history.items()},
                "epoch": list(self.epoch), "stopped_early": self.stopped_early,
                "stop_reason": self.stop_reason}

    def load_state_dict(self, state):
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.epoch = list(state["epoch"])
        self.stopped_early = state.get("stopped_early", False)
        self.stop_reason = state.get("stop_reason")

    def __repr__(self):
        keys = ", ".join(self.history)
        return f"History({len(self)} epochs: {keys})"

    def plot(self, path, metrics=None, title=None):
        """Write a learning-curve PNG: train/val loss (and metrics) per epoch, lr on a second
        axis. Needs matplotlib (pip install "nnfast[plot]")."""
        try:
            # a bare Figure renders with Agg without pyplot: no global backend switch (which
            # would break a notebook's inline plots) and no figure left open
            from matplotlib.figure import Figure
        except ImportError:
            raise ImportError("History.plot needs matplotlib: pip install \"nnfast[plot]\" "
                              "(or pip install matplotlib)") from None
        h = self.history
        if metrics is None:
            metrics = sorted({k[4:] if k.startswith("val_") else k for k in h}
                             - {"loss", "lr", "time", "grad_norm"})
        panels = 1 + len(metrics)
        fig = Figure(figsize=(5.5 * panels, 4))
        axes = fig.subplots(1, panels, squeeze=False)
        epochs = self.epoch
        ax = axes[0][0]
        for key, style in (("loss", "-"), ("val_loss", "--")):
            if key in h:
                ax.plot(epochs, h[key], style, label=key.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.set_title(title or "loss")
        if "lr" in h:
            ax2 = ax.twinx()
            ax2.plot(epochs, h["lr"], ":", color="gray", label="lr")
            ax2.set_ylabel("learning rate")
            lines = ax.get_legend_handles_labels()
            lines2 = ax2.get_legend_handles_labels()
            ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="best")
        else:
            ax.legend(loc="best")
        for i, m in enumerate(metrics, start=1):
            ax = axes[0][i]
            for key, style in ((m, "-"), ("val_" + m, "--")):
                if key in h:
                    ax.plot(epochs, h[key], style, label=key.replace("_", " "))
            ax.set_xlabel("epoch")
            ax.set_title(m)
            ax.legend(loc="best")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        return path
