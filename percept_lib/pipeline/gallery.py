"""A self-contained HTML page of the k worst and k best pairs, each with a map of where the two images differ.

Images are embedded as base64 PNGs, so the file reads offline in any browser and can be mailed around. The map
is LPIPS's spatial distance when the evaluation computed LPIPS (its network is built anyway), else the
absolute pixel difference: the gallery builds no network the requested metrics did not need, so a PSNR / SSIM
report works without any pretrained weights. The page also lists the skipped pairs with their reasons and the
summary's notes (infinite PSNR of identical images).
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .. import weights as W
from ..images import load_image, resize as resize_images
from ..metrics.accumulators import higher_is_better
from .outputs import write_atomic
from .pairs_result import PairsResult, cell


def _png(array_hw3_u8: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(array_hw3_u8).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _image_uri(x: torch.Tensor) -> str:
    return _png((x.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


def _heatmap_uri(m: torch.Tensor, vmax: float) -> str:
    from matplotlib import colormaps

    values = (m[0].numpy() / max(vmax, 1e-12)).clip(0, 1)
    rgb = colormaps["magma"](values)[..., :3]
    return _png((rgb * 255).round().astype(np.uint8))


def _difference_map(result: PairsResult, device: str):
    """``(map(a, b) → 1×H×W tensor, its caption)``: LPIPS's spatial map if LPIPS was computed, else |a − b|."""
    if "lpips" in result.metrics:
        from ..losses.lpips import LPIPS

        lpips_map = LPIPS(net=result.net, spatial=True, reduction="none").to(device)
        return (lambda a, b: lpips_map(a.to(device), b.to(device)).cpu()[0]), f"LPIPS-{result.net} map"
    return (lambda a, b: (a - b).abs().mean(dim=1)), "|test − reference| (mean over RGB)"


def render_gallery(result: PairsResult, k: int = 5, rank_by: str | None = None, device: str = "cpu") -> str:
    """The gallery page for ``result`` (from :func:`evaluate_pairs`), as HTML text.

    Pairs are ranked by ``rank_by`` (default: LPIPS when computed, else the first metric), worst first.
    Each row shows the test image, the reference, a difference map (module docstring) and every metric.
    """
    if not result.rows:
        raise ValueError("no pairs to show")
    rank_by = rank_by or ("lpips" if "lpips" in result.metrics else result.metrics[0])
    if rank_by not in result.metrics:
        raise ValueError(f"rank_by={rank_by!r}: not among the computed metrics {result.metrics}")
    values = result.column(rank_by)
    order = np.argsort(values if higher_is_better(rank_by) else -values, kind="stable")
    k = max(1, min(k, len(order)))
    worst, best = list(order[:k]), list(order[::-1][:k])
    difference, map_name = _difference_map(result, device)

    def row_html(i: int) -> str:
        pair = result.pairs[i]
        a, b = load_image(pair.test), load_image(pair.reference)
        if a.shape != b.shape:
            a = resize_images(a, tuple(b.shape[-2:]), "clean")
        with torch.inference_mode():
            m = difference(a, b)
        scores = "".join(f"<tr><td>{html.escape(metric)}</td><td>{result.rows[i][metric]:.4f}</td></tr>"
                         for metric in result.metrics)
        return (f'<div class="pair"><h3>{html.escape(pair.key)}</h3><div class="imgs">'
                f'<figure><img src="{_image_uri(a[0])}" alt="test {html.escape(pair.key)}"><figcaption>test</figcaption></figure>'
                f'<figure><img src="{_image_uri(b[0])}" alt="reference {html.escape(pair.key)}"><figcaption>reference</figcaption></figure>'
                f'<figure><img src="{_heatmap_uri(m, float(m.max()))}" alt="map {html.escape(pair.key)}">'
                f'<figcaption>{html.escape(map_name)} (max {float(m.max()):.3f})</figcaption></figure>'
                f'</div><table>{scores}</table></div>')

    summary_rows = "".join(
        f"<tr><td>{html.escape(metric)}</td><td>{s['n']}</td><td>{cell(s['mean'])}</td><td>{cell(s['std'])}</td>"
        f"<td>{cell(s['median'])}</td><td>[{cell(s['ci_low'])}, {cell(s['ci_high'])}]</td></tr>"
        for metric, s in result.summary.items())
    notes = "".join(f"<p>{html.escape(note)}</p>" for note in result.notes)
    skipped = "" if not result.skipped else (
        f"<h2>{len(result.skipped)} skipped pair(s)</h2><ul>"
        + "".join(f"<li>{html.escape(s['path'])}: {html.escape(s['reason'])}</li>" for s in result.skipped)
        + "</ul>")
    banner = "" if result.weights_label == "pretrained" else \
        f'<p class="warn">{html.escape(W.RANDOM_BANNER)}</p>'
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>percept_lib pairs report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }} .pair {{ border-top: 1px solid #ccc; padding: .5em 0; }}
.imgs {{ display: flex; gap: 1em; }} figure {{ margin: 0; }} img {{ max-width: 256px; image-rendering: pixelated; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 2px 8px; border: 1px solid #ddd; }}
.warn {{ background: #fff3cd; border: 2px solid #d39e00; padding: .5em; font-weight: bold; }}
</style></head><body>
<h1>Paired evaluation: {result.n} pairs</h1>{banner}
<table><tr><th>metric</th><th>N</th><th>mean</th><th>std</th><th>median</th><th>95% CI (bootstrap)</th></tr>{summary_rows}</table>{notes}{skipped}
<h2>The {k} worst pairs by {html.escape(rank_by)}</h2>
{''.join(row_html(i) for i in worst)}
<h2>The {k} best pairs by {html.escape(rank_by)}</h2>
{''.join(row_html(i) for i in best)}
</body></html>
"""
    return page


def write_gallery(result: PairsResult, path, k: int = 5, rank_by: str | None = None, device: str = "cpu",
                  exists_ok: bool = True) -> Path:
    """Write :func:`render_gallery`'s page to ``path`` atomically (:mod:`.outputs`); returns the path.
    ``exists_ok=False`` refuses to replace an existing file."""
    page = render_gallery(result, k=k, rank_by=rank_by, device=device)
    return write_atomic(path, lambda f: f.write(page), exists_ok=exists_ok, text=True)
