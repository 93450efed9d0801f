"""A deep convolutional GAN, in the shape of pytorch/examples dcgan/main.py: a generator of
ConvTranspose2d + BatchNorm2d + ReLU(True) ending in Tanh, a discriminator of Conv2d +
LeakyReLU(0.2, inplace=True) + BatchNorm2d ending in Sigmoid, weights_init applied with
module.apply (normal_ by class name), BCELoss against labels made with torch.full and
label.fill_, fake.detach() for the discriminator step, Adam with betas=(0.5, 0.999), and
both networks saved with torch.save.

8x8 digit images instead of 64x64 photographs; the noise comes from NumPy."""
import os
import tempfile

import numpy as np

from _digits import digits

NZ, NGF, NDF, NC = 8, 16, 8, 1


def build(torch, nn, F):
    def weights_init(m):
        classname = m.__class__.__name__
        if classname.find("Conv") != -1:
            torch.nn.init.normal_(m.weight, 0.0, 0.02)
        elif classname.find("BatchNorm") != -1:
            torch.nn.init.normal_(m.weight, 1.0, 0.02)
            torch.nn.init.zeros_(m.bias)

    class Generator(nn.Module):
        def __init__(self):
            super(Generator, self).__init__()
            self.main = nn.Sequential(
                nn.ConvTranspose2d(NZ, NGF * 2, 4, 1, 0, bias=False),      # 4x4
                nn.BatchNorm2d(NGF * 2),
                nn.ReLU(True),
                nn.ConvTranspose2d(NGF * 2, NC, 4, 2, 1, bias=False),      # 8x8
                nn.Tanh(),
            )

        def forward(self, input):
            return self.main(input)

    class Discriminator(nn.Module):
        def __init__(self):
            super(Discriminator, self).__init__()
            self.main = nn.Sequential(
                nn.Conv2d(NC, NDF, 4, 2, 1, bias=False),                  # 4x4
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(NDF, NDF * 2, 4, 2, 1, bias=False),             # 2x2
                nn.BatchNorm2d(NDF * 2),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(NDF * 2, 1, 2, 1, 0, bias=False),               # 1x1
                nn.Sigmoid(),
            )

        def forward(self, input):
            output = self.main(input)
            return output.view(-1, 1).squeeze(1)

    netG, netD = Generator(), Discriminator()
    netG.apply(weights_init)
    netD.apply(weights_init)
    return {"netG": netG, "netD": netD}


def train(torch, nn, F, optim, data, models, epochs=2, batch_size=32, lr=2e-3, seed=0):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rng = np.random.default_rng(seed)
    x_train, y_train, _, _ = digits(n_train=128, n_test=0)
    dataset = data.TensorDataset(torch.tensor(x_train * 2 - 1), torch.tensor(y_train))
    dataloader = data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    netG, netD = models["netG"].to(device), models["netD"].to(device)
    criterion = nn.BCELoss()
    real_label, fake_label = 1, 0
    optimizerD = optim.Adam(netD.parameters(), lr=lr, betas=(0.5, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=lr, betas=(0.5, 0.999))
    out = {"errD": [], "errG": [], "D_x": [], "D_G_z1": [], "D_G_z2": []}

    for epoch in range(epochs):
        for i, batch in enumerate(dataloader, 0):
            # (1) update D: maximize log(D(x)) + log(1 - D(G(z)))
            netD.zero_grad()
            real_cpu = batch[0].to(device)
            batch_size = real_cpu.size(0)
            label = torch.full((batch_size,), real_label, dtype=real_cpu.dtype, device=device)
            output = netD(real_cpu)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()

            noise = torch.tensor(rng.standard_normal((batch_size, NZ, 1, 1)).astype(np.float32),
                                 device=device)
            fake = netG(noise)
            label.fill_(fake_label)
            output = netD(fake.detach())
            errD_fake = criterion(output, label)
            errD_fake.backward()
            D_G_z1 = output.mean().item()
            errD = errD_real + errD_fake
            optimizerD.step()

            # (2) update G: maximize log(D(G(z)))
            netG.zero_grad()
            label.fill_(real_label)
            output = netD(fake)
            errG = criterion(output, label)
            errG.backward()
            D_G_z2 = output.mean().item()
            optimizerG.step()

            print("[%d/%d][%d/%d] Loss_D: %.4f Loss_G: %.4f D(x): %.4f D(G(z)): %.4f / %.4f"
                  % (epoch, epochs, i, len(dataloader), errD.item(), errG.item(),
                     D_x, D_G_z1, D_G_z2))
            for k, v in zip(out, (errD.item(), errG.item(), D_x, D_G_z1, D_G_z2)):
                out[k].append(v)
    with tempfile.TemporaryDirectory() as d:
        torch.save(netG.state_dict(), "%s/netG_epoch_%d.pth" % (d, epoch))
        torch.save(netD.state_dict(), "%s/netD_epoch_%d.pth" % (d, epoch))
        netD.load_state_dict(torch.load(os.path.join(d, "netD_epoch_%d.pth" % epoch)))
    return out


if __name__ == "__main__":
    import sys
    from _lib import main
    main(sys.modules[__name__])
