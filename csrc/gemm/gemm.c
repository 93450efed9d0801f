/* gemm.c — the portable GEMM frame, kernel-set dispatch, and the Linear layer built on it.
 *
 * Structure (BLIS-like, in row-major terms):
 *   for ic in M by MC:                    A block   mc×kc  (packed: L2/L3)
 *     for pc in K by KC:
 *       pack op(A)[ic:, pc:] -> Ap         (MR-row micro-panels)        [optional, see below]
 *       for jc in N by NC:                 B block   kc×nc  (packed: meant to stay in L2)
 *         pack op(B)[pc:, jc:] -> Bp       (NR-column micro-panels)     [optional]
 *         for ir in mc by MR:              A micro-panel MR×kc stays in L1
 *           for jr in nc by NR:            B micro-panels stream from L2
 *             micro-kernel: C[ir:ir+MR, jr:jr+NR] (+)= ...
 * The micro-kernel reads A through (rs_a, cs_a) strides and B through a row stride, so
 * packing is a choice, not a requirement: op(B) must be packed when B is transposed (the
 * kernel wants NR contiguous columns per k step), everything else is packed only when the
 * problem is big enough to repay it (see choose_packing). NN, NT, TN and TT are all handled
 * by the packers reading op(A)/op(B) with the right strides; no transpose is materialised.
 *
 * Threads: the C matrix is cut into one slab per thread (along N, or M when N is narrow),
 * each slab run as an independent serial GEMM with its own thread-local workspace (freed
 * when its thread ends). Teams take the process-wide nf_get_num_threads() threads. Only
 * GEMMs above GEMM_MT_MIN_FLOPS go parallel.
 *
 * What it is not: a kernel. No intrinsics here; block sizes come only from the config table
 * below, register tiles and instructions only from the per-ISA files.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "gemm_internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define NF_GEMM_HAVE_PTHREAD 1
#endif

/* ---------------------------------------------------------------------------------------- */
/* Configs: one per kernel set. Block sizes for Zen4 (32 KiB L1d, 1 MiB L2 per core):       */
/*   A micro-panel MR×KC ≤ ~16 KiB (L1), B block KC×NC ≤ ~½ L2, A block MC×KC in L2/L3.     */
/* ---------------------------------------------------------------------------------------- */

static void colsum_generic(float *out, const float *x, nf_int M, nf_int N, float beta);

typedef struct {
    nf_gemm_cfg g;
    void (*colsum)(float *out, const float *x, nf_int M, nf_int N, float beta);
} cfg_entry;

static const cfg_entry CFG_GENERIC = {
    {"ref", 4, 16, /*mc*/ 256, /*kc*/ 256, /*nc*/ 1024,
     nf_ukr_generic_4x16, nf_gemm_pack_a_generic, nf_gemm_pack_b_generic},
    colsum_generic};

#ifdef NF_GEMM_HAVE_X86
static const cfg_entry CFG_AVX2 = {
    {"avx2", 6, 16, /*mc*/ 1020, /*kc*/ 384, /*nc*/ 512,
     nf_ukr_avx2_6x16, nf_gemm_pack_a_avx2, nf_gemm_pack_b_avx2},
    nf_colsum_avx2};

static const cfg_entry CFG_AVX512 = {
    {"avx512", 8, 32, /*mc*/ 1024, /*kc*/ 384, /*nc*/ 512,
     nf_ukr_avx512_8x32, nf_gemm_pack_a_avx512, nf_gemm_pack_b_avx512,
     nf_gemm_nt_narrow_avx512, nf_gemm_short_m_avx512, 12},
    nf_colsum_avx512};
#endif

/* bf16 sets: AVX512-BF16's own tile, else each fp32 set with packers that round the
 * operands to bf16 ("+round"); fp16 sets: each fp32 set with packers that round to float16
 * ("+fp16": no CPU tile multiplies halves with fp32 accumulation here). Every such set
 * packs both operands (the rounding happens there, gemm_round.c) and has no narrow/short
 * forms (they read operands in place). */
#define NF_ROUNDED_PACKERS(isa, kind)                                                        \
    static void pack_a_##isa##_##kind(float *dst, int tA, const float *A, nf_int lda,       \
                                      nf_int mc, nf_int kc, int mr)                          \
    {                                                                                        \
        nf_gemm_pack_a_##isa(dst, tA, A, lda, mc, kc, mr);                                   \
        nf_gemm_round_##kind(dst, (mc + mr - 1) / mr * mr * kc);                             \
    }                                                                                        \
    static void pack_b_##isa##_##kind(float *dst, int tB, const float *B, nf_int ldb,       \
                                      nf_int kc, nf_int nc, int nr)                          \
    {                                                                                        \
        nf_gemm_pack_b_##isa(dst, tB, B, ldb, kc, nc, nr);                                   \
        nf_gemm_round_##kind(dst, (nc + nr - 1) / nr * nr * kc);                             \
    }

NF_ROUNDED_PACKERS(generic, bf16)
NF_ROUNDED_PACKERS(generic, fp16)
static const cfg_entry CFG_GENERIC_BF16 = {
    {"ref+round", 4, 16, 256, 256, 1024, nf_ukr_generic_4x16, pack_a_generic_bf16,
     pack_b_generic_bf16, NULL, NULL, 0, 1},
    colsum_generic};
static const cfg_entry CFG_GENERIC_FP16 = {
    {"ref+fp16", 4, 16, 256, 256, 1024, nf_ukr_generic_4x16, pack_a_generic_fp16,
     pack_b_generic_fp16, NULL, NULL, 0, 1},
    colsum_generic};

#ifdef NF_GEMM_HAVE_X86
NF_ROUNDED_PACKERS(avx2, bf16)
NF_ROUNDED_PACKERS(avx512, bf16)
NF_ROUNDED_PACKERS(avx2, fp16)
NF_ROUNDED_PACKERS(avx512, fp16)
static const cfg_entry CFG_AVX2_BF16 = {
    {"avx2+round", 6, 16, 1020, 384, 512, nf_ukr_avx2_6x16, pack_a_avx2_bf16,
     pack_b_avx2_bf16, NULL, NULL, 0, 1},
    nf_colsum_avx2};
static const cfg_entry CFG_AVX512_BF16_ROUND = {
    {"avx512+round", 8, 32, 1024, 384, 512, nf_ukr_avx512_8x32, pack_a_avx512_bf16,
     pack_b_avx512_bf16, NULL, NULL, 0, 1},
    nf_colsum_avx512};
static const cfg_entry CFG_AVX2_FP16 = {
    {"avx2+fp16", 6, 16, 1020, 384, 512, nf_ukr_avx2_6x16, pack_a_avx2_fp16,
     pack_b_avx2_fp16, NULL, NULL, 0, 1},
    nf_colsum_avx2};
static const cfg_entry CFG_AVX512_FP16 = {
    {"avx512+fp16", 8, 32, 1024, 384, 512, nf_ukr_avx512_8x32, pack_a_avx512_fp16,
     pack_b_avx512_fp16, NULL, NULL, 0, 1},
    nf_colsum_avx512};
/* kc 512: a bf16 B block of 512×512 is the fp32 one's 1 MiB workspace, half of it used */
static const cfg_entry CFG_AVX512_BF16 = {
    {"avx512_bf16", 8, 32, 1024, 512, 512, nf_ukr_avx512bf16_8x32, nf_gemm_pack_a_avx512bf16,
     nf_gemm_pack_b_avx512bf16, NULL, NULL, 0, 1},
    nf_colsum_avx512};
/* A block 512×512 and B block 512×512 of bf16: 512 KiB each, within a 2 MiB L2 */
static const cfg_entry CFG_AMX_BF16 = {
    {"amx_bf16", 32, 32, 512, 512, 512, nf_ukr_amx_32x32, nf_gemm_pack_a_amx,
     nf_gemm_pack_b_amx, NULL, NULL, 0, 1, 32, nf_gemm_amx_begin, nf_gemm_amx_end},
    nf_colsum_avx512};
#endif

/* Below this many flops (2·M·N·K) a GEMM runs on one thread. Measured on 2 Zen4 cores with
 * a warm OpenMP pool: 32x128x64 (0.5 MFLOP) 5.3 -> 3.7 us on two threads, 32x64x32
 * (0.13 MFLOP) 1.3 -> 3.4 us. 1 MFLOP leaves room for waking a sleeping pool. */
#ifndef GEMM_MT_MIN_FLOPS
#define GEMM_MT_MIN_FLOPS 1.0e6
#endif

/* ---------------------------------------------------------------------------------------- */
/* Dispatch                                                                                 */
/* ---------------------------------------------------------------------------------------- */

static const cfg_entry *cfg_by_name(const char *name)
{
    if (strcmp(name, "ref") == 0) return &CFG_GENERIC;
#ifdef NF_GEMM_HAVE_X86
    if (strcmp(name, "avx2") == 0)
        return (nf_cpu_has("avx2") && nf_cpu_has("fma")) ? &CFG_AVX2 : NULL;
    if (strcmp(name, "avx512") == 0) return nf_cpu_has("avx512f") ? &CFG_AVX512 : NULL;
#endif
    return NULL;
}

static const cfg_entry *cfg_best(void)
{
    const cfg_entry *c = cfg_by_name("avx512");
    if (!c) c = cfg_by_name("avx2");
    if (!c) c = &CFG_GENERIC;
    return c;
}

/* Chosen once: on first use (honouring NNFAST_GEMM_ISA), or by nf_gemm_set_isa. */
static const cfg_entry *g_cfg;

static const cfg_entry *cfg_get(void)
{
    const cfg_entry *c = __atomic_load_n(&g_cfg, __ATOMIC_ACQUIRE);
    if (!c) {
        const char *env = getenv("NNFAST_GEMM_ISA");
        if (env && *env && strcmp(env, "auto") != 0) c = cfg_by_name(env);
        if (!c) c = cfg_best();
        __atomic_store_n(&g_cfg, c, __ATOMIC_RELEASE);
    }
    return c;
}

const char *nf_gemm_isa(void) { return cfg_get()->g.name; }

/* bf16: the best native tile (AMX, then vdpbf16ps) unless told to round ("emulate") or to
 * use the vdpbf16ps tile ("avx512_bf16"), for the fp32 set in use */
enum { BF16_UNSET = -1, BF16_AUTO, BF16_EMULATE, BF16_DOT };
static int g_bf16_mode = BF16_UNSET;

static int bf16_mode_of(const char *s)
{
    return strcmp(s, "auto") == 0 ? BF16_AUTO : strcmp(s, "emulate") == 0 ? BF16_EMULATE
           : strcmp(s, "avx512_bf16") == 0 ? BF16_DOT : BF16_UNSET;
}

static const cfg_entry *bf16_cfg(void)
{
    int mode = __atomic_load_n(&g_bf16_mode, __ATOMIC_ACQUIRE);
    if (mode == BF16_UNSET) {
        const char *env = getenv("NNFAST_GEMM_BF16");
        mode = env ? bf16_mode_of(env) : BF16_AUTO;
        if (mode == BF16_UNSET) mode = BF16_AUTO;
        __atomic_store_n(&g_bf16_mode, mode, __ATOMIC_RELEASE);
    }
    const cfg_entry *base = cfg_get();
#ifdef NF_GEMM_HAVE_X86
    if (base == &CFG_AVX512) {
        if (mode == BF16_AUTO && nf_cpu_has("amx_bf16")) return &CFG_AMX_BF16;
        return mode != BF16_EMULATE && nf_cpu_has("avx512bf16") ? &CFG_AVX512_BF16
                                                                : &CFG_AVX512_BF16_ROUND;
    }
    if (base == &CFG_AVX2) return &CFG_AVX2_BF16;
#endif
    (void)base;
    return &CFG_GENERIC_BF16;
}

const char *nf_gemm_bf16_isa(void) { return bf16_cfg()->g.name; }

/* fp16: the fp32 set in use with packers that round to float16 */
static const cfg_entry *fp16_cfg(void)
{
    const cfg_entry *base = cfg_get();
#ifdef NF_GEMM_HAVE_X86
    if (base == &CFG_AVX512) return &CFG_AVX512_FP16;
    if (base == &CFG_AVX2) return &CFG_AVX2_FP16;
#endif
    (void)base;
    return &CFG_GENERIC_FP16;
}

const char *nf_gemm_fp16_isa(void) { return fp16_cfg()->g.name; }

int nf_gemm_set_bf16(const char *mode)
{
    const int m = bf16_mode_of(mode);
    if (m == BF16_UNSET) return -1;
    __atomic_store_n(&g_bf16_mode, m, __ATOMIC_RELEASE);
    return 0;
}

int nf_gemm_set_isa(const char *isa)
{
    const cfg_entry *c = strcmp(isa, "auto") == 0 ? cfg_best() : cfg_by_name(isa);
    if (!c) return -1;
    __atomic_store_n(&g_cfg, c, __ATOMIC_RELEASE);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Portable packers                                                                         */
/* ---------------------------------------------------------------------------------------- */

void nf_gemm_pack_a_generic(float *dst, int transA, const float *A, nf_int lda,
                            nf_int mc, nf_int kc, int mr)
{
    for (nf_int i0 = 0; i0 < mc; i0 += mr, dst += (nf_int)mr * kc) {
        nf_int m = mc - i0 < mr ? mc - i0 : mr;
        if (transA) {
            for (nf_int p = 0; p < kc; p++)
                for (nf_int i = 0; i < m; i++) dst[p * mr + i] = A[p * lda + i0 + i];
        } else {
            for (nf_int i = 0; i < m; i++)
                for (nf_int p = 0; p < kc; p++) dst[p * mr + i] = A[(i0 + i) * lda + p];
        }
    }
}

void nf_gemm_pack_b_generic(float *dst, int transB, const float *B, nf_int ldb,
                            nf_int kc, nf_int nc, int nr)
{
    for (nf_int j0 = 0; j0 < nc; j0 += nr, dst += (nf_int)nr * kc) {
        nf_int n = nc - j0 < nr ? nc - j0 : nr;
        if (!transB) {
            for (nf_int p = 0; p < kc; p++)
                memcpy(dst + p * nr, B + p * ldb + j0, (size_t)n * sizeof(float));
        } else {
            for (nf_int j = 0; j < n; j++)
                for (nf_int p = 0; p < kc; p++) dst[p * nr + j] = B[(j0 + j) * ldb + p];
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Workspace: one 64-byte aligned buffer per thread, grown on demand and then reused, so    */
/* steady-state calls do not allocate and concurrent callers never share a buffer. It is    */
/* freed when its thread ends (a pthread key's destructor): a tool that runs each request   */
/* on a short-lived thread would otherwise keep 1-2 MiB per finished thread and its OpenMP  */
/* team (1,000 threads: +1.2 GiB).                                                          */
/* ---------------------------------------------------------------------------------------- */

static __thread float *tls_ws;
static __thread size_t tls_ws_floats;

#if defined(NF_GEMM_HAVE_PTHREAD)
static pthread_key_t ws_key;
static pthread_once_t ws_key_once = PTHREAD_ONCE_INIT;
static int ws_key_ok;

/* Runs on the ending thread, whose __thread variables are still live. */
static void ws_release(void *p)
{
    free(p);
    tls_ws = NULL;
    tls_ws_floats = 0;
}

static void ws_key_make(void) { ws_key_ok = pthread_key_create(&ws_key, ws_release) == 0; }
#endif

static float *workspace(size_t nfloats)
{
    if (nfloats <= tls_ws_floats) return tls_ws;
    size_t bytes = (nfloats * sizeof(float) + 4095) & ~(size_t)4095;
#if defined(NF_GEMM_HAVE_PTHREAD)
    pthread_once(&ws_key_once, ws_key_make);
    if (!ws_key_ok) return NULL;   /* no way to free it at thread exit: use the fallback */
#endif
    float *p = aligned_alloc(64, bytes);
    if (!p) return NULL;
#if defined(NF_GEMM_HAVE_PTHREAD)
    if (pthread_setspecific(ws_key, p) != 0) {
        free(p);
        return NULL;
    }
#endif
    free(tls_ws);
    tls_ws = p;
    tls_ws_floats = bytes / sizeof(float);
    return p;
}

/* ---------------------------------------------------------------------------------------- */
/* The serial frame                                                                         */
/* ---------------------------------------------------------------------------------------- */

static inline nf_int min_i(nf_int a, nf_int b) { return a < b ? a : b; }
static inline nf_int round_up(nf_int x, nf_int m) { return (x + m - 1) / m * m; }

/* Float slots a packed panel gives each row of A / column of B for a K block of kc. */
static inline nf_int panel_k(const nf_gemm_cfg *cfg, nf_int kc)
{
    return cfg->k_pad ? round_up(kc, cfg->k_pad) / 2 : kc;
}

/* Whether to pack each operand. Packing costs one pass over the operand per block; it pays
 * when the packed data is reused many times (A across N/NR micro-tiles, B across M/MR) or
 * when unpacked access would be strided badly (large leading dimensions thrash L1 sets).
 * op(B) transposed must be packed: the kernel reads NR contiguous columns per k step. */
static void choose_packing(const nf_gemm_cfg *cfg, int transA, int transB,
                           nf_int M, nf_int N, nf_int K, int *packA, int *packB)
{
    (void)transA;
    *packB = cfg->packed_only || transB || (M > 4 * cfg->mr && K * N > 32 * 1024);
    *packA = cfg->packed_only || (N > 4 * cfg->nr && M * K > 32 * 1024);
}

/* C = alpha op(A) op(B) + beta C + bias, on one thread. Returns -1 if no workspace.
 * epi (or NULL) is called on each MR-row panel of C once its last K block is stored, with
 * coordinates offset by (r0, c0): where this slab sits in the caller's C. */
static int gemm_serial(const nf_gemm_cfg *cfg, int tA, int tB, nf_int M, nf_int N, nf_int K,
                       float alpha, const float *A, nf_int lda, const float *B, nf_int ldb,
                       float beta, float *C, nf_int ldc, const float *bias,
                       const nf_gemm_epi *epi, nf_int r0, nf_int c0)
{
    const int MR = cfg->mr, NR = cfg->nr;
    const nf_int MC = cfg->mc, NC = cfg->nc;
    /* K blocks of equal size: 784 = 392 + 392, not 384 + 384 + 16, whose last block would
     * pay a full pass over C (load, add, store) for 16 rank-1 updates. */
    const nf_int kblocks = (K + cfg->kc - 1) / cfg->kc;
    const nf_int KC = min_i(cfg->kc, round_up((K + kblocks - 1) / kblocks, 16));
    int packA, packB;
    choose_packing(cfg, tA, tB, M, N, K, &packA, &packB);

    const nf_int kc_max = min_i(K, KC);
    const nf_int pk_max = panel_k(cfg, kc_max);
    const nf_int a_size = packA ? round_up(round_up(min_i(M, MC), MR) * pk_max, 16) : 0;
    const nf_int b_size = packB ? round_up(min_i(N, NC), NR) * pk_max : 0;
    float *Ap = NULL, *Bp = NULL;
    if (a_size + b_size > 0) {
        float *ws = workspace((size_t)(a_size + b_size));
        if (!ws) return -1;
        Ap = ws;
        Bp = ws + a_size;
    }
    if (cfg->begin) cfg->begin();

    for (nf_int ic = 0; ic < M; ic += MC) {
        const nf_int mc = min_i(MC, M - ic);
        for (nf_int pc = 0; pc < K; pc += KC) {
            const nf_int kc = min_i(KC, K - pc);
            /* later K blocks accumulate onto what the first one wrote */
            const float beta_p = pc == 0 ? beta : 1.0f;
            const float *bias_p = pc == 0 ? bias : NULL;
            const nf_gemm_epi *epi_p = pc + kc == K ? epi : NULL;

            const float *a_blk;
            nf_int rs_a, cs_a, a_panel; /* a_panel: distance between MR-row micro-panels */
            const float *a_src = tA ? A + pc * lda + ic : A + ic * lda + pc;
            if (packA) {
                cfg->pack_a(Ap, tA, a_src, lda, mc, kc, MR);
                a_blk = Ap, rs_a = 1, cs_a = MR, a_panel = (nf_int)MR * panel_k(cfg, kc);
            } else if (tA) {
                a_blk = a_src, rs_a = 1, cs_a = lda, a_panel = MR;
            } else {
                a_blk = a_src, rs_a = lda, cs_a = 1, a_panel = (nf_int)MR * lda;
            }

            for (nf_int jc = 0; jc < N; jc += NC) {
                const nf_int nc = min_i(NC, N - jc);
                const float *b_blk;
                nf_int rs_b, b_panel;
                if (packB) {
                    const float *b_src = tB ? B + jc * ldb + pc : B + pc * ldb + jc;
                    cfg->pack_b(Bp, tB, b_src, ldb, kc, nc, NR);
                    b_blk = Bp, rs_b = NR, b_panel = (nf_int)NR * panel_k(cfg, kc);
                } else {
                    b_blk = B + pc * ldb + jc, rs_b = ldb, b_panel = NR;
                }

                for (nf_int ir = 0; ir < mc; ir += MR) {
                    const float *a_mp = a_blk + (ir / MR) * a_panel;
                    const int m = (int)min_i(MR, mc - ir);
                    float *c_row = C + (ic + ir) * ldc + jc;
                    for (nf_int jr = 0; jr < nc; jr += NR) {
                        const int n = (int)min_i(NR, nc - jr);
                        cfg->ukr(kc, a_mp, rs_a, cs_a, b_blk + (jr / NR) * b_panel, rs_b,
                                 c_row + jr, ldc, m, n, alpha, beta_p,
                                 bias_p ? bias_p + jc + jr : NULL);
                    }
                    /* the panel is final and still in this core's L1/L2 */
                    if (epi_p)
                        epi_p->fn(epi_p->ctx, r0 + ic + ir, m, c0 + jc, nc);
                }
            }
        }
    }
    if (cfg->end) cfg->end();
    return 0;
}

/* C = beta*C + bias, the whole answer when K == 0. */
static void scale_c(nf_int M, nf_int N, float beta, float *C, nf_int ldc, const float *bias)
{
    for (nf_int i = 0; i < M; i++)
        for (nf_int j = 0; j < N; j++) {
            float r = bias ? bias[j] : 0.0f;
            C[i * ldc + j] = beta == 0.0f ? r : r + beta * C[i * ldc + j];
        }
}

/* Reference fallback for a (sub)problem whose workspace could not be allocated. */
static void gemm_fallback(int tA, int tB, nf_int M, nf_int N, nf_int K, float alpha,
                          const float *A, nf_int lda, const float *B, nf_int ldb, float beta,
                          float *C, nf_int ldc, const float *bias)
{
    nf_sgemm_ref(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (bias)
        for (nf_int i = 0; i < M; i++)
            for (nf_int j = 0; j < N; j++) C[i * ldc + j] += bias[j];
}

/* Inside a parallel region (or outside one, as a team of one): this thread's share
 * [*lo, *hi) of `units` runs of `unit` elements, cut at lim. */
static void team_slice(nf_int units, nf_int unit, nf_int lim, nf_int *lo, nf_int *hi)
{
    nf_int t = 0, T = 1;
#ifdef _OPENMP
    t = omp_get_thread_num(), T = omp_get_num_threads();
#endif
    *lo = unit * (units * t / T);
    *hi = min_i(unit * (units * (t + 1) / T), lim);
}

/* The narrow NT form (N <= 16) through the kernel set's dot-product kernel: each thread
 * takes a contiguous run of rows (pairs, which the kernel does together), then runs the
 * epilogue on them. */
static void gemm_nt_narrow(const nf_gemm_cfg *cfg, int nt, nf_int M, nf_int N, nf_int K,
                           float alpha, const float *A, nf_int lda, const float *B, nf_int ldb,
                           float beta, float *C, nf_int ldc, const float *bias,
                           const nf_gemm_epi *epi)
{
    const nf_int pairs = (M + 1) / 2;
    if (nt > pairs) nt = (int)pairs;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) if (nt > 1)
#endif
    {
        nf_int r0, r1;
        team_slice(pairs, 2, M, &r0, &r1);
        if (r1 > r0) {
            cfg->nt_narrow(r1 - r0, N, K, alpha, A + r0 * lda, lda, B, ldb, beta,
                           C + r0 * ldc, ldc, bias);
            if (epi) epi->fn(epi->ctx, r0, r1 - r0, 0, N);
        }
    }
}

/* Few rows (M <= cfg->short_m_max, B not transposed) through the kernel set's one-tile
 * kernel: each thread takes a run of NR-column tiles, then runs the epilogue on them. */
static void gemm_short_m(const nf_gemm_cfg *cfg, int nt, int tA, nf_int M, nf_int N,
                         nf_int K, float alpha, const float *A, nf_int lda, const float *B,
                         nf_int ldb, float beta, float *C, nf_int ldc, const float *bias,
                         const nf_gemm_epi *epi)
{
    const nf_int rs_a = tA ? 1 : lda, cs_a = tA ? lda : 1;
    const nf_int tiles = (N + cfg->nr - 1) / cfg->nr;
    if (nt > tiles) nt = (int)tiles;
#ifdef _OPENMP
#pragma omp parallel num_threads(nt) if (nt > 1)
#endif
    {
        nf_int c0, c1;
        team_slice(tiles, cfg->nr, N, &c0, &c1);
        if (c1 > c0) {
            cfg->short_m(M, c1 - c0, K, alpha, A, rs_a, cs_a, B + c0, ldb, beta, C + c0, ldc,
                         bias ? bias + c0 : NULL);
            if (epi) epi->fn(epi->ctx, 0, M, c0, c1 - c0);
        }
    }
}

/* The one entry point behind nf_sgemm and nf_linear_*: threads, then the serial frame.
 * epi (or NULL): see nf_gemm_epi. */
static void gemm_run(int prec, int tA, int tB, nf_int M, nf_int N, nf_int K, float alpha,
                     const float *A, nf_int lda, const float *B, nf_int ldb, float beta,
                     float *C, nf_int ldc, const float *bias, const nf_gemm_epi *epi)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        scale_c(M, N, beta, C, ldc, bias);
        if (epi) epi->fn(epi->ctx, 0, M, 0, N);
        return;
    }
    const nf_gemm_cfg *cfg = &cfg_get()->g;
    /* bf16 on its set, except the shapes the fp32 set has its own kernels for (a narrow NT
     * output, few rows): a bf16 tile would be mostly idle there (256x10x1024 NT: 71 GFLOP/s
     * against fp32's 120), and fp32 is the more accurate answer. fp16 always on its set:
     * its rounding decides where values overflow to inf (past 65504), which must not depend
     * on a product's shape. */
    if (prec == NF_PREC_FP16)
        cfg = &fp16_cfg()->g;
    else if (prec == NF_PREC_BF16 && !(tB && !tA && N <= 16 && cfg->nt_narrow) &&
             !(!tB && M <= cfg->short_m_max && cfg->short_m))
        cfg = &bf16_cfg()->g;

    int nt = 1;
#ifdef _OPENMP
    if (2.0 * (double)M * (double)N * (double)K >= GEMM_MT_MIN_FLOPS && !omp_in_parallel())
        nt = nf_get_num_threads();
#endif
    if (tB && !tA && N <= 16 && cfg->nt_narrow) {
        gemm_nt_narrow(cfg, nt, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, epi);
        return;
    }
    if (!tB && M <= cfg->short_m_max && cfg->short_m) {
        gemm_short_m(cfg, nt, tA, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, epi);
        return;
    }
    /* Split C into one slab per thread, by default along the dimension with more register
     * tiles. But an operand read transposed is packed by every thread, all of the part its
     * slab needs: NT (Linear forward, B = W^T) split along M would have each thread pack all
     * of W, TN (dW, A = dout^T) split along N all of dout. So those split the other way when
     * it has two tiles per thread to give. Both then cut by output feature: each thread
     * reads (forward) and writes (dW) its own rows of W, which in a training step are also
     * the rows the optimizer's contiguous per-thread chunk updates next, in that core's
     * cache (784-128-10 b64 on 2 threads: Adam 80 -> 25 us, the step 340 -> 220 us). */
    const nf_int m_tiles = (M + cfg->mr - 1) / cfg->mr, n_tiles = (N + cfg->nr - 1) / cfg->nr;
    int split_n = n_tiles >= m_tiles;
    if (tB && !tA && n_tiles >= 2 * (nf_int)nt)
        split_n = 1;
    else if (tA && !tB && m_tiles >= 2 * (nf_int)nt)
        split_n = 0;
    const nf_int unit = split_n ? cfg->nr : cfg->mr;
    const nf_int units = ((split_n ? N : M) + unit - 1) / unit;
    if (nt > units) nt = (int)units;

    if (nt <= 1) {
        if (gemm_serial(cfg, tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, epi,
                        0, 0)) {
            gemm_fallback(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias);
            if (epi) epi->fn(epi->ctx, 0, M, 0, N);
        }
        return;
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
    {
        nf_int s0, s1;
        team_slice(units, unit, split_n ? N : M, &s0, &s1);
        if (s1 > s0) {
            const float *As = A, *Bs = B, *bs = bias;
            float *Cs = C;
            nf_int Ms = M, Ns = N;
            if (split_n) {
                Bs = tB ? B + s0 * ldb : B + s0;
                Cs = C + s0;
                bs = bias ? bias + s0 : NULL;
                Ns = s1 - s0;
            } else {
                As = tA ? A + s0 : A + s0 * lda;
                Cs = C + s0 * ldc;
                Ms = s1 - s0;
            }
            const nf_int r0 = split_n ? 0 : s0, c0 = split_n ? s0 : 0;
            if (gemm_serial(cfg, tA, tB, Ms, Ns, K, alpha, As, lda, Bs, ldb, beta, Cs, ldc, bs,
                            epi, r0, c0)) {
                gemm_fallback(tA, tB, Ms, Ns, K, alpha, As, lda, Bs, ldb, beta, Cs, ldc, bs);
                if (epi) epi->fn(epi->ctx, r0, Ms, c0, Ns);
            }
        }
    }
#endif
}

/* ---------------------------------------------------------------------------------------- */
/* Public entry points                                                                      */
/* ---------------------------------------------------------------------------------------- */

void nf_sgemm(int transA, int transB, nf_int M, nf_int N, nf_int K, float alpha,
              const float *A, nf_int lda, const float *B, nf_int ldb,
              float beta, float *C, nf_int ldc)
{
    gemm_run(NF_PREC_FP32, transA != 0, transB != 0, M, N, K, alpha, A, lda, B, ldb, beta, C,
             ldc, NULL, NULL);
}

void nf_sgemm_prec(int prec, int transA, int transB, nf_int M, nf_int N, nf_int K,
                   float alpha, const float *A, nf_int lda, const float *B, nf_int ldb,
                   float beta, float *C, nf_int ldc)
{
    gemm_run(prec, transA != 0, transB != 0, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
             NULL, NULL);
}

static void colsum_generic(float *out, const float *x, nf_int M, nf_int N, float beta)
{
    for (nf_int j = 0; j < N; j++) out[j] = (beta == 0.0f) ? 0.0f : beta * out[j];
    for (nf_int i = 0; i < M; i++)
        for (nf_int j = 0; j < N; j++) out[j] += x[i * N + j];
}

void nf_colsum(float *out, const float *x, nf_int M, nf_int N, float beta)
{
    if (N <= 0) return;
    cfg_get()->colsum(out, x, M, N, beta);
}

/* out[M,N] = inp[M,K] @ weight[N,K]^T + bias: the NT form, bias added in the micro-kernel's
 * store while each tile is still in registers. */
void nf_linear_forward_prec(int prec, float *out, const float *inp, const float *weight,
                            const float *bias, nf_int M, nf_int K, nf_int N,
                            const nf_gemm_epi *epi)
{
    gemm_run(prec, 0, 1, M, N, K, 1.0f, inp, K, weight, K, 0.0f, out, N, bias, epi);
}

void nf_linear_forward_epi(float *out, const float *inp, const float *weight,
                           const float *bias, nf_int M, nf_int K, nf_int N,
                           const nf_gemm_epi *epi)
{
    nf_linear_forward_prec(NF_PREC_FP32, out, inp, weight, bias, M, K, N, epi);
}

void nf_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                       nf_int M, nf_int K, nf_int N)
{
    nf_linear_forward_epi(out, inp, weight, bias, M, K, N, NULL);
}

/* Backward of out = inp @ weight^T + bias:
 *   dinp    = dout[M,N] @ weight[N,K]     NN
 *   dweight = dout^T @ inp[M,K]           TN (dout read transposed in place)
 *   dbias   = colsum(dout) */
void nf_linear_backward_prec(int prec, float *dinp, float *dweight, float *dbias,
                             const float *dout, const float *inp, const float *weight,
                             nf_int M, nf_int K, nf_int N, int accumulate,
                             const nf_gemm_epi *dinp_epi, const nf_gemm_epi *dweight_epi)
{
    const float beta = accumulate ? 1.0f : 0.0f;
    if (dinp)
        gemm_run(prec, 0, 0, M, K, N, 1.0f, dout, N, weight, K, 0.0f, dinp, K, NULL, dinp_epi);
    if (dweight)
        gemm_run(prec, 1, 0, N, K, M, 1.0f, dout, N, inp, K, beta, dweight, K, NULL,
                 dweight_epi);
    if (dbias) nf_colsum(dbias, dout, M, N, beta);
}

void nf_linear_backward_epi(float *dinp, float *dweight, float *dbias,
                            const float *dout, const float *inp, const float *weight,
                            nf_int M, nf_int K, nf_int N, int accumulate,
                            const nf_gemm_epi *dinp_epi, const nf_gemm_epi *dweight_epi)
{
    nf_linear_backward_prec(NF_PREC_FP32, dinp, dweight, dbias, dout, inp, weight, M, K, N,
                            accumulate, dinp_epi, dweight_epi);
}

void nf_linear_backward(float *dinp, float *dweight, float *dbias,
                        const float *dout, const float *inp, const float *weight,
                        nf_int M, nf_int K, nf_int N, int accumulate)
{
    nf_linear_backward_epi(dinp, dweight, dbias, dout, inp, weight, M, K, N, accumulate, NULL,
                           NULL);
}
