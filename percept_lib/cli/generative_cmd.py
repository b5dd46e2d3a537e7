"""``prdc``, ``is``, ``cmmd``: fidelity, diversity and the newer distances of a generative model's samples.

    python -m percept_lib prdc REAL/ GENERATED/          # precision, recall (k = 3), density, coverage (k = 5)
    python -m percept_lib prdc REAL/ GENERATED/ --k 5    # one k for all four, as prdc.compute_prdc
    python -m percept_lib prdc REAL/ GENERATED/ --extractor dinov2-vitl14
    python -m percept_lib is GENERATED/ --splits 10      # Inception Score from the FID Inception's logits
    python -m percept_lib cmmd REAL/ GENERATED/          # CLIP ViT-L/14 at 336 px, L2-normalised embeddings
    torchrun --nproc_per_node 4 -m percept_lib prdc REAL/ GENERATED/ --device cuda   # sharded by rank

Features are cached per folder as for ``fid``; under torchrun each rank extracts its share of the files and
rank 0 reports. Every result prints its evaluation signature (``--json`` has it as ``signature``), and ``--db``
appends one history row per metric.
"""
from __future__ import annotations

import argparse

from .. import weights as W
from .flags import add_feature_flags, add_history_flags, add_run_flags, feature_spec, report, run_options

_ROLES = "A is the REAL (reference) set, B the GENERATED set"
_PRDC_K_HELP = ("neighbourhood size k: one integer for all four metrics (as prdc.compute_prdc), or two as "
                "K_PR,K_DC (precision and recall, density and coverage). Default 3,5: the papers' choices "
                "(Kynkäänniemi et al. 2019 for precision/recall, Naeem et al. 2020 for density/coverage)")
_MEANING = {
    "precision": "fidelity: share of GENERATED samples inside the REAL set's k-NN balls",
    "recall": "diversity: share of REAL samples inside the GENERATED set's k-NN balls",
    "density": "fidelity, counted over REAL balls (≈ 1 when both sets match; outliers in REAL cannot inflate it)",
    "coverage": "diversity: share of REAL balls holding a GENERATED sample (GENERATED outliers cannot inflate it)",
}


def _k(text: str):
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: use one integer (e.g. 5) or two as K_PR,K_DC (e.g. 3,5)")
    if len(values) not in (1, 2) or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: use one positive integer (e.g. 5) or two as K_PR,K_DC (3,5)")
    return values[0] if len(values) == 1 else tuple(values)


def register(sub) -> None:
    p = sub.add_parser("prdc", help="precision, recall, density and coverage of GENERATED images against REAL ones",
                       description="Fidelity (precision, density) and diversity (recall, coverage) apart, from "
                                   f"k-nearest-neighbour balls in an encoder's feature space. {_ROLES}: swapping "
                                   "them swaps precision with recall.")
    p.add_argument("real", help="A: folder of REAL (reference) images; its k-NN balls define the real manifold")
    p.add_argument("generated", help="B: folder of GENERATED images (the model under test)")
    p.add_argument("--k", type=_k, default=None, metavar="K or K_PR,K_DC", help=_PRDC_K_HELP)
    add_feature_flags(p)
    _finish(p, run_prdc)

    p = sub.add_parser("is", help="Inception Score of a folder of generated images (mean ± std over splits)",
                       description="Inception Score (Salimans et al. 2016) from the FID Inception's 1008 class "
                                   "logits, over consecutive splits of the folder's images in sorted order "
                                   "(torch-fidelity shuffles them first by default). IS needs no real images, "
                                   "so it cannot tell whether the classes look like the real ones.")
    p.add_argument("folder", help="folder of GENERATED images")
    p.add_argument("--splits", type=int, default=10, help="number of splits (default 10, the reference's)")
    p.add_argument("--layer", default="logits_unbiased", choices=["logits_unbiased", "logits"],
                   help="logits_unbiased (default): pool3 times the classifier's weights without its bias, as the "
                        "original IS code and torch-fidelity; logits: with the bias")
    p.add_argument("--resize", default=None, choices=["clean", "pytorch-fid"],
                   help="clean = PIL bicubic, antialiased (clean-fid, default); pytorch-fid = bilinear")
    _finish(p, run_is)

    p = sub.add_parser("cmmd", help="CMMD between two folders (CLIP ViT-L/14-336 embeddings, RBF kernel)",
                       description="CMMD (Jayasumana et al. 2024): 1000 × MMD² with a Gaussian RBF kernel (σ = 10) on "
                                   "L2-normalised embeddings (the metric normalises them), CLIP ViT-L/14 at 336 px by "
                                   f"default as the paper. Symmetric; {_ROLES} in the output.")
    p.add_argument("real", help="A: folder of REAL (reference) images")
    p.add_argument("generated", help="B: folder of GENERATED images")
    p.add_argument("--unbiased", action="store_true",
                   help="the unbiased estimator (kernel diagonals left out) instead of the authors' full-matrix mean")
    add_feature_flags(p, default_extractor="clip-vit-l-14-336")
    _finish(p, run_cmmd)


def _finish(p, func) -> None:
    add_run_flags(p)
    add_history_flags(p)
    p.set_defaults(func=func)


def _check_db(args) -> None:
    if args.db:
        from ..pipeline.history import check_history

        check_history(args.db)


def _report(results, payload: dict, args, lines: list[str]) -> None:
    """Print (rank 0), with the random-weights banner when it applies; append every result to ``--db``."""
    banner = W.RANDOM_LABEL if any(W.RANDOM_LABEL in r.weights for r in results) else "pretrained"
    if report(payload, banner, args, lines) and args.db:
        for result in results:
            result.record(args.db, tag=args.tag, checkpoint=args.checkpoint)


def _spec_line(result) -> str:
    return f"  {result.provenance()}"


def run_prdc(args) -> int:
    from ..pipeline.generative import prdc_folders, prdc_k

    k_pr, k_dc = prdc_k(args.k)
    spec = feature_spec(args)
    _check_db(args)
    results = prdc_folders(args.real, args.generated, (k_pr, k_dc), extractor=spec.extractor, layer=spec.layer,
                           resize=spec.resize or None, options=run_options(args))
    first = results["precision"]
    lines = [f"{name:<9} {r.value:<8.4g} (k = {r.details['k']})  {_MEANING[name]}" for name, r in results.items()]
    lines += [f"  A, REAL (reference): {args.real}  (N = {first.n})",
              f"  B, GENERATED:        {args.generated}  (M = {first.n_reference})",
              _spec_line(first), "  signatures:", *(f"    {r.signature}" for r in results.values())]
    payload = {"real": str(args.real), "generated": str(args.generated), "n_real": first.n,
               "n_generated": first.n_reference, "k_precision_recall": k_pr, "k_density_coverage": k_dc,
               **{name: r.value for name, r in results.items()}, "extractor": first.extractor,
               "resize": first.resize, "weights": first.weights, "results": [r.to_dict() for r in results.values()]}
    _report(list(results.values()), payload, args, lines)
    return 0


def run_is(args) -> int:
    from ..pipeline.generative import inception_score_folder

    _check_db(args)
    result = inception_score_folder(args.folder, args.splits, layer=args.layer, resize=args.resize,
                                    options=run_options(args))
    lines = [f"IS {result.value:.6g} ± {result.std:.3g}  (mean ± std over {args.splits} splits)",
             f"  GENERATED: {args.folder}  (N = {result.n})", _spec_line(result), f"  signature: {result.signature}"]
    _report([result], {**result.to_dict(), "folder": str(args.folder)}, args, lines)
    return 0


def run_cmmd(args) -> int:
    from ..pipeline.generative import cmmd_folders

    spec = feature_spec(args)
    _check_db(args)
    result = cmmd_folders(args.real, args.generated, extractor=spec.extractor, layer=spec.layer,
                          resize=spec.resize or None, unbiased=args.unbiased, options=run_options(args))
    estimator = "unbiased" if args.unbiased else "full-matrix (the authors')"
    lines = [f"CMMD {result.value:.6g}  (1000 × MMD², RBF σ = 10, {estimator} estimator)",
             f"  A, REAL (reference): {args.real}  (N = {result.n})",
             f"  B, GENERATED:        {args.generated}  (M = {result.n_reference})",
             _spec_line(result), f"  signature: {result.signature}"]
    payload = {**result.to_dict(), "real": str(args.real), "generated": str(args.generated)}
    _report([result], payload, args, lines)
    return 0
