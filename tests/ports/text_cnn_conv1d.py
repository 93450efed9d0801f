"""A convolutional sentence classifier (Kim 2014), as the text-classification tutorials write
it: nn.Embedding, an nn.ModuleList of nn.Conv1d with several filter sizes over the
embedded.permute(0, 2, 1) sequence, F.relu, F.max_pool1d(conved, conved.shape[2]).squeeze(2)
over time, torch.cat of the pooled features, a Linear head, CrossEntropyLoss; training with
gradient accumulation (loss / accum_steps, optimizer.step() every accum_steps batches),
SGD with momentum and weight decay under a CosineAnnealingLR, the learning rate read back
with scheduler.get_last_lr(), and a per-class count from torch.bincount.

Sentences are synthetic: each class plants its own trigram in random tokens."""
import numpy as np

VOCAB, EMBED, N_FILTERS, SIZES, CLASSES, LENGTH = 40, 12, 6, (2, 3, 4), 3, 14


def make_sentences(n=120, seed=0):
    rng = np.random.default_rng(seed)
    motifs = rng.integers(1, VOCAB, (CLASSES, 3))
    X = rng.integers(1, VOCAB, (n, LENGTH))
    y = np.arange(n) % CLASSES
    for i in range(n):
        at = int(rng.integers(0, LENGTH - 3))
        X[i, at:at + 3] = motifs[y[i]]
    return X.astype(np.int64), y.astype(np.int64)


def build(torch, nn, F):
    class CNN(nn.Module):
        def __init__(self, vocab_size, embedding_dim, n_filters, filter_sizes, output_dim,
                     dropout):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, embedding_dim)
            self.convs = nn.ModuleList([
                nn.Conv1d(in_channels=embedding_dim, out_channels=n_filters, kernel_size=fs)
                for fs in filter_sizes])
            self.fc = nn.Linear(len(filter_sizes) * n_filters, output_dim)
            self.dropout = nn.Dropout(dropout)

        def forward(self, text):
            embedded = self.embedding(text)                    # (batch, len, emb)
            embedded = embedded.permute(0, 2, 1)               # (batch, emb, len)
            conved = [F.relu(conv(embedded)) for conv in self.convs]
            pooled = [F.max_pool1d(conv, conv.shape[2]).squeeze(2) for conv in conved]
            cat = self.dropout(torch.cat(pooled, dim=1))
            return self.fc(cat)

    return {"model": CNN(VOCAB, EMBED, N_FILTERS, SIZES, CLASSES, 0.0)}


def train(torch, nn, F, optim, data, models, epochs=3, batch_size=12, accum_steps=2):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    X, y = make_sentences()
    train_loader = data.DataLoader(data.TensorDataset(torch.tensor(X[:96]), torch.tensor(y[:96])),
                                   batch_size=batch_size)
    X_val, y_val = torch.tensor(X[96:]), torch.tensor(y[96:])
    model = models["model"].to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    out = {"loss": [], "lr": [], "val_loss": [], "per_class": []}
    for epoch in range(epochs):
        model.train()
        optimizer.zero_grad()
        for i, (text, label) in enumerate(train_loader):
            text, label = text.to(device), label.to(device)
            loss = criterion(model(text), label) / accum_steps
            loss.backward()
            if (i + 1) % accum_steps == 0:
                optimizer.step()
                optimizer.zero_grad()
            out["loss"].append(loss.item() * accum_steps)
        scheduler.step()
        out["lr"].append(scheduler.get_last_lr()[0])
        model.eval()
        with torch.no_grad():
            logits = model(X_val.to(device))
            out["val_loss"].append(criterion(logits, y_val).item())
            pred = logits.argmax(dim=1)
            hits = torch.bincount(y_val[pred == y_val], minlength=CLASSES)
            out["per_class"].extend(hits.tolist())
        print(f"epoch {epoch}: val {out['val_loss'][-1]:.4f} hits {hits.tolist()}")
    return out


if __name__ == "__main__":
    import sys
    from _lib import main
    main(sys.modules[__name__])
