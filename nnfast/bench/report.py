"""What the harness prints and writes: the markdown tables, the notes under them, the peak
summary of the JSON and the PNG chart of the ratios (nnfast.bench.harness runs the sections)."""
from .common import FLOP_SECTIONS

# ================================================================================ tables
def _fmt_t(s):
    return f"{s * 1e6:.1f}" if s < 1e-3 else f"{s * 1e6:.0f}"


def _cell(r, kind):
    if "skipped" in r:
        return "—"
    if "error" in r:
        return "FAIL"
    if kind == "us":
        return _fmt_t(r["s"])
    if kind == "gflops":
        pct = f" ({r['pct_peak']:.0f}%)" if "pct_peak" in r else (
            " (n/a)" if r.get("peak_kind") == "bf16" else "")
        return f"{r['gflops']:.1f}{pct}"
    if kind == "gbs":
        return f"{r['gbs']:.1f}"
    return "?"


def _labels(rows):
    seen = []
    for row in rows:
        for lab, r in row["results"].items():
            if lab not in seen and "skipped" not in r:
                seen.append(lab)
    return seen


def format_table(section, rows):
    if section == "bf16acc":
        return _accuracy_table(rows)
    if section == "ddp":
        return _ddp_table(rows)
    labels = _labels(rows)
    if not rows or not labels:
        return ["(nothing ran)"]
    head, lines = [], []
    if section == "peak":
        return _peak_table(rows)
    base = "nnfast bf16" if section == "bf16" else "nnfast"
    others = [lab for lab in labels if lab not in (base, "numpy copy")]
    if section in ("step", "bf16", "cnn"):
        pct = "% bf16 peak" if section == "bf16" else "%peak"
        head = ["model", "threads"] + [f"{lab} µs" for lab in labels] + [
            f"{base} GFLOP/s ({pct})"] + [f"{lab} ÷ {base}" for lab in others]
        for row in rows:
            res = row["results"]
            lines.append([row["case"], str(row["threads"])]
                         + [_cell(res.get(lab, {"skipped": 1}), "us") for lab in labels]
                         + [_cell(res.get(base, {"skipped": 1}), "gflops")]
                         + [_ratio(row, lab, base) for lab in others])
        return _md(head, lines)
    kind = "gflops" if section in FLOP_SECTIONS else "gbs"
    unit = "GFLOP/s (%peak)" if kind == "gflops" else "GB/s"
    head = ["case", "threads", "nnfast µs"] + [f"{lab} {unit}" for lab in labels]
    if section == "optim":
        head.append("nnfast % of copy")
    head += [f"{lab} ÷ nnfast" for lab in others]
    for row in rows:
        res = row["results"]
        line = [row["case"], str(row["threads"]), _cell(res.get("nnfast", {"skipped": 1}), "us")]
        line += [_cell(res.get(lab, {"skipped": 1}), kind) for lab in labels]
        if section == "optim":
            nf, cp = res.get("nnfast", {}), res.get("numpy copy", {})
            line.append(f"{100 * nf['gbs'] / cp['gbs']:.0f}%" if "gbs" in nf and "gbs" in cp
                        else "—")
        line += [_ratio(row, lab) for lab in others]
        lines.append(line)
    return _md(head, lines)


def _ratio(row, lab, base="nnfast"):
    v = row.get("speedup", {}).get(f"{lab}/{base}")
    return f"{v:.2f}" if v is not None else "—"


PEAK_PROBES = (("nnfast FMA probe", "gflops"), ("nnfast BF16 probe", "gflops"),
               ("numpy copy", "gbs"))


def _peak_table(rows):
    head = ["threads", "FMA peak GFLOP/s (start, end of run)",
            "BF16 peak GFLOP/s (the bf16 tile: tdpbf16ps or vdpbf16ps; start, end)", "NumPy copy GB/s (64 MiB)"]
    by_t = {}
    for row in rows:
        for lab, r in row["results"].items():
            by_t.setdefault(row["threads"], []).append((lab, r))
    lines = []
    for t, d in sorted(by_t.items()):
        line = [str(t)]
        for probe, unit in PEAK_PROBES:
            got = [r for lab, r in d if lab == probe]
            if probe == "nnfast BF16 probe" and got and all("skipped" in r for r in got):
                line.append(got[0]["skipped"])     # n/a (no AVX512-BF16 ...): says why
                continue
            line.append(", ".join(f"{r[unit]:.1f}" if unit in r else _cell(r, "us")
                                  for r in got) or "—")
        lines.append(line)
    return _md(head, lines)


def _accuracy_table(rows):
    skips = sorted({r["skipped"] for row in rows for r in row["results"].values()
                    if "skipped" in r})
    labels = _labels(rows)
    if not labels:
        return [f"(nothing ran: {'; '.join(skips) or 'no rows'})"]
    head = ["data set", "threads", "train / test"]
    for lab in labels:
        head += [f"{lab} fp32 %", f"{lab} bf16 %", f"{lab} bf16 − fp32 (points)"]
    lines = []
    for row in rows:
        res = row["results"]
        sizes = next((r for r in res.values() if "n_train" in r), {})
        line = [row["case"], str(row["threads"]),
                f"{sizes['n_train']} / {sizes['n_test']}" if sizes else "—"]
        for lab in labels:
            r = res.get(lab, {"skipped": 1})
            if "fp32_acc" not in r:
                line += [_cell(r, "us")] * 3
                continue
            line += [f"{r['fp32_acc']:.2f}", f"{r['bf16_acc']:.2f}", f"{r['diff_points']:+.2f}"]
        lines.append(line)
    out = _md(head, lines)
    out += [f"({msg})" for msg in skips if not msg.startswith("torch not installed")]
    return out


def _ddp_table(rows):
    head = ["model", "1 rank µs/step", "2 ranks µs/step", "efficiency", "2 ranks no_sync µs",
            "comm µs/step", "bytes/step", "bare allreduce µs (GB/s)"]
    lines, skips = [], []
    for row in rows:
        r = row["results"].get("nnfast", {})
        if "ddp_us" not in r:
            skips.append(r.get("skipped") or r.get("error") or "no result")
            continue
        lines.append([row["case"], f"{r['one_us']:.0f}", f"{r['ddp_us']:.0f}",
                      f"{r['efficiency']:.2f}", f"{r['nosync_us']:.0f}",
                      f"{r['comm_us']:.0f}", f"{r['bytes']:,}",
                      f"{r['allreduce_us']:.0f} ({r['allreduce_gbs']:.2f})"])
    out = _md(head, lines) if lines else []
    return out + [f"({msg})" for msg in dict.fromkeys(skips)]


def _md(head, lines):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return out


# ================================================================================ chart
def write_png(path, sections):
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        print("(no PNG: matplotlib is not installed; pip install matplotlib for the chart)")
        return None
    del matplotlib
    # sections with ratios to draw (not peak's ceilings, not bf16acc's accuracies)
    panels = [(name, rows) for name, rows in sections.items()
              if name != "peak" and any(row.get("speedup") for row in rows)]
    if not panels:
        return None
    heights = [max(1, len(rows)) * 0.22 + 0.8 for _, rows in panels]
    fig = Figure(figsize=(9, sum(heights)))
    axes = fig.subplots(len(panels), 1, gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (name, rows) in zip(axes[:, 0], panels):
        names, vals, colors = [], [], []
        for row in rows:
            sp = {k.split("/")[0]: v for k, v in row.get("speedup", {}).items()
                  if not k.startswith("numpy copy") and not k.startswith("nnfast")}
            if not sp:
                continue
            best = min(sp, key=lambda k: sp[k])   # fastest other participant
            names.append(f"{row['case']} · {row['threads']}t (vs {best})")
            vals.append(sp[best])
            colors.append("tab:green" if sp[best] >= 1 else "tab:red")
        ax.barh(range(len(vals)), vals, color=colors)
        ax.set_yticks(range(len(vals)), names, fontsize=6)
        ax.invert_yaxis()
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_xscale("log")
        base = next((k.split("/", 1)[1] for row in rows for k in row.get("speedup", {})),
                    "nnfast")
        ax.set_title(f"{name}: fastest other's time ÷ {base}'s (> 1: nnfast faster)", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


# ================================================================================ notes, summary
def notes(section, rows):
    """Lines printed under a section's table: which bf16 tile ran, the accuracy target."""
    if section in ("peak", "bf16"):
        tiles = sorted({r.get("info", {}).get("isa" if section == "peak" else "bf16_tile")
                        for row in rows for lab, r in row["results"].items()
                        if "bf16" in lab.lower() and "info" in r} - {None})
        if tiles:
            return [f"(bf16 tile that ran: {', '.join(tiles)})"]
    if section == "bf16acc":
        diffs = [r["diff_points"] for row in rows for lab, r in row["results"].items()
                 if lab == "nnfast" and "diff_points" in r]
        if diffs:
            worst = max(abs(d) for d in diffs)
            return [f"(target: nnfast's bf16 within 0.5 points of its fp32; worst here "
                    f"{worst:.2f}: {'met' if worst <= 0.5 else 'NOT met'})"]
    return []


def peak_summary(results, peaks, bf16_peaks=None):
    out = {}
    for t, g in peaks.items():
        out[str(t)] = {"fma_gflops": g, "fma_gflops_measured": [
            row["results"]["nnfast FMA probe"].get("gflops")
            for row in results.get("peak", []) if row["threads"] == t
            and "nnfast FMA probe" in row["results"]]}
    for row in results.get("peak", []):
        r = row["results"].get("nnfast BF16 probe")
        if r is None:
            continue
        d = out.setdefault(str(row["threads"]), {})
        if "gflops" in r:
            d["bf16_gflops"] = (bf16_peaks or {}).get(row["threads"], r["gflops"])
            d.setdefault("bf16_gflops_measured", []).append(r["gflops"])
        elif "skipped" in r:
            d["bf16_gflops"] = None
            d["bf16_note"] = r["skipped"]
    for row in results.get("peak", []):
        r = row["results"].get("numpy copy", {})
        if "gbs" in r:
            out.setdefault(str(row["threads"]), {})["copy_gbs_64MiB"] = r["gbs"]
    for row in results.get("gemm", []):
        for lab, r in row["results"].items():
            d = out.setdefault(str(row["threads"]), {})
            if "gflops" in r and r["gflops"] > d.get("best_gemm", {}).get("gflops", 0):
                d["best_gemm"] = {"gflops": r["gflops"], "library": lab, "case": row["case"]}
    return out
