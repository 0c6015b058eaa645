"""emac report: Markdown + self-contained HTML with readable figures (issue 7)."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from matplotlib import image as mpimg
from typer.testing import CliRunner

from emac_sim.cli import app
from emac_sim.core.histogram import bucket_edges
from emac_sim.studies.report import mc_ccdf

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
