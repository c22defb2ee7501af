"""Size and speed of the live explore page in headless Chromium, for the README.

    python scripts/bench_pages.py                 # cnn, mnist_cnn, signals1d, volumes3d
    python scripts/bench_pages.py --strokes 20 --json

For each config: `cnntrain explore --config C` (untrained weights: same sizes and arithmetic as
trained ones), then in Debian's chromium: the page's size, the time from opening it to ready, and the
time from a pointer event (its timeStamp) to every map, the prediction and the close-up redrawn, over
a few strokes (median and worst), and the main thread's CPU time per stroke (DevTools' ThreadTime: on a
shared machine the wall clock also counts the other processes' turns). mnist_cnn's network runs on
`shapes` images at its 28x28 (no MNIST download). A volume is not drawn: its time is a test sample
picked from the list.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "cnn.yaml": [],
    "mnist_cnn.yaml": ["data.dataset=shapes", "data.num_classes=null"],
    "signals1d.yaml": [],
    "volumes3d.yaml": [],
}


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1300,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def measure(driver, html: Path, strokes: int) -> dict:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.select import Select

    start = time.perf_counter()
    driver.get(html.resolve().as_uri())
    while driver.execute_script("return document.body.dataset.ready") != "true":
        time.sleep(0.005)
    ready = time.perf_counter() - start
    live = driver.execute_script("return Boolean(LIVE && LIVE.program)")
    if not live:
        return {"ready_s": ready, "live": False}
    kind = driver.execute_script("return LIVE.kind")
    driver.execute_cdp_cmd("Performance.enable", {})
    cpu = []
    for n in range(strokes + 1):  # the first one warms the JIT up and is left out
        before = thread_time(driver)
        if kind == "volume":
            Select(driver.find_element("id", "live-sample")).select_by_index(1 + n % 8)
        else:
            pad = driver.find_element("id", "live-draw")
            w, h = pad.size["width"], pad.size["height"]
            ActionChains(driver).move_to_element_with_offset(pad, -w // 4 + 3 * n, -h // 5).click_and_hold() \
                .move_by_offset(w // 8, h // 6).release().perform()
        deadline = time.perf_counter() + 60
        while int(driver.execute_script("return LV.ms.length")) == 0 or driver.execute_script("return LV.frame"):
            if time.perf_counter() > deadline:
                state = driver.execute_script("return [LV.ms.length, LV.frame, document.visibilityState]")
                raise RuntimeError(f"{html}: no update within a minute (updates, pending frame, visibility: {state})")
            time.sleep(0.02)
        cpu.append(thread_time(driver) - before)
    times = driver.execute_script("return LV.ms")[1:]
    run = driver.execute_script("""
        const t = []; for (let i = 0; i < 5; i++) { const t0 = performance.now();
        LiveNet.run({layers: LIVE.program}, floats, LV.pixels, LIVE.shape, LIVE.norm); t.push(performance.now() - t0); }
        return t;""")
    return {"ready_s": ready, "live": True, "kind": kind, "change_ms_median": statistics.median(times),
            "change_ms_max": max(times), "changes": len(times), "forward_ms_median": statistics.median(run),
            "stroke_cpu_ms_median": statistics.median(cpu[1:]), "updates_per_stroke": len(times) / strokes}


def thread_time(driver) -> float:
    """CPU milliseconds the page's main thread has used (DevTools' ThreadTime): what a change costs,
    whatever else the machine is doing."""
    metrics = driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
    return 1000 * next(m["value"] for m in metrics if m["name"] == "ThreadTime")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strokes", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from cnntrain.tasks.explore import explore

    results = {}
    driver = browser()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, overrides in CONFIGS.items():
                result = explore(config=ROOT / "configs" / name, out=Path(tmp) / name, overrides=overrides)
                results[name] = {"page_mb": result.size / 1e6, **measure(driver, result.html, args.strokes)}
    finally:
        driver.quit()
    results["load_average"] = os.getloadavg()[0]
    results["cores"] = os.cpu_count()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print("| config | page | ready | a change to updated maps (median / worst) | main-thread CPU per stroke "
          "| forward pass alone |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in CONFIGS:
        r = results[name]
        if not r["live"]:
            print(f"| {name} | {r['page_mb']:.1f} MB | {r['ready_s']:.2f} s | not live | | |")
            continue
        print(f"| {name} | {r['page_mb']:.1f} MB | {r['ready_s']:.2f} s | {r['change_ms_median']:.0f} / "
              f"{r['change_ms_max']:.0f} ms ({r['kind']}) | {r['stroke_cpu_ms_median']:.0f} ms for "
              f"{r['updates_per_stroke']:.1f} updates | {r['forward_ms_median']:.0f} ms |")
    print(f"\nload average {results['load_average']:.1f} on {results['cores']} cores")


if __name__ == "__main__":
    main()
