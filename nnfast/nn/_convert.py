"""parameters_to_vector / vector_to_parameters (torch.nn.utils): all parameters as one flat
vector and back."""
import numpy as np

from ..tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _params(parameters, who):
    if isinstance(parameters, Tensor):
        return [parameters]
    params = list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"{who}: expected Tensors, got {type(p).__name__}")
    return params


def parameters_to_vector(parameters):
    """One 1-D tensor holding every parameter's values, in order (a differentiable cat of
    the flattened parameters, as torch)."""
    from .._ops.shape import cat
    params = _params(parameters, "parameters_to_vector")
    if not params:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec, parameters):
    """Copy slices of the 1-D `vec` into the parameters, in order, in place (the parameter
    objects stay, as in torch, which rebinds `.data`)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    params = _params(parameters, "vector_to_parameters")
    arr = vec._storage
    if arr.ndim != 1:
        raise RuntimeError(f"vector_to_parameters: vec must be 1-D, got shape {arr.shape}")
    need = sum(p._storage.size for p in params)
    if arr.shape[0] != need:
        raise RuntimeError(f"vector_to_parameters: vec has {arr.shape[0]} elements, the "
                           f"parameters {need}")
    start = 0
    for p in params:
        n = p._storage.size
        np.copyto(p._storage, arr[start:start + n].reshape(p._storage.shape), casting="unsafe")
        p._bump()   # a graph that saved the old values must notice
        start += n
