"""Attention functionals (torch.nn.functional's scaled_dot_product_attention and
multi_head_attention_forward), composed from existing nnfast ops: F.linear and bmm/matmul
(compiled GEMM for float32), softmax (compiled kernel), dropout, and view/transpose ops.

Not here: fused attention kernels (flash / memory-efficient), nested tensors, static_k/v.
"""
import math

import numpy as np

from ..tensor import Tensor
from ._functional_act import softmax
from ._functional_dropout import dropout

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


class MaskShapeError(AssertionError, RuntimeError):
    """A mask or input of the wrong shape: torch raises AssertionError for some of these and
    RuntimeError for others; this is both, so either habit of catching it works."""


def _float_mask(mask, name, dtype, negate=False):
    """torch's canonical mask: None, or a float Tensor added to the scores (bool True ->
    -inf; with negate, bool False -> -inf, SDPA's convention where True means 'attend')."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(mask).__name__}")
    md = mask._storage
    if md.dtype == np.bool_:
        blocked = ~md if negate else md
        return Tensor._make(np.where(blocked, -np.inf, 0.0).astype(dtype))
    if md.dtype.kind != "f":
        raise AssertionError(f"only bool and floating types of {name} are supported")
    return mask if md.dtype == dtype else mask.to(dtype)


def _safe_softmax(scores):
    """softmax over the last dimension, with 0 (not NaN) for rows whose scores are all
    -inf, as torch's scaled_dot_product_attention gives; their gradient is 0 as well."""
    dead = np.all(np.isneginf(scores._storage), axis=-1, keepdims=True)
    if not dead.any():
        return softmax(scores, dim=-1)
    dead = Tensor._make(dead)
    return softmax(scores.masked_fill(dead, 0.0), dim=-1).masked_fill(dead, 0.0)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """softmax(q @ k^T * scale + mask) @ v over the last two dimensions; a bool attn_mask
    says which positions take part (True = attend), a float one is added to the scores."""
    for n, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"scaled_dot_product_attention: {n} must be a Tensor, "
                            f"got {type(t).__name__}")
        if t.dim() < 2:
            raise RuntimeError(f"scaled_dot_product_attention: {n} must have at least 2 "
                               f"dimensions (..., seq, features), got shape {tuple(t.shape)}")
    L, E = query.shape[-2], query.shape[-1]
    S = key.shape[-2]
    if key.shape[-1] != E:
        raise RuntimeError(f"scaled_dot_product_attention: query's last dimension {E} and "
                           f"key's {key.shape[-1]} must be equal")
    if value.shape[-2] != S:
        raise RuntimeError(f"scaled_dot_product_attention: key has {S} positions but value "
                           f"has {value.shape[-2]}")
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be "
                           "set when is_causal=True")
    if enable_gqa and query.dim() >= 3 and key.shape[-3] != query.shape[-3]:
        hq, hk = query.shape[-3], key.shape[-3]
        if hq % hk:
            raise RuntimeError(f"scaled_dot_product_attention: with enable_gqa the query's "
                               f"{hq} heads must be a multiple of the key's {hk}")
        key = key.repeat_interleave(hq // hk, dim=-3)
        value = value.repeat_interleave(hq // hk, dim=-3)
    scale = 1.0 / math.sqrt(E) if scale is None else float(scale)
    scores = (query * scale).matmul(key.transpose(-2, -1))
    if is_causal:
        blocked = np.triu(np.ones((L, S), dtype=bool), 1)
        attn_mask = Tensor._make(np.where(blocked, -np.inf, 0.0).astype(scores.dtype))
    else:
        attn_mask = _float_mask(attn_mask, "attn_mask", scores.dtype, negate=True)
    if attn_mask is not None:
        try:
            np.broadcast_shapes(tuple(attn_mask.shape), tuple(scores.shape))
        except ValueError:
            raise RuntimeError(f"scaled_dot_product_attention: attn_mask of shape "
                               f"{tuple(attn_mask.shape)} does not broadcast to the attention "
                               f"scores' shape {tuple(scores.shape)}") from None
        scores = scores + attn_mask
    weights = _safe_softmax(scores)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, training=True)
    return weights.matmul(value)


def _check_mask_shapes(attn_mask, tgt_len, src_len, bsz_heads):
    if attn_mask.dim() == 2:
        if tuple(attn_mask.shape) != (tgt_len, src_len):
            raise RuntimeError(f"The shape of the 2D attn_mask is {tuple(attn_mask.shape)}, "
                               f"but should be {(tgt_len, src_len)}.")
        return attn_mask.unsqueeze(0)
    if attn_mask.dim() == 3:
        if tuple(attn_mask.shape) != (bsz_heads, tgt_len, src_len):
            raise RuntimeError(f"The shape of the 3D attn_mask is {tuple(attn_mask.shape)}, "
                               f"but should be {(bsz_heads, tgt_len, src_len)}.")
        return attn_mask
    raise MaskShapeError(f"attn_mask's dimension {attn_mask.dim()} is not supported: expected "
                         f"a 2-D (L, S) or 3-D (N*num_heads, L, S) mask")


def _pad_last(t, n=1):
    """t with n zero columns appended on its last dimension (masks under bias_kv/zero_attn)."""
    from .. import cat, zeros
    return cat([t, zeros(tuple(t.shape[:-1]) + (n,), dtype=t.dtype)], dim=-1)


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads,
                                 in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
                                 dropout_p, out_proj_weight, out_proj_bias, training=True,
                                 key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights=True, is_causal=False):
    """Multi-head attention on (L, N, E) sequence-first inputs (or unbatched (L, E));
    returns (output, weights or None) as torch's function does."""
    from .. import cat, zeros
    from .functional import linear
    if static_k is not None or static_v is not None:
        raise NotImplementedError("multi_head_attention_forward: static_k / static_v are not "
                                  "supported by nnfast")
    for n, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"multi_head_attention_forward: {n} must be a Tensor, "
                            f"got {type(t).__name__}")
    batched = query.dim() == 3
    if query.dim() not in (2, 3) or key.dim() != query.dim() or value.dim() != query.dim():
        raise MaskShapeError(f"multi_head_attention_forward: query, key and value must all be "
                             f"3-D (L, N, E) or all 2-D (L, E); got shapes "
                             f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            if key_padding_mask.dim() != 1:
                raise MaskShapeError(f"For unbatched (2-D) `query`, expected "
                                     f"`key_padding_mask` to be `None` or 1-D but found "
                                     f"{key_padding_mask.dim()}-D tensor instead")
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    if embed_dim != embed_dim_to_check:
        raise MaskShapeError(f"was expecting embedding dimension of {embed_dim_to_check}, "
                             f"but got {embed_dim}")
    if key.shape[:2] != value.shape[:2] or key.shape[1] != bsz:
        raise MaskShapeError(f"key shape {tuple(key.shape)} does not match value shape "
                             f"{tuple(value.shape)} (or the query's batch {bsz})")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the "
                           "Transformer module method `generate_square_subsequent_mask` to "
                           "create this mask.")
    dtype = query.dtype
    key_padding_mask = _float_mask(key_padding_mask, "key_padding_mask", dtype)
    attn_mask = _float_mask(attn_mask, "attn_mask", dtype)

    # input projections
    if not use_separate_proj_weight:
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        w_q, w_k, w_v = in_proj_weight.chunk(3)
    else:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is True but q_proj_weight, "
                                 "k_proj_weight or v_proj_weight is None")
        w_q, w_k, w_v = q_proj_weight, k_proj_weight, v_proj_weight
    b_q = b_k = b_v = None
    if in_proj_bias is not None:
        b_q, b_k, b_v = in_proj_bias.chunk(3)
    if not use_separate_proj_weight and query is key and key is value:
        # self-attention: one GEMM against the packed (3E, E) weight, as torch does
        q, k, v = linear(query, in_proj_weight, in_proj_bias,
                         _who="MultiheadAttention (in_proj)").chunk(3, dim=-1)
    else:
        q = linear(query, w_q, b_q, _who="MultiheadAttention (query projection)")
        k = linear(key, w_k, b_k, _who="MultiheadAttention (key projection)")
        v = linear(value, w_v, b_v, _who="MultiheadAttention (value projection)")

    if attn_mask is not None:
        attn_mask = _check_mask_shapes(attn_mask, tgt_len, src_len, bsz * num_heads)
    if bias_k is not None and bias_v is not None:
        k = cat([k, bias_k.expand(1, bsz, embed_dim)])
        v = cat([v, bias_v.expand(1, bsz, embed_dim)])
        if attn_mask is not None:
            attn_mask = _pad_last(attn_mask)
        if key_padding_mask is not None:
            key_padding_mask = _pad_last(key_padding_mask)

    # (L, N, E) -> (N*H, L, head_dim)
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    k = k.reshape(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    v = v.reshape(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    if add_zero_attn:
        k = cat([k, zeros((bsz * num_heads, 1, head_dim), dtype=k.dtype)], dim=1)
        v = cat([v, zeros((bsz * num_heads, 1, head_dim), dtype=v.dtype)], dim=1)
        if attn_mask is not None:
            attn_mask = _pad_last(attn_mask)
        if key_padding_mask is not None:
            key_padding_mask = _pad_last(key_padding_mask)
    src_len = k.shape[1]

    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            raise MaskShapeError(f"expecting key_padding_mask shape of {(bsz, src_len)}, but "
                                 f"got {tuple(key_padding_mask.shape)}")
        kpm = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(
            bsz, num_heads, 1, src_len).reshape(bsz * num_heads, 1, src_len)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0

    scores = (q * math.sqrt(1.0 / head_dim)).bmm(k.transpose(1, 2))
    if attn_mask is not None:
        scores = scores + attn_mask
    # torch computes the weights it returns with a plain softmax (a fully masked row is NaN)
    # and, without them, runs scaled_dot_product_attention (such a row is 0)
    weights = softmax(scores, dim=-1) if need_weights else _safe_softmax(scores)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, training=True)
    out = weights.bmm(v)                                      # (N*H, L, head_dim)
    out = out.transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
    out = linear(out, out_proj_weight, out_proj_bias, _who="MultiheadAttention (out_proj)")
    out = out.reshape(tgt_len, bsz, embed_dim)
    if need_weights:
        weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if not batched:
            return out.squeeze(1), weights.squeeze(0)
        return out, weights
    if not batched:
        out = out.squeeze(1)
    return out, None
