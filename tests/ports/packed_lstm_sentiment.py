"""Variable-length sequence classification with packed sequences, as the sentiment-analysis
tutorials write it: token lists padded with nn.utils.rnn.pad_sequence(batch_first=True,
padding_value=PAD) in a DataLoader collate_fn, nn.Embedding(padding_idx=PAD),
nn.utils.rnn.pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
into a bidirectional 2-layer LSTM, the final forward and backward states joined with
torch.cat((hidden[-2, :, :], hidden[-1, :, :]), dim=1), BCEWithLogitsLoss on
predictions.squeeze(1), binary accuracy from torch.round(torch.sigmoid(...)), RMSprop, and
pad_packed_sequence to read the per-step outputs back.

The "reviews" are synthetic: a label-dependent mix of positive and negative tokens."""
import numpy as np

VOCAB, PAD, EMBED, HIDDEN = 30, 0, 12, 10


def make_reviews(n=96, seed=0):
    rng = np.random.default_rng(seed)
    reviews, labels = [], []
    for i in range(n):
        label = i % 2
        length = int(rng.integers(3, 13))
        good = rng.random(length) < (0.7 if label else 0.3)
        toks = np.where(good, rng.integers(1, 15, length), rng.integers(15, VOCAB, length))
        reviews.append(toks.astype(np.int64))
        labels.append(float(label))
    return reviews, np.array(labels, dtype=np.float32)


def build(torch, nn, F):
    class RNN(nn.Module):
        def __init__(self, vocab_size, embedding_dim, hidden_dim, output_dim, n_layers,
                     bidirectional, dropout, pad_idx):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_idx)
            self.rnn = nn.LSTM(embedding_dim, hidden_dim, num_layers=n_layers,
                               bidirectional=bidirectional, dropout=dropout, batch_first=True)
            self.fc = nn.Linear(hidden_dim * 2, output_dim)
            self.dropout = nn.Dropout(dropout)

        def forward(self, text, text_lengths):
            embedded = self.dropout(self.embedding(text))
            packed_embedded = nn.utils.rnn.pack_padded_sequence(
                embedded, text_lengths, batch_first=True, enforce_sorted=False)
            packed_output, (hidden, cell) = self.rnn(packed_embedded)
            output, output_lengths = nn.utils.rnn.pad_packed_sequence(packed_output,
                                                                      batch_first=True)
            hidden = self.dropout(torch.cat((hidden[-2, :, :], hidden[-1, :, :]), dim=1))
            return self.fc(hidden), output, output_lengths

    return {"model": RNN(VOCAB, EMBED, HIDDEN, 1, 2, True, 0.0, PAD)}


def train(torch, nn, F, optim, data, models, epochs=3, batch_size=16):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    reviews, labels = make_reviews()

    class Reviews(data.Dataset):
        def __len__(self):
            return len(reviews)

        def __getitem__(self, i):
            return torch.tensor(reviews[i]), torch.tensor(labels[i])

    def collate(batch):
        texts, ys = zip(*batch)
        lengths = torch.tensor([len(t) for t in texts])
        padded = nn.utils.rnn.pad_sequence(list(texts), batch_first=True, padding_value=PAD)
        return padded, lengths, torch.stack(ys)

    loader = data.DataLoader(Reviews(), batch_size=batch_size, shuffle=False,
                             collate_fn=collate)
    model = models["model"].to(device)
    optimizer = optim.RMSprop(model.parameters(), lr=0.003)
    criterion = nn.BCEWithLogitsLoss().to(device)

    def binary_accuracy(preds, y):
        rounded_preds = torch.round(torch.sigmoid(preds))
        correct = (rounded_preds == y).float()
        return correct.sum() / len(correct)

    out = {"loss": [], "acc": [], "epoch_acc": [], "out_lengths": []}
    for epoch in range(epochs):
        epoch_acc = 0
        model.train()
        for text, text_lengths, y in loader:
            text, y = text.to(device), y.to(device)
            optimizer.zero_grad()
            predictions, output, output_lengths = model(text, text_lengths)
            predictions = predictions.squeeze(1)
            loss = criterion(predictions, y)
            acc = binary_accuracy(predictions, y)
            loss.backward()
            optimizer.step()
            epoch_acc += acc.item()
            out["loss"].append(loss.item())
            out["acc"].append(acc.item())
            assert output.shape[:2] == (len(y), int(text_lengths.max()))
        out["epoch_acc"].append(epoch_acc / len(loader))
        print(f"Epoch: {epoch + 1:02} | Train Acc: {epoch_acc / len(loader) * 100:.2f}%")
    out["out_lengths"] = output_lengths.tolist()
    return out


if __name__ == "__main__":
    import sys
    from _lib import main
    main(sys.modules[__name__])
