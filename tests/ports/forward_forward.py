"""Hinton's forward-forward training, in the shape of pytorch/examples mnist_forward_forward:
each Layer subclasses nn.Linear, owns its Adam optimizer and a `train(x_pos, x_neg)` method
(shadowing Module.train, as the example does), normalizes its input with
x.norm(2, 1, keepdim=True), computes relu(torch.mm(x, self.weight.T) + self.bias.unsqueeze(0)),
and minimizes log1p(exp(cat([-g_pos + threshold, g_neg - threshold]))).mean(). The optimizers
exist before the test loads the initial weights, so load_state_dict must write into the
parameters they hold. Labels are overlaid on the first pixels (x.clone(), in-place `*=`,
advanced-index assignment of x.max()); prediction takes argmax(1) of the summed goodness and
the error is 1 - eq(y).float().mean().

The layers sit in an nn.ModuleList (the example keeps a plain list, which leaves the Net's
state_dict empty); wrong labels come from NumPy (the example draws them with torch.randint)."""
import numpy as np

from _digits import digits

DIMS = [64, 48, 48]
THRESHOLD, LR = 2.0, 0.03


def build(torch, nn, F):
    class Layer(nn.Linear):
        def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
            super().__init__(in_features, out_features, bias, device, dtype)
            self.relu = torch.nn.ReLU()
            self.opt = torch.optim.Adam(self.parameters(), lr=LR)
            self.threshold = THRESHOLD
            self.num_epochs = 10

        def forward(self, x):
            x_direction = x / (x.norm(2, 1, keepdim=True) + 1e-4)
            return self.relu(torch.mm(x_direction, self.weight.T) + self.bias.unsqueeze(0))

        def train(self, x_pos, x_neg, log=None):
            for i in range(self.num_epochs):
                g_pos = self.forward(x_pos).pow(2).mean(1)
                g_neg = self.forward(x_neg).pow(2).mean(1)
                loss = torch.log1p(
                    torch.exp(torch.cat([-g_pos + self.threshold, g_neg - self.threshold]))
                ).mean()
                self.opt.zero_grad()
                loss.backward()
                self.opt.step()
                if log is not None:
                    log.append(loss.item())
            return self.forward(x_pos).detach(), self.forward(x_neg).detach()

    class Net(torch.nn.Module):
        def __init__(self, dims):
            super().__init__()
            self.layers = torch.nn.ModuleList()
            for d in range(len(dims) - 1):
                self.layers.append(Layer(dims[d], dims[d + 1]))

        def predict(self, x):
            goodness_per_label = []
            for label in range(10):
                h = overlay_y_on_x(x, label)
                goodness = []
                for layer in self.layers:
                    h = layer(h)
                    goodness = goodness + [h.pow(2).mean(1)]
                goodness_per_label += [sum(goodness).unsqueeze(1)]
            goodness_per_label = torch.cat(goodness_per_label, 1)
            return goodness_per_label.argmax(1)

        def train(self, x_pos, x_neg, log=None):
            h_pos, h_neg = x_pos, x_neg
            for i, layer in enumerate(self.layers):
                h_pos, h_neg = layer.train(h_pos, h_neg, log)

    return {"net": Net(DIMS)}


def overlay_y_on_x(x, y, classes=10):
    """Replace the first `classes` pixels of x by a one-hot of y at x.max()."""
    x_ = x.clone()
    x_[:, :classes] *= 0.0
    x_[range(x.shape[0]), y] = x.max()
    return x_


def train(torch, nn, F, optim, data, models, seed=0):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x_train, y_train, x_test, y_test = digits(n_train=256, n_test=128)
    x_train = (x_train.reshape(len(x_train), -1) - 0.3) / 0.4
    x_test = (x_test.reshape(len(x_test), -1) - 0.3) / 0.4
    rng = np.random.default_rng(seed)
    y_neg = (y_train + rng.integers(1, 10, len(y_train))) % 10      # never the true label
    net = models["net"].to(device)
    x, y = torch.tensor(x_train).to(device), torch.tensor(y_train).to(device)
    x_pos = overlay_y_on_x(x, y)
    x_neg = overlay_y_on_x(x, torch.tensor(y_neg).to(device))
    out = {"loss": [], "train_error": [], "test_error": []}
    net.train(x_pos, x_neg, out["loss"])
    with torch.no_grad():
        out["train_error"].append(1.0 - net.predict(x).eq(y).float().mean().item())
        x_te, y_te = torch.tensor(x_test).to(device), torch.tensor(y_test).to(device)
        out["test_error"].append(1.0 - net.predict(x_te).eq(y_te).float().mean().item())
    print("train error:", out["train_error"][0], "test error:", out["test_error"][0])
    return out


if __name__ == "__main__":
    import sys
    from _lib import main
    main(sys.modules[__name__])
