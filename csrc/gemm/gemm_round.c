/* gemm_round.c — rounding packed panels to a lower precision, for the "+round" kernel sets
 * (autocast on CPUs without a native tile for it): each value becomes the float32 holding
 * the nearest bfloat16 or float16 (ties to even), so the fp32 tile multiplies exactly the
 * rounded operands and accumulates in fp32.
 *
 * Both are branch-free integer/float expressions the vectoriser takes (NF_CLONES: AVX-512,
 * AVX2, baseline): a panel is rounded once per block, and a scalar loop per element would
 * cost as much as the tile's work on few-row products. */
#include <stdint.h>
#include <string.h>
#include "gemm_internal.h"
#include "../nf_simd.h"

/* bfloat16: the top 16 bits, nearest even; a NaN stays a (quiet) NaN */
NF_CLONES void nf_gemm_round_bf16(float *x, nf_int n)
{
    uint32_t *u = (uint32_t *)x;
    for (nf_int i = 0; i < n; i++) {
        const uint32_t v = u[i];
        u[i] = (v & 0x7fffffffu) > 0x7f800000u ? (v | 0x00400000u) & 0xffff0000u
                                               : (v + 0x7fffu + ((v >> 16) & 1u)) & 0xffff0000u;
    }
}

/* float16 (IEEE binary16), as float32 -> float16 -> float32 with round-to-nearest-even:
 *   |x| >= 65520 (half-way past 65504, the largest half): inf, as the conversion gives;
 *   normal halves (|x| >= 2^-14): the mantissa to 10 bits, nearest even (a carry may step
 *   the exponent, up to 65504 at most below the overflow bound);
 *   below: multiples of 2^-24 (the subnormal step), rounded by adding and taking away 2^23
 *   to |x| * 2^24 < 2^10 (exact scalings, one float rounding, nearest even);
 *   NaN: quiet, its payload's top 10 bits kept (as F16C's round trip). Signs are kept. */
NF_CLONES void nf_gemm_round_fp16(float *x, nf_int n)
{
    uint32_t *u = (uint32_t *)x;
    for (nf_int i = 0; i < n; i++) {
        const uint32_t v = u[i], a = v & 0x7fffffffu, sign = v & 0x80000000u;
        float fa, sub;
        memcpy(&fa, &a, sizeof fa);
        sub = ((fa * 0x1p24f + 0x1p23f) - 0x1p23f) * 0x1p-24f;
        uint32_t s;
        memcpy(&s, &sub, sizeof s);
        const uint32_t normal = (a + 0xfffu + ((a >> 13) & 1u)) & 0xffffe000u;
        const uint32_t r = a > 0x7f800000u    ? (a | 0x00400000u) & 0xffffe000u
                           : a >= 0x477ff000u ? 0x7f800000u
                           : a >= 0x38800000u ? normal
                                              : s;
        u[i] = sign | r;
    }
}
