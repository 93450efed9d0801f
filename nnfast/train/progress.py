"""A one-line progress bar per epoch: steps/s, running loss, ETA.

It draws only when its stream is a terminal; otherwise (logs, CI, pipes) it stays quiet and
the caller prints one summary line per epoch instead.
"""
import sys
import time


class ProgressBar:
    def __init__(self, total, prefix="", stream=None, width=24, min_interval=0.1):
        self.total = max(int(total), 1)
        self.prefix = prefix
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.min_interval = min_interval
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self.last_draw = -float("inf")   # the first update always draws
        self.n = 0

    def update(self, n=1, **values):
        self.n += n
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self.last_draw < self.min_interval and self.n < self.total:
            return
        self.last_draw = now
        elapsed = now - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.n) / rate if rate > 0 else 0.0
        filled = int(self.width * min(self.n, self.total) / self.total)
        bar = "#" * filled + "-" * (self.width - filled)
        extra = "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in values.items())
        self.stream.write(f"\r{self.prefix}[{bar}] {self.n}/{self.total}  {rate:7.1f} steps/s"
                          f"  ETA {eta:5.1f}s  {extra}")
        self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()
