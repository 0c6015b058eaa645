"""Output directories (issue 13, "Data loss and writes outside --out"; issue 12 §1 writer items).

Only what emac-sim wrote, recognised by its sealed marker, is ever replaced or removed; every
writer (compile, whatif, report, discover) checks ``--out`` before the work, writes its folder as
a whole, and names files after input only through safe, unique slugs.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from emac_sim.errors import SpecError
from emac_sim.outdir import MARKER, check_output_dir, read_marker, safe_name, unique_names, write_output

REPO = Path(__file__).resolve().parents[1]
CHECKOUT = REPO / "configs" / "checkout.yaml"
SMALL = "2000"


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _one_line(r) -> str:  # noqa: ANN001
    assert r.exit_code == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    return lines[0]


@pytest.fixture
def traces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from emac_sim import load_spec
    from emac_sim.discover import write_otlp_traces

    p = tmp_path_factory.mktemp("traces") / "t.json"
    write_otlp_traces(load_spec(CHECKOUT), p, 300, 3, "independent")
    return p


# --------------------------------------------------------------------------- ownership


def test_a_users_release_folder_with_a_manifest_is_never_touched(cli, tmp_path: Path) -> None:
    """Issue 13: compile --out DIR deleted the files a user's MANIFEST.sha256 listed."""
    out = tmp_path / "release"
    out.mkdir()
    (out / "app.tar").write_bytes(b"release")
    (out / "MANIFEST.sha256").write_text(f"{hashlib.sha256(b'release').hexdigest()}  app.tar\n")
    before = _files(out)
    line = _one_line(cli("compile", CHECKOUT, "--out", out, "--samples", SMALL))
    assert line == (
        f"{out}: output directory is not empty and was not written by emac-sim (holds 'MANIFEST.sha256') "
        "(a MANIFEST.sha256 alone does not mark an emac-sim output); choose a new or empty directory"
    )
    assert _files(out) == before


def test_an_empty_user_subfolder_is_never_deleted(cli, tmp_path: Path) -> None:
    """Issue 13: an empty user subfolder under --out was deleted with the old output."""
    out = tmp_path / "out"
    (out / "keep").mkdir(parents=True)
    assert "holds 'keep'" in _one_line(cli("compile", CHECKOUT, "--out", out, "--samples", SMALL))
    assert (out / "keep").is_dir()
    # the same inside a previous emac-sim output
    (out / "keep").rmdir()
    assert cli("compile", CHECKOUT, "--out", out, "--samples", SMALL).exit_code in (0, 1)
    (out / "prometheus" / "mine").mkdir()
    assert "holds 'prometheus/mine/', a folder emac-sim did not write" in _one_line(cli("compile", CHECKOUT, "--out", out, "--samples", SMALL))
    assert (out / "prometheus" / "mine").is_dir()


def test_the_marker_is_sealed_and_edits_make_a_folder_foreign(tmp_path: Path) -> None:
    out = tmp_path / "o"
    write_output(out, {"a.txt": "a\n", "sub/b.txt": "b\n"}, "compile")
    m = read_marker(out)
    assert m is not None and m.command == "compile" and set(m.files) == {"a.txt", "sub/b.txt"}
    # a marker written by hand (or by another tool) with a wrong seal is not ours
    doc = json.loads((out / MARKER).read_text())
    doc["files"]["extra.txt"] = hashlib.sha256(b"x").hexdigest()
    (out / "extra.txt").write_text("x")
    (out / MARKER).write_text(json.dumps(doc))
    assert read_marker(out) is None
    with pytest.raises(SpecError, match="not written by emac-sim"):
        write_output(out, {"a.txt": "new\n"}, "compile")
    assert (out / "extra.txt").read_text() == "x"
    # an artifact edited by the user is no longer emac-sim's to replace
    fresh = tmp_path / "p"
    write_output(fresh, {"a.txt": "a\n"}, "whatif")
    (fresh / "a.txt").write_text("edited by hand\n")
    with pytest.raises(SpecError, match="holds 'a.txt', changed since emac-sim wrote it"):
        write_output(fresh, {"a.txt": "b\n"}, "whatif")
    assert (fresh / "a.txt").read_text() == "edited by hand\n"


def test_the_same_inputs_give_the_same_marker(tmp_path: Path) -> None:
    write_output(tmp_path / "a", {"x.yaml": "1\n"}, "compile")
    write_output(tmp_path / "b", {"x.yaml": "1\n"}, "compile")
    assert (tmp_path / "a" / MARKER).read_bytes() == (tmp_path / "b" / MARKER).read_bytes()


def test_a_file_added_while_the_previous_output_is_swapped_out_survives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Removal of the previous output unlinks only the files its marker lists."""
    import emac_sim.outdir as od

    out = tmp_path / "o"
    write_output(out, {"a.txt": "a\n"}, "compile")
    real = od._remove_previous

    def racing(old: Path, marker: od.Marker | None) -> None:
        (old / "late.txt").write_text("a user's file that arrived after the check")
        real(old, marker)

    monkeypatch.setattr(od, "_remove_previous", racing)
    write_output(out, {"b.txt": "b\n"}, "compile")
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".emac-old-")]
    assert len(leftovers) == 1 and (leftovers[0] / "late.txt").read_text().startswith("a user's file")
    assert sorted(_files(out)) == [MARKER, "b.txt"]


# --------------------------------------------------------------------------- unusable --out, refused in one line


@pytest.mark.parametrize("command", ["compile", "whatif", "report", "discover"])
def test_unusable_out_is_one_line_for_every_writer(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, traces: Path, command: str) -> None:
    """Issue 13: --out . crashed (EBUSY), a 300-character name crashed, discover --out FILE raised FileExistsError."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a directory")
    args = {
        "compile": ["compile", CHECKOUT, "--samples", SMALL],
        "whatif": ["whatif", CHECKOUT, "--vary", "components.paya.availability=0.99,0.999", "--samples", "0"],
        "report": ["report", CHECKOUT, "--samples", SMALL, "--sweep-samples", "0"],
        "discover": ["discover", traces],
    }[command]
    dot = ".: is the current directory: emac-sim replaces its output directory as a whole; choose a subdirectory such as ./out"
    assert _one_line(cli(*args, "--out", ".")) == dot
    assert "is a parent of the current directory" in _one_line(cli(*args, "--out", ".."))
    long = "x" * 300
    assert _one_line(cli(*args, "--out", long)) == f"{long}: a name in this path is 300 characters long; the file system allows 255"
    assert _one_line(cli(*args, "--out", "afile")) == "afile: output path exists and is not a directory; choose a directory"
    assert "is a file, so no directory can be created under it" in _one_line(cli(*args, "--out", "afile/sub"))
    assert _one_line(cli(*args, "--out", "/")) == "/: is the root directory; choose a subdirectory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_a_symlinked_out_is_followed_and_kept(cli, tmp_path: Path) -> None:
    """Issue 13: a symlink --out was renamed to a stray .X.old-* and replaced by a real folder."""
    (tmp_path / "real").mkdir()
    link = tmp_path / "out"
    link.symlink_to("real")
    for _ in range(2):
        assert cli("compile", CHECKOUT, "--out", link, "--samples", SMALL).exit_code in (0, 1)
    assert link.is_symlink() and os.readlink(link) == "real"
    assert (tmp_path / "real" / "prometheus" / "alerts.yaml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "real"]
    (tmp_path / "dangling").symlink_to("nowhere")
    assert "is a symbolic link to" in _one_line(cli("compile", CHECKOUT, "--out", tmp_path / "dangling", "--samples", SMALL))


@pytest.mark.parametrize("command", ["compile", "whatif", "report", "discover"])
def test_out_is_checked_before_the_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, traces: Path, command: str) -> None:
    """Issue 12 §1: an unusable --out was refused only after the work (22 s cold)."""
    bad = tmp_path / "file"
    bad.write_text("x")

    def no_work(*a: object, **k: object) -> None:
        raise AssertionError("the work started before --out was checked")

    with pytest.raises(SpecError, match="output path exists and is not a directory"):
        if command == "compile":
            import emac_sim.spec
            from emac_sim.pipeline.compile import compile_spec

            monkeypatch.setattr(emac_sim.spec, "load_spec", no_work)
            compile_spec(CHECKOUT, bad, samples=1000)
        elif command == "whatif":
            import emac_sim.pipeline.whatif as sc

            monkeypatch.setattr(sc, "whatif", no_work)
            vary = ["components.paya.availability=0.9,0.99"]
            sc.whatif_command(CHECKOUT, vary, None, 0, 1, None, 0.95, bad, None, [], "independent", 1e-3, [], True)
        elif command == "report":
            import importlib

            sr = importlib.import_module("emac_sim.studies.report")
            monkeypatch.setattr(sr, "_write_report", no_work)
            sr.report(CHECKOUT, bad)
        else:
            import emac_sim.discover as d

            monkeypatch.setattr(d, "_discover", no_work)
            d.discover([traces], out=bad)


# --------------------------------------------------------------------------- whole-folder writes for every writer


def test_whatif_report_and_discover_write_their_folder_as_a_whole(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, traces: Path) -> None:
    """Issue 13: whatif, report and discover overwrote same-named files in a non-empty folder and
    were not atomic (an interrupted run left new tables beside old plots)."""
    vary = ["--vary", "components.paya.availability=0.99,0.999", "--samples", "500", "--seed", "1"]
    out = tmp_path / "w"
    assert cli("whatif", CHECKOUT, *vary, "--out", out).exit_code == 0
    first = _files(out)
    assert read_marker(out).command == "whatif"  # type: ignore[union-attr]
    import emac_sim.studies.plots as plots

    def interrupted(*a: object, **k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(plots, "plot_sweep", interrupted)
    r = cli("whatif", CHECKOUT, "--vary", "components.paya.availability=0.9,0.95", "--samples", "500", "--seed", "2", "--out", out)
    assert r.exit_code == 130
    assert _files(out) == first  # the previous complete set, not new tables beside old plots
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]  # no staging directory left behind
    monkeypatch.undo()
    # a user's file in someone's report folder is refused, not overwritten
    rep = tmp_path / "r"
    rep.mkdir()
    (rep / "report.md").write_text("my own notes")
    assert "holds 'report.md'" in _one_line(cli("report", CHECKOUT, "--out", rep, "--samples", SMALL, "--sweep-samples", "0"))
    assert (rep / "report.md").read_text() == "my own notes"
    d = tmp_path / "d"
    d.mkdir()
    (d / "checkout.discovered.yaml").write_text("mine")
    assert "holds 'checkout.discovered.yaml'" in _one_line(cli("discover", traces, "--out", d))
    assert (d / "checkout.discovered.yaml").read_text() == "mine"


def test_default_folders_never_collide_and_any_emac_folder_is_recognised(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12 §1: whatif defaulted into compile's out/, and compile then called whatif's files foreign."""
    monkeypatch.chdir(tmp_path)
    vary = ["--vary", "components.paya.availability=0.99,0.999", "--samples", "500", "--seed", "1"]
    for _ in range(2):  # the README's order, twice
        assert cli("compile", CHECKOUT, "--out", "out", "--samples", SMALL).exit_code in (0, 1)
        assert cli("whatif", CHECKOUT, *vary).exit_code == 0
    assert (tmp_path / "whatif-out" / "checkout" / "whatif.csv").is_file()
    assert not (tmp_path / "out" / "whatif").exists()
    # a folder another emac-sim command wrote is emac-sim's: compile may replace it
    assert cli("compile", CHECKOUT, "--out", "whatif-out/checkout", "--samples", SMALL).exit_code in (0, 1)
    assert read_marker(tmp_path / "whatif-out" / "checkout").command == "compile"  # type: ignore[union-attr]
    # but an emac-sim output nested inside a folder is not replaced with it
    line = _one_line(cli("compile", CHECKOUT, "--out", "whatif-out", "--samples", SMALL))
    assert line == (
        "whatif-out: output directory holds another emac-sim output (checkout/, written by emac compile); "
        "emac-sim replaces only a directory it wrote as a whole: choose another directory"
    )


# --------------------------------------------------------------------------- file names from input


def test_safe_names() -> None:
    assert safe_name("checkout") == "checkout"
    assert safe_name("GET /cart").startswith("GET-cart-") and "/" not in safe_name("GET /cart")
    for hostile in ("../escaped", "/etc/passwd", "..", ".", "", "a/../../b", "x" * 300, "\x00x", "[/x]", "ü"):
        s = safe_name(hostile)
        assert s and "/" not in s and not s.startswith(".") and len(s) <= 90, (hostile, s)
    assert safe_name("../a") != safe_name("/a")  # lossy names keep a digest of the original
    names = unique_names(["cart", "Cart", "CART", "pay"])
    assert names["pay"] == "pay"
    assert len({n.casefold() for n in names.values()}) == 4


def test_discover_names_files_after_safe_slugs(cli, tmp_path: Path, traces: Path) -> None:
    """Issue 13: metadata.name '../escaped' wrote out/../escaped.discovered.yaml; an absolute name
    wrote anywhere; 'nosuchdir/x' crashed with FileNotFoundError."""
    text = CHECKOUT.read_text()
    for name in ("../escaped", str(tmp_path / "abs"), "nosuchdir/x"):
        acc = tmp_path / "accepted.yaml"
        acc.write_text(text.replace("name: checkout", f"name: {json.dumps(name)}"))
        out = tmp_path / "d"
        r = cli("discover", traces, "--accepted", acc, "--out", out)
        assert r.exit_code in (0, 1), r
        written = sorted(p.name for p in out.iterdir())
        assert len(written) == 3 and MARKER in written, written
        assert all(n == MARKER or (n.endswith((".discovered.yaml", ".delta.yaml")) and "/" not in n) for n in written)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["accepted.yaml", "d"]


def test_a_study_name_cannot_leave_the_default_folder(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13: whatif --study with a study name ../../../X wrote outside out/whatif."""
    monkeypatch.chdir(tmp_path)
    study = tmp_path / "s.yaml"
    study.write_text(
        "apiVersion: emac.dev/v1alpha1\nkind: WhatIfStudy\nmetadata: {name: ../../../X}\nspec:\n"
        f"  journey: {CHECKOUT}\n  vary:\n    - {{path: components.paya.availability, values: [0.99, 0.999]}}\n  samples: 0\n  seed: 1\n"
    )
    assert cli("whatif", "--study", study).exit_code == 0
    (made,) = list((tmp_path / "whatif-out").iterdir())
    assert made.name.startswith("X-") and (made / "whatif.csv").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml", "whatif-out"]


def test_component_ids_that_differ_in_case_keep_two_openslo_files(cli, tmp_path: Path) -> None:
    """Issue 13: ids cart / Cart silently overwrote one OpenSLO file."""
    text = CHECKOUT.read_text().replace("      - ref: front\n", "      - ref: front\n      - ref: Cart\n")
    text = text.replace("  components:\n", "  components:\n    Cart: {availability: 0.9999, latency: {dist: lognormal, p50: 2ms, p99: 9ms}}\n", 1)
    spec = tmp_path / "twins.yaml"
    spec.write_text(text)
    out = tmp_path / "out"
    assert cli("compile", spec, "--out", out, "--samples", SMALL).exit_code in (0, 1)
    slos = sorted(p.name for p in (out / "openslo").iterdir() if "-cart-" in p.name)
    assert len(slos) == 2, slos
    import yaml

    names = {yaml.safe_load((out / "openslo" / n).read_text())["metadata"]["name"] for n in slos}
    shown = {yaml.safe_load((out / "openslo" / n).read_text())["metadata"]["displayName"].split()[0] for n in slos}
    assert len(names) == 2 and shown == {"cart", "Cart"}


def test_check_output_dir_returns_the_resolved_target(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    od = check_output_dir(tmp_path / "link", "compile")
    assert od.target == (tmp_path / "real").resolve() and od.shown == str(tmp_path / "link")


def test_an_unusable_junit_file_is_one_line_before_the_work(cli, tmp_path: Path) -> None:
    """--junit pointing at a directory raised IsADirectoryError after the whole validation."""
    for target, message in ((tmp_path, "is a directory or a special file; give a file name"),
                            (tmp_path / "f" / "x.xml", f"{str(tmp_path / 'f')!r} is a file, so no file can be created under it")):
        (tmp_path / "f").write_text("x")
        assert _one_line(cli("validate", CHECKOUT, "--samples", "1000", "--junit", target)) == f"emac validate: --junit {target}: {message}"
    ok = tmp_path / "reports" / "junit.xml"
    assert cli("validate", CHECKOUT, "--samples", "1000", "--junit", ok).exit_code == 0
    assert ok.read_text().startswith("<?xml") and sorted(p.name for p in ok.parent.iterdir()) == ["junit.xml"]
