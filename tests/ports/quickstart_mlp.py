"""The PyTorch "Learn the basics" quickstart (pytorch/tutorials beginner_source/basics):
a NeuralNetwork with nn.Flatten and an nn.Sequential linear_relu_stack, the device chosen
with torch.cuda.is_available(), train(dataloader, model, loss_fn, optimizer) and
test(dataloader, model, loss_fn) functions that log with f"{loss:>7f}" and count
(pred.argmax(1) == y).type(torch.float).sum().item(), SGD, and the saved model loaded back
into a new instance to predict."""
import os
import tempfile

from _digits import digits


def build(torch, nn, F):
    class NeuralNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.flatten = nn.Flatten()
            self.linear_relu_stack = nn.Sequential(
                nn.Linear(8 * 8, 64),
                nn.ReLU(),
                nn.Linear(64, 64),
                nn.ReLU(),
                nn.Linear(64, 10),
            )

        def forward(self, x):
            x = self.flatten(x)
            logits = self.linear_relu_stack(x)
            return logits

    return {"model": NeuralNetwork()}


def train(torch, nn, F, optim, data, models, epochs=3, batch_size=64):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"Using {device} device")
    x_train, y_train, x_test, y_test = digits(n_train=384, n_test=128)
    train_dataloader = data.DataLoader(
        data.TensorDataset(torch.tensor(x_train), torch.tensor(y_train)), batch_size=batch_size)
    test_dataloader = data.DataLoader(
        data.TensorDataset(torch.tensor(x_test), torch.tensor(y_test)), batch_size=batch_size)
    for X, y in test_dataloader:
        print(f"Shape of X [N, C, H, W]: {X.shape}")
        print(f"Shape of y: {y.shape} {y.dtype}")
        break
    model = models["model"].to(device)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    out = {"train": [], "test_loss": [], "accuracy": [], "predicted": []}

    def train_loop(dataloader, model, loss_fn, optimizer):
        size = len(dataloader.dataset)
        model.train()
        for batch, (X, y) in enumerate(dataloader):
            X, y = X.to(device), y.to(device)
            pred = model(X)
            loss = loss_fn(pred, y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            out["train"].append(loss.item())
            if batch % 2 == 0:
                loss, current = loss.item(), (batch + 1) * len(X)
                print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")

    def test_loop(dataloader, model, loss_fn):
        size = len(dataloader.dataset)
        num_batches = len(dataloader)
        model.eval()
        test_loss, correct = 0, 0
        with torch.no_grad():
            for X, y in dataloader:
                X, y = X.to(device), y.to(device)
                pred = model(X)
                test_loss += loss_fn(pred, y).item()
                correct += (pred.argmax(1) == y).type(torch.float).sum().item()
        test_loss /= num_batches
        correct /= size
        print(f"Test Error: \n Accuracy: {(100*correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")
        out["test_loss"].append(test_loss)
        out["accuracy"].append(correct)

    for t in range(epochs):
        print(f"Epoch {t+1}\n-------------------------------")
        train_loop(train_dataloader, model, loss_fn, optimizer)
        test_loop(test_dataloader, model, loss_fn)

    with tempfile.TemporaryDirectory() as d:
        torch.save(model.state_dict(), os.path.join(d, "model.pth"))
        model2 = type(model)().to(device)
        model2.load_state_dict(torch.load(os.path.join(d, "model.pth"), weights_only=True))
    model2.eval()
    x, y = test_dataloader.dataset[0][0], test_dataloader.dataset[0][1]
    with torch.no_grad():
        x = x.to(device)
        pred = model2(x.unsqueeze(0))
        out["predicted"].append(pred[0].argmax(0).item())
    return out


if __name__ == "__main__":
    import sys
    from _lib import main
    main(sys.modules[__name__])
