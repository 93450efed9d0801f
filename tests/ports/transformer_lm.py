"""A Transformer language model, in the shape of the TransformerModel and PositionalEncoding
of pytorch/examples word_language_model/model.py: sinusoidal encodings built with
torch.arange, torch.exp, math.log and strided slice assignment pe[:, 0::2] = torch.sin(...),
kept with register_buffer, a causal mask torch.log(torch.tril(torch.ones(sz, sz))),
nn.TransformerEncoder over nn.TransformerEncoderLayer, the embedding scaled by
math.sqrt(ninp), log_softmax + NLLLoss, init_weights with uniform_ / zeros_, Adam and
clip_grad_norm_; evaluation under model.eval() and no_grad. Dropout is 0."""
import math

from _corpus import corpus

NTOKEN, NINP, NHEAD, NHID, NLAYERS = 20, 16, 2, 32, 2


def build(torch, nn, F):
    class PositionalEncoding(nn.Module):
        def __init__(self, d_model, dropout=0.1, max_len=64):
            super(PositionalEncoding, self).__init__()
            self.dropout = nn.Dropout(p=dropout)
            pe = torch.zeros(max_len, d_model)
            position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, d_model, 2).float()
                                 * (-math.log(10000.0) / d_model))
            pe[:, 0::2] = torch.sin(position * div_term)
            pe[:, 1::2] = torch.cos(position * div_term)
            pe = pe.unsqueeze(0).transpose(0, 1)
            self.register_buffer("pe", pe)

        def forward(self, x):
            x = x + self.pe[:x.size(0), :]
            return self.dropout(x)

    class TransformerModel(nn.Module):
        def __init__(self, ntoken, ninp, nhead, nhid, nlayers, dropout=0.5):
            super(TransformerModel, self).__init__()
            self.src_mask = None
            self.pos_encoder = PositionalEncoding(ninp, dropout)
            encoder_layers = nn.TransformerEncoderLayer(ninp, nhead, nhid, dropout)
            self.transformer_encoder = nn.TransformerEncoder(encoder_layers, nlayers,
                                                             enable_nested_tensor=False)
            self.input_emb = nn.Embedding(ntoken, ninp)
            self.ninp = ninp
            self.decoder = nn.Linear(ninp, ntoken)
            self.init_weights()

        def _generate_square_subsequent_mask(self, sz):
            return torch.log(torch.tril(torch.ones(sz, sz)))

        def init_weights(self):
            initrange = 0.1
            nn.init.uniform_(self.input_emb.weight, -initrange, initrange)
            nn.init.zeros_(self.decoder.bias)
            nn.init.uniform_(self.decoder.weight, -initrange, initrange)

        def forward(self, src, has_mask=True):
            if has_mask:
                device = src.device
                if self.src_mask is None or self.src_mask.size(0) != len(src):
                    mask = self._generate_square_subsequent_mask(len(src)).to(device)
                    self.src_mask = mask
            else:
                self.src_mask = None
            src = self.input_emb(src) * math.sqrt(self.ninp)
            src = self.pos_encoder(src)
            output = self.transformer_encoder(src, self.src_mask)
            output = self.decoder(output)
            return F.log_softmax(output, dim=-1)

    return {"model": TransformerModel(NTOKEN, NINP, NHEAD, NHID, NLAYERS, dropout=0.0)}


def train(torch, nn, F, optim, data, models, epochs=2, batch_size=8, bptt=12, clip=0.5):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ids = torch.tensor(corpus(n_tokens=900, vocab=NTOKEN, seed=4))

    def batchify(data, bsz):
        nbatch = data.size(0) // bsz
        data = data[:nbatch * bsz]
        return data.view(bsz, -1).t().contiguous().to(device)

    train_data, val_data = batchify(ids[:720], batch_size), batchify(ids[720:], 4)
    model = models["model"].to(device)
    criterion = nn.NLLLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def get_batch(source, i):
        seq_len = min(bptt, len(source) - 1 - i)
        return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].reshape(-1)

    out = {"train": [], "val": []}
    for epoch in range(epochs):
        model.train()
        for i in range(0, train_data.size(0) - 1, bptt):
            data, targets = get_batch(train_data, i)
            optimizer.zero_grad()
            output = model(data)
            loss = criterion(output.view(-1, NTOKEN), targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            out["train"].append(loss.item())
        model.eval()
        total = 0.0
        with torch.no_grad():
            for i in range(0, val_data.size(0) - 1, bptt):
                data, targets = get_batch(val_data, i)
                output = model(data)
                total += len(data) * criterion(output.view(-1, NTOKEN), targets).item()
        out["val"].append(total / (len(val_data) - 1))
        print(f"| end of epoch {epoch + 1} | valid loss {out['val'][-1]:5.2f} | "
              f"valid ppl {math.exp(out['val'][-1]):8.2f}")
    return out


if __name__ == "__main__":
    import sys
    from _lib import main
    main(sys.modules[__name__])
