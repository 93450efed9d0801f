"""A siamese network for "same digit or not", in the shape of pytorch/examples
siamese_network/main.py: a Dataset subclass whose __getitem__ returns (image_1, image_2,
target) with target = torch.tensor(1 or 0, dtype=torch.float), the DataLoader collating
those triples, one convolutional tower applied to both images, torch.cat of the two
embeddings, an nn.Sequential head with ReLU(inplace=True), nn.Sigmoid, BCELoss on
outputs.squeeze(), weights initialized through module.apply (xavier_uniform_,
m.bias.data.fill_(0.01)), Adadelta + StepLR, and the test counting
pred.eq(targets.view_as(pred)) with pred = torch.where(outputs > 0.5, 1, 0).

A four-layer conv tower replaces torchvision's resnet18; pairs are drawn once with NumPy."""
import numpy as np

from _digits import digits


def build(torch, nn, F):
    class SiameseNetwork(nn.Module):
        def __init__(self):
            super(SiameseNetwork, self).__init__()
            self.tower = nn.Sequential(
                nn.Conv2d(1, 8, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(8),
                nn.ReLU(inplace=True),
                nn.Conv2d(8, 16, kernel_size=3, stride=2, padding=1),
                nn.ReLU(inplace=True),
                nn.AdaptiveAvgPool2d((1, 1)),
            )
            self.fc_in_features = 16
            self.fc = nn.Sequential(
                nn.Linear(self.fc_in_features * 2, 32),
                nn.ReLU(inplace=True),
                nn.Linear(32, 1),
            )
            self.sigmoid = nn.Sigmoid()
            self.tower.apply(self.init_weights)
            self.fc.apply(self.init_weights)

        def init_weights(self, m):
            if isinstance(m, nn.Linear):
                torch.nn.init.xavier_uniform_(m.weight)
                m.bias.data.fill_(0.01)

        def forward_once(self, x):
            output = self.tower(x)
            output = output.view(output.size()[0], -1)
            return output

        def forward(self, input1, input2):
            output1 = self.forward_once(input1)
            output2 = self.forward_once(input2)
            output = torch.cat((output1, output2), 1)
            output = self.fc(output)
            output = self.sigmoid(output)
            return output

    return {"model": SiameseNetwork()}


def make_pairs_dataset(torch, data, images, labels, seed):
    class Pairs(data.Dataset):
        """Even index: two different images of one class; odd index: two classes."""

        def __init__(self):
            super(Pairs, self).__init__()
            self.data = torch.tensor(images)
            rng = np.random.default_rng(seed)
            grouped = {i: np.where(labels == i)[0] for i in range(10)}
            self.pairs = []
            for index in range(len(images)):
                c1 = int(rng.integers(10))
                c2 = c1 if index % 2 == 0 else int((c1 + rng.integers(1, 10)) % 10)
                i1, i2 = rng.choice(grouped[c1]), rng.choice(grouped[c2])
                while c1 == c2 and i1 == i2:
                    i2 = rng.choice(grouped[c2])
                self.pairs.append((int(i1), int(i2), 1.0 if c1 == c2 else 0.0))

        def __len__(self):
            return self.data.shape[0]

        def __getitem__(self, index):
            i1, i2, same = self.pairs[index]
            image_1 = self.data[i1].clone().float()
            image_2 = self.data[i2].clone().float()
            return image_1, image_2, torch.tensor(same, dtype=torch.float)

    return Pairs()


def train(torch, nn, F, optim, data, models, epochs=2, batch_size=32, lr=1.0, gamma=0.7):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x_train, y_train, x_test, y_test = digits(n_train=128, n_test=64)
    train_loader = data.DataLoader(make_pairs_dataset(torch, data, x_train, y_train, 0),
                                   batch_size=batch_size)
    test_loader = data.DataLoader(make_pairs_dataset(torch, data, x_test, y_test, 1),
                                  batch_size=64)
    model = models["model"].to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=lr)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=gamma)
    out = {"train": [], "test_loss": [], "correct": []}
    for epoch in range(1, epochs + 1):
        model.train()
        criterion = nn.BCELoss()
        for batch_idx, (images_1, images_2, targets) in enumerate(train_loader):
            images_1, images_2, targets = (images_1.to(device), images_2.to(device),
                                           targets.to(device))
            optimizer.zero_grad()
            outputs = model(images_1, images_2).squeeze()
            loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()
            out["train"].append(loss.item())
        model.eval()
        test_loss = 0
        correct = 0
        with torch.no_grad():
            for (images_1, images_2, targets) in test_loader:
                images_1, images_2, targets = (images_1.to(device), images_2.to(device),
                                               targets.to(device))
                outputs = model(images_1, images_2).squeeze()
                test_loss += criterion(outputs, targets).sum().item()
                pred = torch.where(outputs > 0.5, 1, 0)
                correct += pred.eq(targets.view_as(pred)).sum().item()
        test_loss /= len(test_loader.dataset)
        print("Test set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)".format(
            test_loss, correct, len(test_loader.dataset),
            100. * correct / len(test_loader.dataset)))
        out["test_loss"].append(test_loss)
        out["correct"].append(correct)
        scheduler.step()
    return out


if __name__ == "__main__":
    import sys
    from _lib import main
    main(sys.modules[__name__])
