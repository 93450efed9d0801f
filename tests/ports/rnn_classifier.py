"""Images read as sequences by a recurrent classifier, in the shape of yunjey/pytorch-tutorial
recurrent_neural_network and bidirectional_recurrent_neural_network: a 2-layer
nn.LSTM(batch_first=True, bidirectional=True), h0 / c0 made with torch.zeros(...).to(device),
out[:, -1, :] into a Linear head, images.reshape(-1, sequence_length, input_size), Adam,
and the test accuracy from torch.max(outputs.data, 1)."""
import os
import tempfile

from _digits import digits

SEQ, INPUT, HIDDEN, LAYERS, CLASSES = 8, 8, 16, 2, 10


def build(torch, nn, F):
    class BiRNN(nn.Module):
        def __init__(self, input_size, hidden_size, num_layers, num_classes):
            super(BiRNN, self).__init__()
            self.hidden_size = hidden_size
            self.num_layers = num_layers
            self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True,
                                bidirectional=True)
            self.fc = nn.Linear(hidden_size * 2, num_classes)  # 2 for bidirection

        def forward(self, x):
            device = x.device
            h0 = torch.zeros(self.num_layers * 2, x.size(0), self.hidden_size).to(device)
            c0 = torch.zeros(self.num_layers * 2, x.size(0), self.hidden_size).to(device)
            out, _ = self.lstm(x, (h0, c0))
            out = self.fc(out[:, -1, :])
            return out

    return {"model": BiRNN(INPUT, HIDDEN, LAYERS, CLASSES)}


def train(torch, nn, F, optim, data, models, num_epochs=2, batch_size=64, learning_rate=0.01):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x_train, y_train, x_test, y_test = digits(n_train=256, n_test=128)
    train_loader = data.DataLoader(dataset=data.TensorDataset(torch.tensor(x_train),
                                                              torch.tensor(y_train)),
                                   batch_size=batch_size, shuffle=False)
    test_loader = data.DataLoader(dataset=data.TensorDataset(torch.tensor(x_test),
                                                             torch.tensor(y_test)),
                                  batch_size=batch_size, shuffle=False)
    model = models["model"].to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    out = {"train": [], "correct": []}
    total_step = len(train_loader)
    for epoch in range(num_epochs):
        for i, (images, labels) in enumerate(train_loader):
            images = images.reshape(-1, SEQ, INPUT).to(device)
            labels = labels.to(device)
            outputs = model(images)
            loss = criterion(outputs, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            out["train"].append(loss.item())
            if (i + 1) % 2 == 0:
                print("Epoch [{}/{}], Step [{}/{}], Loss: {:.4f}".format(
                    epoch + 1, num_epochs, i + 1, total_step, loss.item()))
    with torch.no_grad():
        correct = 0
        total = 0
        for images, labels in test_loader:
            images = images.reshape(-1, SEQ, INPUT).to(device)
            labels = labels.to(device)
            outputs = model(images)
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
        print("Test Accuracy of the model: {} %".format(100 * correct / total))
        out["correct"].append(correct)
    with tempfile.TemporaryDirectory() as d:
        torch.save(model.state_dict(), os.path.join(d, "model.ckpt"))
    return out


if __name__ == "__main__":
    import sys
    from _lib import main
    main(sys.modules[__name__])
