"""mpirun worker of tests/test_distributed.py: a rank that fails must never leave the others
waiting. argv[1] says how rank 1 fails while rank 0 waits for it in a collective:

  raise  an exception escapes rank 1 mid-training (DDP): the job is aborted at once
  kill   rank 1 is killed by SIGKILL: mpirun ends the job
  hang   rank 1 sleeps: rank 0's collective times out (NNFAST_DIST_TIMEOUT), rank 0 catches
         the error, checks it and exits normally; the broken group aborts the job at exit
  exit   rank 1 calls sys.exit(3): rank 0 times out and the uncaught error aborts the job
"""
import os
import signal
import sys
import time

import numpy as np

import nnfast as nf
import nnfast.distributed as dist
from nnfast import nn
from nnfast.nn.parallel import DistributedDataParallel as DDP

mode = sys.argv[1]
dist.init_process_group("mpi")
R = dist.get_rank()
print(f"START rank {R}", flush=True)
if mode == "raise":
    model = DDP(nn.Sequential(nn.Linear(4, 3)))
    opt = nf.optim.SGD(model.parameters(), lr=0.1)
    for step in range(5):
        if R == 1 and step == 2:
            raise ValueError("rank 1 fails mid-training")
        opt.zero_grad()
        nn.MSELoss()(model(nf.ones(2, 4)), nf.zeros(2, 3)).backward()
        opt.step()
elif R == 1:
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif mode == "hang":
        time.sleep(120)
    elif mode == "exit":
        sys.exit(3)
elif mode == "hang":
    t0 = time.monotonic()
    try:
        dist.all_reduce(np.ones(3))
        raise AssertionError("the all_reduce did not time out")
    except dist.DistTimeoutError as e:
        msg = str(e)
    took = time.monotonic() - t0
    assert "all_reduce timed out on rank 0 of 2 after 2 s" in msg, msg
    assert 1.5 < took < 10, took
    try:
        dist.barrier()
        raise AssertionError("a broken group ran a barrier")
    except dist.DistTimeoutError as e:
        assert "broken" in str(e), e
    print("PASS caught", msg, flush=True)
    sys.exit(0)
dist.all_reduce(np.ones(3))   # rank 0 waits here for the failed rank 1
time.sleep(60)
print("NOT KILLED", flush=True)
