"""An imbalanced tabular classifier, as tabular-classification tutorials write one: NumPy
features standardized with training-set statistics, class weights n / (k * count) given to
nn.CrossEntropyLoss(weight=...), an MLP with BatchNorm1d, Adam with weight decay, the
training set reshuffled each epoch by indexing tensors with a NumPy permutation and served
by DataLoader(TensorDataset), and per-class recall, a confusion matrix and balanced accuracy
from torch.softmax / torch.argmax and boolean masks. The validation set is put in a
torch.randperm order first; nothing computed from it depends on that order."""
import numpy as np

N_FEATURES, N_CLASSES = 10, 3


def make_data(n=900, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice(N_CLASSES, size=n, p=[0.75, 0.18, 0.07])
    centers = rng.standard_normal((N_CLASSES, N_FEATURES)) * 1.2
    X = centers[y] + rng.standard_normal((n, N_FEATURES)) * 1.5
    X[:, 0] *= 40.0                     # one feature on a much larger scale
    return X.astype(np.float32), y.astype(np.int64)


def build(torch, nn, F):
    model = nn.Sequential(
        nn.Linear(N_FEATURES, 32),
        nn.BatchNorm1d(32),
        nn.ReLU(),
        nn.Dropout(p=0.0),
        nn.Linear(32, 16),
        nn.ReLU(),
        nn.Linear(16, N_CLASSES),
    )
    return {"model": model}


def train(torch, nn, F, optim, data, models, epochs=3, batch_size=64, seed=0):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    X, y = make_data()
    n_train = 600
    mean, std = X[:n_train].mean(0), X[:n_train].std(0)
    X = (X - mean) / std
    X_train, y_train = torch.tensor(X[:n_train]), torch.tensor(y[:n_train])
    X_val, y_val = torch.tensor(X[n_train:]), torch.tensor(y[n_train:])
    perm = torch.randperm(len(X_val))
    X_val, y_val = X_val[perm], y_val[perm]

    counts = np.bincount(y[:n_train], minlength=N_CLASSES)
    class_weights = torch.tensor(n_train / (N_CLASSES * counts), dtype=torch.float32)
    model = models["model"].to(device)
    criterion = nn.CrossEntropyLoss(weight=class_weights.to(device))
    optimizer = optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    rng = np.random.default_rng(seed)
    out = {"train": [], "val_loss": [], "recall": [], "balanced_acc": [], "confusion": []}

    for epoch in range(epochs):
        order = torch.from_numpy(rng.permutation(n_train))
        loader = data.DataLoader(data.TensorDataset(X_train[order], y_train[order]),
                                 batch_size=batch_size, shuffle=False)
        model.train()
        running = 0.0
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            optimizer.zero_grad()
            logits = model(xb)
            loss = criterion(logits, yb)
            loss.backward()
            optimizer.step()
            running += loss.item() * xb.size(0)
            out["train"].append(loss.item())

        model.eval()
        with torch.no_grad():
            logits = model(X_val.to(device))
            val_loss = criterion(logits, y_val.to(device)).item()
            probs = torch.softmax(logits, dim=1)
            preds = torch.argmax(probs, dim=1)
            recalls = []
            for c in range(N_CLASSES):
                mask = y_val == c
                recalls.append((preds[mask] == c).float().mean().item())
            confusion = torch.zeros(N_CLASSES, N_CLASSES, dtype=torch.long)
            for t, p in zip(y_val.tolist(), preds.tolist()):
                confusion[t, p] += 1
        balanced = sum(recalls) / N_CLASSES
        print(f"epoch {epoch + 1}: train {running / n_train:.4f} val {val_loss:.4f} "
              f"balanced acc {balanced:.3f}")
        out["val_loss"].append(val_loss)
        out["recall"].extend(recalls)
        out["balanced_acc"].append(balanced)
        out["confusion"].extend(confusion.view(-1).tolist())
    return out


if __name__ == "__main__":
    import sys
    from _lib import main
    main(sys.modules[__name__])
