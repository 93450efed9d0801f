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
and the epoch, so seeded runs repeat without the loader drawing from any generator.

A worker's exception is raised again in the main process with the worker's traceback; a
worker that dies raises RuntimeError. Workers end when the iterator is exhausted or
dropped (persistent_workers keeps nothing between epochs here: new workers each epoch).
"""
import multiprocessing as mp
import queue
import random
import traceback
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
    stream = None
    try:
        if loader.worker_init_fn is not None:
            loader.worker_init_fn(worker_id)
        if loader._iterable:
            stream = loader._iter_stream()
    except Exception as e:   # reported with the first task
        stream = _Failure(e, worker_id)
    while True:
        task = tasks.get()
        if task is None:
            break
        idx, indices = task
        try:
            if isinstance(stream, _Failure):
                out = stream
            elif stream is not None:
                out = next(stream, _STOP)
            else:
                out = loader._fetch(indices)
        except Exception as e:
            out = _Failure(e, worker_id)
        results.put((idx, out))


def _context(loader):
    ctx = loader.multiprocessing_context
    if ctx is None:
        return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    return mp.get_context(ctx) if isinstance(ctx, str) else ctx


def iterate(loader, epoch):
    """The batches of one epoch, loaded by worker processes."""
    from .. import random as _nf_random
    n = loader.num_workers
    seed0 = _nf_random.initial_seed()
    if seed0 is None:   # no manual_seed: workers' seeds are fresh, as torch's
        seed0 = int(np.random.SeedSequence().entropy)
    base_seed = (seed0 * 1000003 + epoch * 7919) % (1 << 62)
    ctx = _context(loader)
    results = ctx.Queue()
    task_qs, workers = [], []
    try:
        for w in range(n):
            q = ctx.Queue()
            p = ctx.Process(target=_worker_loop, args=(loader, w, n, base_seed + w, q, results),
                            daemon=True)
            p.start()
            task_qs.append(q)
            workers.append(p)
        yield from _drive(loader, task_qs, workers, results)
    finally:
        for q in task_qs:
            try:
                q.put(None)
            except Exception:
                pass
        for p in workers:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        for q in task_qs + [results]:
            q.close()
            q.join_thread()


def _drive(loader, task_qs, workers, results):
    n = len(workers)
    ahead = max(1, (loader.prefetch_factor or 2) * n)
    indices = None if loader._iterable else iter(loader._index_batches())
    active = list(range(n))
    owner = {}       # task index -> worker
    done = {}        # task index -> result waiting for its turn
    sent = nxt = 0
    rr = 0
    while True:
        while active and sent - nxt < ahead:
            if indices is not None:
                batch = next(indices, None)
                if batch is None:
                    break
            else:
                batch = None
            w = active[rr % len(active)]
            rr += 1
            task_qs[w].put((sent, batch))
            owner[sent] = w
            sent += 1
        if nxt == sent:
            return
        while nxt not in done:
            idx, out = _get(loader, results, workers)
            done[idx] = out
        out = done.pop(nxt)
        w = owner.pop(nxt)
        nxt += 1
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
