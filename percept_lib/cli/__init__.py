"""``python -m percept_lib …``: one entry point, one module per command group."""
from __future__ import annotations

import argparse
import sys

from . import compare_cmd, generative_cmd, history_cmd, metrics_cmd, pairs_cmd, weights_cmd

# Each module adds its sub-commands with ``register(subparsers)``; each sub-command sets ``func``.
COMMAND_MODULES = [weights_cmd, metrics_cmd, generative_cmd, pairs_cmd, history_cmd, compare_cmd]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m percept_lib",
        description="Perceptual losses and image-quality metrics: pretrained weights, FID, KID, CLIP-score, "
                    "precision/recall/density/coverage, IS, CMMD, pairs, history, compare.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ValueError as err:  # bad input: one clear line, no stack trace
        print(f"error: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        from ..weights import WeightsCorruptError, WeightsUnavailableError

        if isinstance(err, (WeightsUnavailableError, WeightsCorruptError)):
            print(f"error: {err}", file=sys.stderr)
            return 3
        raise
