"""torch.nn.parallel's path: DistributedDataParallel (over nnfast.distributed's MPI group)."""
from .distributed import DistributedDataParallel  # noqa: F401

__all__ = ["DistributedDataParallel"]
