"""A small convolutional classifier, in the shape of pytorch/examples mnist/main.py: two
Conv2d + ReLU, max-pool, dropout, torch.flatten, two Linear layers, log_softmax + nll_loss,
Adadelta with StepLR, a train() and a test() function that counts correct predictions with
`pred.eq(target.view_as(pred)).sum().item()`, and the model saved with torch.save."""
import os
import tempfile

from _digits import digits


def build(torch, nn, F):
    class Net(nn.Module):
        def __init__(self, p1=0.25, p2=0.5):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(1, 8, 3, 1)
            self.conv2 = nn.Conv2d(8, 16, 3, 1)
            self.dropout1 = nn.Dropout(p1)
            self.dropout2 = nn.Dropout(p2)
            self.fc1 = nn.Linear(64, 32)
            self.fc2 = nn.Linear(32, 10)

        def forward(self, x):
            x = self.conv1(x)
            x = F.relu(x)
            x = self.conv2(x)
            x = F.relu(x)
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = self.fc1(x)
            x = F.relu(x)
            x = self.dropout2(x)
            x = self.fc2(x)
            output = F.log_softmax(x, dim=1)
            return output

    # dropout off: its masks come from each library's own generator
    return {"model": Net(p1=0.0, p2=0.0)}


def train(torch, nn, F, optim, data, models, epochs=2, batch_size=64, lr=1.0, gamma=0.7):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x_train, y_train, x_test, y_test = digits()
    mean, std = float(x_train.mean()), float(x_train.std())
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    train_loader = data.DataLoader(
        data.TensorDataset(torch.tensor(x_train), torch.tensor(y_train)), batch_size=batch_size)
    test_loader = data.DataLoader(
        data.TensorDataset(torch.from_numpy(x_test), torch.from_numpy(y_test)), batch_size=100)

    model = models["model"].to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=lr)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=gamma)
    out = {"train": [], "test_loss": [], "correct": []}

    def train_epoch(epoch):
        model.train()
        for batch_idx, (x, target) in enumerate(train_loader):
            x, target = x.to(device), target.to(device)
            optimizer.zero_grad()
            output = model(x)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            out["train"].append(loss.item())
            if batch_idx % 4 == 0:
                msg = "Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(
                    epoch, batch_idx * len(x), len(train_loader.dataset),
                    100. * batch_idx / len(train_loader), loss.item())
                assert msg.startswith("Train Epoch")

    def test():
        model.eval()
        test_loss = 0
        correct = 0
        with torch.no_grad():
            for x, target in test_loader:
                x, target = x.to(device), target.to(device)
                output = model(x)
                test_loss += F.nll_loss(output, target, reduction="sum").item()
                pred = output.argmax(dim=1, keepdim=True)
                correct += pred.eq(target.view_as(pred)).sum().item()
        test_loss /= len(test_loader.dataset)
        out["test_loss"].append(test_loss)
        out["correct"].append(correct)

    for epoch in range(1, epochs + 1):
        train_epoch(epoch)
        test()
        scheduler.step()

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "mnist_cnn.pt")
        torch.save(model.state_dict(), path)
        state = torch.load(path)
    assert sorted(state) == sorted(model.state_dict())
    return out


if __name__ == "__main__":
    import sys
    from _lib import main
    main(sys.modules[__name__])
