"""Polynomial regression with a single Linear layer and hand-written SGD — the shape of
pytorch/examples regression/main.py: features [x, x^2, x^3, x^4] built with torch.cat, a
smooth-L1 loss, `module.zero_grad()` and `param.data.add_(-lr * param.grad)` instead of an
optimizer, then a small MLP head trained the same way on the same batches."""
import numpy as np

DEGREE = 4


def build(torch, nn, F):
    return {"fc": nn.Linear(DEGREE, 1),
            "mlp": nn.Sequential(nn.Linear(DEGREE, 16), nn.Tanh(), nn.Linear(16, 1))}


def make_features(torch, x):
    """(N,) -> (N, DEGREE): columns x, x^2, ..., x^DEGREE."""
    x = x.unsqueeze(1)
    return torch.cat([x ** i for i in range(1, DEGREE + 1)], 1)


def train(torch, nn, F, optim, data, models, steps=40, batch_size=32, lr=0.05, seed=0):
    rng = np.random.default_rng(seed)
    W_target = torch.tensor(rng.standard_normal((DEGREE, 1)).astype(np.float32) * 0.5)
    b_target = torch.tensor(rng.standard_normal(1).astype(np.float32) * 0.5)

    def f(x):
        return x.mm(W_target) + b_target.item()

    def get_batch():
        x = make_features(torch, torch.tensor(rng.uniform(-1, 1, batch_size).astype(np.float32)))
        return x, f(x)

    fc, mlp = models["fc"], models["mlp"]
    fc_losses, mlp_losses = [], []
    for batch_idx in range(1, steps + 1):
        batch_x, batch_y = get_batch()
        for model, losses in ((fc, fc_losses), (mlp, mlp_losses)):
            model.zero_grad()
            output = F.smooth_l1_loss(model(batch_x), batch_y)
            loss = output.item()
            output.backward()
            for param in model.parameters():
                param.data.add_(-lr * param.grad)
            losses.append(loss)
    with torch.no_grad():
        w = fc.weight.view(-1)
        desc = "y = " + " ".join(f"{c:+.2f} x^{i + 1}" for i, c in enumerate(w))
        desc += f" {fc.bias[0]:+.2f}"
    assert desc.count("x^") == DEGREE, desc
    return {"fc": fc_losses, "mlp": mlp_losses,
            "weights": w.detach().tolist() + [fc.bias.item()]}


if __name__ == "__main__":
    import sys
    from _lib import main
    main(sys.modules[__name__])
