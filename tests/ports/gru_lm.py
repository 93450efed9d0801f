"""A batch-first recurrent language model, in the shape of yunjey/pytorch-tutorial
language_model/main.py, with a GRU in place of its LSTM and the decoder tied to the
embedding (word_language_model's --tied): ids laid out (batch, time), states detached
between windows, out.reshape(out.size(0) * out.size(1), out.size(2)), CrossEntropyLoss,
nn.utils.clip_grad_norm_(..., 0.5), AdamW, perplexity with np.exp, then greedy generation
under no_grad (`input.fill_(word_id)`) where the tutorial samples with torch.multinomial."""
import numpy as np

from _corpus import corpus

VOCAB, EMBED, LAYERS = 20, 16, 1


def build(torch, nn, F):
    class RNNLM(nn.Module):
        def __init__(self, vocab_size, embed_size, hidden_size, num_layers):
            super(RNNLM, self).__init__()
            self.embed = nn.Embedding(vocab_size, embed_size)
            self.gru = nn.GRU(embed_size, hidden_size, num_layers, batch_first=True)
            self.linear = nn.Linear(hidden_size, vocab_size)
            self.linear.weight = self.embed.weight          # tied: hidden_size == embed_size

        def forward(self, x, h):
            x = self.embed(x)
            out, h = self.gru(x, h)
            out = out.reshape(out.size(0) * out.size(1), out.size(2))
            out = self.linear(out)
            return out, h

    return {"model": RNNLM(VOCAB, EMBED, EMBED, LAYERS)}


def train(torch, nn, F, optim, data, models, num_epochs=2, batch_size=8, seq_length=12,
          learning_rate=0.01, num_samples=20):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ids = corpus(n_tokens=1000, vocab=VOCAB, seed=1)
    n = len(ids) // batch_size * batch_size
    ids = torch.tensor(ids[:n]).view(batch_size, -1)
    num_batches = ids.size(1) // seq_length
    model = models["model"].to(device)
    assert model.linear.weight is model.embed.weight
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)

    def detach(state):
        return state.detach()

    out = {"train": [], "generated": []}
    for epoch in range(num_epochs):
        state = torch.zeros(LAYERS, batch_size, EMBED).to(device)
        for i in range(0, ids.size(1) - seq_length, seq_length):
            inputs = ids[:, i:i + seq_length].to(device)
            targets = ids[:, (i + 1):(i + 1) + seq_length].to(device)
            state = detach(state)
            outputs, state = model(inputs, state)
            loss = criterion(outputs, targets.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            optimizer.step()
            step = (i + 1) // seq_length
            if step % 10 == 0:
                print("Epoch [{}/{}], Step[{}/{}], Loss: {:.4f}, Perplexity: {:5.2f}".format(
                    epoch + 1, num_epochs, step, num_batches, loss.item(),
                    np.exp(loss.item())))
            out["train"].append(loss.item())

    model.eval()
    with torch.no_grad():
        state = torch.zeros(LAYERS, 1, EMBED).to(device)
        input = torch.tensor([[0]], dtype=torch.long).to(device)
        for i in range(num_samples):
            output, state = model(input, state)
            prob = output.exp()
            word_id = torch.argmax(prob, dim=1).item()
            input.fill_(word_id)
            out["generated"].append(word_id)
    return out


if __name__ == "__main__":
    import sys
    from _lib import main
    main(sys.modules[__name__])
