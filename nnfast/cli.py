"""The `nnfast` command.

    nnfast train                       digits, standardised MLP, Adam, early stopping, test report
    nnfast train --data my.csv --target label --hidden 256,128 --epochs 50
    nnfast predict --model runs/digits --data new.csv [--output predictions.csv]
    (csv files: UTF-8 with or without a BOM; --encoding latin-1 etc. for others)
    nnfast info                        kernel set, threads, CPU features
    nnfast bench [--quick] [--only step,gemm,...]   nnfast vs PyTorch/JAX, whichever is installed
                                                     (--device cuda: the GPU benchmark)

`train` writes to --out (default runs/<dataset>): model.nnf (weights + preprocessing +
metadata, loadable by `predict` and by nnfast.load), checkpoint.nnf (resumable training
state), history.csv, summary.json and learning_curve.png (with matplotlib: nnfast[plot]).
"""
import argparse
import csv
import json
import math
import os
import sys
import time

import numpy as np

from ._cli_inputs import (DEFAULT_ENCODING, CLIError, _is_number, check_encoding,
                          check_finite_f32, float_array, read_csv)
from ._cli_model import ACTIVATIONS, build_mlp, read_model_file


# ============================================================================ data loading

def _parse_csv(path, target, encoding=DEFAULT_ENCODING):
    table = read_csv(path, encoding)
    header = table.header
    if target is None:
        target = header[-1]
    if target not in header:
        shown = ", ".join(header[:12]) + (f", ... ({len(header)} columns)"
                                          if len(header) > 12 else "")
        raise CLIError(f"{path}: no column named {target!r} (columns: {shown}); "
                       "choose the target with --target COLUMN")
    ti = table.column(target)
    features = [h for j, h in enumerate(header) if j != ti]
    if not features:
        raise CLIError(f"{path}: no feature columns besides the target {target!r}")
    x = table.numeric(features)
    yraw = [r[ti].strip() for r in table.rows]
    empty = [line for v, line in zip(yraw, table.lines) if v == ""]
    if empty:
        raise CLIError(f"{path}: the target column {target!r} has empty cells (line "
                       f"{empty[0]}{', ...' if len(empty) > 1 else ''})")
    return x, np.array(yraw), features, target, table.lines


def _load_npz(path, target):
    with np.load(path, allow_pickle=False) as z:
        keys = list(z.keys())
        xkey = next((k for k in ("X", "x", "data", "features") if k in z), None)
        ykey = target or next((k for k in ("y", "target", "labels") if k in z), None)
        if xkey is None:
            raise CLIError(f"{path}: expected a feature array named X, x, data or features "
                           f"(arrays: {', '.join(keys)})")
        if ykey is None or ykey not in z:
            raise CLIError(f"{path}: no target array {ykey or 'y/target/labels'!r} "
                           f"(arrays: {', '.join(keys)}); choose it with --target NAME")
        x = float_array(z[xkey], path, xkey)
        y = np.asarray(z[ykey])
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim == 0 or len(x) == 0:
        raise CLIError(f"{path}: array {xkey!r} holds no rows")
    x = x.reshape(len(x), -1)
    if y.ndim != 1:
        raise CLIError(f"{path}: the target array {ykey!r} must be 1-D, got shape {y.shape}")
    if len(x) != len(y):
        raise CLIError(f"{path}: {len(x)} rows of features but {len(y)} targets")
    check_finite_f32(x, path, f"array {xkey!r}")
    return x, y, [f"x{i}" for i in range(x.shape[1])], ykey, None


def load_table(path, target, encoding=DEFAULT_ENCODING):
    """(features float64 (n, k), raw targets, feature names, target name, file line of each
    row or None for .npz)."""
    if not os.path.exists(path):
        raise CLIError(f"no such file: {path}")
    if path.endswith(".npz"):
        return _load_npz(path, target)
    if path.endswith(".csv") or path.endswith(".txt"):
        return _parse_csv(path, target, encoding)
    raise CLIError(f"{path}: unsupported file type (use .csv or .npz)")


def _encode_target(y, task, where="the target", lines=None):
    """(y array, task, class names) — strings or integer-valued labels become class ids.
    where/lines name the column and each row's file line in errors."""
    numeric = y.dtype.kind in "iufb" or all(_is_number(v) for v in y)
    yv = y.astype(np.float64) if numeric else None
    if task == "auto":
        if not numeric:
            task = "classify"
        else:
            uniq = np.unique(yv)
            task = "classify" if (np.all(uniq == np.round(uniq)) and len(uniq) <= 50) else "regress"
    if task == "regress":
        if not numeric:
            raise CLIError("--task regress needs a numeric target column")
        bad = np.flatnonzero(~np.isfinite(yv) | (np.abs(yv) > np.finfo(np.float32).max))
        if len(bad):
            i = int(bad[0])
            row = f"line {lines[i]}" if lines is not None else f"row {i}"
            raise CLIError(f"{where}: {row}: the value {str(y[i]).strip()!r} is NaN, infinite "
                           "or too large for float32; a regression target must be a finite "
                           "number")
        return yv.astype(np.float32), task, None
    classes, ids = np.unique(yv if numeric else y, return_inverse=True)
    if len(classes) < 2:
        raise CLIError("the target has a single class; nothing to classify")
    names = [str(int(c)) if numeric and float(c).is_integer() else str(c) for c in classes]
    return ids.astype(np.int64), task, names


# ============================================================================ model

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad")
SCHEDULES = ("none", "step", "exponential", "cosine", "onecycle", "plateau")


def _optimizer(name, params, lr):
    from . import optim
    return {"adam": optim.Adam, "adamw": optim.AdamW, "sgd": lambda p, lr: optim.SGD(
        p, lr=lr, momentum=0.9, nesterov=True), "rmsprop": optim.RMSprop,
        "adagrad": optim.Adagrad}[name](params, lr=lr)


def _scheduler(name, opt, epochs, steps_per_epoch, lr):
    from .optim import lr_scheduler as ls
    if name == "none":
        return None, "epoch"
    if name == "step":
        return ls.StepLR(opt, step_size=max(epochs // 3, 1), gamma=0.3), "epoch"
    if name == "exponential":
        return ls.ExponentialLR(opt, gamma=0.97), "epoch"
    if name == "cosine":
        return ls.CosineAnnealingLR(opt, T_max=max(epochs, 1)), "epoch"
    if name == "onecycle":
        return ls.OneCycleLR(opt, max_lr=lr * 10, total_steps=epochs * steps_per_epoch), "step"
    return ls.ReduceLROnPlateau(opt, factor=0.5, patience=3), "epoch"


# ============================================================================ commands

def cmd_train(args):
    import nnfast as nf
    from . import data as nfdata
    from . import nn
    from .train import (CSVLogger, EarlyStopping, LRSchedulerCallback, ModelCheckpoint,
                        TerminateOnNaN, fit, predict)
    from .train import metrics as M

    device = _device(args.device)
    out = args.out or os.path.join("runs", "digits" if args.data is None else
                                   os.path.splitext(os.path.basename(args.data))[0])
    rank, distributed = _ranks(args.distributed)
    main = rank == 0   # distributed: rank 0 alone prints and writes
    log = (lambda *a: None) if args.json or not main else (lambda *a: print(*a, flush=True))
    nf.manual_seed(args.seed + rank)   # (dropout streams differ; DDP gives rank 0's weights)
    if args.threads:
        nf.set_num_threads(args.threads)
    # ---------------------------------------------------------------- data
    if args.data is None:
        from .datasets import load_digits
        d = load_digits()
        x, y_raw = d.data.astype(np.float64), d.target
        features, target, dataset = [f"pixel_{i}" for i in range(64)], "digit", "digits"
        lines = None
    else:
        x, y_raw, features, target, lines = load_table(args.data, args.target, args.encoding)
        dataset = os.path.basename(args.data)
    where = "the target" if args.data is None else f"{args.data}: target column {target!r}"
    y, task, class_names = _encode_target(np.asarray(y_raw), args.task, where, lines)
    classify = task == "classify"
    x = x.astype(np.float32)
    strat = y if classify else None
    try:
        x_tr, x_te, y_tr, y_te = nfdata.train_test_split(
            x, y, test_size=args.test_split, random_state=args.seed, stratify=strat)
        x_tr, x_va, y_tr, y_va = nfdata.train_test_split(
            x_tr, y_tr, test_size=args.val_split, random_state=args.seed + 1,
            stratify=y_tr if classify else None)
    except ValueError as e:
        raise CLIError(f"cannot split {len(x)} rows into train/validation/test: {e}") from None
    scaler = nfdata.StandardScaler().fit(x_tr)
    x_tr, x_va, x_te = (scaler.transform(a).astype(np.float32) for a in (x_tr, x_va, x_te))
    if classify and args.resample != "none":
        sampler = {"over": nfdata.RandomOverSampler, "under": nfdata.RandomUnderSampler,
                   "smote": nfdata.SMOTE}[args.resample](random_state=args.seed)
        x_tr, y_tr = sampler.fit_resample(x_tr, y_tr)
        x_tr = x_tr.astype(np.float32)
    # ---------------------------------------------------------------- model
    hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
    n_out = len(class_names) if classify else 1
    model = build_mlp(x.shape[1], hidden, n_out, args.activation, args.dropout)
    if classify:
        weight = None
        if args.class_weight == "balanced":
            weight = nf.tensor(nfdata.compute_class_weight(
                "balanced", classes=np.arange(n_out), y=y_tr).astype(np.float32))
        loss_fn = nn.CrossEntropyLoss(weight=weight)
        metrics = ["accuracy", "f1"]
    else:
        loss_fn = _RegressionLoss()
        metrics = ["r2", "mae"]
    opt = _optimizer(args.optimizer, model.parameters(), args.lr)
    steps = math.ceil(len(x_tr) / args.batch_size)
    sched, interval = _scheduler(args.schedule, opt, args.epochs, steps, args.lr)
    if main:
        os.makedirs(out, exist_ok=True)
    checkpoint = os.path.join(out, "checkpoint.nnf")
    if args.resume and not os.path.exists(checkpoint):
        raise CLIError(f"--resume: there is no {checkpoint} to continue from")
    monitor = "val_loss"
    callbacks = [EarlyStopping(monitor, patience=args.patience, restore_best_weights=True),
                 ModelCheckpoint(checkpoint, monitor, save_training_state=True),
                 CSVLogger(os.path.join(out, "history.csv")), TerminateOnNaN()]
    if sched is not None:
        callbacks.append(LRSchedulerCallback(sched, interval=interval))
    log(f"nnfast train: {dataset}, {len(x)} rows x {x.shape[1]} features, task {task}"
        + (f", {n_out} classes" if classify else "")
        + f"; split {len(x_tr)} train / {len(x_va)} val / {len(x_te)} test")
    log(f"model {'-'.join(map(str, [x.shape[1]] + hidden + [n_out]))} ({args.activation}"
        + (f", dropout {args.dropout}" if args.dropout else "")
        + f"), {args.optimizer} lr {args.lr}, batch {args.batch_size}, "
        f"up to {args.epochs} epochs, patience {args.patience}")
    t0 = time.perf_counter()
    history = fit(model, loss_fn, opt, (x_tr, y_tr if classify else y_tr[:, None]),
                  (x_va, y_va if classify else y_va[:, None]), epochs=args.epochs,
                  batch_size=args.batch_size, callbacks=callbacks, metrics=metrics,
                  l1=args.l1, l2=args.l2, seed=args.seed, verbose=not args.json,
                  device=device, distributed=distributed,
                  resume_from=checkpoint if args.resume else None)
    seconds = time.perf_counter() - t0
    if not main:
        return 0
    # ---------------------------------------------------------------- test report
    pred = predict(model, x_te)
    summary = {"dataset": dataset, "task": task, "rows": int(len(x)),
               "features": int(x.shape[1]), "train_rows": int(len(x_tr)),
               "val_rows": int(len(x_va)), "test_rows": int(len(x_te)),
               "model": "-".join(map(str, [x.shape[1]] + hidden + [n_out])),
               "epochs_run": len(history), "stopped_early": history.stopped_early,
               "best_val_loss": float(np.nanmin(history["val_loss"])) if len(history) else None,
               "train_seconds": round(seconds, 3), "out": os.path.abspath(out)}
    if classify:
        summary["test_accuracy"] = M.accuracy(y_te, pred)
        p, r, f = M.precision_recall_f1(y_te, pred)
        summary.update(test_precision=p, test_recall=r, test_f1=f)
        summary["classes"] = class_names
    else:
        summary["test_r2"] = M.r2_score(y_te, pred)
        summary["test_mae"] = M.mae(y_te, pred)
    nf.save({"model": model.state_dict(), "scaler": scaler.state_dict(),
             "meta": {"task": task, "features": features, "target": target,
                      "classes": class_names, "hidden": hidden,
                      "activation": args.activation, "dropout": args.dropout,
                      "n_in": int(x.shape[1]), "n_out": int(n_out)}},
            os.path.join(out, "model.nnf"))
    try:
        history.plot(os.path.join(out, "learning_curve.png"), metrics=metrics[:1])
        summary["learning_curve"] = os.path.join(out, "learning_curve.png")
    except ImportError:
        summary["learning_curve"] = None
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    if args.json:
        print(json.dumps(summary))
        return 0
    log("")
    log(f"trained {len(history)} epochs in {seconds:.1f} s"
        + (f"; {history.stop_reason}" if history.stop_reason else ""))
    if callbacks[0].best_epoch is not None:
        log(f"kept the weights of epoch {callbacks[0].best_epoch + 1} (lowest val_loss)")
    if classify:
        log(f"test accuracy {summary['test_accuracy']:.4f}   macro F1 {summary['test_f1']:.4f}"
            f"   precision {summary['test_precision']:.4f}   recall {summary['test_recall']:.4f}")
    else:
        log(f"test R² {summary['test_r2']:.4f}   MAE {summary['test_mae']:.4g}")
    log(f"wrote {out}/: model.nnf, checkpoint.nnf, history.csv, summary.json"
        + (", learning_curve.png" if summary["learning_curve"] else
           " (learning_curve.png needs matplotlib: pip install \"nnfast[plot]\")"))
    return 0


def _ranks(mode):
    """(this process's rank, whether to train data-parallel) for --distributed."""
    launched = max(int(os.environ.get(k, "1") or 1) for k in
                   ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"))   # mpirun's world
    if mode == "off" or (mode == "auto" and launched <= 1):
        return 0, False
    from . import distributed as dist
    try:
        if not dist.is_initialized():
            dist.init_process_group("mpi")
    except ImportError as e:
        raise CLIError(str(e)) from None
    return dist.get_rank(), True


class _RegressionLoss:
    """MSE on (N, 1) outputs and targets."""

    def __init__(self):
        from . import nn
        self.mse = nn.MSELoss()

    def __call__(self, out, target):
        return self.mse(out, target)


def _device(name):
    """--device's nf.device, refused with one line when the machine has no such device."""
    import nnfast as nf
    if name == "auto":
        name = "cuda" if nf.cuda.is_available() else "cpu"
    if name == "cuda" and not nf.cuda.is_available():
        raise CLIError("--device cuda: no CUDA GPU is available (nnfast.cuda.is_available() is "
                       "False; install 'nnfast[cuda]' on a machine with an NVIDIA GPU), use "
                       "--device cpu")
    return nf.device(name)


def _importable_here(imports):
    """--import finds modules in the current folder, as `python -m` would."""
    if imports and os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())


def cmd_predict(args):
    from .train import predict
    path = os.path.join(args.model, "model.nnf") if os.path.isdir(args.model) else args.model
    if not os.path.exists(path):
        raise CLIError(f"no model at {path} (run `nnfast train --out DIR` first, or save "
                       "a trained model with nnfast.train.save_model)")
    _importable_here(args.imports)
    saved = read_model_file(path, args.imports)  # metadata and weights checked
    meta = saved.meta
    if not os.path.exists(args.data):
        raise CLIError(f"no such file: {args.data}")
    if args.data.endswith(".npz"):
        x = _load_features_npz(args.data)
    else:
        x = _read_features_csv(args.data, meta, args.encoding)
    if x.shape[1] != meta["n_in"]:
        raise CLIError(f"{args.data}: {x.shape[1]} feature columns, the model expects "
                       f"{meta['n_in']} ({', '.join(meta['features'][:8])}...)")
    model = saved.build().to(_device(args.device))
    if saved.scaler is not None:
        x = saved.scaler.transform(x)
    out = predict(model, saved.inputs(x))
    output = args.output or os.path.splitext(args.data)[0] + ".predictions.csv"
    with open(output, "w", newline="") as f:
        w = csv.writer(f)
        if meta["task"] == "classify":
            kind = meta.get("output", "logits")   # what a save_model model's last layer gives
            if kind == "probabilities":
                prob = out
            else:
                e = np.exp(out if kind == "log_probabilities" else
                           out - out.max(1, keepdims=True))
                prob = e / e.sum(1, keepdims=True)
            w.writerow(["prediction"] + [f"p_{c}" for c in meta["classes"]])
            for row, pr in zip(out.argmax(1), prob):
                w.writerow([meta["classes"][row]] + [f"{v:.6f}" for v in pr])
        elif out.ndim == 2 and out.shape[1] > 1:  # a save_model regression with k outputs
            w.writerow([f"prediction_{j}" for j in range(out.shape[1])])
            for row in out:
                w.writerow([f"{v:.6g}" for v in row])
        else:
            w.writerow(["prediction"])
            for v in out.reshape(-1):
                w.writerow([f"{v:.6g}"])
    print(f"wrote {len(out)} predictions to {output}")
    return 0


def cmd_export(args):
    """The trained MLP as ONNX, the scaler inside the graph: the file takes raw features."""
    try:
        import onnx

        import nnfast.onnx as nf_onnx
    except ImportError as e:
        raise CLIError(str(e)) from None
    import nnfast as nf
    from nnfast import nn
    path = os.path.join(args.model, "model.nnf") if os.path.isdir(args.model) else args.model
    if not os.path.exists(path):
        raise CLIError(f"no model at {path} (run `nnfast train --out DIR` first)")
    _importable_here(args.imports)
    saved = read_model_file(path, args.imports)
    meta, sc = saved.meta, saved.scaler
    mean = getattr(sc, "mean_", None)
    shape = tuple(meta.get("input_shape", [meta["n_in"]]))
    dtype = meta.get("input_dtype", "float32")

    class FromRows(nn.Module):   # (x - mean) / scale, reshaped to one sample's shape
        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            n = meta["n_in"]
            self.register_buffer("mean", None if sc is None else nf.tensor(
                np.zeros(n) if mean is None else mean, dtype=nf.float32))
            self.register_buffer("scale", None if sc is None else
                                 nf.tensor(sc.scale_, dtype=nf.float32))

        def forward(self, x):
            if self.scale is not None:
                x = (x - self.mean) / self.scale
            return self.inner(x if shape == (meta["n_in"],) else x.reshape(-1, *shape))

    model = saved.build()
    if sc is not None or shape != (meta["n_in"],):
        model = FromRows(model)
    example = nf.zeros(2, meta["n_in"], dtype=getattr(nf, dtype if sc is None else "float32"))
    out_name = "logits" if meta["task"] == "classify" else "prediction"
    proto = nf_onnx.export(model, (example,), None, input_names=["features"],
                           output_names=[out_name])
    props = {"task": meta["task"], "features": json.dumps(meta["features"])}
    if meta["task"] == "classify":
        props["classes"] = json.dumps([str(c) for c in meta["classes"]])
    onnx.helper.set_model_props(proto, props)
    onnx.save(proto, args.onnx)
    print(f"wrote {args.onnx}: input 'features' (batch, {meta['n_in']}) raw feature values, "
          f"output '{out_name}' (batch, {meta['n_out']})")
    return 0


def _read_features_csv(path, meta, encoding=DEFAULT_ENCODING):
    """Feature columns by the names the model was trained on (a target column is ignored)."""
    table = read_csv(path, encoding)
    missing = [c for c in meta["features"] if c not in table.header]
    if missing:
        raise CLIError(f"{path}: missing feature column(s) the model was trained on: "
                       f"{', '.join(missing[:10])}")
    return table.numeric(meta["features"]).astype(np.float32)


def _load_features_npz(path):
    with np.load(path, allow_pickle=False) as z:
        key = next((k for k in ("X", "x", "data", "features") if k in z), None)
        if key is None:
            raise CLIError(f"{path}: expected a feature array named X, x, data or features")
        x = float_array(z[key], path, key)
    if x.ndim == 0 or len(x) == 0:
        raise CLIError(f"{path}: array {key!r} holds no rows")
    x = x.reshape(len(x), -1)
    check_finite_f32(x, path, f"array {key!r}")
    return x


def cmd_info(args):
    import nnfast as nf
    print(f"nnfast {nf.__version__}")
    print(f"GEMM kernels: {nf._C.gemm_isa()}")
    print(f"OpenMP: {nf._C.has_openmp()}, threads: {nf.get_num_threads()}")
    feats = [f for f in ("sse2", "avx2", "fma", "avx512f") if nf._C.cpu_has(f)]
    print(f"CPU features: {', '.join(feats) or 'none detected'}")
    return 0


def cmd_bench(args):
    """The benchmark harness shipped in the package (nnfast/bench/): nnfast against whichever
    of PyTorch and JAX is installed, results under the current directory (or --out)."""
    from nnfast.bench.harness import main as bench_main
    return bench_main(args.bench_args, prog="nnfast bench")


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, in the form of every other error of the command."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _parser():
    ap = _Parser(prog="nnfast", description="nnfast: fast small-CPU training")
    sub = ap.add_subparsers(dest="command", parser_class=_Parser)
    tr = sub.add_parser("train", help="train an MLP (default: the embedded digits data)",
                        description="Train a standardised MLP with validation, early stopping "
                        "and a test report. Without --data: the embedded 8x8 digits.")
    tr.add_argument("--data", help="a .csv (header row) or .npz (X and y arrays) file")
    tr.add_argument("--target", help="target column (csv; default: the last) or array (npz)")
    tr.add_argument("--encoding", default=DEFAULT_ENCODING, help="the csv file's text encoding "
                    f"(default {DEFAULT_ENCODING}: UTF-8, with or without a byte-order mark)")
    tr.add_argument("--task", choices=("auto", "classify", "regress"), default="auto")
    tr.add_argument("--hidden", default="128,64", help="hidden layer sizes, e.g. 256,128")
    tr.add_argument("--activation", choices=ACTIVATIONS, default="relu")
    tr.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    tr.add_argument("--lr", type=float, default=1e-3)
    tr.add_argument("--batch-size", type=int, default=32)
    tr.add_argument("--epochs", type=int, default=100)
    tr.add_argument("--val-split", type=float, default=0.15)
    tr.add_argument("--test-split", type=float, default=0.2)
    tr.add_argument("--patience", type=int, default=10)
    tr.add_argument("--schedule", choices=SCHEDULES, default="none")
    tr.add_argument("--class-weight", choices=("none", "balanced"), default="none")
    tr.add_argument("--resample", choices=("none", "over", "under", "smote"), default="none")
    tr.add_argument("--l1", type=float, default=0.0)
    tr.add_argument("--l2", type=float, default=0.0)
    tr.add_argument("--dropout", type=float, default=0.0)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--threads", type=int, default=0, help="kernel threads (0: default)")
    tr.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu",
                    help="where to train (auto: cuda when a GPU is available)")
    tr.add_argument("--out", help="output folder (default runs/<dataset>)")
    tr.add_argument("--json", action="store_true", help="print only a JSON summary")
    tr.add_argument("--resume", action="store_true",
                    help="continue the run whose checkpoint.nnf is in --out")
    tr.add_argument("--distributed", choices=("auto", "on", "off"), default="auto",
                    help="data-parallel over the ranks mpirun started (auto: when launched by "
                    "mpirun with more than one rank; needs nnfast[mpi]); rank 0 writes")
    pr = sub.add_parser("predict", help="predict with a model written by `nnfast train`")
    pr.add_argument("--model", required=True, help="the --out folder of a training run")
    pr.add_argument("--data", required=True, help=".csv with the feature columns, or .npz")
    pr.add_argument("--output", help="predictions CSV (default: <data>.predictions.csv)")
    pr.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu")
    imports = ("a module holding a custom Module class of the model (save_model names it); "
               "importing runs its code, so name only code you trust (repeatable)")
    pr.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                    help=imports)
    pr.add_argument("--encoding", default=DEFAULT_ENCODING, help="the csv file's text encoding "
                    f"(default {DEFAULT_ENCODING})")
    ex = sub.add_parser("export", help="write a model from `nnfast train` as ONNX")
    ex.add_argument("--model", required=True, help="the --out folder of a training run")
    ex.add_argument("--onnx", required=True, help="the .onnx file to write")
    ex.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                    help=imports)
    sub.add_parser("info", help="build and CPU facts")
    be = sub.add_parser("bench", add_help=False, prefix_chars="+",  # pass all options on
                        help="benchmarks against PyTorch/JAX "
                        "(`nnfast bench --help` for options)")
    be.add_argument("bench_args", nargs=argparse.REMAINDER)
    return ap


def main(argv=None):
    ap = _parser()
    args = ap.parse_args(argv)
    try:
        if args.command == "train":
            _check_train_args(args)
            return cmd_train(args)
        if args.command == "predict":
            check_encoding(args.encoding)
            return cmd_predict(args)
        if args.command == "export":
            return cmd_export(args)
        if args.command == "info":
            return cmd_info(args)
        if args.command == "bench":
            return cmd_bench(args)
    except CLIError as e:
        return _fail(args.command, str(e))
    except Exception as e:
        # train/predict read files other tools wrote: whatever they make go wrong deeper
        # down (OSError, a ValueError from the loader, MemoryError...) is still one line
        if args.command not in ("train", "predict", "export"):
            raise
        return _fail(args.command, f"{type(e).__name__}: {e}")
    ap.print_help()
    return 2


def _fail(command, message):
    print(f"nnfast {command}: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def _check_train_args(args):
    check_encoding(args.encoding)
    for name in ("lr",):
        if not getattr(args, name) > 0:
            raise CLIError(f"--{name} must be > 0")
    if args.batch_size < 1 or args.epochs < 1 or args.patience < 1:
        raise CLIError("--batch-size, --epochs and --patience must be >= 1")
    if not 0 < args.val_split < 1 or not 0 < args.test_split < 1:
        raise CLIError("--val-split and --test-split must be between 0 and 1")
    if not 0 <= args.dropout < 1:
        raise CLIError("--dropout must be in [0, 1)")
    if args.l1 < 0 or args.l2 < 0:
        raise CLIError("--l1 and --l2 must be >= 0")
    try:
        hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
    except ValueError:
        raise CLIError(f"--hidden must be comma-separated integers, got {args.hidden!r}") from None
    if any(h < 1 for h in hidden):
        raise CLIError("--hidden sizes must be >= 1")
    if args.data is not None and not os.path.exists(args.data):
        raise CLIError(f"no such file: {args.data}")


if __name__ == "__main__":
    sys.exit(main())
