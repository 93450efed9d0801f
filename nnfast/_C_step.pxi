# step family (csrc/step.c): one captured MLP training step for nnfast.compile_step.
# MlpPlan marshals once: it takes the op list and every buffer of one batch size, keeps
# references to the arrays (so the pointers it holds stay valid) and fills the C op table.
# Each run() then marshals only the batch, the target and the per-call scalars.
from libc.stdlib cimport calloc, free
from libc.stdint cimport uint8_t, uint32_t, uint64_t

cdef extern from "nnfast.h":
    ctypedef struct nf_mlp_op:
        int op, act, saves_output, active
        float a, b
        nf_int n_in, n_out
        const float *weight
        const float *bias
        float *dweight
        float *dbias
        float *out
        float *dinp
        uint8_t *mask
        uint64_t seed
        uint32_t thresh
        float scale
        const float *inp
        float *stat0
        float *stat1
        float *running_mean
        float *running_var
        double momentum, eps
        nf_int inner
        const float *skip
        nf_conv2d_geom geom
        float *ws
        nf_int ws_size
        int64_t *idx
        int count_include_pad
        nf_int divisor_override
    ctypedef struct nf_mlp_loss:
        int kind, reduction
        nf_int C, ignore_index
        const int64_t *target
        const float *target_f
        const float *weight
        float label_smoothing, scale
    ctypedef struct nf_update:
        int kind
        nf_int n
        float *param
        const float *grad
        float *state[3]
        float s[10]
        int flag[3]
    double nf_mlp_step(nf_mlp_op *ops, int nops, const float *x, nf_int M,
                       const nf_mlp_loss *loss, float *dlogits, const nf_update *updates,
                       int nupdates, int prec) nogil
    const float *nf_mlp_forward(nf_mlp_op *ops, int nops, const float *x, nf_int M,
                                int prec) nogil
    void nf_mlp_backward(nf_mlp_op *ops, int nops, nf_int M, const float *dout,
                         int prec) nogil
    nf_int nf_bad_label(const int64_t *target, nf_int n, nf_int C, nf_int ignore_index) nogil
    void nf_update_run(const nf_update *u) nogil


cdef void *_ptr(object arr, nf_int n, int itemsize, bint writable, str what) except NULL:
    """Address of a C-contiguous array of n items of itemsize bytes (checked)."""
    cdef Py_buffer v
    PyObject_GetBuffer(arr, &v, PyBUF_C_CONTIGUOUS | (PyBUF_WRITABLE if writable else 0))
    cdef void *p = v.buf
    cdef Py_ssize_t length = v.len
    cdef Py_ssize_t size = v.itemsize
    PyBuffer_Release(&v)
    if length != n * itemsize or n <= 0 or size != itemsize:
        raise ValueError(f"MlpPlan: {what} has {length} bytes, expected {n} x {itemsize}")
    if _mis(p, itemsize):   # run() realigns the caller's arrays; the plan's own are aligned
        raise ValueError(f"MlpPlan: {what} is not aligned to its {itemsize}-byte elements")
    return p


cdef class MlpPlan:
    """The op table of one batch size M. spec: one tuple per op,
    (op, act, a, saves_output, n_in, n_out, weight, bias, dweight, dbias, out, dinp, mask,
    thresh, scale, b, spatial), arrays or None; spatial: a Conv2d's (geometry tuple as
    conv2d_forward's, workspace float32[ws_size]) or a MaxPool2d's (geometry tuple, argmax
    int64[M*C*OH*OW]), an AvgPool2d's (geometry tuple, (count_include_pad,
    divisor_override)), an AdaptiveAvgPool2d's (geometry tuple, None), a BatchNorm2d's (H*W,),
    else None; see nf_mlp_op in csrc/nnfast.h."""
    cdef nf_mlp_op *ops
    cdef int nops
    cdef nf_int M, n_in, C
    cdef float *dlogits
    cdef list keep
    cdef list dropouts
    cdef nf_update *updates
    cdef int updates_cap
    cdef object x_kept   # the input of the last forward: op 0's backward reads it
    cdef bint ran_forward
    cdef dict grads_kept # op -> (dweight, dbias) arrays set_grads pointed it at

    def __cinit__(self, list spec, nf_int M, dlogits):
        cdef nf_mlp_op *o
        cdef int k
        self.nops = len(spec)
        if self.nops < 1 or M < 1:
            raise ValueError("MlpPlan: no ops or an empty batch")
        self.ops = <nf_mlp_op *>calloc(self.nops, sizeof(nf_mlp_op))
        if self.ops == NULL:
            raise MemoryError()
        self.M = M
        self.keep = [dlogits]
        self.grads_kept = {}
        self.dropouts = []
        for k, s in enumerate(spec):
            (op, act, a, saves, n_in, n_out, weight, bias, dweight, dbias, out, dinp, mask,
             thresh, scale, b, spatial) = s
            self.keep.append(s)
            if not 0 <= op <= 11 or (op == 1 and not 0 <= act <= 7) or \
                    (op == 3 and not 0 <= act <= 9) or (op == 6 and not k < act < self.nops) or \
                    (op == 7 and not (0 <= act < k and self.ops[act].op == 6)):
                # nf_mlp_step dispatches on both (act indexes act.c's or act_extra.c's table)
                raise ValueError(f"MlpPlan: op {k} has an unknown code ({op}, act {act})")
            o = &self.ops[k]
            o.op, o.act, o.saves_output, o.a, o.b = op, act, saves, a, b
            o.n_in, o.n_out = n_in, n_out
            if k and n_in != self.ops[k - 1].n_out:
                raise ValueError(f"MlpPlan: op {k} takes {n_in} features, gets "
                                 f"{self.ops[k - 1].n_out}")
            if op == 0:
                o.weight = <const float *>_ptr(weight, n_out * n_in, 4, False, "weight")
                o.dweight = <float *>_ptr(dweight, n_out * n_in, 4, True, "dweight")
                if bias is not None:
                    o.bias = <const float *>_ptr(bias, n_out, 4, False, "bias")
                    o.dbias = <float *>_ptr(dbias, n_out, 4, True, "dbias")
            elif op >= 8:   # a convolution or pooling on (M, C, H, W)
                _spatial_op(o, op, M, spatial, weight, bias, dweight, dbias)
            elif n_in != n_out:
                raise ValueError("MlpPlan: an elementwise op must keep the width")
            elif op == 7:   # a Residual's end: a Linear shortcut from its begin's width
                if self.ops[act].act != k:
                    raise ValueError(f"MlpPlan: op {k} ends a Residual that op {act} does "
                                     "not begin")
                w_in = self.ops[act].n_in
                if weight is not None and self.ops[act].dinp != NULL and dinp is None:
                    raise ValueError("MlpPlan: a Linear shortcut whose input needs a "
                                     "gradient needs a dinp")
                if weight is not None:
                    o.weight = <const float *>_ptr(weight, n_out * w_in, 4, False, "weight")
                    o.dweight = <float *>_ptr(dweight, n_out * w_in, 4, True, "dweight")
                    if bias is not None:
                        o.bias = <const float *>_ptr(bias, n_out, 4, False, "bias")
                        o.dbias = <float *>_ptr(dbias, n_out, 4, True, "dbias")
                elif w_in != n_out:
                    raise ValueError("MlpPlan: an identity shortcut must keep the width")
                if dinp is not None:
                    if weight is None:
                        raise ValueError("MlpPlan: an identity shortcut has no dinp")
                    o.dinp = <float *>_ptr(dinp, M * w_in, 4, True, "dinp")
                o.out = <float *>_ptr(out, M * n_out, 4, True, "out")
                continue
            elif op == 6:   # a Residual's begin: no output of its own
                if dinp is not None:
                    o.dinp = <float *>_ptr(dinp, M * n_in, 4, True, "dinp")
                continue
            elif op >= 4:   # a norm's affine parameters (set_norm gives the rest)
                o.inner = 1
                if spatial is not None:   # BatchNorm2d: (inner,), H*W per channel
                    if op != 4 or len(spatial) != 1 or spatial[0] < 1 or n_in % spatial[0]:
                        raise ValueError(f"MlpPlan: op {k} has a bad channel size {spatial}")
                    o.inner = spatial[0]
                n_aff = n_in // o.inner
                if weight is not None:
                    o.weight = <const float *>_ptr(weight, n_aff, 4, False, "weight")
                    o.dweight = <float *>_ptr(dweight, n_aff, 4, True, "dweight")
                if bias is not None:
                    o.bias = <const float *>_ptr(bias, n_aff, 4, False, "bias")
                    o.dbias = <float *>_ptr(dbias, n_aff, 4, True, "dbias")
            o.out = <float *>_ptr(out, M * n_out, 4, True, "out")
            if dinp is not None:
                o.dinp = <float *>_ptr(dinp, M * n_in, 4, True, "dinp")
            if op == 2:
                self.dropouts.append(k)
                if mask is not None:
                    o.mask = <uint8_t *>_ptr(mask, M * n_in, 1, True, "mask")
                elif dinp is not None:
                    raise ValueError("MlpPlan: a dropout with a gradient needs a mask")
                o.thresh, o.scale = thresh, scale
        self.n_in = self.ops[0].n_in
        self.C = self.ops[self.nops - 1].n_out
        self.dlogits = <float *>_ptr(dlogits, M * self.C, 4, True, "dlogits")

    def set_norm(self, int k, stat0, stat1, running_mean, running_var, double eps):
        """Norm op k's statistics buffers (BN: mean, invstd [C]; LN: mean, rstd [M]), its
        running statistics (BN, float32 [C], updated in place; or None) and eps."""
        if not 0 <= k < self.nops or self.ops[k].op < 4:
            raise ValueError(f"MlpPlan.set_norm: op {k} is not a norm")
        cdef nf_mlp_op *o = &self.ops[k]
        cdef nf_int n = o.n_in // o.inner if o.op == 4 else self.M
        self.keep.append((stat0, stat1, running_mean, running_var))
        o.stat0 = <float *>_ptr(stat0, n, 4, True, "stat0")
        o.stat1 = <float *>_ptr(stat1, n, 4, True, "stat1")
        if o.op == 4 and running_mean is not None:
            o.running_mean = <float *>_ptr(running_mean, n, 4, True, "running_mean")
            o.running_var = <float *>_ptr(running_var, n, 4, True, "running_var")
        o.eps = eps

    def set_momentum(self, int k, double momentum):
        """BatchNorm op k's running-statistics factor for the next run (it may change each
        step: 1/num_batches_tracked when momentum is None)."""
        if not 0 <= k < self.nops or self.ops[k].op != 4:
            raise ValueError(f"MlpPlan.set_momentum: op {k} is not a BatchNorm")
        self.ops[k].momentum = momentum

    def set_grads(self, int k, dweight, dbias):
        """Point op k's (a Linear, a norm or a Residual's Linear shortcut) parameter
        gradients at other float32 arrays of the same sizes (None: keep the current one);
        the plan holds them until they are replaced."""
        if not 0 <= k < self.nops or self.ops[k].op not in (0, 4, 5, 7, 8) or \
                self.ops[k].weight == NULL and dweight is not None or \
                self.ops[k].bias == NULL and dbias is not None:
            raise ValueError(f"MlpPlan.set_grads: op {k} has no such parameter")
        cdef nf_mlp_op *o = &self.ops[k]
        cdef nf_int n_aff = o.n_in // (o.inner if o.op == 4 else 1)
        cdef nf_int n_w = n_aff if o.op in (4, 5) else o.n_out * (
            self.ops[o.act].n_in if o.op == 7 else o.n_in)
        cdef nf_int n_b = n_aff if o.op in (4, 5) else o.n_out
        if o.op == 8:
            n_w = o.geom.OC * (o.geom.C // o.geom.G) * o.geom.KH * o.geom.KW
            n_b = o.geom.OC
        old = self.grads_kept.get(k, (None, None))
        if dweight is not None:
            o.dweight = <float *>_ptr(dweight, n_w, 4, True, "dweight")
        if dbias is not None:
            o.dbias = <float *>_ptr(dbias, n_b, 4, True, "dbias")
        self.grads_kept[k] = (old[0] if dweight is None else dweight,
                              old[1] if dbias is None else dbias)

    def forward(self, x, seeds, int prec=0):
        """The forward over x[M, n_in] (float32, C-contiguous, aligned: the plan keeps x for
        backward); seeds as run's. Returns the index of the op whose output is the result."""
        _check_prec(prec)
        cdef const float *px = <const float *>_ptr(x, self.M * self.n_in, 4, False, "x")
        if _mis(px, 4):
            raise ValueError("MlpPlan.forward: x is not aligned to its 4-byte elements")
        cdef int i = 0
        cdef const float *h
        for k in self.dropouts:
            s = seeds[i]
            i += 1
            if s is None:
                self.ops[k].active = 0
            else:
                self.ops[k].active = 1
                self.ops[k].seed = s
        self.x_kept = x
        with nogil:
            h = nf_mlp_forward(self.ops, self.nops, px, self.M, prec)
        self.ran_forward = True
        for i in range(self.nops - 1, -1, -1):
            if <const float *>self.ops[i].out == h:
                return i
        return -1   # the input itself (every op an inactive dropout)

    def backward(self, dout, int prec=0):
        """The backward of the last forward from dout[M, C] (float32, C-contiguous)."""
        _check_prec(prec)
        if not self.ran_forward:
            raise ValueError("MlpPlan.backward: no forward has run")
        cdef const float *pd = <const float *>_ptr(dout, self.M * self.C, 4, False, "dout")
        if _mis(pd, 4):
            raise ValueError("MlpPlan.backward: dout is not aligned to its 4-byte elements")
        with nogil:
            nf_mlp_backward(self.ops, self.nops, self.M, pd, prec)

    def __dealloc__(self):
        free(self.ops)
        free(self.updates)

    cdef int _marshal_updates(self, updates) except -1:
        """Fill self.updates from (kind, param, grad, states, floats, ints) tuples (see
        nf_update in csrc/nnfast.h): every array float32, C-contiguous, of param's size."""
        cdef int nu = len(updates), u
        if nu > self.updates_cap:
            free(self.updates)
            self.updates = <nf_update *>calloc(nu, sizeof(nf_update))
            if self.updates == NULL:
                self.updates_cap = 0
                raise MemoryError()
            self.updates_cap = nu
        for u in range(nu):
            _fill_update(&self.updates[u], updates[u], u)
        return nu

    def run(self, x, target, weight, int loss_kind, int reduction, nf_int ignore_index,
            float label_smoothing, float scale, seeds, updates=(), int prec=0):
        """One step over x[M, n_in] (float32) and target (int64[M] for cross entropy,
        float32[M, C] for MSE); seeds: one per dropout op, None for an inactive one;
        updates: optimizer update records run after backward (nf_update), when the loss is
        finite; prec: the GEMMs' precision, as sgemm's (autocast)."""
        _check_prec(prec)
        if _mis_obj(x) or _mis_obj(target) or _mis_obj(weight):
            return _realigned(self.run, (x, target, weight, loss_kind, reduction, ignore_index,
                                         label_smoothing, scale, seeds, updates, prec), ())
        cdef nf_mlp_loss L
        cdef const float *px = <const float *>_ptr(x, self.M * self.n_in, 4, False, "x")
        cdef int i = 0
        cdef double r
        for k in self.dropouts:
            s = seeds[i]
            i += 1
            if s is None:
                self.ops[k].active = 0
            else:
                self.ops[k].active = 1
                self.ops[k].seed = s
        L.kind, L.reduction, L.C, L.ignore_index = loss_kind, reduction, self.C, ignore_index
        L.label_smoothing, L.scale = label_smoothing, scale
        L.target, L.target_f, L.weight = NULL, NULL, NULL
        if loss_kind == 0:
            L.target = <const int64_t *>_ptr(target, self.M, 8, False, "target")
            if weight is not None:
                L.weight = <const float *>_ptr(weight, self.C, 4, False, "weight")
        else:
            L.target_f = <const float *>_ptr(target, self.M * self.C, 4, False, "target")
        cdef int nu = self._marshal_updates(updates) if updates else 0
        with nogil:
            r = nf_mlp_step(self.ops, self.nops, px, self.M, &L, self.dlogits, self.updates,
                            nu, prec)
        return r


cdef int _spatial_op(nf_mlp_op *o, int op, nf_int M, object spatial, object weight,
                     object bias, object dweight, object dbias) except -1:
    """o's geometry and, by kind, its Conv2d parameters and workspace, its MaxPool2d argmax
    buffer or its AvgPool2d options, all checked against (M, C, H, W) -> (M, OC, OH, OW) and
    o's widths."""
    if not isinstance(spatial, tuple) or len(spatial) != 2 or \
            not isinstance(spatial[0], tuple):
        raise ValueError(f"MlpPlan: a conv or pool op needs (geometry, buffer), got "
                         f"{spatial!r}")
    geom, buf = spatial
    o.geom = _geom(geom)
    cdef nf_conv2d_geom *g = &o.geom
    if g.N != M or o.n_in != g.C * g.H * g.W or o.n_out != g.OC * g.OH * g.OW or \
            o.n_out == 0:
        raise ValueError(f"MlpPlan: geometry {geom} does not map {M} x {o.n_in} to "
                         f"{M} x {o.n_out}")
    cdef nf_int n_w = g.OC * (g.C // g.G) * g.KH * g.KW
    if op >= 9:   # pooling: planes of M*C channels, no parameters
        if g.OC != g.C or g.G != 1 or weight is not None:
            raise ValueError(f"MlpPlan: a pool's geometry {geom} changes the channels")
        _pool_fits("MlpPlan", g.H, g.W, g.OH, g.OW, (g.KH, g.KW), (g.sh, g.sw),
                   (g.ph, g.pw), (g.dh, g.dw))
        if op == 9:
            o.idx = <int64_t *>_ptr(buf, M * g.C * g.OH * g.OW, 8, True, "idx")
        elif op == 10:
            cip, div = buf
            o.count_include_pad, o.divisor_override = bool(cip), div
        return 0
    o.weight = <const float *>_ptr(weight, n_w, 4, False, "weight")
    o.dweight = <float *>_ptr(dweight, n_w, 4, True, "dweight")
    if bias is not None:
        o.bias = <const float *>_ptr(bias, g.OC, 4, False, "bias")
        o.dbias = <float *>_ptr(dbias, g.OC, 4, True, "dbias")
    cdef nf_int need = max(nf_conv2d_workspace(g, 0), nf_conv2d_workspace(g, 1))
    o.ws_size = 0 if buf is None else len(buf)
    if o.ws_size < need:
        raise ValueError(f"MlpPlan: conv workspace of {o.ws_size} floats, needs {need}")
    if o.ws_size:
        o.ws = <float *>_ptr(buf, o.ws_size, 4, True, "ws")
    return 0


cdef int _fill_update(nf_update *r, object rec, int u) except -1:
    """r from one (kind, param, grad, states, floats, ints) record (record u of a list)."""
    cdef int j
    cdef nf_int n
    kind, param, grad, states, floats, ints = rec
    if not 1 <= kind <= UPDATE_LAST or len(states) > 3 or len(floats) > 10 or len(ints) > 3:
        raise ValueError(f"MlpPlan: malformed update record {u}")
    for j in range(_UPDATE_STATES_NEEDED[kind]):
        # the C update reads these unconditionally (the others may be NULL)
        if j >= len(states) or states[j] is None:
            raise ValueError(f"MlpPlan: update record {u} (kind {kind}) needs state "
                             f"buffer {j}")
    n = len(param)
    r.kind, r.n = kind, n
    r.param = <float *>_ptr(param, n, 4, True, "param")
    r.grad = <const float *>_ptr(grad, n, 4, False, "grad")
    for j in range(3):
        st = states[j] if j < len(states) else None
        r.state[j] = NULL if st is None else <float *>_ptr(st, n, 4, True, "state")
    for j in range(10):
        r.s[j] = floats[j] if j < len(floats) else 0.0
    for j in range(3):
        r.flag[j] = ints[j] if j < len(ints) else 0
    return 0


def run_update(rec):
    """One optimizer update record (as MlpPlan.run takes them), run now: Optimizer.step's
    one-call path, the very C update compile_step's call makes."""
    cdef nf_update r
    memset(&r, 0, sizeof(nf_update))
    _fill_update(&r, rec, 0)
    if r.n == 0:
        return
    with nogil:
        nf_update_run(&r)


def bad_label(target, nf_int C, nf_int ignore_index):
    """Index of the first label of int64 target outside [0, C) and != ignore_index, or -1."""
    if _mis_obj(target):
        return _realigned(bad_label, (target, C, ignore_index), ())
    cdef nf_int n = len(target)
    if n == 0:
        return -1
    cdef const int64_t *p = <const int64_t *>_ptr(target, n, 8, False, "target")
    return nf_bad_label(p, n, C, ignore_index)


# kinds of update record (nf_update in csrc/nnfast.h)
UPDATE_SGD, UPDATE_ADAM, UPDATE_RMSPROP, UPDATE_ADAGRAD = 1, 2, 3, 4
UPDATE_ADADELTA, UPDATE_ADAMAX, UPDATE_NADAM, UPDATE_RADAM, UPDATE_ASGD, UPDATE_RPROP = range(5, 11)
UPDATE_LAST = UPDATE_RPROP
# state buffers each kind's C update reads without a NULL check (csrc/optim*.c)
_UPDATE_STATES_NEEDED = {UPDATE_SGD: 0, UPDATE_ADAM: 2, UPDATE_RMSPROP: 1, UPDATE_ADAGRAD: 1,
                         UPDATE_ADADELTA: 2, UPDATE_ADAMAX: 2, UPDATE_NADAM: 2, UPDATE_RADAM: 2,
                         UPDATE_ASGD: 1, UPDATE_RPROP: 2}
