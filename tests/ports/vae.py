"""A variational autoencoder, in the shape of pytorch/examples vae/main.py: encode to (mu,
logvar) with two Linear heads, reparameterize with exp(0.5*logvar), decode through sigmoid,
loss = binary_cross_entropy(reduction='sum') + the KL term written with torch.sum, pow and
exp; Adam; a test pass under no_grad and samples decoded from noise.

The reparameterization noise comes from NumPy (the example draws it with torch.randn_like),
so that both libraries add the same eps."""
import numpy as np

from _digits import digits

D_IN, D_HID, D_Z = 64, 48, 6


def build(torch, nn, F):
    class VAE(nn.Module):
        def __init__(self):
            super(VAE, self).__init__()
            self.fc1 = nn.Linear(D_IN, D_HID)
            self.fc21 = nn.Linear(D_HID, D_Z)
            self.fc22 = nn.Linear(D_HID, D_Z)
            self.fc3 = nn.Linear(D_Z, D_HID)
            self.fc4 = nn.Linear(D_HID, D_IN)

        def encode(self, x):
            h1 = F.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu, logvar, eps):
            std = torch.exp(0.5 * logvar)
            return mu + eps * std

        def decode(self, z):
            h3 = F.relu(self.fc3(z))
            return torch.sigmoid(self.fc4(h3))

        def forward(self, x, eps):
            mu, logvar = self.encode(x.view(-1, D_IN))
            z = self.reparameterize(mu, logvar, eps)
            return self.decode(z), mu, logvar

    return {"model": VAE()}


def loss_function(torch, F, recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, D_IN), reduction="sum")
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


def train(torch, nn, F, optim, data, models, epochs=3, batch_size=64, seed=0):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rng = np.random.default_rng(seed)
    x_train, y_train, x_test, y_test = digits(n_train=384, n_test=128)
    train_loader = data.DataLoader(
        data.TensorDataset(torch.tensor(x_train), torch.tensor(y_train)),
        batch_size=batch_size, shuffle=False)
    test_loader = data.DataLoader(
        data.TensorDataset(torch.tensor(x_test), torch.tensor(y_test)), batch_size=batch_size)
    model = models["model"].to(device)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    out = {"train": [], "epoch": [], "test": [], "sample": []}

    def noise(n):
        return torch.tensor(rng.standard_normal((n, D_Z)).astype(np.float32)).to(device)

    for epoch in range(1, epochs + 1):
        model.train()
        train_loss = 0
        for batch_idx, (x, _) in enumerate(train_loader):
            x = x.to(device)
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(x, noise(len(x)))
            loss = loss_function(torch, F, recon_batch, x, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
            out["train"].append(loss.item() / len(x))
        out["epoch"].append(train_loss / len(train_loader.dataset))

        model.eval()
        test_loss = 0
        with torch.no_grad():
            for i, (x, _) in enumerate(test_loader):
                x = x.to(device)
                recon_batch, mu, logvar = model(x, noise(len(x)))
                test_loss += loss_function(torch, F, recon_batch, x, mu, logvar).item()
                if i == 0:
                    n = min(x.size(0), 8)
                    comparison = torch.cat([x[:n], recon_batch.view(-1, 1, 8, 8)[:n]])
                    assert tuple(comparison.shape) == (2 * n, 1, 8, 8)
        out["test"].append(test_loss / len(test_loader.dataset))
        with torch.no_grad():
            sample = model.decode(noise(16)).cpu()
            out["sample"].append(sample.view(16, 1, 8, 8).mean().item())
        print("====> Epoch: {} Average loss: {:.4f}".format(epoch, out["epoch"][-1]))
    return out


if __name__ == "__main__":
    import sys
    from _lib import main
    main(sys.modules[__name__])
