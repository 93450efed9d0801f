"""Sine-wave sequence prediction with two stacked LSTMCells, in the shape of pytorch/examples
time_sequence_prediction (generate_sine_wave.py + train.py): the model in float64
(`seq.double()`, states made with torch.zeros(..., dtype=torch.double)), the sequence walked
with input.split(1, dim=1), outputs joined with torch.cat, MSELoss, LBFGS with a closure,
and a no_grad forecast of future steps read back with .detach().numpy()."""
import numpy as np

HIDDEN = 16


def sine_waves(T=20, L=40, N=10, seed=2):
    rng = np.random.default_rng(seed)
    x = np.arange(L)[None, :] + rng.integers(-4 * T, 4 * T, N)[:, None]
    return np.sin(x / 1.0 / T).astype("float64")


def build(torch, nn, F):
    class Sequence(nn.Module):
        def __init__(self):
            super(Sequence, self).__init__()
            self.lstm1 = nn.LSTMCell(1, HIDDEN)
            self.lstm2 = nn.LSTMCell(HIDDEN, HIDDEN)
            self.linear = nn.Linear(HIDDEN, 1)

        def forward(self, input, future=0):
            outputs = []
            h_t = torch.zeros(input.size(0), HIDDEN, dtype=torch.double)
            c_t = torch.zeros(input.size(0), HIDDEN, dtype=torch.double)
            h_t2 = torch.zeros(input.size(0), HIDDEN, dtype=torch.double)
            c_t2 = torch.zeros(input.size(0), HIDDEN, dtype=torch.double)
            for input_t in input.split(1, dim=1):
                h_t, c_t = self.lstm1(input_t, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                output = self.linear(h_t2)
                outputs += [output]
            for i in range(future):   # if we should predict the future
                h_t, c_t = self.lstm1(output, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                output = self.linear(h_t2)
                outputs += [output]
            outputs = torch.cat(outputs, dim=1)
            return outputs

    seq = Sequence()
    seq.double()
    return {"seq": seq}


def train(torch, nn, F, optim, data, models, steps=2, future=20):
    waves = sine_waves()
    input = torch.from_numpy(waves[3:, :-1])
    target = torch.from_numpy(waves[3:, 1:])
    test_input = torch.from_numpy(waves[:3, :-1])
    test_target = torch.from_numpy(waves[:3, 1:])
    seq = models["seq"]
    criterion = nn.MSELoss()
    optimizer = optim.LBFGS(seq.parameters(), lr=0.5, max_iter=4)
    out = {"closure": [], "test": [], "forecast": []}
    for i in range(steps):
        print("STEP: ", i)

        def closure():
            optimizer.zero_grad()
            out_ = seq(input)
            loss = criterion(out_, target)
            print("loss:", loss.item())
            out["closure"].append(loss.item())
            loss.backward()
            return loss
        optimizer.step(closure)
        with torch.no_grad():
            pred = seq(test_input, future=future)
            loss = criterion(pred[:, :-future], test_target)
            print("test loss:", loss.item())
            out["test"].append(loss.item())
            y = pred.detach().numpy()
        assert y.shape == (3, input.size(1) + future) and y.dtype == np.float64
        out["forecast"].append(float(np.abs(y[:, input.size(1):]).mean()))
    return out


if __name__ == "__main__":
    import sys
    from _lib import main
    main(sys.modules[__name__])
