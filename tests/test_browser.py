r"""Every page of the built book, opened in headless Debian Chromium.

`make test` builds the book first (`make book`). For each page this test asserts: no JavaScript
error, equations really rendered by the locally served MathJax (no raw `$$` left), every image
loaded, and every internal link resolving to an existing page and anchor. Requests to any other
host are refused, so the page must render offline.

It also checks what a reader sees (tools/page_audit.py measures it), at a 1280 px desktop:
no display equation wider than its box, no wide image shown below half its natural width,
every figure numbered and captioned with real alt text, no raw `\_` in the text, no TeX source
(`\frac`, `$\`) in text outside code and math, and few code
or output blocks that scroll sideways (a bound for the whole book); and at a 390 px phone, that
nothing makes the whole page scroll sideways. The intro's map must number the chapters as the
sidebar does. Screenshots at both widths are saved under `_build/screenshots/`.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import page_audit  # noqa: E402

HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
SKIP_PAGES = {"genindex.html", "search.html"}  # Sphinx's generated index and search pages
# Code and output blocks that may scroll sideways in the whole book: a handful of unavoidable
# wide outputs (CONTRIBUTING.md: the code column fits 88 characters).
MAX_SCROLLING_BLOCKS = 4
AUDITS: dict[str, dict] = {}

pytestmark = pytest.mark.browser


def _pages() -> list[Path]:
    if not (HTML / "index.html").exists():
        return []
    return sorted(
        p for p in HTML.rglob("*.html") if p.name not in SKIP_PAGES and "_static" not in p.parts
    )


def _chromium() -> str:
    """Debian's chromium, installed with apt-get when missing (never a test tool's download)."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0:
        pytest.fail("chromium is missing: install Debian's package with `apt-get install chromium`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env)
    return shutil.which("chromium") or pytest.fail("apt-get install chromium did not provide it")


@pytest.fixture(scope="module")
def server():
    if not (HTML / "index.html").exists():
        pytest.fail("the book is not built: run `make book` (make test does it first)")

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep the test output readable
            pass

    handler = functools.partial(QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    profile = tmp_path_factory.mktemp("chromium-profile")  # an empty --user-data-dir
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            chromium_sandbox=False,
            args=FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


def _ids(path: Path) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("page_path", _pages(), ids=lambda p: str(p.relative_to(HTML)))
def test_page_renders(page_path: Path, server: str, browser_context):
    rel = page_path.relative_to(HTML).as_posix()
    page = browser_context.new_page()
    errors: list[str] = []
    external: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.on(
        "console",
        lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None,
    )

    def route(r):
        if r.request.url.startswith(server):
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(f"{server}/{rel}", wait_until="load")
    html_source = page_path.read_text(encoding="utf-8")
    has_math = 'class="math' in html_source
    if has_math:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
    page.wait_for_load_state("networkidle")

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / (rel.replace("/", "__") + ".png")), full_page=True)
    seen = page_audit.audit(page)
    AUDITS[rel] = seen

    assert not errors, f"{rel}: JavaScript errors: {errors}"
    assert not external, f"{rel}: requests to other hosts (must work offline): {external}"
    if has_math:
        rendered = page.locator("mjx-container").count()
        assert rendered > 0, f"{rel}: has math but MathJax rendered nothing"
        assert page.locator("mjx-merror").count() == 0, f"{rel}: MathJax reported TeX errors"
    text = page.evaluate("() => document.querySelector('main, article, body').innerText")
    assert "$$" not in text, f"{rel}: raw $$ left in the rendered text"

    broken = page.evaluate(
        "() => Array.from(document.images)"
        ".filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    )
    assert not broken, f"{rel}: images that did not load: {broken}"

    hrefs = page.evaluate("() => Array.from(document.querySelectorAll('a[href]'), a => a.href)")
    for href in hrefs:
        if not href.startswith(server):
            continue  # external links (Colab, Binder, the repository) are not fetched offline
        url, fragment = urldefrag(href)
        target = HTML / unquote(urlparse(url).path).lstrip("/")
        if target.is_dir():
            target = target / "index.html"
        assert target.exists(), f"{rel}: link to missing {href}"
        if fragment and target.suffix == ".html":
            assert unquote(fragment) in _ids(target), f"{rel}: link to missing anchor {href}"

    # What a reader sees at 1280 px.
    assert not seen["wide_equations"], f"{rel}: equations wider than the page: {seen}"
    assert not seen["shrunk_images"], f"{rel}: figures shrunk below half size: {seen}"
    assert not seen["bad_alt"], f"{rel}: images without real alt text: {seen['bad_alt']}"
    assert not seen["raw_tex_escapes"], f"{rel}: raw TeX escapes: {seen['raw_tex_escapes']}"
    assert not seen["raw_tex"], f"{rel}: TeX source shown as text: {seen['raw_tex']}"
    uncaptioned = page.evaluate(
        "() => Array.from(document.querySelectorAll('main .cell_output img'))"
        ".filter(i => !(i.closest('figure') && i.closest('figure')"
        ".querySelector('figcaption .caption-number'))).map(i => i.getAttribute('src'))"
    )
    assert not uncaptioned, f"{rel}: figures without a numbered caption: {uncaptioned}"

    # And on a 390 px phone: nothing makes the whole page scroll sideways.
    page.set_viewport_size(page_audit.PHONE)
    page.wait_for_timeout(100)
    overflow = page_audit.page_overflow(page)
    page.screenshot(path=str(SHOTS / (rel.replace("/", "__") + ".390px.png")))
    assert overflow["scroll_width"] <= overflow["viewport"] + 1, (
        f"{rel}: at 390 px the page scrolls sideways: {overflow}"
    )
    page.close()


def test_few_blocks_scroll_sideways():
    """At 1280 px, at most a handful of code or output blocks in the whole book scroll."""
    pages = _pages()
    missing = [p for p in pages if p.relative_to(HTML).as_posix() not in AUDITS]
    if missing:
        pytest.skip("runs after test_page_renders has visited every page")
    scrolling = {rel: a["scrolling_blocks"] for rel, a in AUDITS.items() if a["scrolling_blocks"]}
    total = sum(len(v) for v in scrolling.values())
    assert total <= MAX_SCROLLING_BLOCKS, f"{total} blocks scroll sideways: {scrolling}"


def test_intro_map_numbers_chapters_as_the_sidebar_does(server: str, browser_context):
    page = browser_context.new_page()
    page.goto(f"{server}/book/intro.html", wait_until="load")
    in_map = page.evaluate(
        """() => Array.from(document.querySelectorAll('ol.book-map')).flatMap(ol =>
             Array.from(ol.children).map((li, k) => [
               (ol.start || 1) + k, li.querySelector('a').pathname.split('/').pop()]))"""
    )
    in_sidebar = page.evaluate(
        """() => Array.from(document.querySelectorAll('.bd-sidenav a.reference'))
             .map(a => [a.innerText.trim(), a.pathname.split('/').pop()])
             .filter(([text]) => /^[0-9]+\\. /.test(text))
             .map(([text, file]) => [parseInt(text), file])"""
    )
    page.close()
    assert in_map, "the intro has no generated map (the book-map directive)"
    assert in_map == in_sidebar, f"map {in_map} != sidebar {in_sidebar}"


def test_every_page_was_checked():
    pages = _pages()
    assert pages, "no built pages found: run `make book`"
    names = {p.name for p in pages}
    assert {"intro.html", "notation.html", "status.html"} <= names
