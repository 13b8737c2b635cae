"""Open a run page in headless Chromium, check it, keep a screenshot (benchmark side only).

``python -m report.screenshot build/<run>/report.html [--out build/<run>/report.png]``

Chromium (Debian's ``chromium`` package, or ``$CHROMIUM``) loads the page with every host name
unresolvable, so a page that needed anything from outside would show it.  The page's own
script marks ``<body data-images-decoded="k/n">`` once loaded; the check requires ``k == n``
(every embedded image decoded by a real browser) and every section present in the rendered
DOM, then takes a screenshot of the top of the page.  Without Chromium this stops with an error
that says so (non-zero exit): the benchmark never skips the step silently.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .html import SECTIONS

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--disable-extensions", "--disable-background-networking", "--host-resolver-rules=MAP * ~NOTFOUND")


class BrowserError(RuntimeError):
    pass


def find_chromium() -> str:
    for name in filter(None, (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome")):
        path = shutil.which(name)
        if path:
            return path
    raise BrowserError("chromium not found: the report screenshot needs headless Chromium "
                       "(Debian: apt-get install chromium; or set CHROMIUM=/path/to/chrome)")


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BrowserError(f"chromium did not finish in {timeout:.0f} s: {' '.join(cmd[:2])} ...") from None


def check_and_screenshot(page: Path, out: Path, *, width: int = 1280, height: int = 2400,
                         timeout: float = 120.0) -> dict:
    """Load ``page`` in headless Chromium, check it, write the screenshot ``out``; returns what it saw."""
    page = Path(page).resolve()
    if not page.is_file():
        raise FileNotFoundError(f"{page}: no such page (make report MODEL=<run> writes it)")
    chromium = find_chromium()
    url = page.as_uri()
    with tempfile.TemporaryDirectory(prefix="hdlif-chromium-") as profile:
        base = [chromium, *FLAGS, f"--user-data-dir={profile}"]
        dom = _run([*base, "--virtual-time-budget=10000", "--dump-dom", url], timeout)
        if dom.returncode != 0 or "<body" not in dom.stdout:
            tail = (dom.stderr.strip().splitlines() or ["no output"])[-1]
            raise BrowserError(f"{page}: chromium could not render the page ({tail})")
        m = re.search(r'data-images-decoded="(\d+)/(\d+)"', dom.stdout)
        if not m:
            raise BrowserError(f"{page}: the page's load script did not run in chromium (no data-images-decoded)")
        decoded, total = int(m.group(1)), int(m.group(2))
        if decoded != total or total == 0:
            raise BrowserError(f"{page}: chromium decoded {decoded} of {total} images")
        missing = [sid for sid, _ in SECTIONS if f'id="{sid}"' not in dom.stdout]
        if missing:
            raise BrowserError(f"{page}: sections missing in the rendered page: {', '.join(missing)}")
        out = Path(out).resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.partial.png")
        shot = _run([*base, f"--window-size={width},{height}", f"--screenshot={tmp}", url], timeout)
        if shot.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
            tmp.unlink(missing_ok=True)
            tail = (shot.stderr.strip().splitlines() or ["no output"])[-1]
            raise BrowserError(f"{page}: chromium wrote no screenshot ({tail})")
        os.replace(tmp, out)
    version = _run([chromium, "--version"], 30).stdout.strip()
    return {"page": str(page), "screenshot": str(out), "images_decoded": decoded, "images": total,
            "sections": len(SECTIONS), "browser": version}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m report.screenshot", description=__doc__.splitlines()[0])
    p.add_argument("pages", nargs="+", type=Path, help="report pages (build/<run>/report.html)")
    p.add_argument("--out", type=Path, default=None, help="screenshot path (one page only; default: beside the page)")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=2400)
    a = p.parse_args(argv)
    if a.out and len(a.pages) > 1:
        p.error("--out takes one page")
    try:
        for page in a.pages:
            r = check_and_screenshot(page, a.out or page.with_suffix(".png"), width=a.width, height=a.height)
            print(f"[report] {page}: {r['images_decoded']}/{r['images']} images decoded, {r['sections']} sections, "
                  f"{r['browser']} -> {r['screenshot']}", flush=True)
    except (BrowserError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
