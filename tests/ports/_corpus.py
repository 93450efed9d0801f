"""A synthetic corpus for the language models: token ids from a fixed random bigram chain
(so there is something to learn), as an int64 NumPy array."""
import numpy as np


def corpus(n_tokens=2000, vocab=20, seed=0):
    rng = np.random.default_rng(seed)
    nxt = rng.dirichlet(np.full(vocab, 0.3), size=vocab)   # row i: P(next | i)
    ids = np.empty(n_tokens, dtype=np.int64)
    ids[0] = 0
    u = rng.random(n_tokens)
    cum = nxt.cumsum(1)
    for i in range(1, n_tokens):
        ids[i] = min(int(np.searchsorted(cum[ids[i - 1]], u[i])), vocab - 1)
    return ids
