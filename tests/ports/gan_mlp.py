"""A fully connected GAN, in the shape of yunjey/pytorch-tutorial generative_adversarial_network:
D and G as nn.Sequential (Linear + LeakyReLU(0.2) ... Sigmoid; Linear + ReLU ... Tanh),
BCELoss against torch.ones / torch.zeros labels moved with .to(device), one reset_grad()
that zeroes both optimizers, denorm with clamp, and both state_dicts saved.

The latent noise comes from NumPy (the tutorial calls torch.randn)."""
import os
import tempfile

import numpy as np

from _digits import digits

LATENT, HIDDEN, IMAGE = 16, 64, 64


def build(torch, nn, F):
    D = nn.Sequential(
        nn.Linear(IMAGE, HIDDEN),
        nn.LeakyReLU(0.2),
        nn.Linear(HIDDEN, HIDDEN),
        nn.LeakyReLU(0.2),
        nn.Linear(HIDDEN, 1),
        nn.Sigmoid())
    G = nn.Sequential(
        nn.Linear(LATENT, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, IMAGE),
        nn.Tanh())
    return {"D": D, "G": G}


def train(torch, nn, F, optim, data, models, num_epochs=2, batch_size=32, seed=0):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rng = np.random.default_rng(seed)
    x_train, y_train, _, _ = digits(n_train=192, n_test=0)
    x_train = (x_train - 0.5) / 0.5                      # Normalize(mean=[0.5], std=[0.5])
    data_loader = data.DataLoader(dataset=data.TensorDataset(torch.tensor(x_train),
                                                             torch.tensor(y_train)),
                                  batch_size=batch_size, shuffle=False)
    D, G = models["D"].to(device), models["G"].to(device)
    criterion = nn.BCELoss()
    d_optimizer = torch.optim.Adam(D.parameters(), lr=0.0002 * 10)
    g_optimizer = torch.optim.Adam(G.parameters(), lr=0.0002 * 10)

    def denorm(x):
        out = (x + 1) / 2
        return out.clamp(0, 1)

    def reset_grad():
        d_optimizer.zero_grad()
        g_optimizer.zero_grad()

    def randn(*shape):
        return torch.from_numpy(rng.standard_normal(shape).astype(np.float32))

    out = {"d_loss": [], "g_loss": [], "real_score": [], "fake_score": []}
    total_step = len(data_loader)
    for epoch in range(num_epochs):
        for i, (images, _) in enumerate(data_loader):
            images = images.reshape(batch_size, -1).to(device)
            real_labels = torch.ones(batch_size, 1).to(device)
            fake_labels = torch.zeros(batch_size, 1).to(device)

            outputs = D(images)
            d_loss_real = criterion(outputs, real_labels)
            real_score = outputs
            z = randn(batch_size, LATENT).to(device)
            fake_images = G(z)
            outputs = D(fake_images)
            d_loss_fake = criterion(outputs, fake_labels)
            fake_score = outputs
            d_loss = d_loss_real + d_loss_fake
            reset_grad()
            d_loss.backward()
            d_optimizer.step()

            z = randn(batch_size, LATENT).to(device)
            fake_images = G(z)
            outputs = D(fake_images)
            g_loss = criterion(outputs, real_labels)
            reset_grad()
            g_loss.backward()
            g_optimizer.step()

            print("Epoch [{}/{}], Step [{}/{}], d_loss: {:.4f}, g_loss: {:.4f}, D(x): {:.2f}, "
                  "D(G(z)): {:.2f}".format(epoch, num_epochs, i + 1, total_step, d_loss.item(),
                                           g_loss.item(), real_score.mean().item(),
                                           fake_score.mean().item()))
            out["d_loss"].append(d_loss.item())
            out["g_loss"].append(g_loss.item())
            out["real_score"].append(real_score.mean().item())
            out["fake_score"].append(fake_score.mean().item())
        fake_images = fake_images.reshape(fake_images.size(0), 1, 8, 8)
        shown = denorm(fake_images)
        assert 0 <= shown.min().item() and shown.max().item() <= 1
    with tempfile.TemporaryDirectory() as d:
        torch.save(G.state_dict(), os.path.join(d, "G.ckpt"))
        torch.save(D.state_dict(), os.path.join(d, "D.ckpt"))
    return out


if __name__ == "__main__":
    import sys
    from _lib import main
    main(sys.modules[__name__])
