/* runtime.c — thread count and CPU feature queries, and a peak-FLOP probe for bench/.
 * What it is not: a scheduler. Kernels decide themselves whether work is big enough to
 * split across threads (see each kernel's threshold). */
#include <string.h>
#include "nnfast.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

/* The thread count is one process-wide number, as in PyTorch: every parallel region in
 * csrc/ asks for num_threads(nf_get_num_threads()), so a call from any thread reaches the
 * next kernel in every thread. (omp_set_num_threads would set only the calling thread's
 * OpenMP setting: other threads, and threads started later, would keep the old count.)
 * 0 means not chosen yet: the first reader takes OpenMP's default (OMP_NUM_THREADS, else
 * the CPUs this process may run on). */
static int g_num_threads;

void nf_set_num_threads(int n)
{
#ifdef _OPENMP
    if (n < 1) n = 1;
    __atomic_store_n(&g_num_threads, n, __ATOMIC_RELAXED);
#else
    (void)n;
#endif
}

int nf_get_num_threads(void)
{
#ifdef _OPENMP
    int n = __atomic_load_n(&g_num_threads, __ATOMIC_RELAXED);
    if (n > 0) return n;
    int unset = 0, dflt = omp_get_max_threads();
    if (dflt < 1) dflt = 1;
    /* a concurrent nf_set_num_threads wins over the default */
    if (!__atomic_compare_exchange_n(&g_num_threads, &unset, dflt, 0, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED))
        return unset;
    return dflt;
#else
    return 1;
#endif
}

int nf_has_openmp(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* A step's large temporaries (activations, an RNN's gate buffers: 0.1-30 MiB) are freed
 * at its end and land on the heap's top; glibc gives the top back to the OS once it exceeds
 * twice the largest block freed so far, and the next step faults every page in again,
 * zeroed by the kernel. An eager T32 B32 H64 LSTM step took about 680 page faults, 2.9 ms
 * against 1.4 ms without them on 2 threads. So: keep up to keep_bytes free on the top,
 * and serve blocks below 32 MiB (glibc's own ceiling for its moving threshold) from the
 * heap, not from a mapping of their own. Setting either one stops glibc from moving
 * both, hence both. Returns 0, or -1 where the C library is not glibc. */
int nf_malloc_keep(size_t keep_bytes)
{
#if defined(__GLIBC__)
    if (keep_bytes > (size_t)1 << 30) keep_bytes = (size_t)1 << 30;
    const int ok = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 &&
                   mallopt(M_TRIM_THRESHOLD, (int)keep_bytes) == 1;
    return ok ? 0 : -1;
#else
    (void)keep_bytes;
    return -1;
#endif
}

#if defined(__linux__) && defined(__x86_64__) && defined(__GNUC__)
#include <sys/syscall.h>
#include <unistd.h>
/* AMX tile data is off for a process until it asks the kernel (Linux 5.16+): granted, the
 * tiles are usable on every thread; refused (or an older kernel), tileloadd would fault. */
static int amx_permitted(void)
{
    static int state;   /* 0: not asked yet, 1: granted, 2: refused */
    int s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);
    if (!s) {
        const long ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18;
        s = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0 ? 1 : 2;
        __atomic_store_n(&state, s, __ATOMIC_RELEASE);
    }
    return s == 1;
}
#else
static int amx_permitted(void) { return 0; }
#endif

int nf_cpu_has(const char *feature)
{
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    __builtin_cpu_init();
    if (strcmp(feature, "amx_bf16") == 0)
        return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("amx-tile") &&
               __builtin_cpu_supports("amx-bf16") && amx_permitted();
    if (strcmp(feature, "sse2") == 0) return __builtin_cpu_supports("sse2");
    if (strcmp(feature, "avx2") == 0) return __builtin_cpu_supports("avx2");
    if (strcmp(feature, "fma") == 0) return __builtin_cpu_supports("fma");
    if (strcmp(feature, "avx512f") == 0) return __builtin_cpu_supports("avx512f");
    if (strcmp(feature, "avx512_core") == 0)   /* F + BW + DQ + VL: what the kernels use */
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    if (strcmp(feature, "avx512bf16") == 0)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
    return 0;
#else
    (void)feature;
    return 0;
#endif
}

/* ------------------------------------------------------------------ peak-FLOP probe
 * nf_fma_peak: the fp32 FLOP rate the cores reach when they do nothing but FMAs, the
 * ceiling bench/ quotes "fraction of peak" against. Every thread of an OpenMP team of
 * nf_get_num_threads() threads runs `iters` rounds of FMA_CHAINS independent chains
 * acc = acc * b + c on the widest vector unit the CPU has (AVX-512, else AVX2+FMA, else
 * scalar C the compiler may vectorise). Twelve chains cover the FMA latency x issue width of
 * current x86 cores (4-cycle latency x 2 pipes = 8 in flight needed), and fit in 16 ymm
 * registers with the two constants. It returns the floating-point operations done
 * (2 per lane per FMA); the caller divides by the wall time it measured. *sink receives a
 * value that depends on every chain, so the compiler cannot drop the loop.
 * What it is not: a model of any real kernel (no loads, no stores). */
#define FMA_CHAINS 12

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>
#define NF_PEAK_X86 1

__attribute__((target("avx512f"))) static float fma_chains_avx512(nf_int iters)
{
    __m512 acc[FMA_CHAINS];
    const __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int j = 0; j < FMA_CHAINS; j++) acc[j] = _mm512_set1_ps((float)j);
    for (nf_int i = 0; i < iters; i++)
        for (int j = 0; j < FMA_CHAINS; j++) acc[j] = _mm512_fmadd_ps(acc[j], b, c);
    for (int j = 1; j < FMA_CHAINS; j++) acc[0] = _mm512_add_ps(acc[0], acc[j]);
    return _mm512_reduce_add_ps(acc[0]);
}

__attribute__((target("avx2,fma"))) static float fma_chains_avx2(nf_int iters)
{
    __m256 acc[FMA_CHAINS];
    const __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int j = 0; j < FMA_CHAINS; j++) acc[j] = _mm256_set1_ps((float)j);
    for (nf_int i = 0; i < iters; i++)
        for (int j = 0; j < FMA_CHAINS; j++) acc[j] = _mm256_fmadd_ps(acc[j], b, c);
    float lanes[8];
    for (int j = 1; j < FMA_CHAINS; j++) acc[0] = _mm256_add_ps(acc[0], acc[j]);
    _mm256_storeu_ps(lanes, acc[0]);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
}
#endif

/* Plain reference: 8 lanes x FMA_CHAINS scalar chains (multiply-add, fused or not). */
static float fma_chains_ref(nf_int iters)
{
    float acc[FMA_CHAINS][8];
    for (int j = 0; j < FMA_CHAINS; j++)
        for (int l = 0; l < 8; l++) acc[j][l] = (float)j;
    for (nf_int i = 0; i < iters; i++)
        for (int j = 0; j < FMA_CHAINS; j++)
            for (int l = 0; l < 8; l++) acc[j][l] = acc[j][l] * 0.999999f + 1e-7f;
    float s = 0.0f;
    for (int j = 0; j < FMA_CHAINS; j++)
        for (int l = 0; l < 8; l++) s += acc[j][l];
    return s;
}

double nf_fma_peak(float *sink, nf_int iters)
{
    int lanes = 8;
    float (*chains)(nf_int) = fma_chains_ref;
#ifdef NF_PEAK_X86
    if (nf_cpu_has("avx512f")) {
        chains = fma_chains_avx512;
        lanes = 16;
    } else if (nf_cpu_has("avx2") && nf_cpu_has("fma")) {
        chains = fma_chains_avx2;
    }
#endif
    int nthreads = 1;
    float total = 0.0f;
#ifdef _OPENMP
#pragma omp parallel reduction(+ : total) num_threads(nf_get_num_threads())
    {
#pragma omp single
        nthreads = omp_get_num_threads();
        total += chains(iters);
    }
#else
    total = chains(iters);
#endif
    *sink = total;
    return 2.0 * (double)lanes * FMA_CHAINS * (double)iters * nthreads;
}

/* nf_bf16_peak: nf_fma_peak for the bf16 tile in use: tdpbf16ps on AMX CPUs (chains in
 * gemm/gemm_amx.c), else vdpbf16ps (gemm/gemm_avx512bf16.c). */
double nf_bf16_dot_chains(long iters, float *sink);
double nf_amx_bf16_chains(long iters, float *sink);

double nf_bf16_peak(float *sink, nf_int iters)
{
    *sink = 0.0f;
#ifdef NF_PEAK_X86
    if (!nf_cpu_has("avx512bf16")) return 0.0;
    /* a round of tile products is ~4x a round of vdpbf16ps chains: a quarter of the rounds */
    const int amx = strcmp(nf_gemm_bf16_isa(), "amx_bf16") == 0;
    const long rounds = amx ? (iters + 3) / 4 : (long)iters;
    double flops = 0.0;
    float total = 0.0f;
#ifdef _OPENMP
#pragma omp parallel reduction(+ : total, flops) num_threads(nf_get_num_threads())
#endif
    {
        float s;
        flops += amx ? nf_amx_bf16_chains(rounds, &s) : nf_bf16_dot_chains(rounds, &s);
        total += s;
    }
    *sink = total;
    return flops;
#else
    (void)iters;
    return 0.0;
#endif
}
