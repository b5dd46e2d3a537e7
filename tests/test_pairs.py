"""Paired evaluation of two folders: pairing rules, values equal to direct calls, summary, gallery, CLI."""
import csv
import json
from html.parser import HTMLParser

import numpy as np
import pytest
import torch

from percept_lib.cli import main as cli
from percept_lib.data import distort, photos
from percept_lib.images import load_image, save_images
from percept_lib.pipeline.history import read_history
from percept_lib.pipeline.pairs import evaluate_pairs, pair_folders, summarize


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Six references (two in a subfolder, one 48×64 and the rest 40×40) and distorted test images."""
    root = tmp_path_factory.mktemp("pairs")
    ref, test = root / "ref", root / "test"
    refs = photos(("astronaut", "chelsea", "coffee", "rocket"), 40)
    kinds = ["blur", "noise", "jpeg", "shift"]
    save_images(refs, ref, names=[f"{i}.png" for i in range(4)])
    save_images(torch.cat([distort(refs[i:i + 1], kinds[i], 0.3 + 0.15 * i, seed=i) for i in range(4)]), test,
                names=[f"{i}.jpg" if i % 2 else f"{i}.png" for i in range(4)])
    wide = photos(("coffee",), (48, 64))
    save_images(wide, ref / "sub", names=["wide.png"])
    save_images(distort(wide, "blur", 0.5), test / "sub", names=["wide.png"])
    save_images(photos(("chelsea",), 40), ref / "sub", names=["c.bmp"])
    save_images(distort(photos(("chelsea",), 40), "colour", 0.6), test / "sub", names=["c.png"])
    return test, ref


def test_pairing_ignores_extensions_and_descends_into_folders(folders):
    test, ref = folders
    pairs, only_a, only_b = pair_folders(test, ref)
    assert [p.key for p in pairs] == ["0", "1", "2", "3", "sub/c", "sub/wide"]
    assert pairs[1].test.suffix == ".jpg" and pairs[1].reference.suffix == ".png"
    assert only_a == only_b == []


def test_one_sided_files_are_counted_and_skipped_or_refused(folders, tmp_path):
    test, ref = folders
    import shutil

    extra = tmp_path / "test"
    shutil.copytree(test, extra)
    save_images(torch.rand(2, 3, 8, 8), extra, names=["only_a.png", "only_b.png"])
    with pytest.warns(UserWarning, match=r"2 file\(s\) only in .*\(only_a, only_b\), 0 only in"):
        pairs, only_a, _ = pair_folders(extra, ref)
    assert len(pairs) == 6 and only_a == ["only_a", "only_b"]
    with pytest.raises(ValueError, match="strict"):
        pair_folders(extra, ref, strict=True)


def test_no_common_file_is_a_clear_error(tmp_path):
    save_images(torch.rand(1, 3, 8, 8), tmp_path / "a", names=["x.png"])
    save_images(torch.rand(1, 3, 8, 8), tmp_path / "b", names=["y.png"])
    with pytest.raises(ValueError, match="no file of .* has a counterpart"):
        pair_folders(tmp_path / "a", tmp_path / "b")


def test_ambiguous_extensions_are_refused(tmp_path):
    save_images(torch.rand(2, 3, 8, 8), tmp_path / "a", names=["x.png", "x.jpg"])
    save_images(torch.rand(1, 3, 8, 8), tmp_path / "b", names=["x.png"])
    with pytest.raises(ValueError, match="ambiguous"):
        pair_folders(tmp_path / "a", tmp_path / "b")


def test_size_mismatch_names_the_pair_or_resizes(tmp_path, random_weights):
    save_images(torch.rand(1, 3, 16, 16), tmp_path / "a", names=["x.png"])
    save_images(torch.rand(1, 3, 12, 12), tmp_path / "b", names=["x.png"])
    with pytest.raises(ValueError, match=r"pair x: x.png is 16×16 but x.png is 12×12.*--resize-to reference"):
        evaluate_pairs(tmp_path / "a", tmp_path / "b", metrics=["psnr"], progress=False)
    result = evaluate_pairs(tmp_path / "a", tmp_path / "b", metrics=["psnr", "ssim"], resize_to="reference",
                            progress=False)
    assert result.n == 1 and np.isfinite(result.rows[0]["psnr"])


def test_every_value_equals_the_direct_library_call(folders, random_weights):
    from percept_lib.losses.dists import DISTS
    from percept_lib.losses.lpips import LPIPS
    from percept_lib.losses.pixel import psnr
    from percept_lib.losses.ssim import ssim

    test, ref = folders
    result = evaluate_pairs(test, ref, batch_size=3, progress=False)
    lpips, dists = LPIPS(net="alex", reduction="none"), DISTS(reduction="none")
    assert result.n == 6
    for pair, row in zip(result.pairs, result.rows):
        a, b = load_image(pair.test), load_image(pair.reference)
        with torch.no_grad():
            direct = {"lpips": lpips(a, b), "dists": dists(a, b), "psnr": psnr(a, b), "ssim": ssim(a, b)}
        for metric, value in direct.items():
            assert row[metric] == pytest.approx(float(value.reshape(-1)[0]), rel=1e-5, abs=1e-6), (pair.key, metric)


def test_csv_and_summary_agree(folders, tmp_path, random_weights):
    test, ref = folders
    result = evaluate_pairs(test, ref, metrics=["psnr", "ssim"], progress=False, seed=3)
    path = result.to_csv(tmp_path / "pairs.csv")
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert [r["path"] for r in rows] == [r["path"] for r in result.rows]
    for metric in ("psnr", "ssim"):
        column = np.array([float(r[metric]) for r in rows])
        s = result.summary[metric]
        assert s["n"] == len(column) == 6
        assert s["mean"] == pytest.approx(column.mean(), rel=1e-12)
        assert s["std"] == pytest.approx(column.std(ddof=1), rel=1e-12)
        assert s["median"] == pytest.approx(np.median(column), rel=1e-12)
        assert column.min() <= s["ci_low"] <= s["mean"] <= s["ci_high"] <= column.max()
    again = evaluate_pairs(test, ref, metrics=["psnr"], progress=False, seed=3)
    assert again.summary["psnr"] == result.summary["psnr"]  # the bootstrap is seeded


def test_summary_keeps_infinite_psnr_out():
    s = summarize([10.0, 20.0, float("inf")])
    assert s["n"] == 2 and s["n_infinite"] == 1 and s["mean"] == 15.0


class _Collector(HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.images, self.errors = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        elif tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def test_gallery_is_self_contained_html(folders, tmp_path, random_weights):
    test, ref = folders
    out = tmp_path / "report.html"
    assert cli(["pairs", str(test), str(ref), "--metrics", "lpips,psnr", "--gallery", str(out), "--k", "2",
                "--no-progress"]) == 0
    parser = _Collector()
    parser.feed(out.read_text())
    assert not parser.errors and not parser.stack
    assert len(parser.images) == 2 * 2 * 3  # k worst + k best rows × (test, reference, heatmap)
    assert all(src.startswith("data:image/png;base64,") for src in parser.images)
    assert "RANDOM WEIGHTS" in out.read_text()  # the one banner (weights.RANDOM_BANNER)


def test_cli_json_csv_db_and_no_silent_overwrite(folders, tmp_path, capsys, random_weights):
    test, ref = folders
    out_csv, db = tmp_path / "p.csv", tmp_path / "results.sqlite"
    args = ["pairs", str(test), str(ref), "--metrics", "psnr,ssim", "--csv", str(out_csv), "--db", str(db),
            "--json", "--no-progress", "--tag", "ckpt-1"]
    assert cli(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n"] == 6 and set(summary["summary"]) == {"psnr", "ssim"}
    assert len(out_csv.read_text().strip().splitlines()) == 7
    assert {row["metric"] for row in read_history(db)} == {"pairs/psnr", "pairs/ssim"}
    before = out_csv.read_text()
    assert cli(args) == 2  # refuses to overwrite the CSV
    assert "--force" in capsys.readouterr().err and out_csv.read_text() == before
    assert cli(["pairs", str(test), str(ref), "--metrics", "sharpness", "--no-progress"]) == 2
    assert "choose from" in capsys.readouterr().err
    # One result per metric with its signature, as the history recorded it: `compare` reads the JSON file.
    history = {row["metric"]: row["signature"] for row in read_history(db)}
    assert {r["metric"]: r["signature"] for r in summary["results"]} == history
    assert all("|w:none|" in signature for signature in history.values())  # pixel metrics: no weights to name
    saved = tmp_path / "pairs.json"
    saved.write_text(json.dumps(summary))
    assert cli(["compare", str(saved), str(saved)]) == 0
    assert "signatures agree" in capsys.readouterr().out


def test_learned_metrics_sign_every_weights_file_they_load(folders, torch_home):
    """LPIPS loads a backbone and its linear layers, DISTS VGG16 and α/β: the signature's ``w`` names each
    file's short sha256, so a result computed with another backbone file does not pass as comparable."""
    import hashlib

    from percept_lib import weights as W

    def short(name):
        return hashlib.sha256(W.cached_path(name).read_bytes()).hexdigest()[:8]

    torch_home.make("alexnet", "vgg16")
    test, ref = folders
    result = evaluate_pairs(test, ref, metrics=("lpips", "dists", "psnr"), progress=False)
    signed = {r.metric: r.signature for r in result.results()}
    assert f"|enc:lpips-alex|w:{short('alexnet')}.{short('lpips-alex')}|" in signed["pairs/lpips-alex"]
    assert f"|enc:dists|w:{short('vgg16')}.{short('dists')}|" in signed["pairs/dists"]
    assert "|w:none|" in signed["pairs/psnr"]

    # Another AlexNet file under the same name: the LPIPS signature changes with it.
    path = W.cached_path("alexnet")
    original = path.read_bytes()
    try:
        state = torch.load(path, weights_only=True)
        state["features.0.bias"] = state["features.0.bias"] + 1
        torch.save(state, path)
        again = {r.metric: r.signature for r in result.results()}
        assert again["pairs/lpips-alex"] != signed["pairs/lpips-alex"]
        assert again["pairs/dists"] == signed["pairs/dists"]
    finally:
        path.write_bytes(original)


def test_ms_ssim_is_a_pair_metric_when_named(tmp_path, capsys):
    from percept_lib.losses.ms_ssim import ms_ssim

    refs = photos(("astronaut", "chelsea", "coffee"), (176, 192))
    save_images(refs, tmp_path / "ref", names=["a.png", "b.png", "c.png"])
    kinds = ("blur", "noise", "jpeg")
    distorted = torch.cat([distort(refs[i:i + 1], kind, 0.4, seed=i) for i, kind in enumerate(kinds)])
    save_images(distorted, tmp_path / "test", names=["a.png", "b.png", "c.png"])
    assert cli(["pairs", str(tmp_path / "test"), str(tmp_path / "ref"), "--metrics", "ssim,ms-ssim", "--json",
                "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    result = evaluate_pairs(tmp_path / "test", tmp_path / "ref", metrics=["ms-ssim"], progress=False)
    for pair, row in zip(result.pairs, result.rows):
        direct = ms_ssim(load_image(pair.test), load_image(pair.reference))
        assert row["ms-ssim"] == pytest.approx(float(direct), rel=1e-6)
    assert summary["ms-ssim"]["mean"] == pytest.approx(result.summary["ms-ssim"]["mean"], rel=1e-12)
    assert len({round(row["ms-ssim"], 4) for row in result.rows}) == 3  # three different distortions
    # Named on images smaller than its five scales allow, it fails with the minimum size.
    save_images(refs[:1, :, :100, :100], tmp_path / "small_ref", names=["a.png"])
    save_images(refs[:1, :, :100, :100], tmp_path / "small_test", names=["a.png"])
    with pytest.raises(ValueError, match="at least 161×161"):
        evaluate_pairs(tmp_path / "small_test", tmp_path / "small_ref", metrics=["ms-ssim"], progress=False)

