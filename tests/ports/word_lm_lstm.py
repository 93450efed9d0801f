"""A word-level LSTM language model, in the shape of pytorch/examples word_language_model
(main.py + model.py): Embedding -> Dropout -> nn.LSTM (sequence first, 2 layers, dropout)
-> Dropout -> Linear decoder, init_weights with nn.init.uniform_ / zeros_, init_hidden with
weight.new_zeros, batchify with narrow / view / t().contiguous(), get_batch slicing the
source, repackage_hidden detaching (h, c), NLLLoss on log_softmax, clip_grad_norm_ and the
example's hand-written SGD `p.data.add_(p.grad, alpha=-lr)`; evaluate() under no_grad,
perplexity with math.exp, the lr annealed by 4 when validation does not improve.

Dropout is 0 (its masks come from each library's generator); a synthetic corpus."""
import math

from _corpus import corpus

NTOKEN = 20


def build(torch, nn, F, rnn_type="LSTM", ninp=16, nhid=24, nlayers=2, dropout=0.0,
          tie_weights=False):
    class RNNModel(nn.Module):
        """Container module with an encoder, a recurrent module, and a decoder."""

        def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5,
                     tie_weights=False):
            super(RNNModel, self).__init__()
            self.ntoken = ntoken
            self.drop = nn.Dropout(dropout)
            self.encoder = nn.Embedding(ntoken, ninp)
            if rnn_type in ["LSTM", "GRU"]:
                self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
            else:
                nonlinearity = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}[rnn_type]
                self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity,
                                  dropout=dropout)
            self.decoder = nn.Linear(nhid, ntoken)
            if tie_weights:
                if nhid != ninp:
                    raise ValueError("When using the tied flag, nhid must be equal to emsize")
                self.decoder.weight = self.encoder.weight
            self.init_weights()
            self.rnn_type = rnn_type
            self.nhid = nhid
            self.nlayers = nlayers

        def init_weights(self):
            initrange = 0.1
            nn.init.uniform_(self.encoder.weight, -initrange, initrange)
            nn.init.zeros_(self.decoder.bias)
            nn.init.uniform_(self.decoder.weight, -initrange, initrange)

        def forward(self, input, hidden):
            emb = self.drop(self.encoder(input))
            output, hidden = self.rnn(emb, hidden)
            output = self.drop(output)
            decoded = self.decoder(output)
            decoded = decoded.view(-1, self.ntoken)
            return F.log_softmax(decoded, dim=1), hidden

        def init_hidden(self, bsz):
            weight = next(self.parameters())
            if self.rnn_type == "LSTM":
                return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                        weight.new_zeros(self.nlayers, bsz, self.nhid))
            else:
                return weight.new_zeros(self.nlayers, bsz, self.nhid)

    return {"model": RNNModel(rnn_type, NTOKEN, ninp, nhid, nlayers, dropout, tie_weights)}


def train(torch, nn, F, optim, data, models, epochs=2, batch_size=8, bptt=10, lr=5.0,
          clip=0.25):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ids = corpus(n_tokens=1200, vocab=NTOKEN)
    train_ids, val_ids = torch.tensor(ids[:960]), torch.tensor(ids[960:])

    def batchify(data, bsz):
        nbatch = data.size(0) // bsz
        data = data.narrow(0, 0, nbatch * bsz)
        data = data.view(bsz, -1).t().contiguous()
        return data.to(device)

    eval_batch_size = 4
    train_data = batchify(train_ids, batch_size)
    val_data = batchify(val_ids, eval_batch_size)
    model = models["model"].to(device)
    criterion = nn.NLLLoss()

    def repackage_hidden(h):
        """Wraps hidden states in new Tensors, to detach them from their history."""
        if isinstance(h, torch.Tensor):
            return h.detach()
        else:
            return tuple(repackage_hidden(v) for v in h)

    def get_batch(source, i):
        seq_len = min(bptt, len(source) - 1 - i)
        data = source[i:i + seq_len]
        target = source[i + 1:i + 1 + seq_len].view(-1)
        return data, target

    def evaluate(data_source):
        model.eval()
        total_loss = 0.
        hidden = model.init_hidden(eval_batch_size)
        with torch.no_grad():
            for i in range(0, data_source.size(0) - 1, bptt):
                data, targets = get_batch(data_source, i)
                output, hidden = model(data, hidden)
                hidden = repackage_hidden(hidden)
                total_loss += len(data) * criterion(output, targets).item()
        return total_loss / (len(data_source) - 1)

    out = {"train": [], "val": [], "ppl": []}
    best_val_loss = None
    for epoch in range(1, epochs + 1):
        model.train()
        hidden = model.init_hidden(batch_size)
        for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
            data, targets = get_batch(train_data, i)
            model.zero_grad()
            hidden = repackage_hidden(hidden)
            output, hidden = model(data, hidden)
            loss = criterion(output, targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            out["train"].append(loss.item())
        val_loss = evaluate(val_data)
        print("| end of epoch {:3d} | valid loss {:5.2f} | valid ppl {:8.2f}".format(
            epoch, val_loss, math.exp(val_loss)))
        out["val"].append(val_loss)
        out["ppl"].append(math.exp(val_loss))
        if not best_val_loss or val_loss < best_val_loss:
            best_val_loss = val_loss
        else:
            lr /= 4.0
    return out


if __name__ == "__main__":
    import sys
    from _lib import main
    main(sys.modules[__name__])
