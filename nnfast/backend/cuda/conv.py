"""Conv2d on the GPU: implicit-GEMM kernels with the `_C` conv2d contract (nnfast/_C_conv.pxi).

What it is: one tiled GEMM kernel (shared-memory tiles of BM x BK and BK x BN, a TM x TN
register tile per thread) whose operands are *gathered* by device functions instead of read
from stored matrices, so no column matrix is ever written:
  forward  out_g[OCg, N*OH*OW]  = weight_g[OCg, Cg*KH*KW] @ im2col_g(inp)      (+ bias)
  dinp     dinp_g[Cg, N*H*W]    = weight_g^T gathered [Cg, OCg*KH*KW] @ taps_g(dout)
           (taps: dout[n, oc, oh, ow] at the (oh, ow) that read input pixel (ih, iw) through
           kernel tap (kh, kw), zero where none does: col2im as a gather, no atomics)
  dweight  dW_g[OCg, Cg*KH*KW]  = dout_g[OCg, N*OH*OW] @ im2col_g(inp)^T
           (split over N*OH*OW into `splits` partials, summed in split order by a second kernel)
  dbias    row sums of dout: one block per channel, a fixed shared-memory tree.
Every output element is summed by one thread in a fixed order: results do not depend on the
schedule. The workspace the C path wants is not needed (conv2d_workspace returns 0; `ws` is
accepted and ignored), the dweight partials come from the device pool.
Conv1d and ConvTranspose1d/2d reach these kernels as on the CPU (see
nnfast/nn/_functional_conv1d.py and _functional_conv_transpose.py).
What it is not: Winograd/FFT, tensor cores, channels-last, cuDNN speed: each gathered
element costs a few integer operations to locate (cheap divisions, see _div), and the input
gradient of a strided convolution walks taps that no output reads.
"""
import numpy as np
from numba import cuda, float32, int64, types

from . import _launch
from ._block import block_sum
from ._checks import no_overlap
from .array import CudaArray, empty

__all__ = ["conv2d_workspace", "conv2d_forward", "conv2d_backward"]

INT64_MAX = 2 ** 63 - 1

# Tile shapes (BM, BN, BK, TM, TN): 64x64 tiles of 256 threads on a GPU; under the simulator
# 8 threads on 4x8 tiles, so that tiny tests still cross tile edges.
TILES = (4, 8, 4, 2, 2) if _launch.SIM else (64, 64, 16, 4, 4)
GEMM_BLOCKS = 2 if _launch.SIM else 4096
SPLIT_TARGET = 8 if _launch.SIM else 264     # dweight: blocks wanted (2 per H200 SM)
SPLIT_MIN_KTILES = 1 if _launch.SIM else 8   # dweight: k-tiles each split sums at least
RED_THREADS = 8 if _launch.SIM else 256      # dbias: threads per channel (a power of 2)


# ------------------------------------------------------------------------ operand gathers
# q: the geometry with what the gathers derive from it, as int64s (see _derived):
#   0 N, 1 C, 2 H, 3 W, 4 OC, 5 KH, 6 KW, 7 OH, 8 OW, 9 sh, 10 sw, 11 ph, 12 pw, 13 dh,
#   14 dw, 15 G, 16 Cg, 17 OCg, 18 KH*KW, 19 OH*OW, 20 H*W, 21 Cg*KH*KW
# r: reciprocals of the divisors, float64: 0 1/(KH*KW), 1 1/KW, 2 1/(OH*OW), 3 1/OW,
#   4 1/(H*W), 5 1/W, 6 1/sh, 7 1/sw.
# An operand is read through two device functions: `prep` splits the index that stays fixed
# for a thread's loads of one tile (the tile loops are laid out so that one does) into a
# base offset and coordinates, once; `load` adds the index that varies. A 64-bit integer
# division is a long instruction sequence on a GPU; _div is a multiply by the reciprocal and
# one correction step (exact for the non-negative indices below 2^50 used here).

@cuda.jit(device=True, inline=True)
def _div(a, b, inv):
    """a // b for 0 <= a < 2^50, b >= 1, inv = 1.0 / b."""
    d = int64(a * inv)
    rem = a - d * b
    if rem < 0:
        d -= 1
    elif rem >= b:
        d += 1
    return d


# A operands, [M, K]: prep takes k, load takes m.

@cuda.jit(device=True, inline=True)
def _weight_prep(w, q, r, grp, k):
    """weight_g[m, k] = w[(grp*OCg + m)*CKKg + k], k = (ci, kh, kw)."""
    return (grp * q[17] * q[21] + k, int64(0), int64(0))


@cuda.jit(device=True, inline=True)
def _weight_load(w, q, r, grp, p, m):
    return w[p[0] + m * q[21]]


@cuda.jit(device=True, inline=True)
def _weight_t_prep(w, q, r, grp, k):
    """weight_g^T [ci, (ocl, kh, kw)] = weight[grp*OCg + ocl, ci, kh, kw]."""
    KK = q[18]
    ocl = _div(k, KK, r[0])
    return ((grp * q[17] + ocl) * q[16] * KK + (k - ocl * KK), int64(0), int64(0))


@cuda.jit(device=True, inline=True)
def _weight_t_load(w, q, r, grp, p, m):
    return w[p[0] + m * q[18]]


@cuda.jit(device=True, inline=True)
def _dout_prep(d, q, r, grp, k):
    """dout_g[ocl, (b, oh, ow)] = dout[b, grp*OCg + ocl, oh, ow]."""
    OHW = q[19]
    b = _div(k, OHW, r[2])
    return ((b * q[4] + grp * q[17]) * OHW + (k - b * OHW), int64(0), int64(0))


@cuda.jit(device=True, inline=True)
def _dout_load(d, q, r, grp, p, m):
    return d[p[0] + m * q[19]]


# B operands. im2col: col_g[(ci, kh, kw), (b, oh, ow)] = inp[b, grp*Cg + ci, ih, iw] with
# ih = oh*sh - ph + kh*dh, iw = ow*sw - pw + kw*dw, 0 in the padding. The forward reads it as
# B [K = Cg*KH*KW, N*OH*OW] (prep: the output position), dweight as B^T (prep: the same).

@cuda.jit(device=True, inline=True)
def _col_prep(x, q, r, grp, n):
    """n = (b, oh, ow) -> (plane base of channel grp*Cg, oh*sh - ph, ow*sw - pw)."""
    OW, OHW = q[8], q[19]
    b = _div(n, OHW, r[2])
    o = n - b * OHW
    oh = _div(o, OW, r[3])
    return ((b * q[1] + grp * q[16]) * q[20], oh * q[9] - q[11], (o - oh * OW) * q[10] - q[12])


@cuda.jit(device=True, inline=True)
def _col_load(x, q, r, grp, p, k):
    """k = (ci, kh, kw): the input pixel that tap reads, or 0."""
    H, W, KW, KK = q[2], q[3], q[6], q[18]
    ci = _div(k, KK, r[0])
    rem = k - ci * KK
    kh = _div(rem, KW, r[1])
    ih = p[1] + kh * q[13]
    iw = p[2] + (rem - kh * KW) * q[14]
    if ih < 0 or ih >= H or iw < 0 or iw >= W:
        return float32(0.0)
    return x[p[0] + ci * q[20] + ih * W + iw]


# dinp's B, taps_g[(ocl, kh, kw), (b, ih, iw)]: dout at the output that read input pixel
# (ih, iw) through tap (kh, kw), 0 where none did (the adjoint of im2col, as a gather).

@cuda.jit(device=True, inline=True)
def _taps_prep(d, q, r, grp, n):
    """n = (b, ih, iw) -> (dout base of channel grp*OCg, ih + ph, iw + pw)."""
    W, HW = q[3], q[20]
    b = _div(n, HW, r[4])
    p = n - b * HW
    ih = _div(p, W, r[5])
    return ((b * q[4] + grp * q[17]) * q[19], ih + q[11], p - ih * W + q[12])


@cuda.jit(device=True, inline=True)
def _taps_load(d, q, r, grp, p, k):
    KW, OH, OW, sh, sw, KK = q[6], q[7], q[8], q[9], q[10], q[18]
    ocl = _div(k, KK, r[0])
    rem = k - ocl * KK
    kh = _div(rem, KW, r[1])
    th = p[1] - kh * q[13]
    tw = p[2] - (rem - kh * KW) * q[14]
    if th < 0 or tw < 0:
        return float32(0.0)
    oh = th
    ow = tw
    if sh != 1:
        oh = _div(th, sh, r[6])
    if sw != 1:
        ow = _div(tw, sw, r[7])
    if oh * sh != th or ow * sw != tw or oh >= OH or ow >= OW:
        return float32(0.0)
    return d[p[0] + ocl * q[19] + oh * OW + ow]


# ------------------------------------------------------------------------ result stores

@cuda.jit(device=True, inline=True)
def _store_out(out, bias, q, r, grp, s, m, n, v, has_bias):
    """out[b, oc, oh, ow] = v (+ bias[oc]); n = (b, oh, ow)."""
    oc = grp * q[17] + m
    OHW = q[19]
    b = _div(n, OHW, r[2])
    if has_bias:
        v += bias[oc]
    out[(b * q[4] + oc) * OHW + (n - b * OHW)] = v


@cuda.jit(device=True, inline=True)
def _store_dinp(dinp, unused, q, r, grp, s, m, n, v, flag):
    """dinp[b, grp*Cg + m, ih, iw] = v; n = (b, ih, iw)."""
    HW = q[20]
    b = _div(n, HW, r[4])
    dinp[(b * q[1] + grp * q[16] + m) * HW + (n - b * HW)] = v


@cuda.jit(device=True, inline=True)
def _store_dweight(part, unused, q, r, grp, s, m, n, v, flag):
    """part[s, grp*OCg + m, n] = v: split s's share of dweight."""
    part[(s * q[4] + grp * q[17] + m) * q[21] + n] = v


def _derived(g):
    """(q, r) of geometry g for the gathers (see above)."""
    N, C, H, W, OC, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G = g
    Cg, OCg = C // G, OC // G
    q = g + (Cg, OCg, KH * KW, OH * OW, H * W, Cg * KH * KW)
    r = tuple(1.0 / max(v, 1) for v in (KH * KW, KW, OH * OW, OW, H * W, W, sh, sw))
    return q, r


# ------------------------------------------------------------------------ the GEMM kernel

_gemm_cache = {}


def gemm_kernel(a_ops, b_ops, store, b_kfast, tiles=TILES):
    """dst = A @ B per group (and split): A[M, K] read through a_ops = (prep, load), B[K, NC]
    through b_ops, each result handed to store. A's tile loads walk k fastest (a thread keeps
    one k per tile row: prep once); B's walk n fastest (a thread keeps one column per tile:
    prep once per tile), or k fastest with b_kfast (prep once per k-step), for operands whose
    memory runs along k."""
    key = (a_ops, b_ops, store, b_kfast, tiles)
    k = _gemm_cache.get(key)
    if k is not None:
        return k
    prep_a, load_a = a_ops
    prep_b, load_b = b_ops
    BM, BN, BK, TM, TN = tiles
    TY, TX = BM // TM, BN // TN
    NT = TX * TY
    if NT % BK or NT % BN:
        raise ValueError(f"gemm_kernel: {NT} threads must cover whole tile rows of {tiles}")
    A_STEP = NT // BK                         # rows of the A tile one pass of loads covers
    B_STEP = NT // BK if b_kfast else NT // BN
    # +1 columns: the k-fastest tile writes land in different banks
    SA_SHAPE, SB_SHAPE = (BK, BM + 1), (BK, BN + 1)

    def kern(dst, aux, src_a, src_b, q, r, M, NC, K, splits, flag):
        sa = cuda.shared.array(SA_SHAPE, float32)
        sb = cuda.shared.array(SB_SHAPE, float32)
        acc = cuda.local.array((TM, TN), float32)
        ra = cuda.local.array(TM, float32)
        rb = cuda.local.array(TN, float32)
        tid = cuda.threadIdx.x
        tx = tid % TX
        ty = tid // TX
        kk_a = tid % BK              # this thread's k in every A tile
        if b_kfast:
            kk_b = tid % BK          # ... and in every B tile
            first_b = tid // BK      # its first n there
        else:
            nn_b = tid % BN          # this thread's column in every B tile
            first_b = tid // BN      # its first k there
        tiles_m = (M + BM - 1) // BM
        tiles_n = (NC + BN - 1) // BN
        kper = ((K + BK - 1) // BK + splits - 1) // splits * BK
        total = q[15] * splits * tiles_m * tiles_n
        t = cuda.blockIdx.x
        while t < total:   # the same for every thread of the block: syncthreads is uniform
            tile_n = t % tiles_n
            rest = t // tiles_n
            tile_m = rest % tiles_m
            rest = rest // tiles_m
            s = rest % splits
            grp = rest // splits
            m0 = tile_m * BM
            n0 = tile_n * BN
            for i in range(TM):
                for j in range(TN):
                    acc[i, j] = float32(0.0)
            k_lo = s * kper
            k_hi = min(K, k_lo + kper)
            if not b_kfast:
                n_b = n0 + nn_b
                pb = prep_b(src_b, q, r, grp, n_b)
            k0 = k_lo
            while k0 < k_hi:
                ka = k0 + kk_a
                pa = prep_a(src_a, q, r, grp, ka)
                mm = tid // BK
                while mm < BM:
                    v = float32(0.0)
                    if ka < k_hi and m0 + mm < M:
                        v = load_a(src_a, q, r, grp, pa, m0 + mm)
                    sa[kk_a, mm] = v
                    mm += A_STEP
                if b_kfast:
                    kb = k0 + kk_b
                    pb = prep_b(src_b, q, r, grp, kb)
                    nn = first_b
                    while nn < BN:
                        v = float32(0.0)
                        if kb < k_hi and n0 + nn < NC:
                            v = load_b(src_b, q, r, grp, pb, n0 + nn)
                        sb[kk_b, nn] = v
                        nn += B_STEP
                else:
                    kk = first_b
                    while kk < BK:
                        v = float32(0.0)
                        if n_b < NC and k0 + kk < k_hi:
                            v = load_b(src_b, q, r, grp, pb, k0 + kk)
                        sb[kk, nn_b] = v
                        kk += B_STEP
                cuda.syncthreads()
                for kk in range(BK):
                    for i in range(TM):
                        ra[i] = sa[kk, ty + i * TY]
                    for j in range(TN):
                        rb[j] = sb[kk, tx + j * TX]
                    for i in range(TM):
                        for j in range(TN):
                            acc[i, j] += ra[i] * rb[j]
                cuda.syncthreads()
                k0 += BK
            for i in range(TM):
                m = m0 + ty + i * TY
                if m < M:
                    for j in range(TN):
                        n = n0 + tx + j * TX
                        if n < NC:
                            store(dst, aux, q, r, grp, s, m, n, acc[i, j], flag)
            t += cuda.gridDim.x

    k = _gemm_cache[key] = cuda.jit(kern)
    k.threads, k.tiles = NT, tiles
    return k


def _run_gemm(kern, dst, aux, src_a, src_b, g, M, NC, K, splits=1, flag=0):
    tiles_m = -(-M // kern.tiles[0])
    tiles_n = -(-NC // kern.tiles[1])
    total = g[15] * splits * tiles_m * tiles_n
    if total == 0:
        return
    q, r = _derived(g)
    kern[min(total, GEMM_BLOCKS), kern.threads](dst, aux, src_a, src_b, q, r, M, NC, K,
                                                splits, flag)


# ------------------------------------------------------------------------ small kernels

def _bias_sum_kernel(nt):
    @cuda.jit
    def kern(db, d, N, OC, ohw, accumulate):
        """db[oc] (+)= sum of dout[:, oc]: one block per channel, a fixed tree."""
        buf = cuda.shared.array(nt, float32)
        tid = cuda.threadIdx.x
        oc = cuda.blockIdx.x
        total = N * ohw
        while oc < OC:
            s = float32(0.0)
            j = tid
            while j < total:
                b = j // ohw
                s += d[(b * OC + oc) * ohw + (j - b * ohw)]
                j += nt
            s = block_sum(buf, s, tid, nt)
            if tid == 0:
                db[oc] = s + db[oc] if accumulate else s
            oc += cuda.gridDim.x
    return kern


_bias_sum = _bias_sum_kernel(RED_THREADS)


@cuda.jit
def _sum_splits(dw, part, size, splits, accumulate):
    """dw[i] (+)= part[0, i] + ... + part[splits-1, i], in split order."""
    i = cuda.grid(1)
    while i < size:
        s = dw[i] if accumulate else float32(0.0)
        for p in range(splits):
            s += part[p * size + i]
        dw[i] = s
        i += cuda.gridsize(1)


@cuda.jit
def _fill(a, n, v):
    i = cuda.grid(1)
    while i < n:
        a[i] = v
        i += cuda.gridsize(1)


def _zero(a):
    if a is not None and a.size:
        _fill[_launch.grid(a.size)](a.flat, a.size, float32(0.0))


_WEIGHT = (_weight_prep, _weight_load)
_WEIGHT_T = (_weight_t_prep, _weight_t_load)
_DOUT = (_dout_prep, _dout_load)
_COL = (_col_prep, _col_load)
_TAPS = (_taps_prep, _taps_load)
_forward = gemm_kernel(_WEIGHT, _COL, _store_out, False)      # weight @ im2col
_dinp = gemm_kernel(_WEIGHT_T, _TAPS, _store_dinp, False)     # weight^T @ taps(dout)
_dweight = gemm_kernel(_DOUT, _COL, _store_dweight, True)     # dout @ im2col^T


# ------------------------------------------------------------------------ the table's API

def _geom(t):
    """The geometry tuple, checked as the Cython seam checks it."""
    t = tuple(t)
    if len(t) != 16:
        raise ValueError(f"conv2d geometry must have 16 fields, got {len(t)}")
    t = tuple(int(v) for v in t)
    N, C, H, W, OC, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G = t
    if min(t) < 0 or OH * sh + abs(ph) + KH * dh + H > INT64_MAX \
            or OW * sw + abs(pw) + KW * dw + W > INT64_MAX:
        raise ValueError(f"conv2d: bad geometry {t} (negative, or overflowing index arithmetic)")
    if G < 1 or C % G or OC % G or min(sh, sw, dh, dw) < 1:
        raise ValueError(f"conv2d: bad geometry {t}")
    return t


def _arr(who, a, want, ndim=4):
    """a's flat buffer, after checking it is a contiguous float32 CudaArray of shape want."""
    if not isinstance(a, CudaArray):
        raise TypeError(f"{who} must be a CUDA array, got {type(a).__name__}")
    if a.dtype != np.float32 or not a.is_contiguous:
        raise ValueError(f"{who} must be a contiguous float32 array")
    if tuple(a.shape[:ndim]) != want or a.ndim != ndim:
        raise ValueError(f"{who} has shape {tuple(a.shape)}, expected {want}")
    return a.flat


_DUMMY = []


def _dummy():
    """A 1-float device buffer for kernel arguments that are not read (None on the CPU)."""
    if not _DUMMY:
        _DUMMY.append(empty((1,), np.float32))
    return _DUMMY[0].flat


def conv2d_workspace(geom, backward):
    """Floats of scratch the conv2d kernels want: none (the GEMMs gather their operands)."""
    _geom(geom)
    return 0


def conv2d_forward(out, ws, inp, weight, bias, geom, reference=False):
    """out = conv2d(inp, weight) + bias (ws unused; reference runs the same kernel)."""
    g = _geom(geom)
    N, C, H, W, OC, KH, KW, OH, OW = g[:9]
    G = g[15]
    o = _arr("conv2d_forward: out", out, (N, OC, OH, OW))
    x = _arr("conv2d_forward: inp", inp, (N, C, H, W))
    w = _arr("conv2d_forward: weight", weight, (OC, C // G, KH, KW))
    b = None if bias is None else _arr("conv2d_forward: bias", bias, (OC,), 1)
    no_overlap("conv2d_forward", {"out": out}, {"inp": inp, "weight": weight, "bias": bias})
    if out.size == 0:
        return
    _run_gemm(_forward, o, _dummy() if b is None else b, w, x if x.size else _dummy(), g,
              OC // G, N * OH * OW, (C // G) * KH * KW, 1, int(b is not None))


def _splits(tiles, K, bk):
    """How many partials dweight's long reduction (K = N*OH*OW, in steps of bk) is cut
    into, for a GEMM of `tiles` output tiles."""
    ktiles = -(-K // bk)
    want = -(-SPLIT_TARGET // max(tiles, 1))
    return max(1, min(want, ktiles // SPLIT_MIN_KTILES))


def conv2d_backward(dinp, dweight, dbias, ws, dout, inp, weight, geom, accumulate,
                    reference=False):
    """Gradients of conv2d_forward; dinp is overwritten, dweight/dbias accumulate when asked;
    any may be None (not needed). ws is unused."""
    g = _geom(geom)
    N, C, H, W, OC, KH, KW, OH, OW = g[:9]
    G = g[15]
    Cg, OCg = C // G, OC // G
    d = _arr("conv2d_backward: dout", dout, (N, OC, OH, OW))
    x = _arr("conv2d_backward: inp", inp, (N, C, H, W))
    w = _arr("conv2d_backward: weight", weight, (OC, Cg, KH, KW))
    di = None if dinp is None else _arr("conv2d_backward: dinp", dinp, (N, C, H, W))
    dw = None if dweight is None else _arr("conv2d_backward: dweight", dweight,
                                           (OC, Cg, KH, KW))
    db = None if dbias is None else _arr("conv2d_backward: dbias", dbias, (OC,), 1)
    # dinp may be inp (ConvTranspose's call) unless dweight, computed after it, reads inp
    no_overlap("conv2d_backward", {"dinp": dinp, "dweight": dweight, "dbias": dbias},
               {"dout": dout, "weight": weight, "inp": None if dweight is None else inp})
    if reference and accumulate:
        raise ValueError("conv2d_backward: the reference overwrites (accumulate=False only)")
    accumulate = bool(accumulate)
    no_out = N * OC * OH * OW == 0
    if di is not None and di.size:
        if no_out:
            _zero(dinp)
        else:
            _run_gemm(_dinp, di, _dummy(), w, d, g, Cg, N * H * W, OCg * KH * KW)
    if db is not None and OC:
        if no_out:
            if not accumulate:
                _zero(dbias)
        else:
            blocks = min(OC, GEMM_BLOCKS)
            _bias_sum[blocks, RED_THREADS](db, d, N, OC, OH * OW, accumulate)
    if dw is not None and dw.size:
        K = N * OH * OW
        if no_out or x.size == 0:
            if not accumulate:
                _zero(dweight)
            return
        ckk = Cg * KH * KW
        bm, bn, bk = _dweight.tiles[:3]
        splits = _splits(G * -(-OCg // bm) * -(-ckk // bn), K, bk)
        if splits == 1 and not accumulate:
            _run_gemm(_dweight, dw, _dummy(), d, x, g, OCg, ckk, K)
            return
        part = empty((splits * dweight.size,), np.float32)
        _run_gemm(_dweight, part.flat, _dummy(), d, x, g, OCg, ckk, K, splits)
        _sum_splits[_launch.grid(dweight.size)](dw, part.flat, dweight.size, splits,
                                               accumulate)


# ------------------------------------------------------------------------ PTX checks

_F = types.float32[::1]
_Q = types.UniTuple(int64, 22)
_R = types.UniTuple(types.float64, 8)
_GEMM_SIG = (_F, _F, _F, _F, _Q, _R, int64, int64, int64, int64, int64)


def _production(a_ops, b_ops, store, b_kfast):
    return gemm_kernel(a_ops, b_ops, store, b_kfast, (64, 64, 16, 4, 4))


PTX_CHECKS = [
    (_production(_WEIGHT, _COL, _store_out, False), _GEMM_SIG),
    (_production(_WEIGHT_T, _TAPS, _store_dinp, False), _GEMM_SIG),
    (_production(_DOUT, _COL, _store_dweight, True), _GEMM_SIG),
    (_bias_sum_kernel(256), (_F, _F, int64, int64, int64, types.boolean)),
    (_sum_splits, (_F, _F, int64, int64, types.boolean)),
    (_fill, (_F, int64, float32)),
]
