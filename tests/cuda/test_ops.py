"""Tensor ops on "cuda" against the same ops on the CPU: the arithmetic, reductions, shape
ops, indexing, joins, products and in-place ops a training loop and a custom model or loss
use, forward and backward (each input's gradient), on the same inputs; the ops with no
device implementation refuse with NotImplementedError naming the op; operands on two
devices raise PyTorch's error. Tiny shapes: each simulated launch costs milliseconds per
thread."""
import numpy as np
import pytest

import nnfast as nf
import nnfast.nn.functional as F

SAME_DEVICE = "Expected all tensors to be on the same device"

_g = np.random.default_rng(0)
A = _g.standard_normal((2, 3)).astype(np.float32)
B = _g.standard_normal((2, 3)).astype(np.float32)
C = _g.standard_normal(3).astype(np.float32)
P = (np.abs(_g.standard_normal((2, 3))) + 0.5).astype(np.float32)   # positive
Y = np.array([1, 2])                                                # class labels


def _idx(x, values):
    """An int64 index tensor on x's device."""
    return nf.tensor(values).to(x.device)


def _inplace_chain(x):
    y = x * 1
    y.add_(1)
    y.mul_(2)
    y.clamp_(-1, 1)
    y.sub_(x, alpha=0.5)
    z = nf.zeros(2, 3, device=x.device)
    z.copy_(y)
    z.fill_(0.5)
    z.zero_()
    return y + z


def _setitems(x):
    y = x * 1
    y[y > 0] = 0.0
    y[:, 1] = 2.0
    y[0] = x[1]
    return y


def _index_put(x):
    y = x * 1
    y[_idx(x, [1, 0])] = x.flip(0) * 3
    return y


def _attention(x, w):
    """A causal self-attention block written from Tensor ops, as custom models write it:
    views, transposes, a scaled product, a triangular mask from arange, softmax, a manual
    layer norm."""
    bsz, t, c = 1, 2, 3
    h = x.reshape(bsz, t, c) @ w                        # (1, 2, 3)
    q, k, v = h, h * 0.5, h.flip(-1)
    att = (q @ k.transpose(-2, -1)) * (1.0 / c ** 0.5)
    pos = nf.arange(t, device=x.device)
    mask = pos[None, :] > pos[:, None]
    att = att.masked_fill(mask, float("-inf")).softmax(dim=-1)
    y = (att @ v).transpose(1, 2).contiguous().view(bsz, -1)
    mu = y.mean(dim=-1, keepdim=True)
    var = y.var(dim=-1, keepdim=True, unbiased=False)
    return (y - mu) / (var + 1e-5).sqrt()


# name -> (fn(*tensors), input arrays, gradients too)
CASES = {
    "add_sub_mul_div": (lambda x, y: (x + y) * (x - y) / (y.abs() + 1), (A, B), True),
    "broadcast": (lambda x, c: x * c + c - x / (c.abs() + 1), (A, C), True),
    "scalars": (lambda x: 2 + x * 3 - 1 / (x + 5) - 4 * x + x / 2, (A,), True),
    "pow": (lambda x, p: x ** 2 + x.pow(3) + 2 ** x + p ** x, (A, P), True),
    "neg_abs": (lambda x: -x.abs(), (A,), True),
    "exp_log_sqrt": (lambda p: p.exp() + p.log() + p.sqrt() + p.rsqrt(), (P,), True),
    "tanh_sigmoid_relu": (lambda x: x.tanh() + x.sigmoid() + x.relu() + F.gelu(x), (A,), True),
    "clamp": (lambda x: x.clamp(-0.5, 0.5) + x.clamp(min=0.1), (A,), True),
    "comparisons": (lambda x, y: ((x > y) | (x <= 0)).float() + (x == x).float()
                    + (x != y).long() + (x >= 0.5).int(), (A, B), False),
    "where": (lambda x, y: nf.where(x > 0, x, y) + nf.where(y > 0, y, 0.0), (A, B), True),
    "sum": (lambda x: x.sum() + x.sum(dim=1).sum() + x.sum(0, keepdim=True).sum(), (A,), True),
    "mean": (lambda x: x.mean(dim=0) + x.mean(), (A,), True),
    "max_min_dim": (lambda x: x.max(dim=1)[0].sum() + x.min(0, keepdim=True).values.sum(),
                    (A,), True),
    "max_min_all": (lambda x: x.max() - x.min() + x.amax(1).sum(), (A,), True),
    "argmax_argmin": (lambda x: (x.argmax(dim=1), x.argmin(0), x.argmax()), (A,), False),
    "accuracy": (lambda x, y: (x.argmax(1) == y).float().mean(), (A, Y), False),
    "softmax": (lambda x: x.softmax(dim=1) + x.log_softmax(-1) + F.softmax(x, dim=0),
                (A,), True),
    "var_std_norm": (lambda x: x.var(1) + x.std() + x.norm() + x.norm(dim=1), (A,), True),
    "logsumexp_prod": (lambda x: x.logsumexp(1) + x.prod(1), (A,), True),
    "reshape_view": (lambda x: x.reshape(3, 2).view(6).unsqueeze(0).squeeze() * 1, (A,), True),
    "flatten": (lambda x: x.reshape(1, 2, 3).flatten(1), (A,), True),
    "permute_contiguous": (lambda x: x.reshape(1, 2, 3).permute(2, 0, 1).contiguous(), (A,),
                           True),
    "transpose_t": (lambda x: x.t() * 2 + x.transpose(0, 1) + x.T, (A,), True),
    "expand_repeat": (lambda c: c.reshape(1, 3).expand(2, 3) * c + c.repeat(2, 1), (C,), True),
    "getitem_basic": (lambda x: x[:, 0] + x[1].sum() + x[..., 1:].sum(), (A,), True),
    "getitem_index": (lambda x: x[_idx(x, [1, 0, 1])], (A,), True),
    "getitem_mask": (lambda x: x[x > 0], (A,), True),
    "setitem": (_setitems, (A,), True),
    "index_put": (_index_put, (A,), True),
    "masked_fill": (lambda x: x.masked_fill(x > 0, 0.0), (A,), True),
    "index_select": (lambda x: x.index_select(1, _idx(x, [2, 0, 2])), (A,), True),
    "gather": (lambda x: x.gather(1, _idx(x, [[0, 2], [1, 1]])), (A,), True),
    "scatter": (lambda x, y: y.scatter(1, _idx(x, [[0, 2], [1, 0]]), x[:, :2]), (A, B), True),
    "scatter_add": (lambda x, y: y.scatter_add(1, _idx(x, [[0, 0], [1, 1]]), x[:, :2]),
                    (A, B), True),
    "cat_stack": (lambda x, y: nf.cat([x, y], 0).sum(0) + nf.stack([x, y], 1).sum(1).sum(0),
                  (A, B), True),
    "split_chunk": (lambda x: x.split(1, dim=1) + x.chunk(2, dim=0), (A,), True),
    "matmul": (lambda x, y: x @ y.t() + x.mm(y.t()) + x.matmul(y[0]).sum(), (A, B), True),
    "bmm": (lambda x, y: x.reshape(1, 2, 3).bmm(y.reshape(1, 3, 2)), (A, B), True),
    "einsum": (lambda x, y, c: nf.einsum("ij,kj->ik", x, y) + nf.einsum("ij,kj,j->ik", x, y, c)
               + nf.einsum("ij->", x), (A, B, C), True),
    "clone_detach": (lambda x: x.clone() + x.detach(), (A,), True),
    "inplace": (_inplace_chain, (A,), True),
    "cumsum_cummax": (lambda x: x.cumsum(1) + x.cummax(0)[0], (A,), True),
    "sort_topk": (lambda x: x.sort(1)[0] * 2 + x.topk(3, 1).values, (A,), True),
    "tril_diag": (lambda x: x.tril() + x[:, :2].diag().sum() + x[:, :2].trace(), (A,), True),
    "flip_roll": (lambda x: x.flip(1) + x.roll(1, 1), (A,), True),
    "median_kthvalue": (lambda x: x.median(1).values + x.kthvalue(2, 1).values + x.median(),
                        (A,), True),
    "cumulative": (lambda x: x.cummin(1)[0] + x.logcumsumexp(1) + x.cumprod(0), (A,), True),
    "diagonal_views": (lambda x: x.diagonal().sum() + nf.diag_embed(x).sum(0)[:2, :2].sum()
                       + x.clone().fill_diagonal_(0.0), (A,), True),
    "unfold_tile": (lambda x: x.unfold(1, 2, 1).sum(-1).sum(-1) + x.tile(2, 1)[2:].sum(1),
                    (A,), True),
    "narrow_unbind_movedim": (lambda x: x.narrow(1, 1, 2).sum(1) + x.unbind(0)[1][:2].sum()
                              + x.movedim(0, 1).sum(0), (A,), True),
    "masked_select_scatter": (lambda x, y: x.masked_select(y > 0).sum()
                              + x.masked_scatter(y > 0, y * 3), (A, B), True),
    "take_index_ops": (lambda x, y: x.take(_idx(x, [0, 5, 2])).sum()
                       + x.index_add(1, _idx(x, [0, 0]), y[:, :2])
                       + x.index_copy(1, _idx(x, [2]), y[:, :1])
                       + x.index_fill(1, _idx(x, [1]), -1.0), (A, B), True),
    "scatter_reduce": (lambda x, y: x.scatter_reduce(1, _idx(x, [[0, 0, 1], [2, 2, 0]]), y,
                                                     "amax")
                       + x.scatter_reduce(1, _idx(x, [[0, 1, 1], [2, 2, 0]]), y, "mean"),
                       (A, B), True),
    "cross": (lambda x, y: nf.cross(x, y, dim=1) + nf.linalg.cross(x[:1], y), (A, B), True),
    "repeat_interleave": (lambda x: x.repeat_interleave(2, 1), (A,), True),
    "var_mean_cdist": (lambda x, y: nf.var_mean(x, 1)[0] + nf.cdist(x, y).sum(1)
                       + nf.cdist(x, y, p=1).sum(0)[:2], (A, B), True),
    "normalize_cosine": (lambda x, y: F.normalize(x) + F.cosine_similarity(x, y)[:, None],
                         (A, B), True),
    "products": (lambda x, y: nf.outer(x[0], y[1]) + nf.addmm(x[:, :1], x, y.t()).sum()
                 + nf.dot(x[0], y[0]) + nf.kron(x[:, :1], y[:1, :1]).sum(), (A, B), True),
    "baddbmm_addcmul": (lambda x, y: nf.baddbmm(x.reshape(1, 2, 3)[:, :, :2],
                                                x.reshape(1, 2, 3), y.reshape(1, 3, 2)).sum()
                        + nf.addcmul(x, x, y, value=0.5), (A, B), True),
    "binary_math": (lambda x, y, p: nf.maximum(x, y) + nf.minimum(x, y) + nf.atan2(x, y)
                    + nf.hypot(x, y) + nf.xlogy(p, p) + nf.lerp(x, y, 0.3) + x.fmod(0.4)
                    + x % 0.4, (A, B, P), True),
    "unary_math": (lambda x: x.erf() + x.sin() * x.cos() + x.floor() + x.sign() + x.expm1()
                   + x.log1p().nan_to_num(0.0) + x.round(), (A,), True),
    "dtype_casts": (lambda x: x.double().sum(1, keepdim=True).float() + x.long().float() + x.half().float()
                    + x.to(nf.int32).float(), (A,), True),
    "attention_block": (_attention, (A, _g.standard_normal((3, 3)).astype(np.float32)), True),
    "mse_l1": (lambda x, y: F.mse_loss(x, y) + F.l1_loss(x, y), (A, B), True),
    "cross_entropy": (lambda x, y: F.cross_entropy(x, y), (A, Y), True),
}


def _run(device, fn, arrays, grad):
    xs = [nf.tensor(a).to(device).requires_grad_(grad and a.dtype.kind == "f")
          for a in arrays]
    out = fn(*xs)
    outs = out if isinstance(out, (tuple, list)) else [out]
    for o in outs:
        assert o.device.type == device
    vals = [o.detach().cpu().numpy() for o in outs]
    grads = []
    if grad:
        total = None
        for o in outs:   # a fixed, non-uniform weight per output element
            w = nf.tensor(np.linspace(-1, 1, o.numel(), dtype=np.float32).reshape(o.shape))
            s = (o * w.to(device)).sum()
            total = s if total is None else total + s
        total.backward()
        for x in xs:
            if x.requires_grad:
                assert x.grad is not None and x.grad.device.type == device
                grads.append(x.grad.cpu().numpy())
    return vals, grads


@pytest.mark.parametrize("name", list(CASES))
def test_op_on_cuda_matches_cpu(name):
    fn, arrays, grad = CASES[name]
    cpu_vals, cpu_grads = _run("cpu", fn, arrays, grad)
    gpu_vals, gpu_grads = _run("cuda", fn, arrays, grad)
    assert len(gpu_vals) == len(cpu_vals) and len(gpu_grads) == len(cpu_grads)
    for got, want in zip(gpu_vals + gpu_grads, cpu_vals + cpu_grads):
        assert got.dtype == want.dtype and got.shape == want.shape
        if want.dtype.kind in "biu":
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_random_ops_stay_on_the_device():
    x = nf.tensor(P / P.sum(1, keepdims=True)).cuda()
    for r in (nf.bernoulli(x), nf.bernoulli(x, p=0.5), x.clone().bernoulli_(x),
              nf.multinomial(x, 2), nf.rand_like(x), nf.randn_like(x), x.clone().uniform_(),
              F.dropout(x, 0.5)):
        assert r.device.type == "cuda"
    nf.manual_seed(3)
    cpu = nf.multinomial(x.cpu(), 2).numpy()
    nf.manual_seed(3)
    np.testing.assert_array_equal(nf.multinomial(x, 2).cpu().numpy(), cpu)


def test_factories_keep_or_take_the_device():
    x = nf.tensor(A).cuda()
    for t in (nf.tensor(x), nf.as_tensor(x), nf.full_like(x, 2.0), nf.zeros_like(x),
              x.new_ones(3), nf.tril_indices(3, 3, device="cuda"), nf.arange(3, device="cuda")):
        assert t.device.type == "cuda"
    np.testing.assert_array_equal(nf.tensor(x).cpu().numpy(), A)
    assert nf.tensor([x[0, 0], x[1, 2]]).tolist() == pytest.approx([A[0, 0], A[1, 2]])


def test_item_tolist_and_host_conversions():
    x = nf.tensor(A).cuda()
    assert x.sum().item() == pytest.approx(float(A.sum()), rel=1e-6)
    np.testing.assert_allclose(x.tolist(), A.tolist(), rtol=1e-6)
    assert (x > 0).any().item() is True
    assert "device='cuda:0'" in repr(x)
    with pytest.raises(TypeError, match="can't convert cuda"):
        np.asarray(x)


def test_backward_with_an_explicit_gradient_on_the_device():
    x = nf.tensor(A).cuda().requires_grad_()
    (x * 3).backward(nf.ones(2, 3, device="cuda"))
    assert x.grad.device.type == "cuda"
    np.testing.assert_allclose(x.grad.cpu().numpy(), np.full((2, 3), 3.0, np.float32))
    (gx,) = nf.autograd.grad((x * x).sum(), x)
    assert gx.device.type == "cuda"
    np.testing.assert_allclose(gx.cpu().numpy(), 2 * A, rtol=1e-6)


class _Square(nf.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x)
        return x * x, y * 2

    @staticmethod
    def backward(ctx, ga, gb):
        (x,) = ctx.saved_tensors
        return 2 * x * ga, gb * 2


def _autograd_features(device):
    """Hooks, retained grads, a custom Function (one output unused: a zero gradient), an
    in-place change of a view of a graph tensor, accumulation over two backward passes."""
    x = nf.tensor(A).to(device).requires_grad_()
    z = nf.tensor(B).to(device).requires_grad_()
    y = x * 2
    y.retain_grad()
    y.register_hook(lambda g: g * 3)
    a, _ = _Square.apply(x, z)
    w = y * 1
    w[:, 1].mul_(x[:, 1])
    (w.sum() + a.sum()).backward()
    (x * x).sum().backward()
    return [t.cpu().numpy() for t in (x.grad, y.grad, z.grad)]


def test_autograd_features_on_the_device():
    for got, want in zip(_autograd_features("cuda"), _autograd_features("cpu")):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_copy_across_devices_and_its_gradient():
    """copy_ may cross devices (as in PyTorch); the source's gradient comes back on its own
    device."""
    w = nf.tensor(B).cuda()
    src = nf.tensor(A).requires_grad_()
    y = nf.zeros(2, 3, device="cuda")
    y.copy_(src)
    (y * w).sum().backward()
    assert src.grad.device.type == "cpu"
    np.testing.assert_allclose(src.grad.numpy(), B)
    src2 = nf.tensor(A).cuda().requires_grad_()
    z = nf.zeros(2, 3)
    z.copy_(src2)
    (z * nf.tensor(B)).sum().backward()
    assert src2.grad.device.type == "cuda"
    np.testing.assert_allclose(src2.grad.cpu().numpy(), B)
    h = nf.zeros(2, 3)
    h.copy_(w)
    np.testing.assert_array_equal(h.numpy(), B)


def test_scalar_and_zero_dim_cpu_operands_go_with_cuda_tensors():
    x = nf.tensor(A).cuda()
    for r in (x + nf.tensor(2.0), x * nf.tensor(2), nf.tensor(1.5) - x, x.mul_(nf.tensor(1.0))):
        assert r.device.type == "cuda"
    np.testing.assert_allclose((x + nf.tensor(2.0)).cpu().numpy(), A + 2, rtol=1e-6)


def _cpu(shape=(2, 3)):
    return nf.ones(*shape)


MIXED = {
    "add": lambda x: x + _cpu(),
    "radd": lambda x: _cpu() + x,
    "mul": lambda x: x * _cpu(),
    "compare": lambda x: x > _cpu(),
    "matmul": lambda x: x @ _cpu((3, 2)),
    "where": lambda x: nf.where(x > 0, x, _cpu()),
    "where_condition": lambda x: nf.where(_cpu() > 0, x, x),
    "cat": lambda x: nf.cat([x, _cpu()]),
    "stack": lambda x: nf.stack([x, _cpu()]),
    "add_": lambda x: x.clone().add_(_cpu()),
    "cpu_add_": lambda x: _cpu().add_(x),
    "gather": lambda x: x.gather(1, nf.tensor([[0], [1]])),
    "index_select": lambda x: x.index_select(1, nf.tensor([0])),
    "masked_fill": lambda x: x.masked_fill(_cpu() > 0, 1.0),
    "scatter": lambda x: x.scatter(1, nf.tensor([[0], [1]]).cuda(), _cpu()),
    "maximum": lambda x: nf.maximum(x, _cpu()),
}


@pytest.mark.parametrize("name", list(MIXED))
def test_operands_on_two_devices_raise_pytorchs_error(name):
    x = nf.tensor(A).cuda()
    with pytest.raises(RuntimeError, match=SAME_DEVICE):
        MIXED[name](x)


def test_mixed_devices_in_backward_gradients():
    x = nf.tensor(A).cuda().requires_grad_()
    with pytest.raises(RuntimeError, match=SAME_DEVICE):
        (x * 2).backward(nf.ones(2, 3))


@pytest.mark.parametrize("fn, what", [
    (lambda x: nf.linalg.matrix_norm(x, "nuc"), "SVD"),
    (lambda x: x.mode(1), "mode"),
    (lambda x: x.double().erf(), "erf"),
    (lambda x: x.erfinv(), "erfinv"),
    (lambda x: x.histc(4), "histc"),
    (lambda x: nf.isin(x, x), "isin"),
    (lambda x: nf.einsum("ii->i", x[:, :2]), "repeated subscript"),
])
def test_ops_without_a_device_implementation_name_themselves(fn, what):
    x = nf.tensor(A).cuda()
    with pytest.raises(NotImplementedError, match=what) as e:
        fn(x)
    assert ".cpu()" in str(e.value)
