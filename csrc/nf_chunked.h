/* nf_chunked.h — internal to csrc/: the threading frame of the elementwise optimizer loops
 * (optim.c, optim_extra.c). NF_CHUNKED(n, body) splits [0, n) into per-thread chunks aligned
 * to 64 floats and runs body with lo, hi bound; below NF_OPTIM_OMP_MIN elements it runs once on
 * the calling thread. Every element's result is independent of the split, so threading never
 * changes the numbers. */
#ifndef NF_CHUNKED_H
#define NF_CHUNKED_H

#ifdef _OPENMP
#include <omp.h>
#endif

/* Below this many elements a loop runs on one thread. Adam's sqrt and two divisions make it
 * compute-bound (~0.4 ns per element on one Zen4 core), so 32K elements (~14 us) already
 * pay for waking a warm team: on 2 cores a 100K-parameter Adam step 42 -> ~25 us. */
#ifndef NF_OPTIM_OMP_MIN
#define NF_OPTIM_OMP_MIN ((nf_int)1 << 15)
#endif

/* Split [0, n) into per-thread chunks aligned to 64 floats; calls body(lo, hi). */
#ifdef _OPENMP
#define NF_CHUNKED(n, body)                                                      \
    do {                                                                         \
        nf_int n_ = (n);                                                         \
        if (n_ > NF_OPTIM_OMP_MIN && nf_get_num_threads() > 1) {                \
            _Pragma("omp parallel num_threads(nf_get_num_threads())")            \
            {                                                                    \
                nf_int nt_ = omp_get_num_threads(), t_ = omp_get_thread_num();  \
                nf_int per_ = ((n_ + nt_ - 1) / nt_ + 63) & ~(nf_int)63;        \
                nf_int lo = t_ * per_, hi = lo + per_;                          \
                if (hi > n_) hi = n_;                                            \
                if (lo < hi) { body; }                                           \
            }                                                                    \
        } else {                                                                 \
            nf_int lo = 0, hi = n_;                                              \
            body;                                                                \
        }                                                                        \
    } while (0)
#else
#define NF_CHUNKED(n, body)                                                      \
    do {                                                                         \
        nf_int lo = 0, hi = (n);                                                 \
        body;                                                                    \
    } while (0)
#endif

#define NF_INLINE static inline __attribute__((always_inline))

#endif /* NF_CHUNKED_H */
