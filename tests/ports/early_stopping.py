"""Early stopping on a validation loss, as the widely copied EarlyStopping class does it
(patience, delta, a checkpoint written with torch.save(model.state_dict(), path) whenever
the validation loss improves): an over-parameterized MLP on a small noisy regression set,
SGD with Nesterov momentum, ReduceLROnPlateau, validation under torch.no_grad(), f-string
logs, the best weights kept with copy.deepcopy(model.state_dict()) and reloaded from the
checkpoint with torch.load at the end."""
import copy
import os
import tempfile

import numpy as np


class EarlyStopping:
    """Stop when the validation loss has not improved by more than delta for patience epochs."""

    def __init__(self, torch, patience=5, delta=0.0, path="checkpoint.pt", verbose=False):
        self.torch = torch
        self.patience = patience
        self.delta = delta
        self.path = path
        self.verbose = verbose
        self.counter = 0
        self.best_score = None
        self.early_stop = False
        self.val_loss_min = np.inf

    def __call__(self, val_loss, model):
        score = -val_loss
        if self.best_score is None:
            self.best_score = score
            self.save_checkpoint(val_loss, model)
        elif score < self.best_score + self.delta:
            self.counter += 1
            if self.verbose:
                print(f"EarlyStopping counter: {self.counter} out of {self.patience}")
            if self.counter >= self.patience:
                self.early_stop = True
        else:
            self.best_score = score
            self.save_checkpoint(val_loss, model)
            self.counter = 0

    def save_checkpoint(self, val_loss, model):
        if self.verbose:
            print(f"Validation loss decreased ({self.val_loss_min:.6f} --> {val_loss:.6f}).")
        self.torch.save(model.state_dict(), self.path)
        self.val_loss_min = val_loss


def make_data(n=160, d=4, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, d)).astype(np.float32)
    y = (np.sin(2 * X[:, :1]) + X[:, 1:2] ** 2 + 0.3 * rng.standard_normal((n, 1)))
    return X, y.astype(np.float32)


def build(torch, nn, F):
    class Regressor(nn.Module):
        def __init__(self, d=4, hidden=64):
            super().__init__()
            self.fc1 = nn.Linear(d, hidden)
            self.fc2 = nn.Linear(hidden, hidden)
            self.out = nn.Linear(hidden, 1)

        def forward(self, x):
            return self.out(F.relu(self.fc2(F.relu(self.fc1(x)))))

    return {"model": Regressor()}


def train(torch, nn, F, optim, data, models, max_epochs=40, patience=4, batch_size=16):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    X, y = make_data()
    train_ds = data.TensorDataset(torch.tensor(X[:32]), torch.tensor(y[:32]))
    val_ds = data.TensorDataset(torch.tensor(X[32:]), torch.tensor(y[32:]))
    train_loader = data.DataLoader(train_ds, batch_size=batch_size)
    val_loader = data.DataLoader(val_ds, batch_size=64)
    model = models["model"].to(device)
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    scheduler = optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5,
                                                     patience=2)
    out = {"train": [], "val": [], "stopped": [], "best": []}
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "checkpoint.pt")
        stopper = EarlyStopping(torch, patience=patience, path=path, verbose=True)
        best_state, best_val = None, float("inf")
        for epoch in range(1, max_epochs + 1):
            model.train()
            train_losses = []
            for xb, yb in train_loader:
                xb, yb = xb.to(device), yb.to(device)
                optimizer.zero_grad()
                loss = F.mse_loss(model(xb), yb)
                loss.backward()
                optimizer.step()
                train_losses.append(loss.item())
            model.eval()
            val_sum, n = 0.0, 0
            with torch.no_grad():
                for xb, yb in val_loader:
                    val_sum += F.mse_loss(model(xb.to(device)), yb.to(device),
                                          reduction="sum").item()
                    n += len(xb)
            val_loss = val_sum / n
            scheduler.step(val_loss)
            print(f"[{epoch:>3}/{max_epochs}] train_loss: {np.average(train_losses):.5f} "
                  f"valid_loss: {val_loss:.5f} lr: {optimizer.param_groups[0]['lr']:.4f}")
            out["train"].extend(train_losses)
            out["val"].append(val_loss)
            if val_loss < best_val:
                best_val, best_state = val_loss, copy.deepcopy(model.state_dict())
            stopper(val_loss, model)
            if stopper.early_stop:
                print("Early stopping")
                break
        out["stopped"].append(epoch)
        model.load_state_dict(torch.load(path))
    with torch.no_grad():
        Xv, yv = val_ds[:]
        out["best"].append(F.mse_loss(model(Xv), yv).item())
        same = all(torch.equal(best_state[k], v) for k, v in model.state_dict().items())
    assert same, "the checkpoint on disk is not the best model seen"
    return out


if __name__ == "__main__":
    import sys
    from _lib import main
    main(sys.modules[__name__])
