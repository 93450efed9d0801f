"""compile_step takes every input the eager loop takes and answers it as the eager loop does
(the same losses and state, or the same error), Flatten-first models and empty batches
included."""
import numpy as np
import pytest

import nnfast as nf
from nnfast import nn, optim
from nnfast.errors import DTypeError

from test_compile import _errors, assert_same_state, eager_step, mlp, twins


def _flatten_mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))


def _cnn():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))


def _input_kind(kind, x, y):
    """(x, y) of one kind, from float32 (b, 1, 4, 4) images x and int64 labels y."""
    if kind == "ndarray":
        return x, y
    if kind == "tensor":
        return nf.from_numpy(x), nf.from_numpy(y)
    if kind == "list":
        return x.tolist(), y.tolist()
    if kind == "non-contiguous":
        wide = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), np.float32)
        wide[..., ::2] = x
        return wide[..., ::2], np.repeat(y, 2)[::2]
    if kind == "float64":
        return x.astype(np.float64), y
    if kind == "empty":
        return x[:0], y[:0]
    return x, y.astype(kind)          # a label dtype


# what the eager loop answers for each kind: None (trains) or the exception type
_EAGER_ANSWER = {"ndarray": None, "tensor": None, "non-contiguous": None, "int64": None,
                 "uint8": None, "float64": DTypeError, "list": TypeError,
                 "int32": DTypeError, "int16": DTypeError, "empty": ValueError}


@pytest.mark.parametrize("build, compiled", [(_flatten_mlp, True), (_cnn, True),
                                             (mlp(sizes=(16, 8, 3)), True)])
@pytest.mark.parametrize("kind", list(_EAGER_ANSWER))
def test_every_input_kind_behaves_as_the_eager_loop(build, compiled, kind):
    """The compiled step and its eager fallback answer each input kind as the eager loop
    does: the same losses and state, or the same error (never NumPy's TypeError from a
    Flatten handed an ndarray, nor a reshape error on an empty batch)."""
    rng = np.random.default_rng(0)
    flat = build is not _flatten_mlp and build is not _cnn
    (m1, o1), (m2, o2) = twins(build, lambda p: optim.Adam(p, lr=1e-2))
    lf = nn.CrossEntropyLoss()
    step = nf.compile_step(m2, lf, o2)
    assert step.compiled is compiled
    for s in range(3):
        x = rng.standard_normal((6, 1, 4, 4)).astype(np.float32)
        if flat:
            x = x.reshape(6, 16)
        xk, yk = _input_kind(kind, x, rng.integers(0, 3, 6).astype(np.int64))
        e1 = _errors(lambda: eager_step(m1, lf, o1, xk, yk))
        e2 = _errors(lambda: step(xk, yk))
        want = _EAGER_ANSWER[kind]
        if want is None:
            assert e1 is None and e2 is None, (e1, e2)
            assert eager_step(m1, lf, o1, xk, yk) == step(xk, yk)
        else:
            assert e1 is not None and e1 == e2
            assert issubclass(e2[0], want), e2
            assert "flatten() takes" not in e2[1] and "cannot reshape" not in e2[1]
        assert_same_state(m1, o1, m2, o2)
    if compiled and kind in ("ndarray", "tensor", "non-contiguous", "int64", "uint8"):
        assert step.eager_calls == 0


def test_empty_batch_with_sum_reduction_steps_as_eager():
    """reduction='sum' over no rows is 0 (the mean is refused, above): the compiled step of a
    Flatten-first model hands the empty 3-D batch to the eager loop, which steps as torch."""
    (m1, o1), (m2, o2) = twins(_flatten_mlp, lambda p: optim.SGD(p, lr=0.1, momentum=0.9))
    lf = nn.CrossEntropyLoss(reduction="sum")
    step = nf.compile_step(m2, lf, o2)
    x, y = np.zeros((0, 1, 4, 4), np.float32), np.zeros(0, np.int64)
    assert eager_step(m1, lf, o1, x, y) == step(x, y) == 0.0
    assert step.eager_calls == 1
    assert_same_state(m1, o1, m2, o2)


def test_flatten_and_unflatten_take_arrays_and_empty_batches_as_torch():
    import torch
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert np.array_equal(nn.Flatten()(x).numpy(), torch.nn.Flatten()(torch.from_numpy(x)).numpy())
    for shape, layer in (((0, 3, 4), (nn.Flatten(), torch.nn.Flatten())),
                         ((0, 12), (nn.Unflatten(1, (-1, 4)), torch.nn.Unflatten(1, (-1, 4)))),
                         ((0, 12), (nn.Unflatten(1, (3, 4)), torch.nn.Unflatten(1, (3, 4))))):
        got = layer[0](nf.zeros(*shape, requires_grad=True))
        assert tuple(got.shape) == tuple(layer[1](torch.zeros(shape)).shape)
        got.sum().backward()
    with pytest.raises(TypeError, match="Flatten: expected a Tensor, got list"):
        nn.Flatten()([[1.0, 2.0]])
