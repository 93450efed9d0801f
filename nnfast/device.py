"""Devices as PyTorch spells them: nf.device("cpu"), nf.device("cuda:0"), device objects.

A tensor's device is where its storage lives; ops ask that device's kernel table
(nnfast.backend): the CPU, and CUDA through Numba where nf.cuda.is_available(); asking for
a device without a backend raises RuntimeError naming what is missing.
"""

__all__ = ["device"]

_TYPES = ("cpu", "cuda", "mps", "meta", "xpu")


class device:
    """torch.device: `.type` ("cpu", "cuda", ...) and `.index` (None or an int)."""
    __slots__ = ("type", "index")

    def __init__(self, type, index=None):   # noqa: A002 - PyTorch's argument name
        if isinstance(type, device):
            if index is not None:
                raise ValueError("device(): a device object takes no index")
            object.__setattr__(self, "type", type.type)
            object.__setattr__(self, "index", type.index)
            return
        if isinstance(type, int) and not isinstance(type, bool):
            type, index = "cuda", type   # torch.device(0) is cuda:0
        if not isinstance(type, str):
            raise TypeError(f"device() expected a string or int, got {type.__class__.__name__}")
        name = type
        if ":" in name:
            if index is not None:
                raise RuntimeError(f"type (string) must not include an index because index was "
                                   f"passed explicitly: {name}")
            name, _, idx = name.partition(":")
            if not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}'")
            index = int(idx)
        if name not in _TYPES:
            raise RuntimeError(f"Expected one of {', '.join(_TYPES)} device type at start of "
                               f"device string: {type}")
        if index is not None and (not isinstance(index, int) or index < 0):
            raise RuntimeError(f"Device index must not be negative, got {index}")
        object.__setattr__(self, "type", name)
        object.__setattr__(self, "index", index)

    def __setattr__(self, name, value):
        raise AttributeError("device objects are immutable")

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except (RuntimeError, TypeError):
                return False
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __reduce__(self):
        return (device, (self.type, self.index))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


CPU = device("cpu")


def as_device(d):
    """A device object from what PyTorch accepts (str, int, device, None -> None)."""
    if d is None or isinstance(d, device):
        return d
    return device(d)


def check_available(d, what="tensor"):
    """Raise unless d (a device, not None) has a backend here; return it."""
    if d.type == "cpu":
        return d
    if d.type == "cuda":
        from . import cuda
        if not cuda.is_available():
            raise RuntimeError(f"cannot place a {what} on {d}: no CUDA GPU is available "
                               "(nnfast.cuda.is_available() is False: install 'nnfast[cuda]' "
                               "on a machine with an NVIDIA GPU); use device='cpu'")
        if d.index not in (None, 0):
            raise RuntimeError(f"cannot place a {what} on {d}: nnfast uses one GPU (cuda:0)")
        return d
    raise RuntimeError(f"cannot place a {what} on {d}: nnfast has no {d.type} backend "
                       "(only 'cpu')")
