"""Paired evaluation on real-world folders (issue #16): an unusable image is skipped and named (``--strict``
aborts), every output is checked before the computation, a gallery builds only what its metrics need,
identical images give an infinite PSNR that the summary and the strict JSON handle, EXIF orientation counts."""
import csv
import json
import shutil

import numpy as np
import pytest
import torch

from percept_lib.cli import main as cli
from percept_lib.data import photos
from percept_lib.images import save_images
from percept_lib.pipeline.pairs import PairMetrics, evaluate_pairs


@pytest.fixture(scope="module")
def thirty(tmp_path_factory):
    """30 pairs of 16×16 noise images (test = reference + noise): the size of the issue's report."""
    root = tmp_path_factory.mktemp("thirty")
    g = torch.Generator().manual_seed(0)
    ref = torch.rand(30, 3, 16, 16, generator=g)
    test = (ref + 0.05 * torch.randn(ref.shape, generator=g)).clamp(0, 1)
    names = [f"{i:02d}.png" for i in range(30)]
    save_images(ref, root / "ref", names=names)
    save_images(test, root / "test", names=names)
    return root / "test", root / "ref"


@pytest.fixture()
def metric_calls(monkeypatch):
    """Counts the batches the metrics are computed on (the time-consuming part of a run)."""
    calls = []
    original = PairMetrics.__call__

    def counted(self, a, b):
        calls.append(a.shape[0])
        return original(self, a, b)

    monkeypatch.setattr(PairMetrics, "__call__", counted)
    return calls


def _damage(folder, kind: str, monkeypatch):
    """Make pair 14's test image unusable: not an image, cut in half, or over the pixel-count limit."""
    path = folder / "14.png"
    if kind == "garbage":
        path.write_bytes(b"this is not an image")
    elif kind == "truncated":  # the header reads, the pixels do not: found while decoding, mid-run
        path.write_bytes(path.read_bytes()[:120])
    else:
        save_images(torch.rand(1, 3, 40, 40), folder, names=["14.png"], overwrite=True)
        monkeypatch.setenv("PERCEPT_MAX_PIXELS", "1000")  # 16×16 passes, 40×40 does not
    return path


@pytest.mark.parametrize("kind", ["garbage", "truncated", "too large"])
def test_an_unusable_image_among_30_pairs_is_skipped_named_and_the_29_others_summarized(
        thirty, tmp_path, monkeypatch, capsys, kind):
    test, ref = thirty
    shutil.copytree(test, tmp_path / "test")
    bad = _damage(tmp_path / "test", kind, monkeypatch)
    if kind == "too large":
        save_images(torch.rand(1, 3, 40, 40), tmp_path / "ref", names=["14.png"])
        for i in range(30):
            if i != 14:
                shutil.copy(ref / f"{i:02d}.png", tmp_path / "ref")
        ref = tmp_path / "ref"
    out_csv = tmp_path / "pairs.csv"
    base = ["pairs", str(tmp_path / "test"), str(ref), "--metrics", "psnr,ssim", "--no-progress"]
    gallery = tmp_path / "report.html"
    with pytest.warns(UserWarning, match=r"skipped 1 of 30 pair"):
        assert cli([*base, "--csv", str(out_csv), "--gallery", str(gallery)]) == 0
    assert "1 skipped pair(s)" in gallery.read_text() and f"{bad.name}:" in gallery.read_text()
    out = capsys.readouterr().out
    assert "29 pairs scored, 1 skipped" in out
    assert any(line.startswith("psnr ") and line.split()[1] == "29" for line in out.splitlines())  # N = 29
    skipped_line = next(line for line in out.splitlines() if line.strip().startswith("14:"))
    assert "14.png" in skipped_line and ("not a readable image" in skipped_line or "over the limit" in skipped_line)
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 30 and [r["path"] for r in rows if r["skipped"]] == ["14"]
    assert sum(1 for r in rows if r["psnr"]) == 29

    with pytest.warns(UserWarning, match="skipped 1 of 30"):
        assert cli([*base, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["n"] == 29 and payload["n_skipped"] == 1 and payload["summary"]["ssim"]["n"] == 29
    (skip,) = payload["skipped"]
    assert skip["path"] == "14" and skip["file"].endswith("14.png") and "14.png" in skip["reason"]
    if kind != "too large":
        assert skip["file"] == str(bad)


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_strict_aborts_on_an_unusable_image_and_writes_nothing(thirty, tmp_path, monkeypatch, capsys,
                                                               metric_calls, kind):
    test, ref = thirty
    shutil.copytree(test, tmp_path / "test")
    _damage(tmp_path / "test", kind, monkeypatch)
    out_csv = tmp_path / "pairs.csv"
    assert cli(["pairs", str(tmp_path / "test"), str(ref), "--metrics", "psnr", "--strict", "--csv", str(out_csv),
                "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "14.png" in err and "without --strict the pair is skipped" in err and not out_csv.exists()
    if kind == "garbage":  # found from the header: nothing was computed
        assert metric_calls == []
    with pytest.raises(ValueError, match=r"14\.png.*without --strict"):
        evaluate_pairs(tmp_path / "test", ref, metrics=["psnr"], strict=True, progress=False)


def test_the_python_api_skips_with_a_warning_naming_the_file(thirty, tmp_path, monkeypatch):
    test, ref = thirty
    shutil.copytree(test, tmp_path / "test")
    _damage(tmp_path / "test", "truncated", monkeypatch)
    with pytest.warns(UserWarning, match=r"skipped 1 of 30 pair.*14\.png"):
        result = evaluate_pairs(tmp_path / "test", ref, metrics=["psnr"], progress=False, batch_size=8)
    assert result.n == 29 and "14" not in [r["path"] for r in result.rows]
    assert [p.key for p in result.pairs] == [r["path"] for r in result.rows]  # rows and pairs stay aligned


def _not_sqlite(tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_text("my notes, not a database")
    return path


@pytest.mark.parametrize("outputs, message", [
    (lambda d: ["--csv", str(d / "missing" / "p.csv")], "does not exist"),
    (lambda d: ["--gallery", str(d / "missing" / "g.html")], "does not exist"),
    (lambda d: ["--db", str(_not_sqlite(d))], "not a SQLite file"),
    (lambda d: ["--csv", str(d / "x"), "--gallery", str(d / "x")], "both name"),
    (lambda d: ["--gallery", str(d / "g.html"), "--k", "0"], "--k 0"),
])
def test_outputs_are_checked_before_any_metric_is_computed(thirty, tmp_path, capsys, metric_calls, outputs,
                                                           message):
    test, ref = thirty
    flags = outputs(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert cli(["pairs", str(test), str(ref), "--metrics", "psnr", "--no-progress", *flags]) == 2
    assert message in capsys.readouterr().err
    assert metric_calls == []  # refused in a second, not after the work
    assert {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_gallery_without_lpips_builds_no_network(thirty, tmp_path, empty_torch_home, monkeypatch):
    """No weights at all and pretrained mode: a PSNR / SSIM gallery needs none."""
    import percept_lib.losses.lpips as lpips_module

    def refuse(*args, **kwargs):
        raise AssertionError("LPIPS built for a gallery that did not ask for it")

    monkeypatch.setattr(lpips_module.LPIPS, "__init__", refuse)
    test, ref = thirty
    out = tmp_path / "report.html"
    assert cli(["pairs", str(test), str(ref), "--metrics", "psnr,ssim", "--gallery", str(out), "--k", "2",
                "--no-progress"]) == 0
    page = out.read_text()
    # k worst + k best rows × (test, reference, difference map)
    assert page.count('<img src="data:image/png;base64,') == 2 * 2 * 3 and "|test − reference|" in page


def test_identical_images_give_infinite_psnr_and_strict_json(tmp_path, capsys):
    g = torch.Generator().manual_seed(1)
    ref = torch.rand(4, 3, 16, 16, generator=g)
    test = ref.clone()
    test[2:] = (test[2:] + 0.1 * torch.randn(test[2:].shape, generator=g)).clamp(0, 1)  # pairs 0, 1 identical
    names = ["a.png", "b.png", "c.png", "d.png"]
    save_images(ref, tmp_path / "ref", names=names)
    save_images(test, tmp_path / "test", names=names)

    def no_literals(token):
        raise AssertionError(f"not strict JSON: {token}")

    base = ["pairs", str(tmp_path / "test"), str(tmp_path / "ref"), "--metrics", "psnr,ssim", "--no-progress"]
    out_csv = tmp_path / "p.csv"
    assert cli([*base, "--json", "--csv", str(out_csv)]) == 0
    psnr = json.loads(capsys.readouterr().out, parse_constant=no_literals)["summary"]["psnr"]
    assert psnr["n_infinite"] == 2 and psnr["n"] == 2 and np.isfinite(psnr["mean"])
    assert "2 of 4 pairs are identical (PSNR = inf)" in psnr["note"]
    assert [float(r["psnr"]) for r in csv.DictReader(out_csv.open())][:2] == [float("inf")] * 2

    # Every pair identical: the mean is infinite, the spread undefined; never NaN, in JSON or in text.
    same = tmp_path / "same"
    save_images(ref, same, names=names)
    assert cli(["pairs", str(same), str(tmp_path / "ref"), "--metrics", "psnr", "--json", "--no-progress"]) == 0
    psnr = json.loads(capsys.readouterr().out, parse_constant=no_literals)["summary"]["psnr"]
    assert psnr["mean"] == psnr["median"] == "inf" and psnr["std"] is None
    assert "all 4 pairs are identical" in psnr["note"]
    assert cli(["pairs", str(same), str(tmp_path / "ref"), "--metrics", "psnr", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "nan" not in text.lower() and "inf" in text and "all 4 pairs are identical" in text


def test_a_sideways_camera_image_pairs_with_its_upright_reference(tmp_path):
    """The header says 48×64 but EXIF orientation 6 makes it 64×48: sized as the decoder shows it."""
    from PIL import Image

    upright = (photos(("astronaut",), (64, 48))[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(upright).save(tmp_path / "ref.png")
    (tmp_path / "test").mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.ascontiguousarray(np.rot90(upright, 1))).save(tmp_path / "test" / "x.png", exif=exif)
    (tmp_path / "reference").mkdir()
    (tmp_path / "ref.png").rename(tmp_path / "reference" / "x.png")
    result = evaluate_pairs(tmp_path / "test", tmp_path / "reference", metrics=["psnr"], progress=False)
    assert result.rows[0]["psnr"] == float("inf")  # the same pixels once upright
