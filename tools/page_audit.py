"""Measure what a reader sees on a built page: clipped equations, shrunk figures, wide blocks.

The browser test (tests/test_browser.py) calls :func:`audit` on every page at 1280 px and
:func:`page_overflow` at 390 px. Run it by hand to count the defects in a build:

    python tools/page_audit.py _build/html        # totals and the worst pages
"""

from __future__ import annotations

import functools
import http.server
import sys
import threading
from pathlib import Path
from typing import Any

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

# Evaluated in the page after MathJax has typeset it.
AUDIT_JS = r"""
() => {
  const main = document.querySelector('main') || document.body;
  const tol = 1;
  // Display equations: the typeset math is wider than the box the page gives it, so part of it
  // is cut off or needs a scroll bar.
  const equations = Array.from(main.querySelectorAll('mjx-container[display="true"]'));
  const wideEquations = equations.filter(c => {
    const math = c.querySelector('mjx-math');
    if (!math) return false;
    const box = c.getBoundingClientRect();
    return math.getBoundingClientRect().width > box.width + tol;
  }).map(c => {
    const label = c.closest('.math') ? (c.closest('.math').id || '') : '';
    const eqno = c.closest('.math') && c.closest('.math').querySelector('.eqno');
    return (eqno ? eqno.innerText.trim() : label) || c.innerText.slice(0, 40);
  });
  // Figures: an image shown at less than half its natural width, when it is wide.
  const shrunk = Array.from(main.querySelectorAll('img')).filter(i => {
    const shown = i.getBoundingClientRect().width;
    return i.naturalWidth >= 400 && shown > 0 && shown < 0.5 * i.naturalWidth;
  }).map(i => {
    const pct = Math.round(100 * i.getBoundingClientRect().width / i.naturalWidth);
    return `${i.getAttribute('src')} ${pct}%`;
  });
  const images = Array.from(main.querySelectorAll('img'));
  const badAlt = images.filter(i => {
    const alt = (i.getAttribute('alt') || '').trim();
    return !alt || /^[0-9a-f]{16,}/.test(alt) || /\.(png|svg|jpg)$/i.test(alt);
  }).map(i => i.getAttribute('src'));
  // Code and output blocks that need a horizontal scroll bar.
  const blocks = Array.from(main.querySelectorAll('pre'));
  const scrolling = blocks.filter(p => p.scrollWidth > p.clientWidth + tol).map(p => {
    const longest = p.innerText.split('\n').reduce((a, b) => (b.length > a.length ? b : a), '');
    return longest.slice(0, 60);
  });
  // TeX source shown as prose: a TeX command or "$\" in a text node outside code and math (a
  // line inside $...$ that Markdown read as a list item leaves both halves of the formula as text).
  const rawTex = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node && rawTex.length < 5; node = walker.nextNode()) {
    if (/\\[a-zA-Z]+|\$\\/.test(node.data)
        && !node.parentElement.closest('pre, code, mjx-container, script, style, .math')) {
      rawTex.push(node.data.trim().slice(0, 80));
    }
  }
  const text = main.innerText;
  return {
    equations: equations.length,
    wide_equations: wideEquations,
    images: images.length,
    shrunk_images: shrunk,
    bad_alt: badAlt,
    blocks: blocks.length,
    scrolling_blocks: scrolling,
    raw_tex_escapes: (text.match(/[A-Za-z0-9]\\_[A-Za-z0-9]/g) || []).slice(0, 5),
    raw_tex: rawTex,
  };
}
"""

OVERFLOW_JS = r"""
() => {
  const doc = document.documentElement;
  const culprits = Array.from(document.querySelectorAll('body *')).filter(e => {
    const r = e.getBoundingClientRect();
    return r.right > window.innerWidth + 1 && getComputedStyle(e).position !== 'fixed';
  }).slice(0, 5).map(e => {
    const cls = (e.className || '').toString().split(' ')[0];
    return e.tagName.toLowerCase() + '.' + cls;
  });
  return {scroll_width: doc.scrollWidth, viewport: window.innerWidth, culprits: culprits};
}
"""


def wait_for_math(page: Any) -> None:
    """Wait until the locally served MathJax has typeset the page (no-op without math)."""
    if page.evaluate("() => !!document.querySelector('.math, mjx-container')"):
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")


def audit(page: Any) -> dict[str, Any]:
    """The reader-facing defects of the loaded page at its current viewport."""
    return page.evaluate(AUDIT_JS)


def page_overflow(page: Any) -> dict[str, Any]:
    """How far the whole page scrolls sideways, and the first elements that stick out."""
    return page.evaluate(OVERFLOW_JS)


def _serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory))
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def main(argv: list[str]) -> int:
    import shutil

    from playwright.sync_api import sync_playwright

    html = Path(argv[0] if argv else "_build/html").resolve()
    pages = sorted(
        p
        for p in html.rglob("*.html")
        if p.name not in {"genindex.html", "search.html"} and "_static" not in p.parts
    )
    httpd, base = _serve(html)
    totals = {"wide_equations": 0, "shrunk_images": 0, "scrolling_blocks": 0, "bad_alt": 0}
    totals.update({"raw_tex_escapes": 0, "raw_tex": 0, "phone_overflow_pages": 0})
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=shutil.which("chromium"), args=["--no-sandbox"]
        )
        for path in pages:
            rel = path.relative_to(html).as_posix()
            page = browser.new_page(viewport=DESKTOP)
            page.goto(f"{base}/{rel}", wait_until="load")
            wait_for_math(page)
            found = audit(page)
            page.set_viewport_size(PHONE)
            page.wait_for_timeout(200)
            phone = page_overflow(page)
            page.close()
            for key in ("wide_equations", "shrunk_images", "scrolling_blocks", "bad_alt"):
                totals[key] += len(found[key])
            totals["raw_tex_escapes"] += len(found["raw_tex_escapes"])
            totals["raw_tex"] += len(found["raw_tex"])
            sideways = phone["scroll_width"] > phone["viewport"] + 1
            totals["phone_overflow_pages"] += sideways
            print(
                f"{rel:<45} eq {len(found['wide_equations']):>2}/{found['equations']:<3} "
                f"img {len(found['shrunk_images'])}/{found['images']} "
                f"alt {len(found['bad_alt'])} pre {len(found['scrolling_blocks']):>3}/"
                f"{found['blocks']:<3} tex {len(found['raw_tex_escapes'])}/{len(found['raw_tex'])} "
                f"phone {phone['scroll_width']}px"
            )
            if "-v" in argv:
                for key in ("wide_equations", "shrunk_images", "scrolling_blocks", "raw_tex"):
                    for item in found[key]:
                        print(f"    {key}: {item}")
    httpd.shutdown()
    print("totals:", totals)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
