"""Batch augmentation: GaussianNoise, RandomShift, Mixup, Compose.

Every transform works on a whole batch (first axis = samples), takes NumPy arrays or nnfast
Tensors and gives back the same kind, never modifies its input, and draws from its own
`generator` (None: nnfast's global generator, seeded by nnfast.manual_seed; an int: a private
generator made once; or a numpy Generator).

Calling convention, shared so transforms compose and plug into TensorDataset(transform=...):
    t(x)           -> x'
    t(x, y, ...)   -> (x', y', ...)
Input-only transforms (GaussianNoise, RandomShift) change x and pass the other arrays through;
Mixup needs (x, y) and changes both.

Three ways to use them:
  1. On the batch in the training loop:  x, y = mix(x, y)  /  x = noise(x)
  2. In the dataset, applied by the DataLoader to each gathered batch (fast path kept):
         ds = TensorDataset(X, y, transform=Compose([RandomShift(1), GaussianNoise(0.05)]))
         loader = DataLoader(ds, batch_size=64, shuffle=True)
  3. As part of a collate_fn (works for any dataset, at per-sample cost):
         DataLoader(ds, batch_size=64, collate_fn=lambda s: tuple(aug(*default_collate(s))))
"""
import numbers

import numpy as np

from ..tensor import Tensor
from ._random import as_generator, integers, resolve_later

__all__ = ["Compose", "GaussianNoise", "RandomShift", "Mixup", "mixup_criterion"]


def _unwrap(x):
    return (x._storage, True) if isinstance(x, Tensor) else (np.asarray(x), False)


def _rewrap(a, was_tensor):
    return Tensor._make(a) if was_tensor else a


def _passthrough(x_new, rest):
    return x_new if not rest else (x_new, *rest)


class Compose:
    """Apply transforms in order; each receives what the previous returned."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: {t!r} is not callable")

    def __call__(self, *args):
        out = args
        for t in self.transforms:
            out = t(*out)
            if not isinstance(out, tuple):
                out = (out,)
        return out[0] if len(out) == 1 else out

    def __repr__(self):
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class GaussianNoise:
    """x + N(mean, std^2) elementwise, in x's float dtype."""

    def __init__(self, std=0.1, mean=0.0, generator=None):
        if not std >= 0:
            raise ValueError(f"GaussianNoise: std must be >= 0, got {std}")
        self.std, self.mean = float(std), float(mean)
        self.generator = resolve_later(generator, "GaussianNoise: generator")

    def __call__(self, x, *rest):
        a, t = _unwrap(x)
        if a.dtype.kind != "f":
            raise TypeError(f"GaussianNoise: expected a float array, got dtype {a.dtype}")
        noise = as_generator(self.generator).standard_normal(a.shape).astype(a.dtype)
        out = a + (noise * a.dtype.type(self.std) + a.dtype.type(self.mean))
        return _passthrough(_rewrap(out, t), rest)

    def __repr__(self):
        return f"GaussianNoise(std={self.std}, mean={self.mean})"


class RandomShift:
    """Shift each image of a batch by its own random whole number of pixels, dy and dx
    uniform in [-max_shift, max_shift] (positive: down / right), filling the vacated border
    with `fill` (0). Images are the last two axes: x is (N, H, W) or (N, C, H, W) (any
    (N, ..., H, W)); all channels of an image move together.

    Vectorised: one slice assignment per distinct (dy, dx) pair, at most (2*max_shift+1)^2."""

    def __init__(self, max_shift=1, fill=0.0, generator=None):
        if not isinstance(max_shift, (numbers.Integral, np.integer)) \
                or isinstance(max_shift, bool) or max_shift < 0:
            raise ValueError(f"RandomShift: max_shift must be a non-negative int, "
                             f"got {max_shift!r}")
        self.max_shift = int(max_shift)
        self.fill = fill
        self.generator = resolve_later(generator, "RandomShift: generator")

    def shifts(self, n):
        """The (n, 2) int (dy, dx) a call on n images would draw next (advances the generator)."""
        s = self.max_shift
        return integers(as_generator(self.generator), 2 * s + 1, (n, 2)) - s

    @staticmethod
    def apply(a, shifts, fill=0.0):
        """Shift image i of a (N, ..., H, W) by shifts[i] = (dy, dx); returns a new array."""
        out = np.full_like(a, fill)
        H, W = a.shape[-2:]
        key = (shifts[:, 0] + H) * (2 * W + 1) + (shifts[:, 1] + W)
        for k in np.unique(key):
            sel = np.flatnonzero(key == k)
            dy, dx = int(shifts[sel[0], 0]), int(shifts[sel[0], 1])
            if abs(dy) >= H or abs(dx) >= W:
                continue   # shifted out entirely: all fill
            dst_r, src_r = slice(max(dy, 0), H + min(dy, 0)), slice(max(-dy, 0), H - max(dy, 0))
            dst_c, src_c = slice(max(dx, 0), W + min(dx, 0)), slice(max(-dx, 0), W - max(dx, 0))
            out[sel, ..., dst_r, dst_c] = a[sel, ..., src_r, src_c]
        return out

    def __call__(self, x, *rest):
        a, t = _unwrap(x)
        if a.ndim < 3:
            raise ValueError(f"RandomShift: expected images (N, H, W) or (N, C, H, W), got shape "
                             f"{a.shape}")
        if self.max_shift == 0 or a.shape[0] == 0:
            return _passthrough(_rewrap(a.copy(), t), rest)
        out = self.apply(a, self.shifts(a.shape[0]), self.fill)
        return _passthrough(_rewrap(out, t), rest)

    def __repr__(self):
        return f"RandomShift(max_shift={self.max_shift}, fill={self.fill})"


class Mixup:
    """mixup (Zhang et al., 2018): lam ~ Beta(alpha, alpha) once per batch, a random pairing
    perm of the batch, x' = lam * x + (1 - lam) * x[perm].

    Calling it, `mixup(x, y)`, returns (x', y') with soft targets
    y' = lam * onehot(y) + (1 - lam) * onehot(y[perm]): integer labels need num_classes; float
    y (one-hot, soft or regression targets, shape (N, ...)) is mixed as is. nnfast's
    CrossEntropyLoss takes such class-probability targets directly.
    `pairs(x, y)` returns (x', y, y[perm], lam) for the loss form
    lam * loss(out, y_a) + (1 - lam) * loss(out, y_b) — see mixup_criterion."""

    def __init__(self, alpha=1.0, num_classes=None, generator=None):
        if not alpha > 0:
            raise ValueError(f"Mixup: alpha must be > 0, got {alpha}")
        if num_classes is not None and (not isinstance(num_classes, (numbers.Integral, np.integer))
                                        or num_classes < 1):
            raise ValueError(f"Mixup: num_classes must be a positive int, got {num_classes!r}")
        self.alpha = float(alpha)
        self.num_classes = num_classes
        self.generator = resolve_later(generator, "Mixup: generator")

    def _draw(self, n):
        rng = as_generator(self.generator)
        lam = float(rng.beta(self.alpha, self.alpha))
        return lam, rng.permutation(n)

    def _mix_x(self, x, lam, perm):
        a, t = _unwrap(x)
        if a.dtype.kind != "f":
            raise TypeError(f"Mixup: inputs must be float, got dtype {a.dtype}")
        lt = a.dtype.type(lam)
        return _rewrap(lt * a + (a.dtype.type(1) - lt) * a[perm], t)

    def pairs(self, x, y):
        a, _ = _unwrap(x)
        yb, yt = _unwrap(y)
        if yb.shape[:1] != a.shape[:1]:
            raise ValueError(f"Mixup: x has {a.shape[0]} samples but y has shape {yb.shape}")
        lam, perm = self._draw(a.shape[0])
        return self._mix_x(x, lam, perm), y, _rewrap(yb[perm], yt), lam

    def __call__(self, x, y):
        a, _ = _unwrap(x)
        yb, yt = _unwrap(y)
        if yb.shape[:1] != a.shape[:1]:
            raise ValueError(f"Mixup: x has {a.shape[0]} samples but y has shape {yb.shape}")
        if yb.dtype.kind in "iub":
            if self.num_classes is None:
                raise ValueError("Mixup: integer labels need num_classes to build soft targets "
                                 "(or use Mixup.pairs for the (y_a, y_b, lam) form)")
            if yb.ndim != 1 or (yb.size and (yb.min() < 0 or yb.max() >= self.num_classes)):
                raise ValueError(f"Mixup: labels must be 1-D in [0, {self.num_classes})")
            yb = np.eye(self.num_classes, dtype=a.dtype if a.dtype.kind == "f" else np.float32)[yb]
        lam, perm = self._draw(a.shape[0])
        lt = yb.dtype.type(lam)
        ymix = lt * yb + (yb.dtype.type(1) - lt) * yb[perm]
        return self._mix_x(x, lam, perm), _rewrap(ymix, yt)

    def __repr__(self):
        return f"Mixup(alpha={self.alpha}, num_classes={self.num_classes})"


def mixup_criterion(criterion, pred, y_a, y_b, lam):
    """lam * criterion(pred, y_a) + (1 - lam) * criterion(pred, y_b) (differentiable)."""
    return criterion(pred, y_a) * lam + criterion(pred, y_b) * (1.0 - lam)
