"""The GEMM family on CUDA: sgemm, colsum, linear_forward/backward, linear_act_forward, and
np.matmul / np.dot of CudaArrays.

Same names, argument order and semantics as nnfast._C (nnfast/_C_gemm.pxi, csrc/gemm/gemm.c).
One kernel does every product (gemm_kernels.py): a shared-memory tiled GEMM with a register
micro-tile, batched over a flat batch index, with an epilogue of alpha/beta, bias and an
activation. Tile sizes come from a short list of configs per dtype (gemm_kernels.PRODUCTION,
the largest whose tiles fill the GPU is taken), tiny ones under the simulator.

Not here: cuBLAS, tensor cores (TF32/bf16), split-K, integer matmul, np.einsum beyond one
(batched) matrix product.
"""
import numpy as np

from . import _launch
from .array import HOOKS, CudaArray, empty, implements, implements_ufunc, missing
from .gemm_kernels import (
    ACT_KINDS,
    NO_ACT,
    choose_config,
    colsum_kernel,
    fill_tiles,
    gemm_kernel,
    gemm_reference_kernel,
    ptx_checks,
)

__all__ = ["colsum", "linear_act_forward", "linear_backward", "linear_forward", "sgemm"]

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
# A grid-stride kernel needs no more blocks than fill the GPU a few times over.
_MAX_GEMM_BLOCKS = 2 if _launch.SIM else 4096
# colsum: rows per chunk (at least), chunks at most, and the width that fills a GPU alone.
_COLSUM_CHUNK, _COLSUM_MAX_CHUNKS, _COLSUM_WIDE = (4, 8, 64) if _launch.SIM else (64, 1024, 1 << 16)
# split-K: the shortest k a part may have, and the most parts.
_SPLIT_MIN_K, _SPLIT_MAX = (8, 4) if _launch.SIM else (256, 64)


# ---------------------------------------------------------------------- launching
def _launch_gemm(ta, tb, m, n, k, alpha, a, aoff, lda, sa, b, boff, ldb, sb, beta,
                 c, coff, ldc, sc, nbatch=1, bias=None, act=None, act_a=0.0):
    """C[bi] = epilogue(alpha * op(A[bi]) @ op(B[bi]) + beta * C[bi]) for bi < nbatch.

    a, b, c: Numba device buffers (1-D) of one dtype; each matrix is given by an element
    offset, a leading dimension and a batch stride (0 broadcasts). op(X) = X^T when its
    flag is set: op(A) is (m, k), stored (m, lda) or, transposed, (k, lda)."""
    if m <= 0 or n <= 0 or nbatch <= 0:
        return
    dtype = np.dtype(c.dtype)
    cfg = choose_config(dtype, m, n, nbatch)
    tiles = nbatch * (-(-m // cfg.bm)) * (-(-n // cfg.bn))
    nsplit = min(fill_tiles() // tiles, k // _SPLIT_MIN_K, _SPLIT_MAX)
    if (nsplit >= 2 and nbatch == 1 and ldc == n and bias is None and act is None
            and dtype == _F32):
        _split_k(nsplit, cfg, ta, tb, m, n, k, alpha, a, aoff, lda, b, boff, ldb, beta,
                 c, coff)
        return
    kern = gemm_kernel(dtype, cfg, bool(ta), bool(tb))
    blocks = min(tiles, _MAX_GEMM_BLOCKS)
    cast = dtype.type
    kern[blocks, cfg.threads](m, n, k, nbatch, cast(alpha), cast(beta),
                              a, aoff, lda, sa, b, boff, ldb, sb, c, coff, ldc, sc,
                              c if bias is None else bias, int(bias is not None),
                              NO_ACT if act is None else int(act), cast(act_a))


def _split_k(nsplit, cfg, ta, tb, m, n, k, alpha, a, aoff, lda, b, boff, ldb, beta, c, coff):
    """A product with too few tiles to fill the GPU and a long k (dweight = dout^T @ inp over
    a large batch): k cut into parts, each part's product a batch entry into a scratch
    (parts, m, n), then C = beta*C + the parts summed in order (colsum): deterministic."""
    kc = -(-k // nsplit)
    kc = -(-kc // cfg.bk) * cfg.bk                 # whole slabs a part
    nfull, rem = k // kc, k % kc
    parts = nfull + (rem > 0)
    # How far one part of k moves each operand's start (op(A) is (m, k), op(B) is (k, n)).
    da = kc * lda if ta else kc
    db = kc if tb else kc * ldb
    part = empty((parts, m, n), _F32)
    pb, po = part._block.buf, part._off
    kern = gemm_kernel(_F32, cfg, bool(ta), bool(tb))
    cast = _F32.type
    for nb, kk, ao, bo, co in ((nfull, kc, aoff, boff, po),
                               (1 if rem else 0, rem, aoff + nfull * da, boff + nfull * db,
                                po + nfull * m * n)):
        if nb:
            tiles = nb * (-(-m // cfg.bm)) * (-(-n // cfg.bn))
            kern[min(tiles, _MAX_GEMM_BLOCKS), cfg.threads](
                m, n, kk, nb, cast(alpha), cast(0), a, ao, lda, da, b, bo, ldb, db,
                pb, co, n, m * n, pb, 0, NO_ACT, cast(0))
    _colsum_launch(c[coff:coff + m * n], part.flat, parts, m * n, beta)


def _colsum_launch(out, x, m, n, beta):
    """out[j] = beta*out[j] + sum_i x[i, j] (out, x: flat buffers), in a fixed order. Few
    columns over many rows would leave the GPU idle, so rows are then cut into chunks, each
    summed into a scratch row, and the scratch rows summed in order by a second pass."""
    chunk = max(_COLSUM_CHUNK, -(-m // _COLSUM_MAX_CHUNKS))
    nchunks = -(-m // chunk)
    beta = _F32.type(beta)
    if nchunks <= 1 or n >= _COLSUM_WIDE:
        colsum_kernel[_launch.grid(n)](out, x, m, n, max(m, 1), 1, beta)
        return
    part = empty((nchunks, n), _F32)
    colsum_kernel[_launch.grid(n * nchunks)](part.flat, x, m, n, chunk, nchunks, _F32.type(0))
    colsum_kernel[_launch.grid(n)](out, part.flat, nchunks, n, nchunks, 1, beta)


# ---------------------------------------------------------------------- validation
def _check(x, who, name, ndim):
    """x as a C-contiguous float32 CudaArray of rank ndim, or ValueError (as _C's memoryviews)."""
    if not (isinstance(x, CudaArray) and x.ndim == ndim and x.dtype == _F32
            and x.is_contiguous):
        got = (f"{x.dtype} array of shape {x.shape}" if isinstance(x, CudaArray)
               else type(x).__name__)
        raise ValueError(f"{who}: {name} must be a C-contiguous {ndim}-D float32 CUDA array, "
                         f"got {got}")
    return x


def _buf(x):
    """(device buffer, element offset) of a CudaArray."""
    return x._block.buf, x._off


# ---------------------------------------------------------------------- the _C kernels
def sgemm(transA, transB, alpha, A, B, beta, C, reference=False):
    """C = alpha * op(A) @ op(B) + beta * C on C-contiguous float32 2-D arrays.
    beta == 0 never reads C. reference=True runs the plain one-thread-per-output loop (as
    _C's reference kernel: the oracle the tiled kernel is held to)."""
    _check(A, "sgemm", "A", 2)
    _check(B, "sgemm", "B", 2)
    _check(C, "sgemm", "C", 2)
    M, N = C.shape
    K = A.shape[0] if transA else A.shape[1]
    am = A.shape[1] if transA else A.shape[0]
    bk = B.shape[1] if transB else B.shape[0]
    bn = B.shape[0] if transB else B.shape[1]
    if am != M or bk != K or bn != N:
        raise ValueError(f"sgemm: op(A) is ({am}, {K}), op(B) is ({bk}, {bn}), C is ({M}, {N})")
    if reference:
        if M * N:
            gemm_reference_kernel[_launch.grid(M * N)](
                int(bool(transA)), int(bool(transB)), M, N, K, _F32.type(alpha),
                A.flat if A.size else C.flat, A.shape[1], B.flat if B.size else C.flat,
                B.shape[1], _F32.type(beta), C.flat, N)
        return
    (ab, ao), (bb, bo), (cb, co) = _buf(A), _buf(B), _buf(C)
    _launch_gemm(transA, transB, M, N, K, alpha, ab, ao, A.shape[1], 0, bb, bo, B.shape[1], 0,
                 beta, cb, co, N, 0)


def colsum(out, x, beta):
    """out[j] = beta * out[j] + sum_i x[i, j]; beta == 0 never reads out."""
    _check(out, "colsum", "out", 1)
    _check(x, "colsum", "x", 2)
    M, N = x.shape
    if N != out.shape[0]:
        raise ValueError(f"colsum: x is ({M}, {N}), out is ({out.shape[0]},)")
    if N == 0:
        return
    _colsum_launch(out.flat, x.flat if M > 0 else out.flat, M, N, beta)


def _linear_checks(who, out, inp, weight, bias, out_name="out"):
    _check(out, who, out_name, 2)
    _check(inp, who, "inp", 2)
    _check(weight, who, "weight", 2)
    M, K = inp.shape
    N = weight.shape[0]
    if weight.shape[1] != K or out.shape != (M, N):
        raise ValueError(f"{who}: inp ({M}, {K}), weight ({N}, {weight.shape[1]}), "
                         f"{out_name} ({out.shape[0]}, {out.shape[1]})")
    if bias is not None:
        _check(bias, who, "bias", 1)
        if bias.shape[0] != N:
            raise ValueError(f"{who}: bias ({bias.shape[0]},) for {N} outputs")
    return M, K, N


def _linear_launch(out, inp, weight, bias, M, K, N, act=None, act_a=0.0):
    # out = inp[M,K] @ weight[N,K]^T: the NT form, bias (and act) in the epilogue.
    (ib, io), (wb, wo), (ob, oo) = _buf(inp), _buf(weight), _buf(out)
    _launch_gemm(False, True, M, N, K, 1.0, ib, io, K, 0, wb, wo, K, 0, 0.0, ob, oo, N, 0,
                 bias=None if bias is None else bias.flat, act=act, act_a=act_a)


def linear_forward(out, inp, weight, bias):
    """out[M,N] = inp[M,K] @ weight[N,K]^T (+ bias[N])."""
    M, K, N = _linear_checks("linear_forward", out, inp, weight, bias)
    _linear_launch(out, inp, weight, bias, M, K, N)


def linear_act_forward(out, inp, weight, bias, kind, a=0.0):
    """out = act(inp @ weight^T + bias) in one kernel: the activation runs on each output
    tile while it is still in registers. kind: the ACT_* codes of nnfast._C (csrc/act.c's
    NF_ACT_*), `a` the slope (leaky_relu) or alpha (elu). No _C counterpart: the CPU runs
    linear_forward then act_forward, which this equals to float32 rounding."""
    M, K, N = _linear_checks("linear_act_forward", out, inp, weight, bias)
    if kind not in ACT_KINDS:
        raise ValueError(f"linear_act_forward: unknown kind {kind}")
    _linear_launch(out, inp, weight, bias, M, K, N, act=int(kind), act_a=a)


def gemm_bias_act(kind, a=0.0):
    """linear_act_forward with the activation fixed: fn(out, inp, weight, bias), for
    compile_step's fused Linear+activation. The kernel is the same for every kind (the
    activation is a run-time argument of its epilogue), so nothing is compiled per kind."""
    if kind not in ACT_KINDS:
        raise ValueError(f"gemm_bias_act: unknown kind {kind}")

    def launch(out, inp, weight, bias):
        linear_act_forward(out, inp, weight, bias, kind, a)
    return launch


def linear_backward(dinp, dweight, dbias, dout, inp, weight, accumulate):
    """Gradients of linear_forward; dinp/dweight/dbias may be None (not needed).
      dinp    = dout[M,N] @ weight[N,K]   NN (overwritten, as _C)
      dweight = dout^T @ inp[M,K]         TN (dout read transposed in place; += if accumulate)
      dbias   = colsum(dout)              (+= if accumulate)"""
    who = "linear_backward"
    M, K, N = _linear_checks(who, dout, inp, weight, None, out_name="dout")
    for g, name, shape in ((dinp, "dinp", (M, K)), (dweight, "dweight", (N, K)),
                           (dbias, "dbias", (N,))):
        if g is not None:
            _check(g, who, name, len(shape))
            if g.shape != shape:
                raise ValueError(f"{who}: {name} {g.shape}, expected {shape}")
    beta = 1.0 if accumulate else 0.0
    (db, do), (ib, io), (wb, wo) = _buf(dout), _buf(inp), _buf(weight)
    if dinp is not None:
        gb, go = _buf(dinp)
        _launch_gemm(False, False, M, K, N, 1.0, db, do, N, 0, wb, wo, K, 0, 0.0, gb, go, K, 0)
    if dweight is not None:
        # With M == 0 this is a K = 0 product: dweight = beta * dweight (zeros, or kept).
        gb, go = _buf(dweight)
        _launch_gemm(True, False, N, K, M, 1.0, db, do, N, 0, ib, io, K, 0, beta, gb, go, K, 0)
    if dbias is not None and N > 0:
        _colsum_launch(dbias.flat, dout.flat if M > 0 else dbias.flat, M, N, beta)


# ---------------------------------------------------------------------- np.matmul, np.dot
def _numpy_error(a, b):
    """Raise the error NumPy's matmul raises for these shapes (on zero-stride stand-ins)."""
    def stand_in(x):
        return np.broadcast_to(np.float32(0), np.shape(x))
    np.matmul(stand_in(a), stand_in(b))
    raise ValueError(f"matmul: shapes {np.shape(a)} and {np.shape(b)} do not match")


def _batched_operand(x, batch):
    """How the kernel reads x (shape batch' + (r, c), batch' broadcastable to batch):
    (array, transposed, ld, batch stride). Views whose batch dims do not collapse to one
    stride, or whose core is strided both ways, are copied first."""
    r, c = x.shape[-2:]
    nlead = len(batch) - (x.ndim - 2)
    est = [0] * nlead + [0 if n == 1 and m != 1 else s
                         for n, m, s in zip(x.shape[:-2], batch[nlead:], x._est[:-2])]
    s0, s1 = x._est[-2:]
    stride, ok = None, True
    for n, s in zip(reversed(batch), reversed(est)):   # innermost batch dim first
        if n == 1:
            continue
        if stride is None:
            stride, span = s, s * n
        elif s != span:
            ok = False
            break
        else:
            span = s * n
    if ok and (c == 1 or s1 == 1):
        return x, False, s0 if r > 1 else c, stride or 0
    if ok and (r == 1 or s0 == 1):
        return x, True, s1 if c > 1 else r, stride or 0
    full = empty(tuple(batch) + (r, c), x.dtype)
    HOOKS["copy"](full, x)
    return full, False, c, r * c


def matmul(a, b, out=None):
    """np.matmul of CudaArrays (float32 through the float32 kernel, float64 through its
    float64 twin): 1-D operands promoted and their dimension dropped as NumPy does, batch
    dims broadcast; operand views (transposes, broadcasts) are read in place when they can."""
    if not (isinstance(a, CudaArray) and isinstance(b, CudaArray)):
        raise TypeError("matmul: both operands must be CUDA arrays (move the other with "
                        ".cuda() / .to('cuda'))")
    if a.ndim == 0 or b.ndim == 0:
        _numpy_error(a, b)
    rt = np.result_type(a.dtype, b.dtype)
    if rt not in (_F32, _F64):
        raise missing(f"numpy.matmul of {rt} arrays (float32 and float64 only)")
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    m, k = a2.shape[-2:]
    k2, n = b2.shape[-2:]
    try:
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    except ValueError:
        batch = None
    if k != k2 or batch is None:
        _numpy_error(a, b)
    shape = tuple(batch) + ((m,) if a.ndim > 1 else ()) + ((n,) if b.ndim > 1 else ())
    if out is not None:
        if not isinstance(out, CudaArray):
            raise TypeError("matmul: out must be a CUDA array")
        if out.shape != shape:
            raise ValueError(f"matmul: Output operand 0 has a mismatch in its core dimension "
                             f"(expected shape {shape}, got {out.shape})")
    a2 = a2 if a2.dtype == rt else a2.astype(rt)
    b2 = b2 if b2.dtype == rt else b2.astype(rt)
    direct = (out is not None and out.dtype == rt and out.is_contiguous
              and out._block is not a2._block and out._block is not b2._block)
    res = out if direct else empty(shape, rt)
    nbatch = 1
    for s in batch:
        nbatch *= s
    if res.size:
        A, ta, lda, sa = _batched_operand(a2, batch)
        B, tb, ldb, sb = _batched_operand(b2, batch)
        (ab, ao), (bb, bo), (cb, co) = _buf(A), _buf(B), _buf(res)
        _launch_gemm(ta, tb, m, n, k, 1.0, ab, ao, lda, sa, bb, bo, ldb, sb, 0.0,
                     cb, co, n, m * n, nbatch=nbatch)
    if out is not None and not direct:
        HOOKS["copy"](out, res)
        return out
    return res


@implements_ufunc(np.matmul)
def _ufunc_matmul(method, *inputs, out=None, **kwargs):
    if method != "__call__":
        raise missing(f"numpy.matmul.{method}")
    if kwargs.get("axes") is not None or kwargs.get("axis") is not None:
        raise missing("numpy.matmul with axes=")
    if len(inputs) != 2:
        raise TypeError(f"matmul() takes 2 positional arguments, got {len(inputs)}")
    if isinstance(out, tuple):
        out = out[0]
    dtype = kwargs.get("dtype")
    a, b = inputs
    if dtype is not None:
        a, b = a.astype(dtype, copy=False), b.astype(dtype, copy=False)
    return matmul(a, b, out)


@implements(np.dot)
def _np_dot(a, b, out=None):
    """np.dot where it is a matmul: a scalar operand, ranks <= 2, or N-d with 1-D/2-D b."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return np.multiply(a, b, out=out)
    if b.ndim <= 2:
        if a.ndim <= 2 or b.ndim == 1:
            return matmul(a, b, out)
        res = matmul(a.reshape(-1, a.shape[-1]), b).reshape(a.shape[:-1] + (b.shape[1],))
        if out is not None:
            HOOKS["copy"](out, res)
            return out
        return res
    raise missing("numpy.dot with a 3-D or higher second operand (use np.matmul)")


def _einsum_plan(subscripts, a, b):
    """For a two-operand einsum that is one (batched) matrix product — a single contracted
    label, at most one free label per operand, every other label in both operands and the
    output — (A, B, drop_m, drop_n, out_perm) such that the result is
    matmul(A, B) with the dropped unit dims removed, transposed by out_perm; "sizes" when
    such a product's label sizes disagree; else None."""
    spec = subscripts.replace(" ", "")
    if "..." in spec or spec.count(",") != 1:
        return None
    ins, _, o = spec.partition("->")
    sa, sb = ins.split(",")
    if not _:   # implicit output: the labels seen once, in alphabetical order
        o = "".join(sorted(x for x in set(sa + sb) if (sa + sb).count(x) == 1))
    if (len(set(sa)) != len(sa) or len(set(sb)) != len(sb) or len(set(o)) != len(o)
            or len(sa) != a.ndim or len(sb) != b.ndim or not set(o) <= set(sa + sb)):
        return None
    contracted = (set(sa) & set(sb)) - set(o)
    batch = [x for x in o if x in sa and x in sb]
    free_a = [x for x in sa if x not in sb]
    free_b = [x for x in sb if x not in sa]
    if (len(contracted) != 1 or len(free_a) > 1 or len(free_b) > 1
            or not set(free_a + free_b) <= set(o)):
        return None
    (c,) = contracted
    for x in batch + [c]:
        if a.shape[sa.index(x)] != b.shape[sb.index(x)]:
            return "sizes"
    A = a.transpose([sa.index(x) for x in batch + free_a + [c]])
    B = b.transpose([sb.index(x) for x in batch + [c] + free_b])
    A = A if free_a else A[..., None, :]
    B = B if free_b else B[..., None]
    order = batch + free_a + free_b          # the labels of the product, once dims dropped
    return A, B, not free_a, not free_b, [order.index(x) for x in o]


@implements(np.einsum)
def _np_einsum(subscripts, *operands, out=None, optimize=False, **kwargs):
    """np.einsum where it is one matrix product ('ij,jk->ik', 'bij,bkj->bik', 'i,ij->j', ...);
    other contractions are not here."""
    plan = None
    if (isinstance(subscripts, str) and len(operands) == 2 and not kwargs
            and all(isinstance(x, CudaArray) for x in operands)):
        plan = _einsum_plan(subscripts, *operands)
    shapes = [np.shape(x) for x in operands]
    if plan == "sizes":   # NumPy's own error, from zero-stride stand-ins (it raises first)
        np.einsum(subscripts, *[np.broadcast_to(np.float32(0), sh) for sh in shapes])
    if plan is None or plan == "sizes":
        raise missing(f"numpy.einsum({subscripts!r}) on shapes {shapes} (only two-operand "
                      "matrix products)")
    A, B, drop_m, drop_n, perm = plan
    res = matmul(A, B)
    if drop_n:
        res = res[..., 0]
    if drop_m:
        res = res[..., 0, :] if not drop_n else res[..., 0]
    res = res.transpose(perm) if res.ndim else res
    if out is not None:
        HOOKS["copy"](out, res)
        return out
    return res


# ---------------------------------------------------------------------- compile checks
PTX_CHECKS = ptx_checks()
