"""A character-level GPT, in the shape of karpathy/ng-video-lecture gpt.py (the "Let's build
GPT" lecture): token and position nn.Embedding, Heads whose causal mask is a buffer made
with register_buffer("tril", torch.tril(torch.ones(T, T))) and applied with
masked_fill(self.tril[:T, :T] == 0, float("-inf")), attention weights from q @ k.transpose(-2, -1)
scaled by C ** -0.5 and F.softmax, MultiHeadAttention concatenating heads with torch.cat,
pre-norm Blocks with LayerNorm and `x = x + self.sa(self.ln1(x))`, logits.view(B*T, C) into
F.cross_entropy, AdamW, estimate_loss() decorated with @torch.no_grad() switching
model.eval() / model.train(), and greedy generation cropping the context to block_size.

Batches come from a NumPy generator (the lecture calls torch.randint); dropout is 0; the
lecture samples with torch.multinomial where this takes the argmax."""
import numpy as np

from _corpus import corpus

VOCAB, BLOCK, N_EMBD, N_HEAD, N_LAYER = 20, 8, 16, 2, 2


def build(torch, nn, F, dropout=0.0):
    class Head(nn.Module):
        """one head of self-attention"""

        def __init__(self, head_size):
            super().__init__()
            self.key = nn.Linear(N_EMBD, head_size, bias=False)
            self.query = nn.Linear(N_EMBD, head_size, bias=False)
            self.value = nn.Linear(N_EMBD, head_size, bias=False)
            self.register_buffer("tril", torch.tril(torch.ones(BLOCK, BLOCK)))
            self.dropout = nn.Dropout(dropout)

        def forward(self, x):
            B, T, C = x.shape
            k = self.key(x)
            q = self.query(x)
            wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5
            wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))
            wei = F.softmax(wei, dim=-1)
            wei = self.dropout(wei)
            v = self.value(x)
            return wei @ v

    class MultiHeadAttention(nn.Module):
        def __init__(self, num_heads, head_size):
            super().__init__()
            self.heads = nn.ModuleList([Head(head_size) for _ in range(num_heads)])
            self.proj = nn.Linear(head_size * num_heads, N_EMBD)
            self.dropout = nn.Dropout(dropout)

        def forward(self, x):
            out = torch.cat([h(x) for h in self.heads], dim=-1)
            return self.dropout(self.proj(out))

    class FeedForward(nn.Module):
        def __init__(self, n_embd):
            super().__init__()
            self.net = nn.Sequential(
                nn.Linear(n_embd, 4 * n_embd),
                nn.ReLU(),
                nn.Linear(4 * n_embd, n_embd),
                nn.Dropout(dropout),
            )

        def forward(self, x):
            return self.net(x)

    class Block(nn.Module):
        def __init__(self, n_embd, n_head):
            super().__init__()
            head_size = n_embd // n_head
            self.sa = MultiHeadAttention(n_head, head_size)
            self.ffwd = FeedForward(n_embd)
            self.ln1 = nn.LayerNorm(n_embd)
            self.ln2 = nn.LayerNorm(n_embd)

        def forward(self, x):
            x = x + self.sa(self.ln1(x))
            x = x + self.ffwd(self.ln2(x))
            return x

    class GPTLanguageModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.token_embedding_table = nn.Embedding(VOCAB, N_EMBD)
            self.position_embedding_table = nn.Embedding(BLOCK, N_EMBD)
            self.blocks = nn.Sequential(*[Block(N_EMBD, n_head=N_HEAD) for _ in range(N_LAYER)])
            self.ln_f = nn.LayerNorm(N_EMBD)
            self.lm_head = nn.Linear(N_EMBD, VOCAB)
            self.apply(self._init_weights)

        def _init_weights(self, module):
            if isinstance(module, nn.Linear):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    torch.nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

        def forward(self, idx, targets=None):
            B, T = idx.shape
            tok_emb = self.token_embedding_table(idx)
            pos_emb = self.position_embedding_table(torch.arange(T, device=idx.device))
            x = tok_emb + pos_emb
            x = self.blocks(x)
            x = self.ln_f(x)
            logits = self.lm_head(x)
            if targets is None:
                loss = None
            else:
                B, T, C = logits.shape
                logits = logits.view(B * T, C)
                targets = targets.view(B * T)
                loss = F.cross_entropy(logits, targets)
            return logits, loss

        def generate(self, idx, max_new_tokens):
            for _ in range(max_new_tokens):
                idx_cond = idx[:, -BLOCK:]
                logits, loss = self(idx_cond)
                logits = logits[:, -1, :]
                probs = F.softmax(logits, dim=-1)
                idx_next = torch.argmax(probs, dim=-1, keepdim=True)
                idx = torch.cat((idx, idx_next), dim=1)
            return idx

    return {"model": GPTLanguageModel()}


def train(torch, nn, F, optim, data, models, max_iters=30, eval_interval=10, eval_iters=4,
          batch_size=16, learning_rate=3e-3, seed=0):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    ids = torch.tensor(corpus(n_tokens=1500, vocab=VOCAB, seed=2), dtype=torch.long)
    n = int(0.9 * len(ids))
    train_data, val_data = ids[:n], ids[n:]
    rng = np.random.default_rng(seed)

    def get_batch(split):
        d = train_data if split == "train" else val_data
        ix = rng.integers(0, len(d) - BLOCK, batch_size)
        x = torch.stack([d[i:i + BLOCK] for i in ix])
        y = torch.stack([d[i + 1:i + BLOCK + 1] for i in ix])
        return x.to(device), y.to(device)

    model = models["model"]
    m = model.to(device)
    print(sum(p.numel() for p in m.parameters()) / 1e6, "M parameters")
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)

    @torch.no_grad()
    def estimate_loss():
        out = {}
        model.eval()
        for split in ["train", "val"]:
            losses = torch.zeros(eval_iters)
            for k in range(eval_iters):
                X, Y = get_batch(split)
                logits, loss = model(X, Y)
                losses[k] = loss.item()
            out[split] = losses.mean()
        model.train()
        return out

    report = {"train": [], "eval_train": [], "eval_val": [], "generated": []}
    for iter in range(max_iters):
        if iter % eval_interval == 0 or iter == max_iters - 1:
            losses = estimate_loss()
            print(f"step {iter}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
            report["eval_train"].append(losses["train"].item())
            report["eval_val"].append(losses["val"].item())
        xb, yb = get_batch("train")
        logits, loss = model(xb, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        report["train"].append(loss.item())

    context = torch.zeros((1, 1), dtype=torch.long, device=device)
    with torch.no_grad():
        report["generated"] = m.generate(context, max_new_tokens=12)[0].tolist()
    return report


if __name__ == "__main__":
    import sys
    from _lib import main
    main(sys.modules[__name__])
