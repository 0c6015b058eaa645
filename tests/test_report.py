"""emac report: Markdown + self-contained HTML with readable figures (issue 7)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from matplotlib import image as mpimg
from typer.testing import CliRunner

from emac_sim.cli import app
from emac_sim.core.histogram import bucket_edges
from emac_sim.studies.report import _html, _markdown, mc_ccdf

ROOT = Path(__file__).resolve().parents[1]
CHECKOUT = ROOT / "configs" / "checkout.yaml"
FIGURES = ("latency_ccdf", "availability_intervals", "tail_attribution", "fanout_amplification", "tradeoffs")
runner = CliRunner()


class _Tags(HTMLParser):
    """Collects tags and checks that every opened element (bar void ones) is closed in order."""

    VOID = {"meta", "img", "br", "hr", "link"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.imgs: list[dict] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "img":
            self.imgs.append(dict(attrs))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}>")
        else:
            self.stack.pop()


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    res = runner.invoke(app, ["report", str(CHECKOUT), "--out", str(out), "--samples", "20000", "--sweep-samples", "1000", "--seed", "3"])
    assert res.exit_code == 0, res.stderr
    assert f"wrote {out / 'report.html'}" in res.stdout
    return out


def test_figures_exist_and_are_not_trivial(report_dir: Path) -> None:
    for stem in FIGURES:
        png, svg = report_dir / "figures" / f"{stem}.png", report_dir / "figures" / f"{stem}.svg"
        assert png.stat().st_size > 30_000, stem
        img = mpimg.imread(png)
        h, w = img.shape[:2]
        assert w >= 1000 and h >= 500, (stem, w, h)
        # a non-trivial picture: many distinct colours, not a blank canvas
        assert len({tuple(px) for px in img[::7, ::7].reshape(-1, img.shape[2]).round(2).tolist()}) > 30, stem
        text = svg.read_text()
        assert "<svg" in text and svg.stat().st_size > 10_000, stem


def test_markdown_links_its_figures(report_dir: Path) -> None:
    md = (report_dir / "report.md").read_text()
    links = re.findall(r"\]\((figures/[^)]+)\)", md)
    assert {f"figures/{s}.png" for s in FIGURES} <= set(links)
    for link in links:
        assert (report_dir / link).is_file(), link
    for heading in ("## Availability", "## Latency of successful journeys", "## Figures", "## Provenance"):
        assert heading in md
    # the paper's pessimistic availability and the seed used are in the report
    assert "0.992514" in md and "| seed | 3 |" in md
    assert "Hypothetical Retry(" in md  # checkout has no retry: the timeout trade-off says it is hypothetical
    # every number shown is also in report.json
    summary = json.loads((report_dir / "report.json").read_text())
    assert summary["bounds"]["availability"]["pessimistic"] == pytest.approx(0.99251449, abs=5e-9)
    assert summary["seed"] == 3 and summary["provenance"]["blockSize"] == 64
    assert {st["kind"] for st in summary["hedge"] + summary["retry"]} == {"hedge", "retry"}


def test_html_is_self_contained(report_dir: Path) -> None:
    html = (report_dir / "report.html").read_text()
    parser = _Tags()
    parser.feed(html)
    assert not parser.errors and parser.stack == []
    assert len(parser.imgs) == len(FIGURES)
    for img in parser.imgs:
        src = img["src"]
        assert src.startswith("data:image/svg+xml;base64,")
        svg = base64.b64decode(src.split(",", 1)[1]).decode()
        assert "<svg" in svg and img["alt"]
    # nothing fetched from elsewhere
    assert not re.search(r"""(src|href)=["'](?!data:)""", html)
    assert "<table>" in html and "0.992514" in html


def test_mc_ccdf_from_a_histogram() -> None:
    _, hi = bucket_edges()
    hist = [0] * len(hi)
    # 90 samples in one bucket, 10 in a later one
    a, b = 3000, 3300
    hist[a], hist[b] = 90, 10
    import numpy as np

    t, p, lo, up = mc_ccdf(np.array(hist))
    assert list(t) == [hi[a]]  # the last bucket has nothing above it
    assert p[0] == pytest.approx(0.1) and lo[0] < 0.1 < up[0]


@pytest.mark.slow
def test_report_is_deterministic(tmp_path: Path) -> None:
    outs = []
    for k in range(2):
        out = tmp_path / f"r{k}"
        res = runner.invoke(app, ["report", str(CHECKOUT), "--out", str(out), "--samples", "5000", "--sweep-samples", "500", "--seed", "9"])
        assert res.exit_code == 0, res.stderr
        outs.append(out)
    for name in ("report.md", "report.html", *(f"figures/{s}.svg" for s in FIGURES)):
        a = (outs[0] / name).read_text().replace(str(outs[0]), "OUT")
        b = (outs[1] / name).read_text().replace(str(outs[1]), "OUT")
        assert a == b, name


# blocks that exercise every kind and every character the renderers treat specially
BLOCKS = [
    ("h1", "Report: a<b & `c|d`"),
    ("p", "It's \"quoted\" & <tagged> with `x < y` code."),
    ("h2", "Table"),
    ("table", (["a|b", "c"], [["1", "x|y"], ["`p|q`", ""]])),
    ("table", (["", ""], [["k", "v"]])),
    ("list", ["one `1`", "two & three"]),
    ("figure", ("fig_a", 'A "figure"', "Caption <b> 'here'.")),
]
SVG = '<svg xmlns="http://www.w3.org/2000/svg"/>'


def test_markdown_template_renders_the_blocks_byte_for_byte() -> None:
    """The Markdown the report wrote before its Jinja templates (issue 14), to the byte."""
    assert _markdown(BLOCKS) == (
        "# Report: a<b & `c|d`\n\n"
        "It's \"quoted\" & <tagged> with `x < y` code.\n\n"
        "## Table\n\n"
        "| a\\|b | c |\n|---|---|\n| 1 | x\\|y |\n| `p\\|q` |  |\n\n"
        "|  |  |\n|---|---|\n| k | v |\n\n"
        "- one `1`\n- two & three\n\n"
        '### A "figure"\n\n![A "figure"](figures/fig_a.png)\n\nCaption <b> \'here\'. ([SVG](figures/fig_a.svg))\n'
    )


def test_html_template_escapes_as_before_and_embeds_figures(tmp_path: Path) -> None:
    (tmp_path / "fig_a.svg").write_text(SVG)
    out = _html(BLOCKS, tmp_path, "j<&>'\"")
    head, body = out.split("<!-- generated by emac report; do not edit -->\n")
    assert head.startswith(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>j&lt;&amp;&gt;&#x27;&quot;: tail-amplification report</title>'
        "<style>\nbody{"
    )
    assert head.endswith("}\n</style></head>\n<body>\n")
    data = base64.b64encode(SVG.encode()).decode()
    assert body == (
        "<h1>Report: a&lt;b &amp; <code>c|d</code></h1>\n"
        "<p>It&#x27;s &quot;quoted&quot; &amp; &lt;tagged&gt; with <code>x &lt; y</code> code.</p>\n"
        "<h2>Table</h2>\n"
        "<table><tr><th>a|b</th><th>c</th></tr><tr><td>1</td><td>x|y</td></tr><tr><td><code>p|q</code></td><td></td></tr></table>\n"
        "<table><tr><td>k</td><td>v</td></tr></table>\n"
        "<ul><li>one <code>1</code></li><li>two &amp; three</li></ul>\n"
        f'<figure><h3>A &quot;figure&quot;</h3><img alt="A &quot;figure&quot;" src="data:image/svg+xml;base64,{data}">'
        "<figcaption>Caption &lt;b&gt; &#x27;here&#x27;.</figcaption></figure>\n"
        "</body></html>\n"
    )


def test_templates_ship_with_the_package(tmp_path: Path) -> None:
    """A build of the package (setuptools' build_py, the step that fills a wheel) carries the
    templates, and the report renders from that build, not from this checkout."""
    src, lib = tmp_path / "src", tmp_path / "lib"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "emac_sim", src / "emac_sim", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    build = [sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py", "--build-lib", str(lib)]
    r = subprocess.run(build, cwd=src, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert {p.name for p in (lib / "emac_sim" / "studies" / "templates").iterdir()} == {"report.md.j2", "report.html.j2"}
    probe = (
        "import emac_sim, importlib; r = importlib.import_module('emac_sim.studies.report'); "
        "print(emac_sim.__file__); print(r._markdown([('h1', 'x')]), end='')"
    )
    r = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env={**env, "PYTHONPATH": str(lib)}, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{lib / 'emac_sim' / '__init__.py'}\n# x\n"
