"""DataLoader worker processes (num_workers > 0), with torch.utils.data's semantics.

The main process keeps the sampler: it draws each batch's indices exactly as with
num_workers=0 (so a seeded run gives the same batches either way) and hands them round-robin
to the workers, at most prefetch_factor * num_workers batches ahead; the workers fetch and
collate (the same fast path as the main process) and send the batches back, which come out
in sampler order. An IterableDataset is iterated by every worker on its own copy, as in
PyTorch: use get_worker_info() in __iter__ to give each worker its share, or each sample
comes num_workers times.

Start method: "fork" where the platform has it (as PyTorch on Linux: the dataset and
collate_fn need not pickle), else "spawn"; multiprocessing_context= overrides. A forked
child starts on one OpenMP thread (nnfast/__init__.py registers that at fork: GCC's OpenMP
does not survive fork); spawned workers set one thread too. Each worker seeds nnfast's and
Python's generators with base_seed + worker_id; base_seed derives from nnfast.initial_seed()
and the epoch, so seeded runs repeat without the loader drawing from any generator (a loader
resumed from a state_dict keeps the interrupted run's).

A worker's exception is raised again in the main process with the worker's traceback; a
worker that dies raises RuntimeError. Workers end when the iterator is exhausted or
dropped; with persistent_workers=True they stay for the next epoch (worker_init_fn runs once)
and end with the loader.
"""
import multiprocessing as mp
import queue
import random
import traceback
import weakref
from collections import namedtuple

import numpy as np

WorkerInfo = namedtuple("WorkerInfo", "id num_workers seed dataset")

_info = [None]
_STOP = "__nnfast_stream_end__"


def get_worker_info():
    """In a DataLoader worker: WorkerInfo(id, num_workers, seed, dataset); else None."""
    return _info[0]


class _Failure:
    def __init__(self, exc, worker_id):
        self.type = type(exc)
        self.text = (f"Caught {type(exc).__name__} in DataLoader worker process {worker_id}.\n"
                     f"Original {traceback.format_exc()}")

    def reraise(self):
        try:
            err = self.type(self.text)
        except Exception:
            err = RuntimeError(self.text)
        raise err


def _worker_loop(loader, worker_id, num_workers, seed, tasks, results):
    from .. import manual_seed, set_num_threads
    set_num_threads(1)
    manual_seed(seed)
    random.seed(seed)
    _info[0] = WorkerInfo(worker_id, num_workers, seed, loader.dataset)
    failure = None
    try:
        if loader.worker_init_fn is not None:
            loader.worker_init_fn(worker_id)
    except Exception as e:   # reported with the first task
        failure = _Failure(e, worker_id)
    stream, stream_epoch = None, None
    while True:
        task = tasks.get()
        if task is None:
            break
        epoch, idx, indices = task
        try:
            if failure is not None:
                out = failure
            elif loader._iterable:
                if stream_epoch != epoch:   # a new epoch: a new pass over the stream
                    stream, stream_epoch = loader._iter_stream(), epoch
                out = next(stream, _STOP)
            else:
                out = loader._fetch(indices)
        except Exception as e:
            out = _Failure(e, worker_id)
        results.put((epoch, idx, out))


def _context(loader):
    ctx = loader.multiprocessing_context
    if ctx is None:
        return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    return mp.get_context(ctx) if isinstance(ctx, str) else ctx


class _Pool:
    """The worker processes and their queues: one task queue per worker, one result queue."""

    def __init__(self, loader, base_seed):
        n = loader.num_workers
        ctx = _context(loader)
        self.results = ctx.Queue()
        self.task_qs, self.workers = [], []
        try:
            for w in range(n):
                q = ctx.Queue()
                p = ctx.Process(target=_worker_loop,
                                args=(loader, w, n, base_seed + w, q, self.results), daemon=True)
                p.start()
                self.task_qs.append(q)
                self.workers.append(p)
        except BaseException:
            self.shutdown()
            raise

    def alive(self):
        return all(p.is_alive() for p in self.workers)

    def shutdown(self):
        for q in self.task_qs:
            try:
                q.put(None)
            except Exception:
                pass
        for p in self.workers:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        for q in self.task_qs + [self.results]:
            q.close()
            q.join_thread()
        self.task_qs, self.workers = [], []


def _shutdown_pool(pool):
    pool.shutdown()


def iterate(loader, epoch):
    """The batches of one epoch, loaded by worker processes (kept for the next epoch with
    persistent_workers=True)."""
    from .. import random as _nf_random
    pool = loader.__dict__.get("_pool") if loader.persistent_workers else None
    if pool is None or not pool.alive():
        seed0 = loader.__dict__.get("_worker_seed0")   # the interrupted run's, after a resume
        if seed0 is None:
            seed0 = _nf_random.initial_seed()
        if seed0 is None:   # no manual_seed: workers' seeds are fresh, as torch's
            seed0 = int(np.random.SeedSequence().entropy)
        loader._last_worker_seed0 = seed0
        pool = _Pool(loader, (seed0 * 1000003 + epoch * 7919) % (1 << 62))
        if loader.persistent_workers:
            loader._pool = pool
            weakref.finalize(loader, _shutdown_pool, pool)
    try:
        yield from _drive(loader, pool, epoch)
    finally:
        if not loader.persistent_workers:
            pool.shutdown()


def _drive(loader, pool, epoch):
    n = len(pool.workers)
    ahead = max(1, (loader.prefetch_factor or 2) * n)
    indices = None if loader._iterable else iter(loader._index_batches())
    active = list(range(n))
    owner = {}       # task index -> worker, until its result is taken
    done = {}        # task index -> result not yet taken
    sent = taken = nxt = 0
    while True:
        while active and sent - taken < ahead:
            if indices is not None:
                batch = next(indices, None)
                if batch is None:
                    break
            else:
                batch = None
            w = active[sent % len(active)]
            pool.task_qs[w].put((epoch, sent, batch))
            owner[sent] = w
            sent += 1
        if taken == sent:
            return
        # in order: wait for task nxt; in_order=False: take whatever arrived first
        while (nxt not in done) if loader.in_order else not done:
            ep, idx, out = _get(loader, pool.results, pool.workers)
            if ep == epoch:   # results of an abandoned earlier epoch are dropped
                done[idx] = out
        idx = nxt if loader.in_order else next(iter(done))
        out, w = done.pop(idx), owner.pop(idx)
        taken += 1
        nxt += loader.in_order
        if isinstance(out, _Failure):
            out.reraise()
        if isinstance(out, str) and out == _STOP:
            if w in active:
                active.remove(w)
            continue
        yield out


def _get(loader, results, workers):
    waited = 0.0
    while True:
        try:
            return results.get(timeout=1.0)
        except queue.Empty:
            waited += 1.0
            for p in workers:
                if p.exitcode is not None and p.exitcode != 0:
                    raise RuntimeError(f"DataLoader worker (pid {p.pid}) exited unexpectedly "
                                       f"with exit code {p.exitcode}") from None
            if loader.timeout and waited >= loader.timeout:
                raise RuntimeError(f"DataLoader timed out after {loader.timeout} seconds")
