"""Shared test helpers: torch is the oracle through check_op (STYLE.md)."""
import numpy as np
import torch

import nnfast as nf


def to_torch(x, requires_grad=False):
    t = torch.from_numpy(np.array(x, copy=True))
    if requires_grad:
        t.requires_grad_(True)
    return t


def assert_close(actual, expected, atol=1e-5, rtol=1e-4, what=""):
    a = actual.detach().numpy() if isinstance(actual, torch.Tensor) else np.asarray(
        actual.detach().numpy() if isinstance(actual, nf.Tensor) else actual)
    e = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(
        expected.detach().numpy() if isinstance(expected, nf.Tensor) else expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    np.testing.assert_allclose(a, e, atol=atol, rtol=rtol, err_msg=what)


def check_op(shapes, torch_fn, nf_fn, atol=1e-5, rtol=1e-4, dtype=np.float32, seed=0,
             low=-2.0, high=2.0, inputs=None, grad=True):
    """Run torch_fn and nf_fn on the same random inputs; compare outputs and every gradient.

    The backward pass uses a random upstream gradient (not ones) so that every element of the
    Jacobian-vector product is exercised. Returns (nf_out, torch_out)."""
    rng = np.random.default_rng(seed)
    if inputs is None:
        inputs = [rng.uniform(low, high, s).astype(dtype) for s in shapes]
    t_in = [to_torch(a, requires_grad=grad and a.dtype.kind == "f") for a in inputs]
    n_in = [nf.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in inputs]
    t_out = torch_fn(*t_in)
    n_out = nf_fn(*n_in)
    assert n_out.dtype == np.dtype(str(t_out.dtype).replace("torch.", "")), \
        f"dtype {n_out.dtype} vs {t_out.dtype}"
    assert_close(n_out, t_out, atol, rtol, "forward")
    if grad:
        up = rng.standard_normal(tuple(t_out.shape)).astype(dtype)
        t_out.backward(torch.from_numpy(up.copy()))
        n_out.backward(nf.tensor(up))
        for i, (t, n) in enumerate(zip(t_in, n_in)):
            if t.requires_grad:
                assert n.grad is not None, f"input {i}: no gradient"
                assert_close(n.grad, t.grad, atol, rtol, f"grad of input {i}")
    return n_out, t_out


def copy_weights(torch_module, nf_module):
    """Load torch's parameters into the nnfast twin (same state_dict keys and shapes)."""
    nf_module.load_state_dict({k: v.detach().numpy().copy()
                               for k, v in torch_module.state_dict().items()})


def fd_grad(f, x, eps=1e-6):
    """Central finite-difference gradient of scalar f at float64 array x."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fp = f(x)
        x[i] = old - eps
        fm = f(x)
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def same_signature(ours, theirs):
    """ours' public parameters (names not starting with _) and defaults are theirs'."""
    import inspect
    a = [p for p in inspect.signature(ours).parameters.values() if not p.name.startswith("_")]
    b = list(inspect.signature(theirs).parameters.values())
    return [(p.name, p.default) for p in a] == [(p.name, p.default) for p in b]


def misaligned(a):
    """A copy of array a whose data starts one byte past an aligned address, as
    np.frombuffer at an odd offset or a packed record's field gives (flags.aligned False)."""
    a = np.asarray(a)
    m = np.frombuffer(bytearray(a.nbytes + 1), a.dtype, count=a.size, offset=1)
    m = m.reshape(a.shape)
    m[...] = a
    return m


def check_both(f, *arrays, **kw):
    """check_op of f(module, *tensors) written once for both: f(torch, ...) and f(nf, ...)
    on the same arrays."""
    return check_op(None, lambda *a: f(torch, *a), lambda *a: f(nf, *a), inputs=list(arrays),
                    **kw)


def idx(M, v):
    """An int64 index tensor of module M (torch or nnfast)."""
    return M.tensor(np.asarray(v, np.int64))


def mask(M, v):
    """A bool mask tensor of module M (torch or nnfast)."""
    return M.tensor(np.asarray(v, bool))
