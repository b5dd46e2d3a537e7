"""``compare RESULT…``: rank results only when their evaluation signatures say they measure the same thing.

    python -m percept_lib compare a.json b.json                  # --json outputs of fid, kid, prdc, is, cmmd, …
    python -m percept_lib compare --db results.sqlite 3 7 12     # rows of a results history, by id
    python -m percept_lib compare a.json 7 --db results.sqlite   # both

Results are ranked (best first, by the metric's polarity) when their signatures agree in every field but the
seed (:mod:`percept_lib.pipeline.signature`); otherwise the command names each field that differs, each
result's value, and why that makes the numbers incomparable, and exits with status 1. A file holding several
results (``prdc``: precision, recall, density, coverage) is compared metric by metric; a metric that only one
of the inputs holds is listed as such.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..pipeline.signature import Signature, differences
from .flags import json_text


@dataclass
class Entry:
    """One result to compare: where it came from (``label``), what it is about (``model``), its numbers."""

    label: str
    model: str
    metric: str
    value: float
    std: float | None
    signature: Signature


def register(sub) -> None:
    p = sub.add_parser("compare", help="rank results whose evaluation signatures agree; else say which fields differ",
                       description="Rank two or more results (--json files, or history row ids with --db) only when "
                                   "their signatures agree in every field but the seed; otherwise name the fields "
                                   "that differ and why the numbers are then incomparable (exit status 1).")
    p.add_argument("results", nargs="+", metavar="RESULT",
                   help="a file written with --json, or a row id of the --db history")
    p.add_argument("--db", help="the SQLite results history whose row ids are given")
    p.add_argument("--metric", help="compare only this metric (e.g. recall, from prdc files)")
    p.add_argument("--json", action="store_true", help="print the rankings and differences as strict JSON")
    p.set_defaults(func=run)


def _signature(text, where: str) -> Signature:
    if not text:
        raise ValueError(f"{where} has no evaluation signature (it was written before percept_lib recorded one): it "
                         "cannot be checked against the others; recompute it with this version")
    return Signature.parse(text)


def _from_file(path: Path) -> list[Entry]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot be read ({err}); pass a file written with --json") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not JSON ({err.msg}, line {err.lineno}); pass a file written with --json") from None
    items = data.get("results") if isinstance(data, dict) and "results" in data else [data]
    if not isinstance(items, list) or not all(isinstance(i, dict) and "metric" in i for i in items):
        raise ValueError(f"{path}: not a result (no 'metric'); pass the output of a command run with --json")
    return [Entry(str(path), " vs ".join(item.get("sources") or []), item["metric"], float(item["value"]),
                  None if item.get("std") is None else float(item["std"]),
                  _signature(item.get("signature"), f"{path} ({item['metric']})")) for item in items]


def _from_rows(ids: list[str], db) -> list[Entry]:
    if not ids:
        return []
    if db is None:
        raise ValueError(f"{ids[0]}: no such file; a row id needs --db FILE (the history it belongs to)")
    from ..pipeline.history import read_history

    rows = {str(row["id"]): row for row in read_history(db)}
    missing = [i for i in ids if i not in rows]
    if missing:
        raise ValueError(f"{db}: no row {', '.join(missing)} (ids 1–{max(map(int, rows), default=0)}); "
                         f"list them with: python -m percept_lib history {db}")
    entries = []
    for i in ids:
        row = rows[i]
        model = row.get("checkpoint") or row.get("folders") or ""
        entries.append(Entry(f"row {i}", model, row["metric"], float(row["value"]), row.get("std"),
                             _signature(row.get("signature"), f"row {i} of {db}")))
    return entries


def load(results: list[str], db=None) -> list[list[Entry]]:
    """The entries of each RESULT argument (a file's may be several), in the order given."""
    loaded, ids = [], []
    for item in results:
        path = Path(item)
        if path.is_file():
            loaded.append(_from_file(path))
        elif item.isdigit():
            ids.append(item)
            loaded.append(item)
        else:
            raise ValueError(f"{item}: neither a file written with --json nor a row id of --db")
    rows = iter(_from_rows(ids, db))
    return [[next(rows)] if isinstance(x, str) else x for x in loaded]


def _groups(loaded: list[list[Entry]], metric: str | None) -> dict[str, list[Entry]]:
    entries = [e for group in loaded for e in group if metric is None or e.metric == metric]
    if metric is not None and not entries:
        raise ValueError(f"--metric {metric}: no result has it")
    if all(len(group) == 1 for group in loaded):
        return {"": entries}  # one result each: all compared together, metric included
    groups: dict[str, list[Entry]] = {}
    for e in entries:
        groups.setdefault(e.metric, []).append(e)
    return groups


def _compare(entries: list[Entry]) -> dict:
    from ..metrics.accumulators import higher_is_better

    found = differences([e.signature for e in entries])
    blocking = [d for d in found if d.blocking]
    out = {"metric": entries[0].metric, "results": len(entries), "comparable": not blocking and len(entries) > 1,
           "signature": str(entries[0].signature),
           "differences": [{"field": d.field, "values": list(d.values), "why": d.why, "blocking": d.blocking,
                            "text": d.describe([e.label for e in entries])} for d in found]}
    if out["comparable"]:
        higher = higher_is_better(entries[0].metric)
        ranked = sorted(entries, key=lambda e: -e.value if higher else e.value)
        out["higher_is_better"] = higher
        out["ranking"] = [{"rank": i + 1, "value": e.value, "std": e.std, "result": e.label, "model": e.model}
                          for i, e in enumerate(ranked)]
    return out


def _text(group: dict) -> list[str]:
    if group["results"] < 2:
        return [f"{group['metric']}: one result only, nothing to compare it with"]
    if not group["comparable"]:
        blocking = [d for d in group["differences"] if d["blocking"]]
        return [f"{group['metric']}: NOT comparable — {len(blocking)} field(s) of the signatures differ:",
                *(f"  {d['text']}" for d in blocking)]
    lines = [group["signature"], f"  signatures agree: ranked, {'higher' if group['higher_is_better'] else 'lower'} "
                                 "is better"]
    lines += [f"  note: {d['text']}" for d in group["differences"]]
    for row in group["ranking"]:
        std = f" ± {row['std']:.3g}" if row["std"] is not None else ""
        model = f"  ({row['model']})" if row["model"] else ""
        lines.append(f"  {row['rank']:>2}. {row['value']:<12.6g}{std}  {row['result']}{model}")
    return lines


def run(args) -> int:
    loaded = load(args.results, args.db)
    if sum(len(group) for group in loaded) < 2:
        raise ValueError("compare needs two or more results")
    groups = [_compare(entries) for entries in _groups(loaded, args.metric).values()]
    paired = [g for g in groups if g["results"] > 1]  # a metric only one file has is listed, not failed
    if not paired:
        raise ValueError(f"nothing to compare: each metric ({', '.join(g['metric'] for g in groups)}) has one "
                         "result only; pass results of the same metric")
    comparable = all(g["comparable"] for g in paired)
    if args.json:
        print(json_text({"comparable": comparable, "groups": groups}))
    else:
        print("\n\n".join("\n".join(_text(g)) for g in groups))
    return 0 if comparable else 1
