"""The gradient reducer of DistributedDataParallel: average every parameter's .grad over the
ranks with a few large in-place allreduces.

Buckets. Where an optimizer already laid a parameter group's gradients out in one flat
buffer (nnfast/optim/optimizer.py) and every parameter of that buffer belongs to the model,
the buffer itself is the bucket (cut into bucket_cap_mb pieces): the allreduce runs in
place, with no packing. The other gradients are copied into packed buckets of at most
bucket_cap_mb, in reverse parameter order (the last layers' gradients first, as torch).
All buckets are started as nonblocking allreduces at once and waited together.

Why after backward, not during it: nnfast's engine completes most leaf gradients only at the
end of the pass (kernels that write straight into the flat buffer do so mid-pass, but a
parameter's last use is not known until the pass ends), so the reduction starts from a
callback queued on the backward (autograd.queue_callback) once every .grad is final.

Every reduction first agrees, in one small allreduce (MAX over [has, -has, key, -key]),
on which parameters have a gradient on any / every rank and on the bucket layout, so that
every rank takes the same decisions (reduce, skip, or the same error) and no rank is left
waiting in a mismatched collective.
"""
import zlib

import numpy as np

from ...distributed import _group
from ...distributed.collectives import _NATIVE
from ...tensor import Tensor

__all__ = ["Reducer"]


class _Packed:
    """A bucket of gradients copied into one contiguous buffer: [(param index, offset)]."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.items = []
        self.numel = 0
        self.buf = None

    def add(self, i, n):
        self.items.append((i, self.numel))
        self.numel += n


class Reducer:
    def __init__(self, pg, named_params, bucket_cap_mb, find_unused):
        self.pg = pg
        # reverse order: backward produces the last layers' gradients first
        self.named = [(n, p) for n, p in reversed(named_params) if p.requires_grad]
        self.cap = max(1, int(float(bucket_cap_mb) * (1 << 20)))
        self.find_unused = find_unused
        self._key = None
        self.calls = 0   # reductions run (tests and benches read it)

    # ------------------------------------------------------------------ the layout
    def _layout_key(self):
        return tuple((id(p._grad_buf), id(p._storage)) if p._grad_buf is not None else
                     (0, id(p._storage)) for _, p in self.named)

    def _plan(self):
        key = self._layout_key()
        if key == self._key:
            return
        params = [p for _, p in self.named]
        # gradients living in an optimizer's flat buffer, grouped by that buffer
        by_base = {}
        for i, p in enumerate(params):
            gb = p._grad_buf
            if gb is None:
                continue
            g = gb._storage
            base = g.base if isinstance(g, np.ndarray) else None
            if base is None or g.shape != p._storage.shape:
                continue
            by_base.setdefault(id(base), (base, []))[1].append(i)
        flats, in_flat = [], set()
        for base, idx in by_base.values():
            if (base.ndim == 1 and base.flags.c_contiguous and base.dtype in _NATIVE
                    and base.dtype.kind == "f"
                    and sum(params[i]._storage.size for i in idx) == base.size):
                flats.append((base, idx))
                in_flat.update(idx)
        # the rest, packed by dtype up to the cap (MPI-less dtypes travel as float32)
        packed, open_ = [], {}
        for i, p in enumerate(params):
            if i in in_flat:
                continue
            dt = p._storage.dtype if p._storage.dtype in _NATIVE else np.dtype(np.float32)
            b = open_.get(dt)
            n = int(p._storage.size)
            if b is None or (b.numel and (b.numel + n) * dt.itemsize > self.cap):
                b = open_[dt] = _Packed(dt)
                packed.append(b)
            b.add(i, n)
        for b in packed:
            b.buf = np.empty(b.numel, b.dtype)
        # the flat buffers cut into pieces of the cap, so several are in flight at once
        pieces = []
        for base, _ in flats:
            step = max(1, self.cap // base.dtype.itemsize)
            pieces.extend(base[o:o + step] for o in range(0, base.size, step))
        self.flats, self.packed, self.pieces = flats, packed, pieces
        sig = repr([(str(b.dtype), b.numel) for b in packed] +
                   [(str(x.dtype), x.size) for x in pieces] + [len(params)])
        self.sig = zlib.crc32(sig.encode()) & 0x3FFFFFFF
        self._key = key

    # ------------------------------------------------------------------ one reduction
    def reduce(self):
        pg = self.pg
        if pg.broken is not None:
            _group.require()   # raises the broken group's error
        self._plan()
        params = [p for _, p in self.named]
        n = len(params)
        has = np.fromiter((p.grad is not None for p in params), np.int64, n)
        agree = np.concatenate([has, -has, [self.sig, -self.sig]])
        _group.wait(pg, [pg.comm.Iallreduce(pg.MPI.IN_PLACE, agree, op=pg.MPI.MAX)],
                    "DistributedDataParallel gradient allreduce (agreeing on the buckets)")
        anyr, allr = agree[:n] > 0, -agree[n:2 * n] > 0
        if agree[2 * n] != -agree[2 * n + 1]:
            raise RuntimeError(
                "DistributedDataParallel: the ranks lay their gradients out differently (the "
                "optimizers' parameter groups differ across ranks); build the model and the "
                "optimizer the same way on every rank")
        if not self.find_unused and not allr.all():
            missing = [self.named[i][0] for i in range(n) if not allr[i]]
            raise RuntimeError(
                "DistributedDataParallel: parameters that did not receive a gradient on some "
                f"rank: {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}. Pass "
                "find_unused_parameters=True when the forward pass does not use every "
                "parameter (their gradient is then averaged as zero where missing)")
        self.calls += 1
        if pg.size == 1:
            return
        size = pg.size
        # flat buffers: make each slot hold its parameter's gradient (or zeros)
        hand = []   # (param, its own .grad array) to write the averaged slot back into
        for base, idx in self.flats:
            for i in idx:
                p = params[i]
                gv = p._grad_buf._storage
                g = p.grad
                if g is None:
                    gv[...] = 0
                elif g._storage is not gv:
                    gv[...] = g._storage
                    hand.append((p, g._storage))
        for b in self.packed:
            buf = b.buf
            for i, o in b.items:
                g = params[i].grad
                k = params[i]._storage.size
                if g is None:
                    buf[o:o + k] = 0
                else:
                    buf[o:o + k] = g._storage.reshape(-1)
        MPI = pg.MPI
        reqs = [pg.comm.Iallreduce(MPI.IN_PLACE, b.buf, op=MPI.SUM) for b in self.packed]
        reqs += [pg.comm.Iallreduce(MPI.IN_PLACE, x, op=MPI.SUM) for x in self.pieces]
        _group.wait(pg, reqs, "DistributedDataParallel gradient allreduce")
        for x in self.pieces:
            np.divide(x, size, out=x)
        for p, arr in hand:
            arr[...] = p._grad_buf._storage
        for base, idx in self.flats:
            for i in idx:
                p = params[i]
                if p.grad is None and anyr[i]:
                    p.grad = p._grad_buf
        for b in self.packed:
            buf = b.buf
            np.divide(buf, size, out=buf)
            for i, o in b.items:
                p = params[i]
                k = p._storage.size
                g = p.grad
                if g is None:
                    if not anyr[i]:
                        continue
                    gb = p._grad_buf
                    if gb is not None and gb._storage.shape == p._storage.shape and \
                            gb._storage.flags.writeable:
                        p.grad = g = gb
                    else:
                        p.grad = g = Tensor._make(np.empty_like(p._storage, order="C"))
                g._storage[...] = buf[o:o + k].reshape(p._storage.shape)
