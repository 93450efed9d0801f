"""A small residual network, in the shape of yunjey/pytorch-tutorial deep_residual_network:
conv3x3 without bias, ResidualBlock with BatchNorm2d, ReLU(inplace=True), an optional
downsample Sequential and `out += residual`, make_layer building nn.Sequential(*layers),
AvgPool2d, out.view(out.size(0), -1), Adam whose lr is changed through param_groups, an
eval pass counting `(predicted == labels).sum().item()` from torch.max(outputs.data, 1),
and the state_dict saved."""
import os
import tempfile

from _digits import digits


def build(torch, nn, F):
    def conv3x3(in_channels, out_channels, stride=1):
        return nn.Conv2d(in_channels, out_channels, kernel_size=3,
                         stride=stride, padding=1, bias=False)

    class ResidualBlock(nn.Module):
        def __init__(self, in_channels, out_channels, stride=1, downsample=None):
            super(ResidualBlock, self).__init__()
            self.conv1 = conv3x3(in_channels, out_channels, stride)
            self.bn1 = nn.BatchNorm2d(out_channels)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = conv3x3(out_channels, out_channels)
            self.bn2 = nn.BatchNorm2d(out_channels)
            self.downsample = downsample

        def forward(self, x):
            residual = x
            out = self.conv1(x)
            out = self.bn1(out)
            out = self.relu(out)
            out = self.conv2(out)
            out = self.bn2(out)
            if self.downsample:
                residual = self.downsample(x)
            out += residual
            out = self.relu(out)
            return out

    class ResNet(nn.Module):
        def __init__(self, block, layers, num_classes=10):
            super(ResNet, self).__init__()
            self.in_channels = 8
            self.conv = conv3x3(1, 8)
            self.bn = nn.BatchNorm2d(8)
            self.relu = nn.ReLU(inplace=True)
            self.layer1 = self.make_layer(block, 8, layers[0])
            self.layer2 = self.make_layer(block, 16, layers[1], 2)
            self.avg_pool = nn.AvgPool2d(4)
            self.fc = nn.Linear(16, num_classes)

        def make_layer(self, block, out_channels, blocks, stride=1):
            downsample = None
            if (stride != 1) or (self.in_channels != out_channels):
                downsample = nn.Sequential(
                    conv3x3(self.in_channels, out_channels, stride=stride),
                    nn.BatchNorm2d(out_channels))
            layers = []
            layers.append(block(self.in_channels, out_channels, stride, downsample))
            self.in_channels = out_channels
            for i in range(1, blocks):
                layers.append(block(out_channels, out_channels))
            return nn.Sequential(*layers)

        def forward(self, x):
            out = self.conv(x)
            out = self.bn(out)
            out = self.relu(out)
            out = self.layer1(out)
            out = self.layer2(out)
            out = self.avg_pool(out)
            out = out.view(out.size(0), -1)
            out = self.fc(out)
            return out

    return {"model": ResNet(ResidualBlock, [2, 1])}


def train(torch, nn, F, optim, data, models, num_epochs=2, batch_size=64, learning_rate=0.001):
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

    def update_lr(optimizer, lr):
        for param_group in optimizer.param_groups:
            param_group["lr"] = lr

    out = {"train": [], "correct": []}
    curr_lr = learning_rate
    for epoch in range(num_epochs):
        model.train()
        for i, (images, labels) in enumerate(train_loader):
            images = images.to(device)
            labels = labels.to(device)
            outputs = model(images)
            loss = criterion(outputs, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            out["train"].append(loss.item())
        curr_lr /= 3
        update_lr(optimizer, curr_lr)

        model.eval()
        with torch.no_grad():
            correct = 0
            total = 0
            for images, labels in test_loader:
                images = images.to(device)
                labels = labels.to(device)
                outputs = model(images)
                _, predicted = torch.max(outputs.data, 1)
                total += labels.size(0)
                correct += (predicted == labels).sum().item()
            print("Accuracy of the model on the test images: {} %".format(100 * correct / total))
            out["correct"].append(correct)
    with tempfile.TemporaryDirectory() as d:
        torch.save(model.state_dict(), os.path.join(d, "resnet.ckpt"))
    return out


if __name__ == "__main__":
    import sys
    from _lib import main
    main(sys.modules[__name__])
