"""L-BFGS (torch.optim.LBFGS), with an optional strong-Wolfe line search.

What it is: torch 2.13's algorithm step for step, in NumPy over the one parameter group's flat
buffer (optimizer.py): the gradient is the flat gradient buffer (copied), a move along the
search direction is one fused multiply-add over the flat parameter buffer. Every quantity
torch keeps as a 0-d float32 tensor (dot products, ro, H_diag, step lengths derived from them)
is a NumPy float32 scalar here and every Python float stays a Python float, so mixed arithmetic
rounds as torch's does (NumPy 2's scalar promotion matches torch's: float32 op Python float is
float32). Dot products are BLAS sums in both and may differ in the last bits, so iterates agree
with torch to float32 rounding, not bit for bit.

What it is not: no parameter groups (one, as torch), no sparse or complex parameters, no C
kernel (the two-loop recursion is a few BLAS-1 calls per history entry).

State (torch's keys, on the first parameter): func_evals, n_iter, d, t, old_dirs, old_stps,
ro, H_diag, prev_flat_grad, prev_loss, al; vectors are nnfast Tensors of the flat size.
"""
import copy

import numpy as np

from .. import autograd as ag
from ..tensor import Tensor, to_numpy
from ._functional import _fma
from .optimizer import Optimizer, _nonneg

__all__ = ["LBFGS"]

_F32 = np.float32


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to bounds."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """Line search for a step t along d satisfying the strong Wolfe conditions (bracketing
    then zoom, as torch's port of minFunc's lswolfe). Returns (f_new, g_new, t, evals)."""
    d_norm = np.abs(d).max()
    g = g.copy()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = g_new.dot(d)
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                               bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new.copy(), gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom: shrink the bracket until a point satisfies the conditions
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1],
                               bracket_f[1], bracket_gtd[1])
        # too close to an end of the bracket: move 10% of its length inside
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new.copy(), gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new.copy(), gtd_new
    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


def _scalar(v):
    """A loaded 0-d tensor as torch computes with it: a NumPy scalar of its dtype."""
    if isinstance(v, (Tensor, np.ndarray)) or hasattr(v, "detach"):
        return np.array(to_numpy(v)).reshape(())[()]
    return v


class LBFGS(Optimizer):
    _has_step = False

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                        tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                        history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    @staticmethod
    def _validate(group):
        _nonneg(group, "lr", "learning rate")

    def add_param_group(self, param_group):
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    # ------------------------------------------------------------------ flat vectors
    def _gather_flat_grad(self):
        """A fresh copy of the flat gradient (zeros for parameters without one)."""
        fl = self._flat[0]
        idx, fast = fl.gather()
        if fast and len(idx) == len(fl.params):
            return fl.grad.copy()
        out = np.zeros(fl.numel, fl.dtype)
        for i in idx:
            fl.view(out, i)[...] = fl.params[i].grad._storage
        return out

    def _add_grad(self, step_size, update):
        """params += step_size * update (torch's add_ with alpha: one rounding)."""
        fl = self._flat[0]
        alpha = fl.dtype.type(step_size)
        if all(p._storage is v for p, v in zip(fl.params, fl.views)):
            fl.param[...] = _fma(update, alpha, fl.param)
            return
        for i, p in enumerate(fl.params):
            p._storage[...] = _fma(fl.view(update, i), alpha, p._storage)

    def _clone_param(self):
        return [p._storage.copy() for p in self._params]

    def _set_param(self, params_data):
        for p, data in zip(self._params, params_data):
            p._storage[...] = data

    def _directional_evaluate(self, closure, x, t, d):
        self._add_grad(t, d)
        loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # ------------------------------------------------------------------ step
    def step(self, closure):
        """Up to max_iter L-BFGS iterations; closure() re-evaluates the model and returns the
        loss (it must compute the gradients). Returns the first closure() value."""
        if closure is None:
            raise TypeError("LBFGS.step() needs a closure that re-evaluates the model and "
                            "returns the loss")

        def evaluate():
            with ag.enable_grad():
                return closure()

        with ag.no_grad():
            return self._step(evaluate)

    def _step(self, closure):
        group = self.param_groups[0]
        lr = group["lr"]
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]

        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        opt_cond = np.abs(flat_grad).max() <= tolerance_grad
        if opt_cond:
            return orig_loss

        d = self._vec(state.get("d"))
        t = state.get("t")
        old_dirs = [self._vec(v) for v in state.get("old_dirs") or []]
        old_stps = [self._vec(v) for v in state.get("old_stps") or []]
        ro = list(state.get("ro") or [])
        H_diag = state.get("H_diag")
        prev_flat_grad = self._vec(state.get("prev_flat_grad"))
        prev_loss = state.get("prev_loss")
        if state.get("old_dirs") is None:
            old_dirs = old_stps = ro = None

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # ---- descent direction
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = y.dot(s)
                if ys > 1e-10:
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(_F32(1.0) / ys)
                    H_diag = ys / y.dot(y)
                num_old = len(old_dirs)
                if "al" not in state:
                    state["al"] = [None] * history_size
                al = state["al"]
                # two-loop recursion, one buffer
                q = -flat_grad
                for i in range(num_old - 1, -1, -1):
                    al[i] = old_stps[i].dot(q) * ro[i]
                    q = _fma(old_dirs[i], -al[i], q)
                d = r = q * H_diag
                for i in range(num_old):
                    be_i = old_dirs[i].dot(r) * ro[i]
                    r[...] = _fma(old_stps[i], al[i] - be_i, r)

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                prev_flat_grad[...] = flat_grad
            prev_loss = loss

            # ---- step length
            if state["n_iter"] == 1:
                t = min(1.0, _F32(1.0) / np.abs(flat_grad).sum()) * lr
            else:
                t = lr
            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                if line_search_fn != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x_init = self._clone_param()

                def obj_func(x, t, d):
                    return self._directional_evaluate(closure, x, t, d)
                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd,
                    max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = np.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_grad(t, d)
                if n_iter != max_iter:
                    loss = float(closure())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = np.abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # ---- stopping conditions
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d * t).max() <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state["d"] = Tensor._make(d)
        state["t"] = t
        state["old_dirs"] = [Tensor._make(v) for v in old_dirs]
        state["old_stps"] = [Tensor._make(v) for v in old_stps]
        state["ro"] = ro
        state["H_diag"] = H_diag
        state["prev_flat_grad"] = Tensor._make(prev_flat_grad)
        state["prev_loss"] = prev_loss
        return orig_loss

    @staticmethod
    def _vec(v):
        return None if v is None else to_numpy(v)

    # ------------------------------------------------------------------ state_dict
    def load_state_dict(self, state_dict):
        """Load an LBFGS state_dict from nnfast or torch.optim (its state vectors have the
        flat size, not a parameter's shape)."""
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != 1 or len(saved_groups[0]["params"]) != len(self._params):
            raise ValueError("loaded state dict does not match this LBFGS's parameter group")
        group = self.param_groups[0]
        params = group["params"]
        group.clear()
        group.update(copy.deepcopy({k: v for k, v in saved_groups[0].items() if k != "params"}))
        group["params"] = params
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self.state.clear()
        first = saved_groups[0]["params"][0]
        saved = state_dict["state"].get(first)
        if not saved:
            return
        numel = self._flat[0].numel
        st = self.state[self._params[0]]
        for key, value in saved.items():
            if key in ("d", "prev_flat_grad"):
                st[key] = Tensor._make(self._loaded_vec(value, numel, key))
            elif key in ("old_dirs", "old_stps"):
                st[key] = [Tensor._make(self._loaded_vec(v, numel, key)) for v in value]
            elif key in ("ro", "al"):
                st[key] = [None if v is None else _scalar(v) for v in value]
            else:
                st[key] = _scalar(value) if key in ("t", "H_diag") else copy.deepcopy(value)

    def _loaded_vec(self, value, numel, key):
        arr = np.array(to_numpy(value), dtype=self._flat[0].dtype).reshape(-1)
        if arr.size != numel:
            raise ValueError(f"loaded LBFGS state '{key}' has {arr.size} elements, the "
                             f"parameters have {numel}")
        return arr
