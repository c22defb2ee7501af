"""The targets and the table (Rich or Markdown) of a bench run's results."""

from __future__ import annotations

from benchkit.peers import FIXED

# Targets, as ratios or limits; `met` in the output compares against these.
TARGETS = {
    "train_fp32_vs_bare": (">=", 0.95),
    "imagefolder_vs_torchvision": (">=", 10.0),
    "bf16_vs_bare_fp32": (">=", 1.5),
    "bf16_accuracy_gap_points": ("<=", 0.5),
    "mfu": (">=", 0.5),
    "late_over_early_epochs": (">=", 0.8),
    "busy_over_quiet": (">=", 0.4),
    "quiet_follow_vs_fixed_threads": (">=", 0.95),
    "peers_vs_lightning": (">=", 1.2),
    "peers_vs_keras": (">=", 1.2),
    "help_seconds": ("<=", 0.3),
    "summary_seconds": ("<=", 3.0),
    "cache_60k_megabytes": ("<=", 50.0),
}


def targets(r: dict) -> dict:
    values = {
        "train_fp32_vs_bare": r.get("train", {}).get("ratio_fp32_vs_bare"),
        "imagefolder_vs_torchvision": r.get("imagefolder", {}).get("ratio"),
        "bf16_vs_bare_fp32": r.get("train", {}).get("ratio_bf16_vs_bare_fp32"),
        "bf16_accuracy_gap_points": r.get("shapes", {}).get("acc_gap_points"),
        "mfu": r.get("train", {}).get("mfu_fp32"),
        "late_over_early_epochs": r.get("shapes", {}).get("fp32", {}).get("late_over_early_vs_reference"),
        "busy_over_quiet": r.get("busy", {}).get("busy_over_quiet"),
        "quiet_follow_vs_fixed_threads": r.get("busy", {}).get("quiet_follow_vs_fixed"),
        "peers_vs_lightning": r.get("peers", {}).get("cnntrain_vs_lightning"),
        "peers_vs_keras": r.get("peers", {}).get("cnntrain_vs_keras"),
        "help_seconds": r.get("startup", {}).get("help_seconds"),
        "summary_seconds": r.get("startup", {}).get("summary_seconds"),
        "cache_60k_megabytes": r.get("memory", {}).get("cache_60k_megabytes"),
    }
    out = {}
    for name, value in values.items():
        if value is not None:
            op, limit = TARGETS[name]
            met = value >= limit if op == ">=" else value <= limit
            out[name] = {"value": value, "target": f"{op} {limit}", "met": met}
    if "bf16_accuracy_gap_points" in out and not r["shapes"]["converged"]:
        out["bf16_accuracy_gap_points"].update(met=None, note="not converged (--quick is too short): informational")
    return out


def rows(r: dict) -> list[tuple[str, str, str, str]]:
    """(figure, value, raw numbers, verdict) for each figure the run has."""
    out = []

    def add(label, value, raw, key=None):
        target = r["targets"].get(key) if key else None
        word = {True: "met", False: "missed", None: "n/a"}[target["met"]] if target else ""
        verdict = f"{word} ({target['target']})" if target else ""
        out.append((label, str(value), raw, verdict))

    if "train" in r:
        tr = r["train"]
        add("train fp32: cnntrain / bare loop", tr["ratio_fp32_vs_bare"],
            f"{tr['cnntrain_fp32_img_s']:.0f} vs {tr['bare_fp32_img_s']:.0f} img/s", "train_fp32_vs_bare")
        if tr.get("bf16", "timed") == "timed":
            add("train bf16 (cnntrain) / bare fp32", tr["ratio_bf16_vs_bare_fp32"],
                f"{tr['cnntrain_bf16_img_s']:.0f} img/s; bare bf16 loop {tr['bare_bf16_img_s']:.0f}",
                "bf16_vs_bare_fp32")
        else:
            add("train bf16", tr["bf16"], f"`cnntrain train` warns: {'yes' if tr['train_warns_about_bf16'] else 'NO'}")
        add("MFU fp32 (train FLOP/s / fp32 matmul)", tr["mfu_fp32"],
            f"{tr['train_flops_per_image'] / 1e6:.1f} MFLOP/img; matmul {tr['matmul_fp32_gflops']} GFLOP/s", "mfu")
        if "mfu_bf16_vs_fp32_peak" in tr:
            add("MFU bf16: vs fp32 peak / vs bf16 peak",
                f"{tr['mfu_bf16_vs_fp32_peak']} / {tr['mfu_bf16_vs_bf16_peak']}",
                f"bf16 matmul {tr['matmul_bf16_gflops']} GFLOP/s")
    if "busy" in r:
        b = r["busy"]
        add("busy, default (fixed threads): neighbour on 1 core / quiet", b["busy_over_quiet"],
            f"{b['fixed_busy_img_s']:.0f} vs {b['fixed_quiet_img_s']:.0f} img/s, threads "
            f"{b['threads_chosen'].get('fixed_busy')}, OMP_WAIT_POLICY={b['omp_wait_policy']}", "busy_over_quiet")
        add("busy, opt-in threads_follow_load: neighbour on 1 core / quiet", b["follow_busy_over_quiet"],
            f"{b['follow_busy_img_s']:.0f} vs {b['follow_quiet_img_s']:.0f} img/s, threads "
            f"{b['threads_chosen'].get('follow_busy')}; busy, follow / fixed {b['busy_follow_vs_fixed']}")
        add("busy: quiet, follow_load / fixed", b["quiet_follow_vs_fixed"],
            f"{b['follow_quiet_img_s']:.0f} vs {b['fixed_quiet_img_s']:.0f} img/s", "quiet_follow_vs_fixed_threads")
    if "peers" in r:
        p = r["peers"]
        for name in ("bare", "lightning", "keras"):
            if f"cnntrain_vs_{name}" in p:
                add(f"peers: cnntrain / {name}", p[f"cnntrain_vs_{name}"],
                    f"{p['cnntrain_img_s']:.0f} vs {p[f'{name}_img_s']:.0f} img/s; threads fixed "
                    f"{p[f'{FIXED}_img_s']:.0f} ({p[f'{FIXED}_vs_{name}']}x)",
                    {"lightning": "peers_vs_lightning", "keras": "peers_vs_keras"}.get(name))
        for name in p["missing"]:
            add(f"peers: cnntrain / {name}", "not installed", "pip install -e '.[bench]'")
    if "imagefolder" in r:
        f = r["imagefolder"]
        add("image folder: cnntrain / torchvision", f["ratio"],
            f"{f['cnntrain_img_s']} vs {f['torchvision_img_s']} img/s (epochs 2+); persistent workers "
            f"{f['torchvision_persistent_workers_img_s']} ({f['ratio_vs_persistent_workers']}x)",
            "imagefolder_vs_torchvision")
    if "shapes" in r:
        sh = r["shapes"]
        bf16 = f"{sh['bf16']['test_acc']:.2%}" if "bf16" in sh else "not timed"
        add("shapes test acc fp32 / bf16", f"{sh['fp32']['test_acc']:.2%} / {bf16}",
            f"{sh['epochs']} epochs of {sh['train_images']} images", "bf16_accuracy_gap_points")
        add("late / early epochs (vs machine)", sh["fp32"]["late_over_early_vs_reference"],
            f"img/s per epoch {sh['fp32']['img_s_per_epoch']}", "late_over_early_epochs")
    if "denormals" in r:
        d = r["denormals"]
        add("denormal Adadelta step: flush off / on", f"{d['slowdown_without_flush']}x / {d['slowdown_with_flush']}x",
            f"threads flushing: {d['flushed_fraction_all_threads']:.0%}, "
            f"after earlier torch work {d['flushed_fraction_after_earlier_torch_work']:.0%}")
    if "startup" in r:
        st = r["startup"]
        add("cnntrain --help", f"{st['help_seconds']} s", "median, subprocess", "help_seconds")
        add("cnntrain summary (lenet5)", f"{st['summary_seconds']} s", "median, subprocess", "summary_seconds")
    if "eval" in r:
        e = r["eval"]
        add("eval (predict_logits) fp32 / bf16",
            f"{e['cnntrain_fp32_img_s']} / {e.get('cnntrain_bf16_img_s', 'not timed')} img/s",
            f"batch {e['batch_size']}; bare loop {e['bare_fp32_img_s']}; fp32 batch 64 channels_last "
            f"{e['cnntrain_fp32_b64_channels_last_img_s']}")
    if "memory" in r:
        mem = r["memory"]
        add("60k 28x28 images, cached", f"{mem['cache_60k_megabytes']} MB", mem["cache_dtype"], "cache_60k_megabytes")
        add("peak RSS of a training run", f"{mem['train_peak_rss_megabytes']} MB", mem["rss_run"])
    if "arrays" in r:  # scripts/bench_arrays.py
        for kind, what in (("npy", "a {size_mb:.0f} MB .npy (memory-mapped)"), ("nifti", "{files} .nii.gz volumes")):
            a = r["arrays"][kind]
            add(f"arrays: load {what.format(**a)}", f"{a['load_s']:.1f} s",
                f"peak RSS {a['peak_rss_mb']:.0f} MB, {a['import_rss_mb']:.0f} MB before the data")
    return out


def title(r: dict) -> str:
    m = r["machine"]
    forced = " (forced by CNNTRAIN_CPU_BF16)" if m.get("fast_bf16_forced") else ""
    bf16 = "bf16 units: yes" if m["fast_bf16"] else "bf16 units: no, bf16 not timed"
    return (f"cnntrain bench{' --quick' if r['quick'] else ''}: {m['cpu']} ({m['arch']}, {m['cores']} cores; "
            f"{' '.join(m['vector_extensions']) or 'no vector extensions listed'}; {bf16}{forced}), "
            f"torch {m['torch']} ({m['torch_build']}; kernels {m['torch_cpu_capability']})")


def table(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title(r), title_justify="left")
    for column in ("figure", "value", "raw numbers", "target"):
        t.add_column(column)
    colour = {"met": "green", "missed": "red", "n/a": "yellow"}
    for label, value, raw, verdict in rows(r):
        word = verdict.split(" ")[0]
        t.add_row(label, value, raw, f"[{colour[word]}]{verdict}[/]" if verdict else "")
    console = Console()
    console.print(t)
    busy = {k: v.get("background_cores") for k, v in r.items() if isinstance(v, dict) and "background_cores" in v}
    console.print(f"other processes kept busy (cores): {busy}; total {r['seconds']} s")


def markdown(r: dict) -> str:
    lines = [title(r), "", "| figure | value | raw numbers | target |", "| --- | --- | --- | --- |"]
    lines += [f"| {' | '.join(row)} |" for row in rows(r)]
    return "\n".join(lines)


