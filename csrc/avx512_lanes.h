/* avx512_lanes.h — lane masks and addresses for the AVX-512 loops that walk short image rows
 * (conv_winograd_avx512.c, conv_direct_avx512.c, pool_avx512.c). Include it after the file's
 * `#pragma GCC target` and <immintrin.h>. */
#ifndef NF_AVX512_LANES_H
#define NF_AVX512_LANES_H
#include <stdint.h>
#include "nnfast.h"

/* base + off floats as an address, for masked accesses whose first lanes may lie before the
 * array (or past its end): only the mask's lanes are touched, and no out-of-range pointer is
 * formed by pointer arithmetic */
static inline float *nf_lane_at(const float *base, nf_int off)
{
    return (float *)((uintptr_t)base + (uintptr_t)off * sizeof(float));
}

/* Lanes l of a 16-float load at s .. s+15 with 0 <= s + l < n. */
static inline __mmask16 nf_lane_span(nf_int s, nf_int n)
{
    const nf_int lo = s < 0 ? -s : 0;
    nf_int hi = n - s;
    if (hi > 16) hi = 16;
    if (hi <= lo) return 0;
    return (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

/* The first n lanes (none for n <= 0, all 16 from 16 on) */
static inline __mmask16 nf_lane_first(nf_int n)
{
    return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1u);
}

/* row[off .. off+15], 0 in the lanes outside row[0 .. n) */
static inline __m512 nf_lane_load(const float *row, nf_int off, nf_int n)
{
    return _mm512_maskz_loadu_ps(nf_lane_span(off, n), nf_lane_at(row, off));
}

#endif
