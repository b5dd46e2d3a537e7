"""k-nearest-neighbour balls of two feature sets, computed in blocks: the machinery behind precision, recall,
density and coverage (:mod:`percept_lib.metrics.prdc`), with nothing of size N×M ever held.

Those metrics ask two questions about squared Euclidean distances d²: what is each sample's k-th smallest
distance to the other samples of its own set (the radius of its ball), and which samples of the other set lie
inside which balls. Both are comparisons, so most pairs are settled by a cheap distance with a known error
bound, and only the pairs too close to call get an exact one:

- **Screen.** A block of distances is one float32 matrix product of augmented vectors,
  [x, ‖x‖², 1]·[−2y, 1, ‖y‖²] = ‖x − y‖², on features centred first (the error scales with the norms). Its
  error is below ``coefficient·(‖x‖² + ‖y‖²)`` with ``coefficient = 4·γ_{d+4}``, γ_m = m·u / (1 − m·u) and u
  the unit roundoff: the standard worst-case bound of a dot product summed in any order is γ_{d+2}·Σ|a_k b_k|
  ≤ γ_{d+2}·2(‖x‖² + ‖y‖²); the rounding of the inputs to float32 adds two more u, and the factor 2 covers
  the float64 arithmetic around it. float32 because the products are most of the cost and run three times as
  fast as in float64 on this project's CPU (AVX-512: 290 against 100 GFLOPS); on a CUDA device that rounds
  float32 products to TF32 the screen runs in float64.
- **Decide.** Each sample keeps its k + 1 + ``EXTRA_CANDIDATES`` nearest screened neighbours; its radius is the
  (k+1)-th smallest of their float64 distances (from the difference vector, :func:`exact_sq_distances`), of
  which only those screened within twice the bound of the (k+1)-th screened one need computing (usually that
  one alone). If the screen cannot prove that no other sample comes closer, the whole row is recomputed in
  float64. Between the sets, a pair whose screened distance lies within the bound of a radius is decided in
  float64 the same way.

So every answer is the float64 one, whatever the block size: a sample counts as inside a ball when its float64
distance is strictly below the radius (prdc's ``<``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import torch

EXTRA_CANDIDATES = 8  # screened neighbours kept beyond the k + 1 needed, so that the proof rarely fails
# float64 elements per batch of conversions and exact distances: 2 MB, a few such arrays at a time. Larger
# batches raise the peak memory (measured: 8 MB batches, +60 MB at 10 000 × 768), smaller ones start the thread
# pool more often (milliseconds each on a loaded machine).
BATCH = 1 << 18


def blocks(n: int, size: int, start: int = 0) -> Iterator[slice]:
    for s in range(start, n, size):
        yield slice(s, min(s + size, n))


def exact_sq_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """‖a_i − b_i‖² for paired rows of two float64 matrices: the one float64 distance every decision uses
    (radii and ball tests alike, so that a tie between them is a tie)."""
    diff = a - b
    return diff.mul_(diff).sum(1)


def screen_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32:
        return torch.float64  # TF32 keeps 10 mantissa bits: no useful error bound
    return torch.float32


def bound_coefficient(d: int, dtype: torch.dtype) -> float:
    """c with |screened d² − d²| ≤ c·(‖x‖² + ‖y‖²) for centred d-dimensional features (see the module docstring)."""
    mu = (d + 4) * torch.finfo(dtype).eps / 2
    return 4 * mu / (1 - mu)


@dataclass
class ScreenedSet:
    """One feature set in both forms: its rows as given (float64 on demand) for exact distances, and augmented
    centred float32 rows for the screen."""

    features: torch.Tensor  # N×d, the caller's floating dtype: rows are cast to float64 when needed
    augmented: torch.Tensor  # N×(d+2) screen dtype: [x − centre, ‖x − centre‖², 1]
    sq_norms: torch.Tensor  # N float64: ‖x − centre‖²

    @classmethod
    def build(cls, features: torch.Tensor, centre: torch.Tensor, dtype: torch.dtype,
              as_float64: Callable[[slice], torch.Tensor]) -> "ScreenedSet":
        """``as_float64(rows)``: those rows of ``features`` as float64, checked (it raises on bad values)."""
        n, d = features.shape
        augmented = torch.empty((n, d + 2), dtype=dtype, device=features.device)
        sq_norms = torch.empty(n, dtype=torch.float64, device=features.device)
        for rows in blocks(n, max(1, BATCH // d)):
            centred = as_float64(rows) - centre
            sq_norms[rows] = (centred * centred).sum(1)
            augmented[rows, :d] = centred
        augmented[:, d] = sq_norms
        augmented[:, d + 1] = 1
        return cls(features, augmented, sq_norms)

    def __len__(self) -> int:
        return self.features.shape[0]

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        return self.features.index_select(0, index).double()

    def right(self, cols: slice) -> torch.Tensor:
        """The right-hand factor [−2y, 1, ‖y‖²] of the rows ``cols``, built per block (×−2 is exact)."""
        d = self.features.shape[1]
        part = self.augmented[cols]
        out = torch.empty_like(part)
        torch.mul(part[:, :d], -2, out=out[:, :d])
        out[:, d] = 1
        out[:, d + 1] = part[:, d]
        return out


class _Scratch:
    """Block-sized buffers reused across blocks: a fresh 16 MB allocation per block costs page faults."""

    def __init__(self, block: int, device: torch.device, dtype: torch.dtype, buffers: int):
        self.floats = [torch.empty(block * block, dtype=dtype, device=device) for _ in range(buffers)]

    def float(self, which: int, rows: int, cols: int) -> torch.Tensor:
        return self.floats[which][: rows * cols].view(rows, cols)


def _screened_block(a: ScreenedSet, rows: slice, right: torch.Tensor, scratch: _Scratch) -> torch.Tensor:
    """Screened squared distances of ``a``'s rows to the columns whose right-hand factor is ``right``."""
    out = scratch.float(0, rows.stop - rows.start, right.shape[0])
    return torch.mm(a.augmented[rows], right.T, out=out)


def _keep_smallest(values, indices, rows: slice, block: torch.Tensor, offset: int) -> None:
    """Merge the smallest entries of each row of ``block`` (columns offset by ``offset``) into the kept ones."""
    kept = values.shape[1]
    v, i = torch.topk(block, min(kept, block.shape[1]), dim=1, largest=False, sorted=False)
    all_v = torch.cat([values[rows], v], 1)
    all_i = torch.cat([indices[rows], i + offset], 1)
    v, pos = torch.topk(all_v, kept, dim=1, largest=False, sorted=False)
    values[rows] = v
    indices[rows] = all_i.gather(1, pos)


def _row_sq_distances(s: ScreenedSet, i: int, block: int) -> torch.Tensor:
    """Float64 squared distances from row i to every row of its set, a block at a time."""
    d = s.features.shape[1]
    row = s.features[i].double()
    return torch.cat([
        exact_sq_distances(row.expand(cols.stop - cols.start, d), s.features[cols].double())
        for cols in blocks(len(s), block)
    ])


def kth_neighbour_sq_radii(s: ScreenedSet, ks: tuple[int, ...], block: int) -> torch.Tensor:
    """Squared distance from each sample to its k-th nearest other sample in its own set (float64), for each k
    of ``ks`` from one search: a (len(ks), N) tensor.

    As prdc's radius: the (k+1)-th smallest distance of the row, the sample itself (distance 0) included, so a
    duplicate of the sample counts as a neighbour. Within-set distances are symmetric: each block above the
    diagonal is computed once and serves its rows and, transposed, its columns.
    """
    n, d = s.features.shape
    device = s.features.device
    kept = min(max(ks) + 1 + EXTRA_CANDIDATES, n)
    values = torch.full((n, kept), float("inf"), dtype=s.augmented.dtype, device=device)
    indices = torch.zeros((n, kept), dtype=torch.long, device=device)
    scratch = _Scratch(min(block, n), device, s.augmented.dtype, buffers=2)
    for cols in blocks(n, block):
        right = s.right(cols)  # built once per column block
        for rows in blocks(cols.stop, block):
            d2 = _screened_block(s, rows, right, scratch)
            _keep_smallest(values, indices, rows, d2, cols.start)
            if cols.start != rows.start:
                # topk along the other dimension reads with a stride; a transposed copy is faster
                transposed = scratch.float(1, d2.shape[1], d2.shape[0]).copy_(d2.T)
                _keep_smallest(values, indices, cols, transposed, rows.start)
    return torch.stack([_proven_radii(s, values, indices, k, block) for k in ks])


def _proven_radii(s: ScreenedSet, values: torch.Tensor, indices: torch.Tensor, k: int, block: int) -> torch.Tensor:
    """The exact (k+1)-th smallest distance of each row, from its smallest screened candidates."""
    n, d = s.features.shape
    kept = values.shape[1]
    # The (k+1)-th smallest true distance R lies within ``band`` of the (k+1)-th smallest screened one, v.
    # A candidate screened more than 2·band below v is certainly below R, one more than 2·band above v certainly
    # above it: they enter the selection as −inf and +inf, and only the few in between (usually the (k+1)-th
    # alone) get a float64 distance.
    band = bound_coefficient(d, s.augmented.dtype) * (s.sq_norms + s.sq_norms.max())
    screened = values.double()
    pivot = screened.kthvalue(k + 1, dim=1, keepdim=True).values
    below = screened < pivot - 2 * band[:, None]
    above = screened > pivot + 2 * band[:, None]
    exact = torch.full_like(screened, float("inf")).masked_fill_(below, -float("inf"))
    i, j = torch.nonzero(~(below | above), as_tuple=True)
    pairs = indices.flatten().index_select(0, i * kept + j)
    step = max(1, BATCH // d)
    distances = torch.cat([
        exact_sq_distances(s.rows(i[p:p + step]), s.rows(pairs[p:p + step]))
        for p in range(0, len(i), step)
    ])
    exact.view(-1).index_copy_(0, i * kept + j, distances)
    radii = exact.kthvalue(k + 1, dim=1).values
    if kept < n:
        # Every sample left out was screened at or beyond the largest kept value, so its true distance is at
        # least that value minus the band: when that is not below the radius, nothing was missed.
        unproven = torch.nonzero(radii > screened.amax(1) - band).flatten()
        for row in unproven.tolist():
            radii[row] = _row_sq_distances(s, row, block).kthvalue(k + 1).values
    return radii


def _float_below(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The largest ``dtype`` value ≤ x (float64 x): a threshold the screen can compare with safely."""
    y = x.to(dtype)
    return torch.where(y.double() > x, torch.nextafter(y, torch.full_like(y, -float("inf"))), y)


def _float_above(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    y = x.to(dtype)
    return torch.where(y.double() < x, torch.nextafter(y, torch.full_like(y, float("inf"))), y)


def _exact_inside(a: ScreenedSet, ia: torch.Tensor, b: ScreenedSet, ib: torch.Tensor, sq_radii: torch.Tensor):
    """Float64 test ‖a_ia − b_ib‖² < sq_radii for pairs too close to call, in batches."""
    step = max(1, BATCH // a.features.shape[1])
    if len(ia) == 0:
        return torch.zeros(0, dtype=torch.bool, device=ia.device)
    return torch.cat([
        exact_sq_distances(a.rows(ia[p:p + step]), b.rows(ib[p:p + step])) < sq_radii[p:p + step]
        for p in range(0, len(ia), step)
    ])


def _pairs_near(d2: torch.Tensor, low: torch.Tensor, high: torch.Tensor, rows: slice, cols: slice, per_row: bool):
    """The pairs of this block screened below the upper threshold of the radius (of row i if ``per_row``, else
    of column j), as indices into the full sets: (i, j) certainly inside, and (i, j) too close to call. One
    comparison and one ``nonzero`` find them all: a sample lies in a few balls, so they are few."""
    c = d2.shape[1]
    limit = high[rows, None] if per_row else high[None, cols]
    i, j = torch.nonzero(d2 <= limit, as_tuple=True)
    screened = d2.flatten().index_select(0, i * c + j)
    i, j = i + rows.start, j + cols.start
    certain = screened < low.index_select(0, i if per_row else j)
    unsure = ~certain
    return (i.masked_select(certain), j.masked_select(certain)), (i.masked_select(unsure), j.masked_select(unsure))


class _Tally:
    """The memberships found so far; pairs too close to call wait here and are decided in float64 together,
    once enough have gathered (a float64 batch per block would cost more in thread-pool start-ups than in
    arithmetic, and an unbounded list could grow to N×M on degenerate data)."""

    def __init__(self, real: ScreenedSet, fake: ScreenedSet, real_sq_radii, fake_sq_radii):
        self.real, self.fake, self.radii = real, fake, (real_sq_radii, fake_sq_radii)
        device = real.features.device
        self.pairs_in_real_balls = 0
        self.fake_in_real_ball = torch.zeros(len(fake), dtype=torch.bool, device=device)
        self.real_ball_holds_fake = torch.zeros(len(real), dtype=torch.bool, device=device)
        self.real_in_fake_ball = torch.zeros(len(real), dtype=torch.bool, device=device)
        self.unsure: tuple[list, list] = ([], [])  # per ball kind: (real index, generated index) pairs
        self.waiting = 0

    def add(self, kind: int, i: torch.Tensor, j: torch.Tensor) -> None:
        """Pairs certainly inside: ``kind`` 0 for real balls, 1 for generated balls."""
        if kind == 0:
            self.pairs_in_real_balls += len(i)
            self.fake_in_real_ball.index_fill_(0, j, True)
            self.real_ball_holds_fake.index_fill_(0, i, True)
        else:
            self.real_in_fake_ball.index_fill_(0, i, True)

    def add_unsure(self, kind: int, i: torch.Tensor, j: torch.Tensor) -> None:
        self.unsure[kind].append((i, j))
        self.waiting += len(i)
        if self.waiting * self.real.features.shape[1] > 4 * BATCH:
            self.decide()

    def decide(self) -> "_Tally":
        for kind in (0, 1):
            if self.unsure[kind]:
                i, j = (torch.cat([pair[side] for pair in self.unsure[kind]]) for side in (0, 1))
                hit = _exact_inside(self.real, i, self.fake, j, self.radii[kind].index_select(0, (i, j)[kind]))
                self.add(kind, i.masked_select(hit), j.masked_select(hit))
        self.unsure, self.waiting = ([], []), 0
        return self


def ball_memberships(real: ScreenedSet, fake: ScreenedSet, radii: list[tuple[torch.Tensor, torch.Tensor]],
                     block: int) -> list[_Tally]:
    """Every real sample against every generated one, a block at a time; each block's screened distances
    serve every test: against the real balls (a radius per row) and the generated balls (one per column), for
    each (real radii, generated radii) pair of ``radii`` (one per k), each with its own tally."""
    n, d = real.features.shape
    m = len(fake)
    dtype = real.augmented.dtype
    coefficient = bound_coefficient(d, dtype)
    real_band = coefficient * (real.sq_norms + fake.sq_norms.max())
    fake_band = coefficient * (fake.sq_norms + real.sq_norms.max())
    tallies, thresholds = [], []
    for real_sq_radii, fake_sq_radii in radii:
        tallies.append(_Tally(real, fake, real_sq_radii, fake_sq_radii))
        thresholds.append((
            (_float_below(real_sq_radii - real_band, dtype), _float_above(real_sq_radii + real_band, dtype)),
            (_float_below(fake_sq_radii - fake_band, dtype), _float_above(fake_sq_radii + fake_band, dtype)),
        ))
    scratch = _Scratch(min(block, max(n, m)), real.features.device, dtype, buffers=1)
    for cols in blocks(m, block):
        right = fake.right(cols)  # built once per column block
        for rows in blocks(n, block):
            d2 = _screened_block(real, rows, right, scratch)
            for tally, kinds in zip(tallies, thresholds):
                for kind, (low, high) in enumerate(kinds):
                    certain, unsure = _pairs_near(d2, low, high, rows, cols, per_row=kind == 0)
                    tally.add(kind, *certain)
                    tally.add_unsure(kind, *unsure)
    return [tally.decide() for tally in tallies]
