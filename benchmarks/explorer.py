"""Time from a click in the explorer to the updated plot, in headless Chromium.

A synthetic experiment of the size the issue names (784 pixels x 32 latent dims,
ten classes) is written in the documented result formats; `aemap explore` serves
it on 127.0.0.1, and Playwright changes each control and waits until the page
shows the new state: the heatmaps (their dims, or their orientation) and the
bar chart (a new image). Prints one row per control.

    .venv/bin/python benchmarks/explorer.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import _chromium, write_importance_results  # noqa: E402
from tests.test_explore import Server  # noqa: E402

CLASSES = tuple(str(c) for c in range(10))


def timed(page, action, condition: str, arg) -> float:
    start = time.perf_counter()
    action()
    page.wait_for_function(condition, arg=arg, timeout=30000, polling="raf")
    return 1000 * (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    if executable is None:
        sys.exit("no Chromium: apt-get install chromium (or AEMAP_CHROMIUM=/path)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "results"
        write_importance_results(root, "ae_784x32", shape=(28, 28), n_dims=32, classes=CLASSES)
        server = Server(root)
        rows = {"class -> heatmaps": [], "class -> bar chart": [], "top-k -> heatmaps": [], "rotation -> heatmaps": []}
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=executable, headless=True, args=["--no-sandbox", "--disable-background-networking"]
                )
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(server.url)
                page.wait_for_selector("#heatmap-grid img")
                first_dim = "() => document.querySelector('#heatmap-grid img').dataset.dim"
                for i in range(args.repeats):
                    target = CLASSES[(i + 1) % len(CLASSES)]
                    before_dim = page.evaluate(first_dim)
                    bars = page.locator("#bars svg").inner_html()
                    start = time.perf_counter()
                    page.select_option("#class_name", target)
                    page.wait_for_function(
                        "(d) => document.querySelector('#heatmap-grid img').dataset.dim !== d",
                        arg=before_dim,
                        polling="raf",
                    )
                    rows["class -> heatmaps"].append(1000 * (time.perf_counter() - start))
                    page.wait_for_function(
                        "(s) => document.querySelector('#bars svg').innerHTML !== s", arg=bars, polling="raf"
                    )
                    rows["class -> bar chart"].append(1000 * (time.perf_counter() - start))
                    k = 3 + (i % 2) * 4
                    rows["top-k -> heatmaps"].append(
                        timed(
                            page,
                            lambda k=k: (page.fill("#top_k", str(k)), page.press("#top_k", "Tab")),
                            "(k) => document.querySelectorAll('#heatmap-grid img').length === k",
                            k,
                        )
                    )
                    rotation = "90" if i % 2 == 0 else "0"
                    src = page.locator("#heatmap-grid img").first.get_attribute("src")
                    rows["rotation -> heatmaps"].append(
                        timed(
                            page,
                            lambda r=rotation: page.check(f"#rotation input[value='{r}']"),
                            "(s) => document.querySelector('#heatmap-grid img').src !== s",
                            src,
                        )
                    )
                browser.close()
        finally:
            server.stop()
    print(f"explorer, 784 pixels x 32 dims x 10 classes, {args.repeats} clicks each (ms from click to updated page)")
    print(f"{'control':<24}{'median':>10}{'p90':>10}{'max':>10}")
    for name, times in rows.items():
        times = sorted(times)
        p90 = times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]
        print(f"{name:<24}{statistics.median(times):>10.0f}{p90:>10.0f}{max(times):>10.0f}")


if __name__ == "__main__":
    main()
