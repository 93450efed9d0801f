"""Fine-tuning with a general checkpoint, in the shape of the PyTorch tutorials "Transfer
learning" and "Saving and loading a general checkpoint": a pretrained-style backbone frozen
with requires_grad_(False) and later unfrozen, optimizer parameter groups with their own
learning rates (weight decay only on weights, chosen by named_parameters as nanoGPT's
configure_optimizers does), a LambdaLR warm-up, an exponential moving average of the weights
updated under no_grad with mul_/add_(alpha=), and training interrupted halfway, saved as
torch.save({"epoch", "model_state_dict", "optimizer_state_dict", "scheduler_state_dict",
"loss"}), then loaded into fresh model, optimizer and scheduler objects, which finish the
run."""
import copy
import os
import tempfile

from _digits import digits


def build(torch, nn, F):
    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(nn.Flatten(), nn.Linear(64, 48), nn.GELU(),
                                          nn.Linear(48, 32), nn.GELU())
            self.head = nn.Linear(32, 10)

        def forward(self, x):
            return self.head(self.backbone(x))

    return {"model": Classifier()}


def make_optimizer(torch, optim, model, base_lr=1e-2):
    decay, no_decay = [], []
    for name, p in model.backbone.named_parameters():
        (decay if p.dim() >= 2 else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": 0.01, "lr": base_lr * 0.1},
        {"params": no_decay, "weight_decay": 0.0, "lr": base_lr * 0.1},
        {"params": model.head.parameters(), "weight_decay": 0.01},
    ]
    optimizer = optim.AdamW(groups, lr=base_lr)
    warmup = 4
    scheduler = optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
    return optimizer, scheduler


def train(torch, nn, F, optim, data, models, epochs=4, batch_size=64, ema_decay=0.9):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x_train, y_train, x_test, y_test = digits(n_train=256, n_test=128)
    loader = data.DataLoader(data.TensorDataset(torch.tensor(x_train), torch.tensor(y_train)),
                             batch_size=batch_size)
    x_test, y_test = torch.tensor(x_test).to(device), torch.tensor(y_test).to(device)
    model = models["model"].to(device)
    for p in model.backbone.parameters():          # linear probe first
        p.requires_grad_(False)
    optimizer, scheduler = make_optimizer(torch, optim, model)
    ema = copy.deepcopy(model)
    out = {"loss": [], "lr": [], "test": [], "ema_test": [], "trainable": []}

    def run_epoch(model, optimizer, scheduler, ema):
        model.train()
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            with torch.no_grad():
                for e, p in zip(ema.parameters(), model.parameters()):
                    e.mul_(ema_decay).add_(p, alpha=1 - ema_decay)
            out["loss"].append(loss.item())
        out["lr"].extend(g["lr"] for g in optimizer.param_groups)
        model.eval()
        with torch.no_grad():
            out["test"].append(F.cross_entropy(model(x_test), y_test).item())
            out["ema_test"].append(F.cross_entropy(ema(x_test), y_test).item())

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "checkpoint.tar")
        for epoch in range(epochs // 2):
            if epoch == 1:                          # unfreeze the backbone
                for p in model.backbone.parameters():
                    p.requires_grad_(True)
            out["trainable"].append(sum(p.numel() for p in model.parameters()
                                        if p.requires_grad))
            run_epoch(model, optimizer, scheduler, ema)
        torch.save({"epoch": epoch, "model_state_dict": model.state_dict(),
                    "ema_state_dict": ema.state_dict(),
                    "optimizer_state_dict": optimizer.state_dict(),
                    "scheduler_state_dict": scheduler.state_dict(),
                    "loss": out["loss"][-1]}, path)

        # a new process would start here: fresh objects, state from the checkpoint
        model2 = type(model)().to(device)
        ema2 = type(model)().to(device)
        optimizer2, scheduler2 = make_optimizer(torch, optim, model2)
        checkpoint = torch.load(path)
        model2.load_state_dict(checkpoint["model_state_dict"])
        ema2.load_state_dict(checkpoint["ema_state_dict"])
        optimizer2.load_state_dict(checkpoint["optimizer_state_dict"])
        scheduler2.load_state_dict(checkpoint["scheduler_state_dict"])
        start = checkpoint["epoch"] + 1
        assert checkpoint["loss"] == out["loss"][-1]
    for epoch in range(start, epochs):
        out["trainable"].append(sum(p.numel() for p in model2.parameters() if p.requires_grad))
        run_epoch(model2, optimizer2, scheduler2, ema2)
    return out


if __name__ == "__main__":
    import sys
    from _lib import main
    main(sys.modules[__name__])
