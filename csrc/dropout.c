/* dropout.c — dropout from a counter-based RNG, and the L1/L2 penalty helpers.
 *
 * What it is:
 *  - Elementwise dropout: one pass draws the keep-mask and applies the 1/(1-p) scale,
 *    out[i] = inp[i] * (keep[i] ? scale : 0), optionally storing keep[i] as a uint8 for the
 *    backward pass, dinp[i] = dout[i] * (keep[i] ? scale : 0). Multiplying by 0 (rather than
 *    writing 0) is PyTorch's CPU rule: a dropped -x gives -0, a dropped inf or NaN gives NaN.
 *  - Channel ("feature") dropout: one keep decision per row of inp[R, S] (Dropout1d/2d/3d,
 *    where a row is one (sample, channel) feature map).
 *  - L1/L2 penalty helpers: sum |x| in double (the sum of squares is nf_sumsq in optim.c) and
 *    the fused penalty derivative dinp = a * sign(x) + b * x.
 *
 * The random numbers. Element i of a call draws 32 bits u(i) from the call's 64-bit seed:
 *     h(k)  = splitmix64_finalizer(seed + (k + 1) * 0x9E3779B97F4A7C15)     k = i / 2
 *     u(i)  = low 32 bits of h(i / 2) if i is even, high 32 bits if i is odd
 * i.e. h(k) is the k-th output of a SplitMix64 generator seeded with `seed`, read at any k
 * without stepping through the ones before it. An element is kept when u(i) >= thresh, where
 * the caller passes thresh = floor(p * 2^32): P(drop) = thresh / 2^32, within 2^-32 of p.
 * No hidden state: the same (seed, n, thresh) gives the same mask on any thread count, and
 * the NumPy reference in nnfast/nn/_functional_dropout.py reproduces it bit for bit. The
 * Python side draws a fresh seed for every call from nnfast's global generator.
 *
 * What it is not: a general RNG (no other distributions), strided, or float64 (float64
 * inputs use the NumPy reference). Kernels never allocate and never accumulate into
 * gradient buffers. p == 0 and p == 1 are handled by the caller (identity, x * 0).
 *
 * Aliasing: forward kernels may be called with out == inp (in-place dropout); backward
 * kernels with dinp == dout. Other overlaps are not allowed.
 *
 * Speed: nf_dropout_forward computes the hashes of a block of 128 elements into a small stack
 * array (a loop the compiler vectorises, 64-bit multiplies included on AVX-512), then applies
 * them in a second vectorisable loop. GCC multiversioning adds AVX-512 and AVX2 clones on
 * x86-64; OpenMP splits calls of more than NF_DROP_OMP_MIN elements by whole blocks, so the
 * result never depends on the thread count. nf_dropout_forward_ref is the plain loop.
 */
#include <math.h>
#include <string.h>

#include "nnfast.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#include "nf_simd.h"

/* Elements per call below which a kernel stays on one thread. */
#define NF_DROP_OMP_MIN ((nf_int)1 << 16)
/* Elements per block of the fast forward (even: a block starts at an even element). */
#define NF_DROP_BLOCK 128

#define NF_GOLDEN 0x9E3779B97F4A7C15ull

static inline uint64_t splitmix64_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* u(i) of the header comment: the 32 random bits of element i. */
static inline uint32_t drop_bits(uint64_t seed, nf_int i)
{
    uint64_t h = splitmix64_mix(seed + ((uint64_t)(i >> 1) + 1u) * NF_GOLDEN);
    return (uint32_t)(h >> ((i & 1) * 32));
}

/* ------------------------------------------------------------------------------------- */
/* Elementwise dropout                                                                   */
/* ------------------------------------------------------------------------------------- */

/* The plain reference: one element at a time, straight from the definition. */
void nf_dropout_forward_ref(float *out, uint8_t *mask, const float *inp, nf_int n,
                            uint64_t seed, uint32_t thresh, float scale)
{
    for (nf_int i = 0; i < n; i++) {
        int keep = drop_bits(seed, i) >= thresh;
        if (mask) mask[i] = (uint8_t)keep;
        out[i] = inp[i] * (keep ? scale : 0.0f);
    }
}

/* Elements [lo, hi) of the call, lo even. Hashes of a block go to u[] first: on a
 * little-endian machine the 64-bit hash k viewed as two uint32 is exactly (u(2k), u(2k+1)),
 * so the second loop reads u[] contiguously. */
NF_CLONES
static void dropout_span(float *out, uint8_t *mask, const float *inp, nf_int lo, nf_int hi,
                         uint64_t seed, uint32_t thresh, float scale)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t h[NF_DROP_BLOCK / 2];
    uint32_t u[NF_DROP_BLOCK];
    for (nf_int b = lo; b < hi; b += NF_DROP_BLOCK) {
        nf_int m = hi - b < NF_DROP_BLOCK ? hi - b : NF_DROP_BLOCK;
        nf_int nh = (m + 1) / 2;
        uint64_t k0 = (uint64_t)(b >> 1) + 1u;
        for (nf_int k = 0; k < nh; k++)
            h[k] = splitmix64_mix(seed + (k0 + (uint64_t)k) * NF_GOLDEN);
        memcpy(u, h, (size_t)nh * sizeof(uint64_t));
        const float *x = inp + b;
        float *y = out + b;
        if (mask) {
            uint8_t *mk = mask + b;
            for (nf_int j = 0; j < m; j++) {
                int keep = u[j] >= thresh;
                mk[j] = (uint8_t)keep;
                y[j] = x[j] * (keep ? scale : 0.0f);
            }
        } else {
            for (nf_int j = 0; j < m; j++) y[j] = x[j] * (u[j] >= thresh ? scale : 0.0f);
        }
    }
#else
    for (nf_int i = lo; i < hi; i++) {
        int keep = drop_bits(seed, i) >= thresh;
        if (mask) mask[i] = (uint8_t)keep;
        out[i] = inp[i] * (keep ? scale : 0.0f);
    }
#endif
}

void nf_dropout_forward(float *out, uint8_t *mask, const float *inp, nf_int n, uint64_t seed,
                        uint32_t thresh, float scale)
{
    nf_int nblocks = (n + NF_DROP_BLOCK - 1) / NF_DROP_BLOCK;
#ifdef _OPENMP
    if (n > NF_DROP_OMP_MIN && nf_get_num_threads() > 1) {
#pragma omp parallel num_threads(nf_get_num_threads())
        {
            nf_int nt = omp_get_num_threads(), t = omp_get_thread_num();
            nf_int per = (nblocks + nt - 1) / nt;
            nf_int lo = t * per * NF_DROP_BLOCK, hi = (t + 1) * per * NF_DROP_BLOCK;
            if (hi > n) hi = n;
            if (lo < hi) dropout_span(out, mask, inp, lo, hi, seed, thresh, scale);
        }
        return;
    }
#endif
    (void)nblocks;
    dropout_span(out, mask, inp, 0, n, seed, thresh, scale);
}

/* dinp = dout * (mask ? scale : 0)   — differentiates out = inp * (keep ? scale : 0). */
NF_CLONES
void nf_dropout_backward(float *dinp, const float *dout, const uint8_t *mask, nf_int n,
                         float scale)
{
#pragma omp parallel for if (n > 4 * NF_DROP_OMP_MIN) schedule(static) \
    num_threads(nf_get_num_threads())
    for (nf_int i = 0; i < n; i++) dinp[i] = dout[i] * (mask[i] ? scale : 0.0f);
}

/* ------------------------------------------------------------------------------------- */
/* Channel (feature) dropout: one decision per row                                       */
/* ------------------------------------------------------------------------------------- */

/* Row r is kept when u(r) >= thresh (the same bits elementwise dropout gives element r). */
void nf_feature_dropout_forward(float *out, uint8_t *mask, const float *inp, nf_int R,
                                nf_int S, uint64_t seed, uint32_t thresh, float scale)
{
#pragma omp parallel for if (R * S > NF_DROP_OMP_MIN && R > 1) schedule(static) \
    num_threads(nf_get_num_threads())
    for (nf_int r = 0; r < R; r++) {
        int keep = drop_bits(seed, r) >= thresh;
        if (mask) mask[r] = (uint8_t)keep;
        float m = keep ? scale : 0.0f;
        const float *x = inp + r * S;
        float *y = out + r * S;
        for (nf_int j = 0; j < S; j++) y[j] = x[j] * m;
    }
}

/* dinp[r, :] = dout[r, :] * (mask[r] ? scale : 0) */
void nf_feature_dropout_backward(float *dinp, const float *dout, const uint8_t *mask, nf_int R,
                                 nf_int S, float scale)
{
#pragma omp parallel for if (R * S > 4 * NF_DROP_OMP_MIN && R > 1) schedule(static) \
    num_threads(nf_get_num_threads())
    for (nf_int r = 0; r < R; r++) {
        float m = mask[r] ? scale : 0.0f;
        const float *g = dout + r * S;
        float *d = dinp + r * S;
        for (nf_int j = 0; j < S; j++) d[j] = g[j] * m;
    }
}

/* ------------------------------------------------------------------------------------- */
/* L1 / L2 penalty helpers                                                               */
/* ------------------------------------------------------------------------------------- */

/* sum |x[i]| accumulated in double, in a fixed order (8 partial sums), one thread: the pass
 * is memory-bound and a fixed order keeps the sum reproducible. NaN propagates. */
double nf_sumabs(const float *x, nf_int n)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    nf_int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += fabs((double)x[i + k]);
    for (; i < n; i++) acc[0] += fabs((double)x[i]);
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* dinp = a * sign(x) + b * x, sign(0) = sign(NaN) = 0 as torch's abs backward.
 * Differentiates P = l1 * sum|x| + l2 * sum x^2 with a = g * l1, b = 2 * g * l2. */
NF_CLONES
void nf_l1l2_backward(float *dinp, const float *inp, nf_int n, float a, float b)
{
    if (b == 0.0f) { /* L1 only: no 0 * x term, which would turn an infinite x into NaN */
#pragma omp parallel for if (n > 4 * NF_DROP_OMP_MIN) schedule(static) \
    num_threads(nf_get_num_threads())
        for (nf_int i = 0; i < n; i++) {
            float x = inp[i];
            dinp[i] = a * ((float)(x > 0.0f) - (float)(x < 0.0f));
        }
        return;
    }
#pragma omp parallel for if (n > 4 * NF_DROP_OMP_MIN) schedule(static) \
    num_threads(nf_get_num_threads())
    for (nf_int i = 0; i < n; i++) {
        float x = inp[i];
        float s = (float)(x > 0.0f) - (float)(x < 0.0f);
        dinp[i] = a * s + b * x;
    }
}
