/* gemm_amx.c — the bf16 GEMM tile on AMX-BF16: a 32×32 block of C in four 16×16 fp32 tile
 * registers, fed by two A tiles (16 rows × 32 bf16 of K) and two B tiles (16 pairs of K × 16
 * columns), four tdpbf16ps per 32 steps of K (8,192 multiply-adds each).
 *
 * Packed layouts (bf16, K padded with zeros to a multiple of 32, so a tile never reads
 * past the data nor multiplies garbage into a real row):
 *   A panel: [K/32][32 rows][32 k] — each 16-row A tile is 1 KiB contiguous (stride 64 B).
 *   B panel: [K/2][32 columns][2]  — the vdpbf16ps tile's pair layout; a B tile is 16 pair
 *            rows at a stride of 128 B, columns 16-31 64 B further on.
 * A panel's K extent in float slots is round_up(kc, 32) / 2 (cfg->k_pairs_pad), which the
 * frame uses for panel strides and the workspace. Rows past m and columns past n hold what
 * the packers left; their lanes of C are computed and never stored.
 *
 * Tile state: the 64-byte configuration (all eight tiles 16 rows × 64 bytes) is loaded on
 * each thread when a GEMM slab begins (cfg->begin) and the tiles released when it ends
 * (cfg->end), so nothing is assumed of what another library in the same thread left in the
 * tile registers, and an idle core does not keep 8 KiB of live tile state.
 *
 * What it is not: a frame (gemm.c), nor the OS permission (nf_cpu_has("amx_bf16") asks for
 * it once per process, runtime.c).
 */
#include <stdint.h>
#include <string.h>
#include "gemm_internal.h"
#ifdef NF_GEMM_HAVE_X86
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx512bf16,amx-tile,amx-bf16")
#include <immintrin.h>

#define MR 32
#define NR 32
#define KT 32   /* K per tile step */

static inline nf_int pad32(nf_int k) { return (k + KT - 1) / KT * KT; }
static inline __mmask16 mask16(nf_int n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

/* Palette 1, all eight tiles 16 rows × 64 bytes. A constant in memory: GCC 12 does not see
 * ldtilecfg read its operand and drops stores to a local one it thinks are dead. */
static const struct __attribute__((aligned(64))) {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} TILE_CFG = {1, 0, {0}, {64, 64, 64, 64, 64, 64, 64, 64}, {16, 16, 16, 16, 16, 16, 16, 16}};

void nf_gemm_amx_begin(void) { _tile_loadconfig(&TILE_CFG); }

void nf_gemm_amx_end(void) { _tile_release(); }

/* In-register transpose of a 16×16 block of 32-bit elements: r[i] holds row i on entry,
 * column i on exit (unpacks within 128-bit lanes, then a 4×4 transpose of the lanes). */
static inline void tr16x16_epi32(__m512i r[16])
{
    __m512i t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    /* u[4g + c]: lane L holds column 4L + c of rows 4g .. 4g+3 */
    for (int g = 0; g < 4; g++) {
        const __m512i *s = t + 4 * g;
        u[4 * g + 0] = _mm512_unpacklo_epi64(s[0], s[2]);
        u[4 * g + 1] = _mm512_unpackhi_epi64(s[0], s[2]);
        u[4 * g + 2] = _mm512_unpacklo_epi64(s[1], s[3]);
        u[4 * g + 3] = _mm512_unpackhi_epi64(s[1], s[3]);
    }
    for (int c = 0; c < 4; c++) {
        const __m512i v0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x44);
        const __m512i v1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xEE);
        const __m512i v2 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x44);
        const __m512i v3 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xEE);
        r[c] = _mm512_shuffle_i32x4(v0, v2, 0x88);
        r[4 + c] = _mm512_shuffle_i32x4(v0, v2, 0xDD);
        r[8 + c] = _mm512_shuffle_i32x4(v1, v3, 0x88);
        r[12 + c] = _mm512_shuffle_i32x4(v1, v3, 0xDD);
    }
}

/* word index interleaving two 16-word halves: out[2j] = in[j], out[2j+1] = in[16 + j] */
static inline __m512i pair_index32(void)
{
    return _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                            23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
}

/* 32 floats from src (n of them real, the rest zeros) as 32 bf16 */
static inline __m512i cvt32(const float *src, nf_int n)
{
    const __m512 lo = _mm512_maskz_loadu_ps(mask16(n), src);
    const __m512 hi = _mm512_maskz_loadu_ps(mask16(n - 16), src + 16);
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/* Pack op(A)[0:mc, 0:kc] into [ceil(mc/32)] panels of [pad32(kc)/32][32][32] bf16; panel r
 * at dst + r * MR * pad32(kc)/2 floats. */
void nf_gemm_pack_a_amx(float *dst, int transA, const float *A, nf_int lda, nf_int mc,
                        nf_int kc, int mr)
{
    (void)mr;
    const nf_int kp = pad32(kc), panel = (nf_int)MR * kp / 2;
    const __m512i idx = pair_index32();
    for (nf_int i0 = 0; i0 < mc; i0 += MR, dst += panel) {
        const nf_int m = mc - i0 < MR ? mc - i0 : MR;
        char *d = (char *)dst;
        if (!transA) {   /* row i of op(A) is row i0+i of A: convert along it */
            for (nf_int i = 0; i < m; i++) {
                const float *row = A + (i0 + i) * lda;
                for (nf_int p = 0; p < kp; p += KT)
                    _mm512_storeu_si512(d + (p / KT) * 2048 + i * 64, cvt32(row + p, kc - p));
            }
            continue;
        }
        /* op(A)[i][p] = A[p*lda + i0 + i]: two rows of A make 16 k-pairs per row i, which a
         * 16×16 transpose of 32-bit pairs turns into A-tile rows */
        const __mmask16 k0 = mask16(m), k1 = mask16(m - 16);
        for (nf_int p0 = 0; p0 < kp; p0 += KT) {
            __m512i lo[16], hi[16];   /* pairs q = 0..15 of rows i 0-15 and 16-31 */
            for (int q = 0; q < 16; q++) {
                const nf_int p = p0 + 2 * q;
                const float *r0 = A + p * lda + i0, *r1 = r0 + lda;
                const int has0 = p < kc, has1 = p + 1 < kc;
                const __m512 a0 = has0 ? _mm512_maskz_loadu_ps(k0, r0) : _mm512_setzero_ps();
                const __m512 a1 = has0 ? _mm512_maskz_loadu_ps(k1, r0 + 16) : _mm512_setzero_ps();
                const __m512 b0 = has1 ? _mm512_maskz_loadu_ps(k0, r1) : _mm512_setzero_ps();
                const __m512 b1 = has1 ? _mm512_maskz_loadu_ps(k1, r1 + 16) : _mm512_setzero_ps();
                lo[q] = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(b0, a0));
                hi[q] = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(b1, a1));
            }
            tr16x16_epi32(lo);
            char *blk = d + (p0 / KT) * 2048;
            for (int i = 0; i < 16; i++) _mm512_storeu_si512(blk + i * 64, lo[i]);
            if (m > 16) {
                tr16x16_epi32(hi);
                for (int i = 0; i < 16; i++) _mm512_storeu_si512(blk + 1024 + i * 64, hi[i]);
            }
        }
    }
}

/* Pack op(B)[0:kc, 0:nc] as bf16 pairs, panel s at dst + s * NR * pad32(kc)/2 floats
 * holding [pad32(kc)/2][NR][2], pairs past kc zero. */
void nf_gemm_pack_b_amx(float *dst, int transB, const float *B, nf_int ldb, nf_int kc,
                        nf_int nc, int nr)
{
    (void)nr;
    const nf_int kp = pad32(kc), panel = (nf_int)NR * kp / 2, used = (kc + 1) / 2;
    nf_gemm_pack_b_bf16_pairs(dst, transB, B, ldb, kc, nc, panel);
    for (nf_int j0 = 0; j0 < nc; j0 += NR)
        memset(dst + (j0 / NR) * panel + used * NR, 0,
               (size_t)(kp / 2 - used) * NR * sizeof(float));
}

/* The K loop over 32-step tiles, on the halves of the 32×32 block that hold real rows
 * (TWO_M) and columns (TWO_N); the constants make four specialised loops. */
static inline __attribute__((always_inline)) void
amx_steps(nf_int steps, const char *ap, const char *bp, const int TWO_M, const int TWO_N)
{
    for (nf_int s = 0; s < steps; s++) {
        _tile_loadd(4, ap + s * 2048, 64);
        _tile_loadd(6, bp + s * 2048, 128);
        if (TWO_N) _tile_loadd(7, bp + s * 2048 + 64, 128);
        _tile_dpbf16ps(0, 4, 6);
        if (TWO_N) _tile_dpbf16ps(1, 4, 7);
        if (TWO_M) {
            _tile_loadd(5, ap + s * 2048 + 1024, 64);
            _tile_dpbf16ps(2, 5, 6);
            if (TWO_N) _tile_dpbf16ps(3, 5, 7);
        }
    }
}

/* C[0:m,0:n] = alpha * A @ B + beta*C + bias over panels packed above. */
void nf_ukr_amx_32x32(nf_int k, const float *a, nf_int rs_a, nf_int cs_a, const float *b,
                      nf_int rs_b, float *c, nf_int ldc, int m, int n, float alpha, float beta,
                      const float *bias)
{
    (void)rs_a, (void)cs_a, (void)rs_b;
    const char *ap = (const char *)a, *bp = (const char *)b;
    const nf_int steps = pad32(k) / KT;
    const int two_m = m > 16, two_n = n > 16;
    /* C straight to and from the tiles when the tile is whole and plain */
    const int direct = m == MR && n == NR && alpha == 1.0f && !bias &&
                       (beta == 0.0f || beta == 1.0f);
    const size_t ldc_b = (size_t)ldc * sizeof(float);
    if (direct && beta == 1.0f) {
        _tile_loadd(0, c, ldc_b);
        _tile_loadd(1, c + 16, ldc_b);
        _tile_loadd(2, c + 16 * ldc, ldc_b);
        _tile_loadd(3, c + 16 * ldc + 16, ldc_b);
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    if (two_m && two_n) amx_steps(steps, ap, bp, 1, 1);
    else if (two_n) amx_steps(steps, ap, bp, 0, 1);
    else if (two_m) amx_steps(steps, ap, bp, 1, 0);
    else amx_steps(steps, ap, bp, 0, 0);
    if (direct) {
        _tile_stored(0, c, ldc_b);
        _tile_stored(1, c + 16, ldc_b);
        _tile_stored(2, c + 16 * ldc, ldc_b);
        _tile_stored(3, c + 16 * ldc + 16, ldc_b);
        return;
    }
    float acc[MR * NR] __attribute__((aligned(64)));
    _tile_stored(0, acc, NR * sizeof(float));
    if (two_n) _tile_stored(1, acc + 16, NR * sizeof(float));
    if (two_m) _tile_stored(2, acc + 16 * NR, NR * sizeof(float));
    if (two_m && two_n) _tile_stored(3, acc + 16 * NR + 16, NR * sizeof(float));
    const __mmask16 km[2] = {mask16(n), mask16(n - 16)};
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    __m512 bias_v[2];
    for (int v = 0; v < 2; v++)
        bias_v[v] = bias ? _mm512_maskz_loadu_ps(km[v], bias + 16 * v) : _mm512_setzero_ps();
    const int vecs = two_n ? 2 : 1, use_c = beta != 0.0f;
    for (int i = 0; i < m; i++) {
        float *cr = c + i * ldc;
        for (int v = 0; v < vecs; v++) {
            __m512 r = _mm512_fmadd_ps(va, _mm512_load_ps(acc + i * NR + 16 * v), bias_v[v]);
            if (use_c) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(km[v], cr + 16 * v), r);
            _mm512_mask_storeu_ps(cr + 16 * v, km[v], r);
        }
    }
}

/* The tdpbf16ps ceiling: `iters` rounds of four independent tile products on resident
 * operands (zeros: no overflow), as nf_fma_peak's chains. Returns the flops (2 per product). */
double nf_amx_bf16_chains(long iters, float *sink)
{
    nf_gemm_amx_begin();
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_zero(4);
    _tile_zero(5);
    _tile_zero(6);
    _tile_zero(7);
    for (long it = 0; it < iters; it++) {
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    float out[16 * 16] __attribute__((aligned(64)));
    _tile_stored(0, out, 64);
    nf_gemm_amx_end();
    *sink = out[0];
    return 2.0 * 16 * 16 * 32 * 4 * (double)iters;
}
#endif
