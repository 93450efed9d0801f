# loss family (csrc/loss.c): fused loss value + gradient kernels.
#
# Arrays travel flattened (1-D, C-contiguous); the Python edge reshapes. Optional outputs and
# weights are None or arrays; only the sizes the kernels rely on are checked here (and the
# class labels, which the kernels use as indices).
from libc.stdint cimport uint64_t

cdef extern from "nnfast.h":
    double nf_mse_loss(float *out, float *dinput, float *dtarget, const float *input,
                       const float *target, const float *weight, nf_int n, float scale) nogil
    double nf_l1_loss(float *out, float *dinput, float *dtarget, const float *input,
                      const float *target, const float *weight, nf_int n, float scale) nogil
    double nf_huber_loss(float *out, float *dinput, float *dtarget, const float *input,
                         const float *target, const float *weight, nf_int n, float scale,
                         float delta) nogil
    double nf_smooth_l1_loss(float *out, float *dinput, float *dtarget, const float *input,
                             const float *target, nf_int n, float scale, float beta) nogil
    double nf_cross_entropy_loss(float *out, float *dinput, const float *input,
                                 const int64_t *target, const float *weight, nf_int outer,
                                 nf_int C, nf_int inner, nf_int ignore_index, int reduction,
                                 float label_smoothing) nogil
    double nf_nll_loss(float *out, float *dinput, const float *input, const int64_t *target,
                       const float *weight, nf_int outer, nf_int C, nf_int inner,
                       nf_int ignore_index, int reduction) nogil
    double nf_cross_entropy_prob_loss(float *out, float *dinput, float *dtarget,
                                      const float *input, const float *target,
                                      const float *weight, nf_int outer, nf_int C,
                                      nf_int inner, int reduction, float label_smoothing) nogil
    double nf_bce_loss(float *out, float *dinput, float *dtarget, const float *input,
                       const float *target, const float *weight, nf_int wperiod, nf_int n,
                       float scale) nogil
    double nf_bce_logits_loss(float *out, float *dinput, float *dtarget, const float *input,
                              const float *target, const float *weight, nf_int wperiod,
                              const float *pos_weight, nf_int qperiod, nf_int n,
                              float scale) nogil


cdef float *_loss_out(object arr, nf_int n, str what) except? NULL:
    """Pointer into an optional writable float32 array of exactly n elements (NULL if None)."""
    cdef float[::1] v
    if arr is None:
        return NULL
    v = arr
    if v.shape[0] != n:
        raise ValueError(f"loss kernel: {what} has {v.shape[0]} elements, expected {n}")
    if n == 0:
        return NULL
    return &v[0]


cdef const float *_loss_in(object arr, nf_int n, str what, bint period=False) except? NULL:
    """Pointer into an optional float32 input of n elements (or, if period, n % size == 0)."""
    cdef const float[::1] v
    if arr is None:
        return NULL
    v = arr
    if period:
        if v.shape[0] == 0 or (n % v.shape[0]) != 0:
            raise ValueError(f"loss kernel: {what} of {v.shape[0]} elements does not tile {n}")
    elif v.shape[0] != n:
        raise ValueError(f"loss kernel: {what} has {v.shape[0]} elements, expected {n}")
    if v.shape[0] == 0:
        return NULL
    return &v[0]


cdef int _check_labels(str who, const int64_t[::1] target, nf_int outer, nf_int C,
                       nf_int inner, nf_int ignore_index) except -1:
    """The class kernels index input, dinput and weight with each label: all must be in
    [0, C) or equal ignore_index (O(outer*inner) next to the kernels' O(outer*C*inner))."""
    cdef nf_int i, bad = -1
    if outer < 0 or inner < 0:
        raise ValueError(f"{who}: negative size outer={outer} inner={inner}")
    with nogil:
        for i in range(target.shape[0]):
            if <uint64_t>target[i] >= <uint64_t>C and target[i] != ignore_index:
                bad = i
                break
    if bad >= 0:
        raise IndexError(f"{who}: target {target[bad]} is out of range for {C} classes "
                         f"(ignore_index={ignore_index})")
    return 0


_POINTWISE_KINDS = {"mse": 0, "l1": 1, "huber": 2, "smooth_l1": 3}


def pointwise_loss(str kind, out, dinput, dtarget, const float[::1] input,
                   const float[::1] target, weight, float scale, float param=1.0):
    """MSE / L1 / Huber(param=delta) / SmoothL1(param=beta) over flat arrays; returns the
    reduced value scale * sum(w * loss)."""
    if (_mis_obj(out) or _mis_obj(dinput) or _mis_obj(dtarget) or _mis(&input[0], 4) or
        _mis(&target[0], 4) or _mis_obj(weight)):
        return _realigned(pointwise_loss, (kind, out, dinput, dtarget, input, target, weight,
                                           scale, param), (1, 2, 3))
    cdef nf_int n = input.shape[0]
    cdef int k = _POINTWISE_KINDS[kind]
    if target.shape[0] != n:
        raise ValueError(f"pointwise_loss: input has {n} elements, target {target.shape[0]}")
    if k == 3 and weight is not None:
        raise ValueError("pointwise_loss: smooth_l1 takes no weight")
    cdef float *po = _loss_out(out, n, "out")
    cdef float *pdi = _loss_out(dinput, n, "dinput")
    cdef float *pdt = _loss_out(dtarget, n, "dtarget")
    cdef const float *pw = _loss_in(weight, n, "weight")
    cdef double r = 0.0
    if n == 0:
        return 0.0
    with nogil:
        if k == 0:
            r = nf_mse_loss(po, pdi, pdt, &input[0], &target[0], pw, n, scale)
        elif k == 1:
            r = nf_l1_loss(po, pdi, pdt, &input[0], &target[0], pw, n, scale)
        elif k == 2:
            r = nf_huber_loss(po, pdi, pdt, &input[0], &target[0], pw, n, scale, param)
        else:
            r = nf_smooth_l1_loss(po, pdi, pdt, &input[0], &target[0], n, scale, param)
    return r


def cross_entropy_loss(out, dinput, input, target, weight, nf_int outer, nf_int C,
                       nf_int inner, nf_int ignore_index, int reduction,
                       float label_smoothing):
    """Fused log-softmax + NLL over input[outer*C*inner] (layout [outer, C, inner]),
    target[outer*inner] class indices (validated here too: the kernel indexes with them)."""
    if (_mis_obj(out) or _mis_obj(dinput) or _mis_obj(input) or _mis_obj(target) or
            _mis_obj(weight)):
        return _realigned(cross_entropy_loss, (out, dinput, input, target, weight, outer, C, inner,
                                               ignore_index, reduction, label_smoothing), (0, 1))
    cdef _Held h
    cdef const float *px
    cdef const int64_t *pt
    cdef float *po
    cdef float *pdi
    cdef const float *pw
    cdef nf_int npos, i, bad = -1
    cdef double r = 0.0
    h.n = 0
    try:
        px = <const float *>_hold(&h, input, -1, False, False, "cross_entropy_loss: input")
        pt = <const int64_t *>_hold(&h, target, -1, False, False, "cross_entropy_loss: target",
                                    cnp.NPY_INT64)
        if outer < 0 or inner < 0:
            raise ValueError(f"cross_entropy_loss: negative size outer={outer} inner={inner}")
        npos = _size("cross_entropy_loss", outer, inner)
        _size("cross_entropy_loss", npos, C)
        if _held_len(&h, 0) != npos * C or _held_len(&h, 1) != npos or C < 1:
            raise ValueError(f"cross_entropy_loss: input {_held_len(&h, 0)}, target "
                             f"{_held_len(&h, 1)} for outer={outer} C={C} inner={inner}")
        po = <float *>_hold(&h, out, npos, True, True, "cross_entropy_loss: out")
        pdi = <float *>_hold(&h, dinput, npos * C, True, True, "cross_entropy_loss: dinput")
        pw = <const float *>_hold(&h, weight, C, False, True, "cross_entropy_loss: weight")
        if npos == 0:
            return 0.0
        with nogil:
            bad = nf_bad_label(pt, npos, C, ignore_index)
            if bad < 0:
                r = nf_cross_entropy_loss(po, pdi, px, pt, pw, outer, C, inner, ignore_index,
                                          reduction, label_smoothing)
        if bad >= 0:
            raise IndexError(f"cross_entropy_loss: target {pt[bad]} is out of range for {C} "
                             f"classes (ignore_index={ignore_index})")
        return r
    finally:
        _release(&h)


def nll_loss(out, dinput, const float[::1] input, const int64_t[::1] target, weight,
             nf_int outer, nf_int C, nf_int inner, nf_int ignore_index, int reduction):
    """NLL on log-probabilities, same layout as cross_entropy_loss."""
    if (_mis_obj(out) or _mis_obj(dinput) or _mis(&input[0], 4) or _mis(&target[0], 8) or
        _mis_obj(weight)):
        return _realigned(nll_loss, (out, dinput, input, target, weight, outer, C, inner,
                                     ignore_index, reduction), (0, 1))
    cdef nf_int npos = _size("nll_loss", outer, inner)
    _size("nll_loss", npos, C)
    if input.shape[0] != npos * C or target.shape[0] != npos or C < 1:
        raise ValueError(f"nll_loss: input {input.shape[0]}, target {target.shape[0]} for "
                         f"outer={outer} C={C} inner={inner}")
    cdef float *po = _loss_out(out, npos, "out")
    cdef float *pdi = _loss_out(dinput, npos * C, "dinput")
    cdef const float *pw = _loss_in(weight, C, "weight")
    cdef double r = 0.0
    _check_labels("nll_loss", target, outer, C, inner, ignore_index)
    if npos == 0:
        return 0.0
    with nogil:
        r = nf_nll_loss(po, pdi, &input[0], &target[0], pw, outer, C, inner, ignore_index,
                        reduction)
    return r


def cross_entropy_prob_loss(out, dinput, dtarget, const float[::1] input,
                            const float[::1] target, weight, nf_int outer, nf_int C,
                            nf_int inner, int reduction, float label_smoothing):
    """Cross entropy with class-probability targets, layout [outer, C, inner]."""
    if (_mis_obj(out) or _mis_obj(dinput) or _mis_obj(dtarget) or _mis(&input[0], 4) or
        _mis(&target[0], 4) or _mis_obj(weight)):
        return _realigned(cross_entropy_prob_loss, (out, dinput, dtarget, input, target, weight,
                                                    outer, C, inner, reduction,
                                                    label_smoothing), (0, 1, 2))
    cdef nf_int npos = _size("cross_entropy_prob_loss", outer, inner)
    _size("cross_entropy_prob_loss", npos, C)
    if input.shape[0] != npos * C or target.shape[0] != npos * C or C < 1 or outer < 0 \
            or inner < 0:
        raise ValueError(f"cross_entropy_prob_loss: input {input.shape[0]}, target "
                         f"{target.shape[0]} for outer={outer} C={C} inner={inner}")
    cdef float *po = _loss_out(out, npos, "out")
    cdef float *pdi = _loss_out(dinput, npos * C, "dinput")
    cdef float *pdt = _loss_out(dtarget, npos * C, "dtarget")
    cdef const float *pw = _loss_in(weight, C, "weight")
    cdef double r = 0.0
    if npos == 0:
        return 0.0
    with nogil:
        r = nf_cross_entropy_prob_loss(po, pdi, pdt, &input[0], &target[0], pw, outer, C,
                                       inner, reduction, label_smoothing)
    return r


def bce_loss(out, dinput, dtarget, const float[::1] input, const float[::1] target, weight,
             float scale):
    """BCE on probabilities; weight (or None) repeats with period len(weight)."""
    if (_mis_obj(out) or _mis_obj(dinput) or _mis_obj(dtarget) or _mis(&input[0], 4) or
        _mis(&target[0], 4) or _mis_obj(weight)):
        return _realigned(bce_loss, (out, dinput, dtarget, input, target, weight,
                                     scale), (0, 1, 2))
    cdef nf_int n = input.shape[0]
    if target.shape[0] != n:
        raise ValueError(f"bce_loss: input has {n} elements, target {target.shape[0]}")
    cdef float *po = _loss_out(out, n, "out")
    cdef float *pdi = _loss_out(dinput, n, "dinput")
    cdef float *pdt = _loss_out(dtarget, n, "dtarget")
    cdef const float *pw = NULL
    cdef nf_int wp = 1
    if n == 0:
        return 0.0
    if weight is not None:
        pw = _loss_in(weight, n, "weight", True)
        wp = len(weight)
    cdef double r = 0.0
    with nogil:
        r = nf_bce_loss(po, pdi, pdt, &input[0], &target[0], pw, wp, n, scale)
    return r


def bce_logits_loss(out, dinput, dtarget, const float[::1] input, const float[::1] target,
                    weight, pos_weight, float scale):
    """BCE with logits; weight and pos_weight (or None) repeat with their own periods."""
    if (_mis_obj(out) or _mis_obj(dinput) or _mis_obj(dtarget) or _mis(&input[0], 4) or
        _mis(&target[0], 4) or _mis_obj(weight) or _mis_obj(pos_weight)):
        return _realigned(bce_logits_loss, (out, dinput, dtarget, input, target, weight,
                                            pos_weight, scale), (0, 1, 2))
    cdef nf_int n = input.shape[0]
    if target.shape[0] != n:
        raise ValueError(f"bce_logits_loss: input has {n} elements, target {target.shape[0]}")
    cdef float *po = _loss_out(out, n, "out")
    cdef float *pdi = _loss_out(dinput, n, "dinput")
    cdef float *pdt = _loss_out(dtarget, n, "dtarget")
    cdef const float *pw = NULL
    cdef const float *pq = NULL
    cdef nf_int wp = 1, qp = 1
    if n == 0:
        return 0.0
    if weight is not None:
        pw = _loss_in(weight, n, "weight", True)
        wp = len(weight)
    if pos_weight is not None:
        pq = _loss_in(pos_weight, n, "pos_weight", True)
        qp = len(pos_weight)
    cdef double r = 0.0
    with nogil:
        r = nf_bce_logits_loss(po, pdi, pdt, &input[0], &target[0], pw, wp, pq, qp, n, scale)
    return r
