/* resample.c — k-nearest-neighbour selection for SMOTE (nnfast.data.imbalance).
 *
 * What it is: the selection half of a blockwise kNN search. The caller computes a block of
 * G = -2 * A_block @ B^T with the GEMM and passes the squared norms of B's rows; for each row
 * i this kernel keeps the k smallest of  v_ij = G[i, j] + colnorm[j]  (the squared distance
 * minus the row's own constant ||a_i||^2, which cannot change the ranking), skipping the
 * column j == i + self_offset (a point is not its own neighbour). Results come out sorted
 * ascending, ties broken by the lower column index, so they are deterministic and equal to a
 * stable argsort of the row.
 *
 * Why C: NumPy's argpartition costs 15-30 ns per element and allocates an index array per
 * row; a 30k-row class is 9e8 elements. Here each element costs one add and one compare:
 * chunks of 16 are tested against the current k-th best with a branch-free OR (vectorised),
 * and only chunks holding a candidate take the scalar insertion path, which after the first
 * few hundred columns is rare (about k*ln(N/k) insertions per row for random order).
 *
 * What it is not: a general top-k (no largest-k, no strides, float32 only) or a distance
 * kernel (the GEMM does that). No allocation: outputs (M, k) come from the caller.
 * NaN values are never selected; rows with fewer than k admissible columns are padded with
 * index -1 and distance +inf.
 */
#include <math.h>
#include <stdint.h>

#include "nnfast.h"

#include "nf_simd.h"

/* Elements (M * N) below which one thread does the whole block. */
#define NF_KNN_PAR 65536
#define NF_KNN_CHUNK 16

/* Insert (v, j) into the ascending list dist[k], idx[k] whose last entry v beats. Equal
 * values stay in column order (strict >), so ties resolve to the lower column. */
static inline void insert_sorted(nf_int *idx, float *dist, nf_int k, float v, nf_int j)
{
    nf_int p = k - 1;
    while (p > 0 && dist[p - 1] > v) {
        dist[p] = dist[p - 1];
        idx[p] = idx[p - 1];
        p--;
    }
    dist[p] = v;
    idx[p] = j;
}

/* One row. colnorm may be NULL (treated as zeros). */
NF_CLONES static void select_row(nf_int *idx /* (k) */, float *dist /* (k) */,
                                 const float *g /* (N) */, const float *colnorm /* (N) */,
                                 nf_int N, nf_int k, nf_int skip)
{
    float tmp[NF_KNN_CHUNK];
    for (nf_int t = 0; t < k; t++) {
        dist[t] = INFINITY;
        idx[t] = -1;
    }
    float thr = INFINITY;
    nf_int j = 0;
    for (; j + NF_KNN_CHUNK <= N; j += NF_KNN_CHUNK) {
        int any = 0;
        if (colnorm) {
            for (int t = 0; t < NF_KNN_CHUNK; t++) {
                tmp[t] = g[j + t] + colnorm[j + t];
                any |= tmp[t] < thr;
            }
        } else {
            for (int t = 0; t < NF_KNN_CHUNK; t++) {
                tmp[t] = g[j + t];
                any |= tmp[t] < thr;
            }
        }
        if (!any)
            continue;
        for (int t = 0; t < NF_KNN_CHUNK; t++) {
            if (tmp[t] < thr && j + t != skip) {
                insert_sorted(idx, dist, k, tmp[t], j + t);
                thr = dist[k - 1];
            }
        }
    }
    for (; j < N; j++) {
        float v = g[j] + (colnorm ? colnorm[j] : 0.0f);
        if (v < thr && j != skip) {
            insert_sorted(idx, dist, k, v, j);
            thr = dist[k - 1];
        }
    }
}

void nf_knn_select(nf_int *idx, float *dist, const float *g, const float *colnorm,
                   nf_int M, nf_int N, nf_int k, nf_int self_offset)
{
    if (M <= 0 || k <= 0)
        return;
#pragma omp parallel for schedule(static) if (M * N > NF_KNN_PAR) num_threads(nf_get_num_threads())
    for (nf_int i = 0; i < M; i++)
        select_row(idx + i * k, dist + i * k, g + i * N, colnorm, N, k,
                   self_offset >= 0 ? i + self_offset : -1);
}

/* Plain reference: the same selection, one element at a time, no chunking. */
void nf_knn_select_ref(nf_int *idx, float *dist, const float *g, const float *colnorm,
                       nf_int M, nf_int N, nf_int k, nf_int self_offset)
{
    for (nf_int i = 0; i < M; i++) {
        nf_int *ri = idx + i * k;
        float *rd = dist + i * k;
        for (nf_int t = 0; t < k; t++) {
            rd[t] = INFINITY;
            ri[t] = -1;
        }
        for (nf_int j = 0; j < N; j++) {
            float v = g[i * N + j] + (colnorm ? colnorm[j] : 0.0f);
            if (self_offset >= 0 && j == i + self_offset)
                continue;
            if (v < rd[k - 1])
                insert_sorted(ri, rd, k, v, j);
        }
    }
}
