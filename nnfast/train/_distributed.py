"""fit(..., distributed=True): the same training over the ranks mpirun started.

What it does (nnfast.distributed over MPI, docs/distributed.md):
  - joins the process group (init_process_group("mpi") unless the caller did) and agrees on
    one seed (rank 0's), so every rank draws the same validation split and the same shuffles;
  - wraps the model in DistributedDataParallel for the forward and backward (rank 0's
    weights broadcast at the wrap, gradients averaged over the ranks); checkpoints, the
    returned model and evaluation use the model itself, so their keys are the plain ones;
  - gives each rank its share of every epoch's order, as DistributedSampler shares it
    (padded by repeating the order's start, so every rank takes the same number of
    batches); a DataLoader or iterable of batches the caller passes is used as it is (give
    it a DistributedSampler);
  - reports the same logs on every rank: the training loss and metrics over all ranks'
    batches, validation on the whole validation set (the weights are the same everywhere),
    so early stopping and schedules decide alike; with TerminateOnNaN a non-finite loss on
    any rank stops every rank before that step's update;
  - lets rank 0 alone write: checkpoints, ModelCheckpoint and CSVLogger files, the progress
    bar and epoch lines. A resume reads the checkpoint on every rank (a path all ranks see).
"""
import numpy as np

__all__ = ["Ranks", "join"]


class Ranks:
    """This process's place in the job, and the collectives fit needs."""

    def __init__(self, dist):
        self.dist = dist
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.main = self.rank == 0

    def agree_seed(self, seed):
        """Rank 0's seed on every rank."""
        box = [int(seed)]
        self.dist.broadcast_object_list(box, src=0)
        return int(box[0])

    def sum(self, *values):
        """The sums over the ranks of a few floats (one allreduce)."""
        a = np.array(values, np.float64)
        self.dist.all_reduce(a)
        return a.tolist()

    def any(self, flag):
        """Whether flag holds on some rank."""
        return self.sum(1.0 if flag else 0.0)[0] > 0

    def gather_arrays(self, arrays):
        """Every rank's list of arrays, concatenated in rank order (metrics over all)."""
        parts = [None] * self.world
        self.dist.all_gather_object(parts, list(arrays))
        return [a for p in parts for a in p]

    def share(self, order):
        """This rank's share of an epoch's order, as DistributedSampler(drop_last=False)
        shares it: the order padded with its own start to a multiple of the world size,
        then every world-th index from this rank's."""
        n = len(order)
        total = -(-n // self.world) * self.world
        if total > n:
            reps = -(-(total - n) // n)
            order = np.concatenate([order] + [order] * reps)[:total]
        return order[self.rank:total:self.world]


def join(model):
    """(Ranks, the DistributedDataParallel model) for fit(distributed=True)."""
    from .. import distributed as dist
    from ..nn.parallel import DistributedDataParallel
    if not dist.is_initialized():
        dist.init_process_group("mpi")
    ddp = model if isinstance(model, DistributedDataParallel) else \
        DistributedDataParallel(model)
    return Ranks(dist), ddp
