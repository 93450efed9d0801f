/* runtime.c — thread count and CPU feature queries.
 * What it is not: a scheduler. Kernels decide themselves whether work is big enough to
 * split across threads (see each kernel's threshold). */
#include <string.h>
#include "nnfast.h"

#ifdef _OPENMP
#include <omp.h>
#endif

void nf_set_num_threads(int n)
{
#ifdef _OPENMP
    if (n < 1) n = 1;
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

int nf_get_num_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
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

int nf_cpu_has(const char *feature)
{
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    __builtin_cpu_init();
    if (strcmp(feature, "sse2") == 0) return __builtin_cpu_supports("sse2");
    if (strcmp(feature, "avx2") == 0) return __builtin_cpu_supports("avx2");
    if (strcmp(feature, "fma") == 0) return __builtin_cpu_supports("fma");
    if (strcmp(feature, "avx512f") == 0) return __builtin_cpu_supports("avx512f");
    return 0;
#else
    (void)feature;
    return 0;
#endif
}
