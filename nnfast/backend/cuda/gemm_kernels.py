"""The GEMM kernels of the CUDA backend (gemm.py launches them): one tiled, register-blocked
GEMM made per (dtype, tile config, transposes), and the column sum.

The GEMM, for one output tile of BM x BN per block and pass of its grid-stride loop:
  for each k-slab of BK: the block loads op(A)[BM, BK] and op(B)[BK, BN] into shared memory
  (k-major, zero outside the matrix, so edge tiles need no other care), then each of the
  (BM/TM) x (BN/TN) threads accumulates its TM x TN micro-tile in registers from a column
  of A's slab and a row of B's. Thread (ty, tx) owns runs of 4 rows (columns) at ty*4
  (tx*4), then BM/TM*4 (BN/TN*4) further on: each run is one ld.shared.v4, a warp reads B's
  row without bank conflicts and stores C's rows in coalesced runs.
  Slabs are double-buffered in shared memory and the next one is loaded into registers
  while the FMAs run: one barrier a slab.
  The epilogue: v = alpha*acc (+ beta*C, only when beta != 0: C may hold garbage) (+ bias),
  stored where inside C; then, when asked, the activation as a second pass.
Transposes are constants of the made kernel; bias and activation are run-time arguments
(uniform branches outside the k loop), so few kernels need compiling. The slab loads read
global memory along each operand's contiguous dimension in every transpose case.
Tiles are cut over a flat index t = batch * tiles + tile, so one launch does a batched
matmul (each operand's batch stride may be 0 to broadcast).

Split-K (gemm.py) runs parts of k as batch entries of this kernel and sums them with the
column sum. Not here: vector (float4) global loads, tensor cores; the accumulation runs in
the operands' dtype over k in order.
"""
import math
from collections import namedtuple

import numpy as np
from numba import cuda, float32, float64, int64

from . import _launch

# ---------------------------------------------------------------------- tile configs
# regs: a register cap for ptxas (None: as many as it wants). Without one the 128x128
# float32 kernels use 128-158 registers (ptxas -v, sm_90, no spills): one 256-thread block an
# SM. A cap of 128 would fit two, at 16-32 bytes of spills in NN and TT: to be measured on a
# GPU (bench/cuda_sgemm.py --max-registers 128).
TileConfig = namedtuple("TileConfig", "bm bn bk tm tn regs", defaults=(None,))
TileConfig.threads = property(lambda c: (c.bm // c.tm) * (c.bn // c.tn))

# Per dtype, largest first; a product takes the first config whose tiles fill the GPU
# (choose_config). Production float32: 128x128 tiles of 8x8 micro-tiles (256 threads, 64
# accumulators a thread, 17 KB of shared memory a block), and for products too small to
# give every SM a tile that way (an MLP layer: 256x1024 is 16 tiles) 64x64 tiles of 4x4.
# float64 takes the smaller one only (its registers double).
PRODUCTION = {np.dtype(np.float32): (TileConfig(128, 128, 8, 8, 8), TileConfig(64, 64, 8, 4, 4)),
              np.dtype(np.float64): (TileConfig(64, 64, 8, 4, 4),)}
# Simulator: 16 threads a block, tiles small enough that tests cross their edges; float32's
# second config is taken by products of one 8x8 tile, so tests run both.
SIMULATOR = {np.dtype(np.float32): (TileConfig(8, 8, 4, 2, 2), TileConfig(4, 4, 4, 1, 1)),
             np.dtype(np.float64): (TileConfig(8, 8, 4, 2, 2),)}
# Tile column c of a slab sits at _LEAD + c: with a constant in every index, NVVM's vectorizer
# proves each run of 4 micro-tile reads 16-byte aligned and makes it one ld.shared.v4 (at
# offset 0 the first run stayed scalar loads; seen in the PTX).
_LEAD = 4


_fill = []   # tiles that fill the GPU: 2 per SM (found at the first product)


def _slab_row(width):
    """Elements in a shared-slab row for `width` tile columns: _LEAD + width, padded to 4 more
    than a multiple of 32 so that the slab stores of the k-fastest loads (8 k by 4 columns a
    warp) fall in 32 different banks, and a multiple of 4 (rows stay 16-byte aligned)."""
    return _LEAD + width + (4 - _LEAD - width) % 32


def fill_tiles():
    """How many tiles (blocks) fill the GPU: 2 per SM (2 under the simulator)."""
    if not _fill:
        _fill.append(2 if _launch.SIM else 2 * cuda.get_current_device().MULTIPROCESSOR_COUNT)
    return _fill[0]


def choose_config(dtype, m, n, nbatch):
    """The largest tile config of dtype whose tiles of (nbatch, m, n) fill the GPU, else the
    smallest."""
    configs = (SIMULATOR if _launch.SIM else PRODUCTION)[np.dtype(dtype)]
    for cfg in configs:
        if nbatch * (-(-m // cfg.bm)) * (-(-n // cfg.bn)) >= fill_tiles():
            return cfg
    return configs[-1]


# ---------------------------------------------------------------------- activations
# Codes: NF_ACT_* of csrc/nnfast.h (= nnfast._C.ACT_*); `a` is leaky_relu's slope, elu's alpha.
RELU, LEAKY_RELU, ELU, SIGMOID, TANH, GELU, GELU_TANH, SILU = range(8)
_HALF = np.float32(0.5)
_ONE = np.float32(1.0)
_ZERO = np.float32(0.0)
_RSQRT2 = np.float32(0.7071067811865476)
_SQRT_2_PI = np.float32(0.7978845608028654)
_GELU_C = np.float32(0.044715)


@cuda.jit(device=True, inline=True)
def _relu(x, a):
    return max(x, _ZERO)


@cuda.jit(device=True, inline=True)
def _leaky_relu(x, a):
    return x if x > _ZERO else a * x


@cuda.jit(device=True, inline=True)
def _elu(x, a):
    return x if x > _ZERO else a * math.expm1(x)


@cuda.jit(device=True, inline=True)
def _sigmoid(x, a):
    return _ONE / (_ONE + math.exp(-x))


@cuda.jit(device=True, inline=True)
def _tanh(x, a):
    return math.tanh(x)


@cuda.jit(device=True, inline=True)
def _gelu(x, a):
    return _HALF * x * (_ONE + math.erf(x * _RSQRT2))


@cuda.jit(device=True, inline=True)
def _gelu_tanh(x, a):
    return _HALF * x * (_ONE + math.tanh(_SQRT_2_PI * (x + _GELU_C * x * x * x)))


@cuda.jit(device=True, inline=True)
def _silu(x, a):
    return x / (_ONE + math.exp(-x))


ACT_KINDS = {RELU: _relu, LEAKY_RELU: _leaky_relu, ELU: _elu, SIGMOID: _sigmoid,
             TANH: _tanh, GELU: _gelu, GELU_TANH: _gelu_tanh, SILU: _silu}
NO_ACT = -1


@cuda.jit(device=True, inline=True)
def _act(kind, x, a):
    """ACT_KINDS[kind](x, a), chosen at run time (kind is the same for every thread)."""
    if kind == RELU:
        return _relu(x, a)
    if kind == LEAKY_RELU:
        return _leaky_relu(x, a)
    if kind == ELU:
        return _elu(x, a)
    if kind == SIGMOID:
        return _sigmoid(x, a)
    if kind == TANH:
        return _tanh(x, a)
    if kind == GELU:
        return _gelu(x, a)
    if kind == GELU_TANH:
        return _gelu_tanh(x, a)
    return _silu(x, a)

_NB = {np.dtype(np.float32): float32, np.dtype(np.float64): float64}


# ---------------------------------------------------------------------- the GEMM
_cache = {}


def gemm_kernel(dtype, cfg, ta, tb):
    """The kernel for C = act(alpha * op(A) @ op(B) + beta * C + bias), made once per
    (dtype, cfg, ta, tb).

    kern(M, N, K, nbatch, alpha, beta, a, aoff, lda, sa, b, boff, ldb, sb, c, coff, ldc, sc,
         bias, has_bias, act, act_a): a, b, c (and bias) flat buffers of `dtype`; matrix bi
    of each starts at off + bi * s; op(A) is (M, K) stored row-major with leading dimension
    lda ((K, M) when ta), op(B) is (K, N) ((N, K) when tb), C is (M, N). bias: a buffer of
    N, added when has_bias != 0 (any buffer otherwise); act: an ACT_KINDS code or NO_ACT,
    act_a its scalar."""
    key = (np.dtype(dtype), cfg, ta, tb)
    k = _cache.get(key)
    if k is not None:
        return k
    nbt = _NB[np.dtype(dtype)]
    BM, BN, BK, TM, TN, REGS = cfg
    NTM, NTN = BM // TM, BN // TN     # threads along rows, along columns
    NT = NTM * NTN
    VM, VN = min(TM, 4), min(TN, 4)   # micro-tile rows (cols) in runs of VM (VN): one LDS.128
    if (BM % TM or BN % TN or TM % VM or TN % VN or (BM * BK) % NT or (BN * BK) % NT):
        raise ValueError(f"gemm_kernel: tile {cfg} does not divide into micro-tiles of runs "
                         "of 4 and equal per-thread slab loads")
    SA, SB = _slab_row(BM), _slab_row(BN)
    ALIGN = None if _launch.SIM else 16   # (the simulator takes no alignment)
    TA, TB = ta, tb

    # The slab of A (B) is BM*BK (BN*BK) elements, LA (LB) per thread; element e of the
    # slab -> (k, row) or (k, col) so that consecutive threads read consecutive addresses.
    LA, LB = (BM * BK) // NT, (BN * BK) // NT

    @cuda.jit(device=True, inline=True)
    def load_a(regs, a, ao, lda, M, K, row0, k0, tid):
        for q in range(LA):
            e = tid + q * NT
            if TA:        # A stored (K, M): consecutive threads, consecutive rows
                kk = e // BM
                ii = e - kk * BM
            else:         # A stored (M, K): consecutive threads, consecutive k
                ii = e // BK
                kk = e - ii * BK
            gi = row0 + ii
            gk = k0 + kk
            v = nbt(0)
            if gi < M and gk < K:
                v = a[ao + gk * lda + gi] if TA else a[ao + gi * lda + gk]
            regs[q] = v

    @cuda.jit(device=True, inline=True)
    def store_a(As, s, regs, tid):
        for q in range(LA):
            e = tid + q * NT
            if TA:
                kk = e // BM
                ii = e - kk * BM
            else:
                ii = e // BK
                kk = e - ii * BK
            As[s, kk, _LEAD + ii] = regs[q]

    @cuda.jit(device=True, inline=True)
    def load_b(regs, b, bo, ldb, N, K, col0, k0, tid):
        for q in range(LB):
            e = tid + q * NT
            if TB:        # B stored (N, K)
                jj = e // BK
                kk = e - jj * BK
            else:         # B stored (K, N)
                kk = e // BN
                jj = e - kk * BN
            gj = col0 + jj
            gk = k0 + kk
            v = nbt(0)
            if gj < N and gk < K:
                v = b[bo + gj * ldb + gk] if TB else b[bo + gk * ldb + gj]
            regs[q] = v

    @cuda.jit(device=True, inline=True)
    def store_b(Bs, s, regs, tid):
        for q in range(LB):
            e = tid + q * NT
            if TB:
                jj = e // BK
                kk = e - jj * BK
            else:
                kk = e // BN
                jj = e - kk * BN
            Bs[s, kk, _LEAD + jj] = regs[q]

    @cuda.jit(device=True, inline=True)
    def store_tile(c, co, ldc, acc, gi0, gj0, M, N, alpha, beta, bias, with_bias):
        """C[gi, gj] = alpha*acc (+ beta*C when beta != 0) (+ bias[gj]) inside C."""
        for i in range(TM):
            gi = gi0 + (i // VM) * (NTM * VM) + i % VM
            if gi < M:
                for j in range(TN):
                    gj = gj0 + (j // VN) * (NTN * VN) + j % VN
                    if gj < N:
                        idx = co + gi * ldc + gj
                        v = alpha * acc[i, j]
                        if beta != nbt(0):
                            v += beta * c[idx]
                        if with_bias:
                            v += bias[gj]
                        c[idx] = v

    def kern(M, N, K, nbatch, alpha, beta, a, aoff, lda, sa, b, boff, ldb, sb, c, coff, ldc,
             sc, bias, has_bias, act, act_a):
        # Two slabs each: FMAs read one while the next is stored into the other.
        As = cuda.shared.array((2, BK, SA), nbt, alignment=ALIGN)  # op(A)[row0+i, k0+kk]
        Bs = cuda.shared.array((2, BK, SB), nbt, alignment=ALIGN)  # op(B)[k0+kk, col0+j]
        acc = cuda.local.array((TM, TN), nbt)
        af = cuda.local.array(TM, nbt)
        bf = cuda.local.array(TN, nbt)
        pa = cuda.local.array(LA, nbt)     # the next slab, in flight during this one's FMAs
        pb = cuda.local.array(LB, nbt)
        zero = nbt(0)
        tid = cuda.threadIdx.x
        ty = tid // NTN
        tx = tid - ty * NTN
        arow = ty * VM      # this thread's first row of the tile (then runs NTM*VM apart)
        bcol = tx * VN      # its first column
        tiles_n = (N + BN - 1) // BN
        per_batch = ((M + BM - 1) // BM) * tiles_n
        total = per_batch * nbatch
        t = cuda.blockIdx.x
        while t < total:
            bi = t // per_batch
            r = t - bi * per_batch
            row0 = (r // tiles_n) * BM
            col0 = (r % tiles_n) * BN
            ao = aoff + bi * sa
            bo = boff + bi * sb
            for i in range(TM):
                for j in range(TN):
                    acc[i, j] = zero
            # One barrier a slab: slab s is read from buffer s % 2 while slab s + 1, loaded
            # into registers before the FMAs, is stored into the other buffer after them;
            # the barrier closing slab s - 1 ended every read of that buffer.
            load_a(pa, a, ao, lda, M, K, row0, 0, tid)
            load_b(pb, b, bo, ldb, N, K, col0, 0, tid)
            store_a(As, 0, pa, tid)
            store_b(Bs, 0, pb, tid)
            cuda.syncthreads()
            cur = 0
            for k0 in range(0, K, BK):
                more = k0 + BK < K
                if more:          # the next slab's loads in flight during these FMAs
                    load_a(pa, a, ao, lda, M, K, row0, k0 + BK, tid)
                    load_b(pb, b, bo, ldb, N, K, col0, k0 + BK, tid)
                for kk in range(BK):
                    for i in range(TM):
                        af[i] = As[cur, kk, _LEAD + arow + (i // VM) * (NTM * VM) + i % VM]
                    for j in range(TN):
                        bf[j] = Bs[cur, kk, _LEAD + bcol + (j // VN) * (NTN * VN) + j % VN]
                    for i in range(TM):
                        for j in range(TN):
                            acc[i, j] += af[i] * bf[j]
                if more:
                    store_a(As, 1 - cur, pa, tid)
                    store_b(Bs, 1 - cur, pb, tid)
                cuda.syncthreads()
                cur = 1 - cur
            co = coff + bi * sc
            # Two copies of the store loop, each with its bias choice constant: a run-time
            # test inside the loop kept LLVM from unrolling it (acc to local memory, as below).
            if has_bias != 0:
                store_tile(c, co, ldc, acc, row0 + arow, col0 + bcol, M, N, alpha, beta, bias,
                           True)
            else:
                store_tile(c, co, ldc, acc, row0 + arow, col0 + bcol, M, N, alpha, beta, bias,
                           False)
            if act != NO_ACT:
                # The activation as a second pass over this thread's own outputs (its own
                # writes, so visible to it): inlined into the loop above, the math calls
                # stopped LLVM unrolling it, acc[i, j] became a dynamic index and the whole
                # accumulator went to local memory (seen in the PTX as ld/st.local).
                for i in range(TM):
                    gi = row0 + arow + (i // VM) * (NTM * VM) + i % VM
                    if gi < M:
                        for j in range(TN):
                            gj = col0 + bcol + (j // VN) * (NTN * VN) + j % VN
                            if gj < N:
                                idx = co + gi * ldc + gj
                                c[idx] = _act(act, c[idx], act_a)
            t += cuda.gridDim.x

    k = _cache[key] = cuda.jit(kern) if REGS is None else cuda.jit(kern, max_registers=REGS)
    return k


# ---------------------------------------------------------------------- the reference
@cuda.jit
def gemm_reference_kernel(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc):
    """The plain loop anyone can check by eye (sgemm(..., reference=True)): one thread per
    C[i, j] = alpha * sum_k op(A)[i, k] * op(B)[k, j] (+ beta * C[i, j] when beta != 0),
    k in order, transposes as run-time flags."""
    t = cuda.grid(1)
    step = cuda.gridsize(1)
    while t < M * N:
        i = t // N
        j = t - i * N
        s = float32(0)
        for kk in range(K):
            x = a[kk * lda + i] if ta != 0 else a[i * lda + kk]
            y = b[j * ldb + kk] if tb != 0 else b[kk * ldb + j]
            s += x * y
        v = alpha * s
        if beta != float32(0):
            v += beta * c[i * ldc + j]
        c[i * ldc + j] = v
        t += step


# ---------------------------------------------------------------------- column sums
@cuda.jit
def colsum_kernel(out, x, m, n, rows, nchunks, beta):
    """out[c*n + j] = beta*out[c*n + j] + sum of x[i, j] over rows [c*rows, (c+1)*rows) of m,
    for every chunk c < nchunks and column j < n, each summed in row order by one thread
    (consecutive threads, consecutive columns: coalesced). beta == 0 never reads out."""
    t = cuda.grid(1)
    step = cuda.gridsize(1)
    total = n * nchunks
    while t < total:
        ch = t // n
        j = t - ch * n
        lo = ch * rows
        hi = min(lo + rows, m)
        s = float32(0)
        for i in range(lo, hi):
            s += x[i * n + j]
        if beta != float32(0):
            s += beta * out[t]
        out[t] = s
        t += step


# ---------------------------------------------------------------------- PTX checks
def ptx_checks():
    """(kernel, signature) for every production kernel: each dtype's configs in the four
    transposes (bias and activation are run-time arguments of each), the column sum, and
    sgemm's reference loop."""
    checks = []
    for dt, nbt in _NB.items():
        buf = nbt[::1]
        sig = (int64, int64, int64, int64, nbt, nbt, buf, int64, int64, int64, buf, int64,
               int64, int64, buf, int64, int64, int64, buf, int64, int64, nbt)
        for cfg in PRODUCTION[dt]:
            for ta in (False, True):
                for tb in (False, True):
                    checks.append((gemm_kernel(dt, cfg, ta, tb), sig))
    checks.append((colsum_kernel, (float32[::1], float32[::1], int64, int64, int64, int64,
                                   float32)))
    checks.append((gemm_reference_kernel, (int64, int64, int64, int64, int64, float32,
                                           float32[::1], int64, float32[::1], int64, float32,
                                           float32[::1], int64)))
    return checks
