/* nf_simd.h — internal to csrc/: per-ISA copies of elementwise kernels without -march=native.
 *
 * NF_CLONES on a function makes GCC (>= 11, x86-64 Linux) compile it three times — AVX-512
 * (x86-64-v4), AVX2+FMA (x86-64-v3) and baseline — and pick one at load time through an
 * ifunc. Elsewhere it expands to nothing and the plain C loop is compiled once.
 * NF_CLONES_V3 stops at AVX2+FMA (for loops that gain nothing from 512-bit vectors). */
#ifndef NF_SIMD_H
#define NF_SIMD_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__) \
    && __GNUC__ >= 11 /* target names arch=x86-64-vN */
#define NF_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define NF_CLONES_V3 __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define NF_CLONES
#define NF_CLONES_V3
#endif

#endif /* NF_SIMD_H */
