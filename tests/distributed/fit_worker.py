"""mpirun worker of tests/test_distributed.py: fit(..., distributed=True).

argv[1]: a folder for this run's files. Each check prints "PASS <name>" on every rank."""
import os
import sys

import numpy as np

import nnfast as nf
import nnfast.distributed as dist
from nnfast import nn, optim
from nnfast.data import TensorDataset
from nnfast.train import CSVLogger, EarlyStopping, ModelCheckpoint, TerminateOnNaN, fit

OUT = sys.argv[1]
dist.init_process_group("mpi")
R, N = dist.get_rank(), dist.get_world_size()
rng = np.random.default_rng(0)
X = rng.standard_normal((96, 6)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.5)


def model():
    nf.manual_seed(3 + R)   # different on each rank: DDP's wrap broadcasts rank 0's
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def flat(m):
    return np.concatenate([p.detach().numpy().ravel() for p in m.parameters()])


def gathered(obj):
    parts = [None] * N
    dist.all_gather_object(parts, obj)
    return parts


def run(distributed, batch, epochs=3, **kw):
    m = model()
    if not distributed:   # the one-process reference starts from rank 0's weights
        nf.manual_seed(3)
        m = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = optim.Adam(m.parameters(), lr=0.01)
    h = fit(m, nn.CrossEntropyLoss(), opt, (X, Y), epochs=epochs, batch_size=batch, seed=7,
            val_split=0.25, metrics=["accuracy"], verbose=False, distributed=distributed,
            **kw)
    return m, h


# 2 ranks with batch b each: one process with batch 2b (the ranks' shares interleave)
m2, h2 = run(True, 6)
m1, h1 = run(False, 12)
np.testing.assert_allclose(flat(m2), flat(m1), rtol=1e-5, atol=1e-6)
np.testing.assert_allclose(h2["loss"], h1["loss"], rtol=1e-5)
np.testing.assert_allclose(h2["val_loss"], h1["val_loss"], rtol=1e-5)
assert h2["accuracy"] == h1["accuracy"] and h2["val_accuracy"] == h1["val_accuracy"]
print("PASS matches_one_process", flush=True)

# the same logs and weights on every rank
logs = gathered({k: list(h2[k]) for k in ("loss", "val_loss", "accuracy")})
assert all(lg == logs[0] for lg in logs)
w = gathered(flat(m2))
assert all(np.array_equal(x, w[0]) for x in w)
print("PASS same_everywhere", flush=True)

# rank 0 alone writes: checkpoints, ModelCheckpoint, CSVLogger (each rank names its own path)
cb = [ModelCheckpoint(os.path.join(OUT, f"best{R}.nnf")), CSVLogger(os.path.join(OUT, f"log{R}.csv")),
      EarlyStopping(patience=50), TerminateOnNaN()]
ck = os.path.join(OUT, f"ck{R}.nnf")
m3, h3 = run(True, 6, epochs=2, callbacks=cb, checkpoint_path=ck)
dist.barrier()
assert os.path.exists(os.path.join(OUT, "best0.nnf")) and os.path.exists(os.path.join(OUT, "log0.csv"))
assert os.path.exists(os.path.join(OUT, "ck0.nnf"))
assert not any(os.path.exists(os.path.join(OUT, f)) for f in ("best1.nnf", "log1.csv", "ck1.nnf"))
print("PASS rank0_writes", flush=True)

# resume: 2 epochs + 1 from rank 0's checkpoint (every rank reads it) == 3 straight
m4 = model()
opt4 = optim.Adam(m4.parameters(), lr=0.01)
h4 = fit(m4, nn.CrossEntropyLoss(), opt4, (X, Y), epochs=3, batch_size=6, seed=7,
         val_split=0.25, metrics=["accuracy"], verbose=False, distributed=True,
         resume_from=os.path.join(OUT, "ck0.nnf"))
np.testing.assert_allclose(flat(m4), flat(m2), rtol=1e-6, atol=1e-7)
assert len(h4["loss"]) == 3
print("PASS resume", flush=True)

# a Dataset is shared the same way; a non-finite loss on one rank stops both
m5 = model()
fit(m5, nn.CrossEntropyLoss(), optim.SGD(m5.parameters(), lr=0.1),
    TensorDataset(nf.tensor(X), nf.tensor(Y)), epochs=1, batch_size=6, seed=7, verbose=False,
    distributed=True)
w = gathered(flat(m5))
assert np.array_equal(w[0], w[1])
Xbad = X.copy()
Xbad[1::2][5] = np.nan   # a row that only rank 1's share holds
m6 = model()
h6 = fit(m6, nn.CrossEntropyLoss(), optim.SGD(m6.parameters(), lr=0.1), (Xbad, Y), epochs=2,
         batch_size=6, shuffle=False, verbose=False, distributed=True,
         callbacks=[TerminateOnNaN()])
assert h6.stopped_early and len(h6["loss"]) == 1, (h6.stopped_early, h6["loss"])
print("PASS dataset_and_nan_vote", flush=True)
# DistributedSampler from the process group: the ranks' shares cover the data, disjoint when
# it divides evenly, padded from the order's start when not, and set_epoch reshuffles alike
from nnfast.utils.data.distributed import DistributedSampler   # noqa: E402
for n in (96, 95):
    ds = TensorDataset(nf.tensor(X[:n]), nf.tensor(Y[:n]))
    shares = []
    for epoch in (0, 1):
        smp = DistributedSampler(ds, shuffle=True, seed=5)
        smp.set_epoch(epoch)
        assert (smp.num_replicas, smp.rank) == (N, R)
        shares.append(gathered(list(smp)))
    for parts in shares:
        assert all(len(p) == -(-n // N) for p in parts)
        flat_idx = [i for p in parts for i in p]
        assert sorted(set(flat_idx)) == list(range(n))
        if n % N == 0:
            assert len(flat_idx) == n   # disjoint
    assert shares[0] != shares[1]   # set_epoch changed the order
    one = DistributedSampler(ds, num_replicas=1, rank=0, shuffle=True, seed=5)
    one.set_epoch(1)
    whole = list(one)   # the whole epoch's order, padded as the shares are
    whole += whole[:N * -(-n // N) - n]
    assert [whole[r::N] for r in range(N)] == shares[1]   # rank r takes every N-th from r
print("PASS sampler", flush=True)
dist.destroy_process_group()
print("PASS done", flush=True)
