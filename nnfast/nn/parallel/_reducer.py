"""The gradient reducer of DistributedDataParallel: average every parameter's .grad over the
ranks with a few large in-place allreduces.

Buckets. Where an optimizer already laid a parameter group's gradients out in one flat
buffer (nnfast/optim/optimizer.py) and every parameter of that buffer belongs to the model,
the buffer itself is the bucket (cut into bucket_cap_mb pieces): the allreduce runs in
place, with no packing. The other gradients are copied into packed buckets of at most
bucket_cap_mb, in reverse parameter order (the last layers' gradients first, as torch).
All buckets are started as nonblocking allreduces at once and waited together.

Started during backward where the engine lets us know a gradient is final: from the
second backward on, a parameter whose nodes (counted as the graph is built, autograd.Node)
have all run, each leaving its gradient straight in the flat buffer, is final; a flat
piece whose parameters are all final starts its allreduce while the rest of the backward
runs (pieces start in one fixed order on every rank; MPI progresses as later nodes run).
Gradients the engine hands back instead (accumulated only when the pass ends), packed
buckets, and find_unused_parameters=True start when the pass ends.

Every reduction's collectives are the same sequence on every rank: the layout agreement
(MAX over [key, -key], waited before any piece starts), the flat pieces in order, the packed
buckets, then which parameters have a gradient on any / every rank (MAX over [has, -has]);
so every rank takes the same decisions (reduce, skip, or the same error).
"""
import threading
import zlib

import numpy as np

from ... import autograd as ag
from ...distributed import _group
from ...distributed.collectives import _NATIVE
from ...tensor import Tensor

__all__ = ["Reducer"]

_FIRST_PIECE = 1 << 20   # bytes


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
        self.index = {id(p): i for i, (_, p) in enumerate(self.named)}
        self._key = None
        self._pass = None     # the reduction under way (_Pass)
        self._thread = None   # the thread whose node counts are open (open_window)
        self._track = None
        self.calls = 0        # reductions run (tests and benches read these)
        self.early = 0        # flat-buffer pieces started from backward's node hook
        self.overlapped = 0   # ... of them, while other gradients were still to come

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
        # the flat buffers cut into pieces of the cap, so several are in flight at once, in
        # launch order: each buffer's last piece first (backward finishes the last layers
        # first); each piece lists the parameters whose slots it overlaps
        pieces, piece_params = [], []
        for base, idx in flats:
            step = max(1, self.cap // base.dtype.itemsize)
            addr = base.__array_interface__["data"][0]
            spans = []
            for i in idx:
                g = params[i]._grad_buf._storage
                o = (g.__array_interface__["data"][0] - addr) // base.dtype.itemsize
                spans.append((i, o, o + g.size))
            # cut from the end; the first piece at most 1 MiB (as torch's first bucket) so
            # the last layers' gradients start moving early even under a large cap
            end, size = base.size, max(1, min(step, _FIRST_PIECE // base.dtype.itemsize))
            while end > 0:
                o = max(0, end - size)
                pieces.append(base[o:end])
                piece_params.append([i for i, a, b in spans if a < end and b > o])
                end, size = o, step
        self.flats, self.packed, self.pieces = flats, packed, pieces
        self.piece_params = piece_params
        sig = repr([(str(b.dtype), b.numel) for b in packed] +
                   [(str(x.dtype), x.size) for x in pieces] + [len(params)])
        self.sig = zlib.crc32(sig.encode()) & 0x3FFFFFFF
        self._key = key

    # ------------------------------------------------------------------ use counts
    def open_window(self):
        """Count, from now on in this thread, the nodes made with each parameter as an
        input (autograd.Node). A parameter whose count of such nodes has run in a backward,
        each leaving its gradient in the flat buffer, has its final gradient: its piece may
        start reducing before the pass ends. Nodes of graphs never backpropagated only
        raise the counts (the piece then starts at the end: later, never wrong)."""
        tr = ag._state.track
        if tr is None:
            tr = ag._state.track = {}
        for _, p in self.named:
            tr[id(p)] = 0
        self._thread, self._track = threading.get_ident(), tr

    # ------------------------------------------------------------------ one reduction
    def reduce(self):
        """A whole reduction now (after a backward that did not start one)."""
        self.begin(early=False)
        self.end()

    def begin(self, early):
        """Start a reduction: the layout agreement, every reduction's first collective, and
        (early) watching the backward's nodes to start pieces whose gradients are final."""
        pg = self.pg
        if pg.broken is not None:
            _group.require()   # raises the broken group's error
        self._plan()
        st = self._pass = _Pass(self)
        st.sig = np.array([self.sig, -self.sig], np.int64)
        st.sig_req = pg.comm.Iallreduce(pg.MPI.IN_PLACE, st.sig, op=pg.MPI.MAX)
        if (early and not self.find_unused and self.pieces and pg.size > 1
                and self._thread == threading.get_ident() and ag._state.track is self._track):
            n = len(self.named)
            st.counts = np.fromiter((self._track.get(id(p), 0) for _, p in self.named),
                                    np.int64, n)
            st.done = np.zeros(n, np.int64)
            st.ready = np.zeros(n, bool)
            st.late = np.zeros(n, bool)
            # the engine clears it when this backward ends
            ag._state.node_done = (ag._state.node_done or []) + [self._on_node]

    def _on_node(self, node, in_grads):
        st = self._pass
        if st is None or st.counts is None:
            return
        index, params = self.index, self.named
        hit = False
        for t, g in zip(node.inputs, in_grads):
            i = index.get(id(t)) if t is not None else None
            if i is None:
                continue
            if g is not None:   # handed back: accumulated into .grad when the pass ends
                st.late[i] = True
                continue
            st.done[i] += 1
            if st.done[i] == st.counts[i] and not st.late[i]:
                p = params[i][1]
                gb = p._grad_buf
                if p.grad is not None and gb is not None and p.grad._storage is gb._storage:
                    st.ready[i] = hit = True
            elif st.done[i] > st.counts[i]:
                st.overrun.append(i)
        if hit:
            self._launch_ready(st)
        elif st.reqs:
            self.pg.MPI.Request.Testall(st.reqs)   # lets MPI progress between nodes

    def _launch_ready(self, st):
        pg = self.pg
        while st.next < len(self.pieces) and all(st.ready[i]
                                                 for i in self.piece_params[st.next]):
            if not self._layout_agreed(st):
                return
            st.reqs.append(pg.comm.Iallreduce(pg.MPI.IN_PLACE, self.pieces[st.next],
                                              op=pg.MPI.SUM))
            st.next += 1
            self.early += 1
            if not st.ready.all():
                self.overlapped += 1
        if st.reqs:
            pg.MPI.Request.Testall(st.reqs)

    def _layout_agreed(self, st):
        if st.ok is None:
            _group.wait(self.pg, [st.sig_req], "DistributedDataParallel gradient allreduce "
                        "(agreeing on the buckets)")
            st.ok = bool(st.sig[0] == -st.sig[1])
        return st.ok

    def end(self):
        """Start what has not started, agree on which gradients exist, wait, average."""
        st, self._pass = self._pass, None
        pg = self.pg
        if not self._layout_agreed(st):
            raise RuntimeError(
                "DistributedDataParallel: the ranks lay their gradients out differently (the "
                "optimizers' parameter groups differ across ranks); build the model and the "
                "optimizer the same way on every rank")
        started = {i for k in range(st.next) for i in self.piece_params[k]}
        for i in st.overrun:   # more uses than counted, after its piece had started
            if i in started:
                raise RuntimeError(
                    f"DistributedDataParallel: parameter '{self.named[i][0]}' was used by "
                    "more nodes than were counted (a graph made in another thread?); its "
                    "reduction started too early")
        params = [p for _, p in self.named]
        n = len(params)
        ready = st.ready if st.ready is not None else np.zeros(n, bool)
        MPI = pg.MPI
        # flat buffers not yet started: make each slot hold its parameter's gradient
        hand = []   # (param, its own .grad array) to write the averaged slot back into
        fixed = set()
        for k in range(st.next, len(self.pieces)):
            for i in self.piece_params[k]:
                if i in fixed or ready[i]:
                    continue
                fixed.add(i)
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
        reqs = st.reqs
        reqs += [pg.comm.Iallreduce(MPI.IN_PLACE, x, op=MPI.SUM)
                 for x in self.pieces[st.next:]]
        reqs += [pg.comm.Iallreduce(MPI.IN_PLACE, b.buf, op=MPI.SUM) for b in self.packed]
        has = np.fromiter((p.grad is not None for p in params), np.int64, n)
        agree = np.concatenate([has, -has])
        reqs.append(pg.comm.Iallreduce(MPI.IN_PLACE, agree, op=MPI.MAX))
        _group.wait(pg, reqs, "DistributedDataParallel gradient allreduce")
        anyr, allr = agree[:n] > 0, -agree[n:] > 0
        if not self.find_unused and not allr.all():
            missing = [self.named[i][0] for i in range(n) if not allr[i]]
            raise RuntimeError(
                "DistributedDataParallel: parameters that did not receive a gradient on some "
                f"rank: {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}. Pass "
                "find_unused_parameters=True when the forward pass does not use every "
                "parameter (their gradient is then averaged as zero where missing)")
        self.calls += 1
        size = pg.size
        if size == 1:
            return
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


class _Pass:
    """The state of one reduction: the layout agreement, the pieces started so far and,
    when it started during backward, each parameter's node counts."""

    def __init__(self, reducer):
        self.sig = self.sig_req = self.ok = None
        self.reqs = []
        self.next = 0          # the next piece to start (they start in order)
        self.counts = self.done = self.ready = self.late = None
        self.overrun = []
