# resample family: nf_knn_select (csrc/resample.c), the selection half of SMOTE's kNN search.

cdef extern from "nnfast.h":
    void nf_knn_select(nf_int *idx, float *dist, const float *g, const float *colnorm,
                       nf_int M, nf_int N, nf_int k, nf_int self_offset) nogil
    void nf_knn_select_ref(nf_int *idx, float *dist, const float *g, const float *colnorm,
                           nf_int M, nf_int N, nf_int k, nf_int self_offset) nogil


def knn_select(int64_t[:, ::1] idx, float[:, ::1] dist, const float[:, ::1] g, colnorm,
               nf_int self_offset, bint reference=False):
    """Per row of g (M, N): the k = idx.shape[1] smallest of g[i, j] + colnorm[j] (colnorm may
    be None), skipping column i + self_offset if self_offset >= 0; ascending into idx, dist."""
    if _mis(&idx[0, 0], 8) or _mis(&dist[0, 0], 4) or _mis(&g[0, 0], 4) or _mis_obj(colnorm):
        return _realigned(knn_select, (idx, dist, g, colnorm, self_offset, reference), (0, 1))
    cdef nf_int M = g.shape[0], N = g.shape[1], k = idx.shape[1]
    cdef const float[::1] cn
    cdef const float *pcn = NULL
    if idx.shape[0] != M or dist.shape[0] != M or dist.shape[1] != k:
        raise ValueError(f"knn_select: g ({M}, {N}), idx ({idx.shape[0]}, {k}), "
                         f"dist ({dist.shape[0]}, {dist.shape[1]})")
    if colnorm is not None:
        cn = colnorm
        if cn.shape[0] != N:
            raise ValueError(f"knn_select: colnorm ({cn.shape[0]},) for {N} columns")
        if N > 0:
            pcn = &cn[0]
    if M == 0 or k == 0:
        return
    if N == 0:
        idx[:, :] = -1
        dist[:, :] = float("inf")
        return
    with nogil:
        if reference:
            nf_knn_select_ref(&idx[0, 0], &dist[0, 0], &g[0, 0], pcn, M, N, k, self_offset)
        else:
            nf_knn_select(&idx[0, 0], &dist[0, 0], &g[0, 0], pcn, M, N, k, self_offset)
