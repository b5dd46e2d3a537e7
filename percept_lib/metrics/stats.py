"""Streaming mean and covariance of feature vectors: the state behind FID for any number of images.

FID needs only μ and Σ of each feature set, so the features never have to be held in memory: a
:class:`FeatureStats` takes batches as they come out of the extractor and keeps O(d²) numbers whatever N is
(d = 2048 for Inception pool3: 32 MiB in float64).

Numerics. The textbook accumulator keeps Σx and Σxxᵀ and finishes with (Σxxᵀ − N μμᵀ)/(N−1); with features
whose mean is large against their spread this subtracts two huge, nearly equal numbers and loses up to
log10(μ²/σ²) digits (all of them in float32). Instead we keep the count, the mean and M2 = Σ (x−μ)(x−μ)ᵀ,
the sum of *centred* outer products, and combine two groups with Chan, Golub & LeVeque's parallel update
(1979):

    n = n_a + n_b,   δ = μ_b − μ_a,   μ = μ_a + δ n_b/n,   M2 = M2_a + M2_b + δδᵀ n_a n_b / n.

A batch is one group (its own mean and centred M2, computed exactly like np.cov would), so ``update``,
``merge`` of shards and the cross-process ``all_reduce`` are all the same formula: merging shards gives one
pass's result up to float64 rounding, in any order. Everything is float64.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .features import Array, numpy_to_tensor, validate_features
from .stats_file import read_stats_npz, write_stats_npz


class FeatureStats:
    """Running count, mean and covariance of N×d feature vectors (numpy or torch batches), float64.

    ``update(batch)`` adds a batch, ``compute()`` returns (μ, Σ) with N−1, ``merge(other)`` adds another
    accumulator's data, ``all_reduce()`` combines the accumulators of a ``torch.distributed`` process group,
    ``save(path)`` writes a ``.npz`` with keys ``mu`` and ``sigma`` (pytorch-fid and clean-fid read it) plus
    ``n`` and the :attr:`provenance` strings. With ``keep_features=True`` the features are kept as well (KID
    needs them) — then memory grows with N.

    The state lives on the device of the first batch (a CUDA batch keeps it on the GPU); ``compute()`` returns
    torch tensors if the batches were torch tensors, numpy arrays otherwise.
    """

    def __init__(self, dim: int | None = None, keep_features: bool = False):
        if dim is not None and (not isinstance(dim, (int, np.integer)) or dim < 1):
            raise ValueError(f"dim must be a positive integer or None (taken from the first batch), got {dim!r}")
        self.dim = None if dim is None else int(dim)
        self.keep_features = keep_features
        # How the features were made (keys of stats_file.PROVENANCE_KEYS), saved with the statistics: the
        # pipeline fills it (percept_lib.pipeline.provenance), load() reads a file's own, reset() keeps it.
        self.provenance: dict[str, str] = {}
        self.reset()

    # ----------------------------------------------------------------------------------------------- state
    def reset(self) -> "FeatureStats":
        """Forget all data (the dimension given at construction is kept)."""
        self.count = 0
        self.mean: torch.Tensor | None = None   # (d,)
        self.m2: torch.Tensor | None = None     # (d, d): Σ (x − μ)(x − μ)ᵀ
        self._chunks: list[torch.Tensor] = []
        self._torch_output = False
        self._reduced = False
        self._sigma_only: torch.Tensor | None = None  # loaded from a file without a sample count
        return self

    @property
    def device(self) -> torch.device:
        return self.mean.device if self.mean is not None else torch.device("cpu")

    def _ensure_state(self, d: int, device: torch.device) -> None:
        if self.dim is None:
            self.dim = d
        elif d != self.dim:
            raise ValueError(
                f"feature dimension {d} does not match this accumulator's d={self.dim}; every batch must come "
                f"from the same extractor and layer"
            )
        if self.mean is None:
            self.mean = torch.zeros(d, dtype=torch.float64, device=device)
            self.m2 = torch.zeros(d, d, dtype=torch.float64, device=device)

    def _combine(self, n_b: int, mean_b: torch.Tensor, m2_b: torch.Tensor) -> None:
        """Chan et al.'s pairwise update: add a group (n_b, μ_b, M2_b) to this one."""
        if n_b == 0:
            return
        n_a = self.count
        n = n_a + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        # in place: at d = 2048 each temporary would be another 32 MiB per batch
        self.m2.add_(m2_b).addr_(delta, delta, alpha=n_a * n_b / n)
        self.count = n

    def _check_mutable(self, what: str) -> None:
        if self._sigma_only is not None:
            raise ValueError(
                f"cannot {what}: these statistics were loaded from a file without a sample count 'n' (e.g. written "
                f"by pytorch-fid), so they cannot be combined with more data"
            )

    # ---------------------------------------------------------------------------------------------- update
    def update(self, features: Array) -> "FeatureStats":
        """Add a batch of feature vectors (N×d, numpy or torch; any N ≥ 0). Returns self."""
        self._check_mutable("update")
        is_torch = isinstance(features, torch.Tensor)
        x = validate_features(features, "features", min_samples=0)
        x = x if is_torch else numpy_to_tensor(x)
        if self.count == 0 and self.mean is None:
            self._torch_output = is_torch
        self._ensure_state(x.shape[1], x.device)
        x = x.to(self.device)
        if x.shape[0] == 0:
            return self
        batch_mean = x.mean(dim=0)
        centred = x - batch_mean
        self._combine(x.shape[0], batch_mean, centred.T @ centred)
        if self.keep_features:
            self._chunks.append(x.clone())  # a copy: the caller may reuse its batch buffer
        return self

    def merge(self, other: "FeatureStats") -> "FeatureStats":
        """Add the data of another accumulator (e.g. another shard) to this one, exactly. Returns self."""
        if not isinstance(other, FeatureStats):
            raise ValueError(f"can only merge another FeatureStats, got {type(other).__name__}")
        self._check_mutable("merge")
        other._check_mutable("merge")
        if self.keep_features and not other.keep_features:
            raise ValueError("this accumulator keeps features but the merged one does not; use keep_features on both")
        if other.count == 0:
            return self
        if self.count == 0 and self.mean is None:
            self._torch_output = other._torch_output
        self._ensure_state(other.dim, other.device)
        self._combine(other.count, other.mean.to(self.device), other.m2.to(self.device))
        if self.keep_features:
            self._chunks.extend(c.to(self.device) for c in other._chunks)
        return self

    # --------------------------------------------------------------------------------------------- results
    def compute(self) -> tuple[Array, Array]:
        """(μ, Σ) of everything seen, Σ with N−1 like np.cov: float64 numpy arrays, or tensors if fed tensors."""
        if self._sigma_only is not None:
            mu, sigma = self.mean, self._sigma_only
        else:
            if self.count < 2:
                raise ValueError(
                    f"need at least 2 feature vectors for a covariance, have {self.count}; call update() with more data"
                )
            mu, sigma = self.mean, self.m2 / (self.count - 1)
        if self._torch_output:
            return mu.clone(), sigma.clone()
        return mu.cpu().numpy().copy(), sigma.cpu().numpy().copy()

    @property
    def features(self) -> Array:
        """All kept feature vectors (needs ``keep_features=True``), in the order they were added."""
        if not self.keep_features:
            raise ValueError("features were not kept; create the accumulator with FeatureStats(keep_features=True)")
        x = self._features_tensor()
        return x if self._torch_output else x.cpu().numpy()

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return f"FeatureStats(n={self.count}, dim={self.dim}, keep_features={self.keep_features})"

    # ------------------------------------------------------------------------------------------ persistence
    def save(self, path):
        """Write ``mu``, ``sigma`` (N−1), ``n``, the provenance strings and, if kept, ``features`` as ``.npz``.

        ``path``: a file name (``.npz`` is appended when missing, as numpy does; returns the Path) or a binary
        file opened for writing (returned as it is) — :func:`percept_lib.pipeline.outputs.write_atomic` passes
        one, so that a file appears complete or not at all. pytorch-fid (``compute_statistics_of_path``,
        ``calculate_fid_given_paths``) and clean-fid read the ``mu`` / ``sigma`` keys of such a file.
        """
        if not hasattr(path, "write"):
            path = Path(path)
            if path.suffix != ".npz":
                path = path.with_name(path.name + ".npz")
        mu, sigma = self.compute()
        write_stats_npz(path, _numpy(mu), _numpy(sigma), n=None if self._sigma_only is not None else self.count,
                        features=_numpy(self.features) if self.keep_features else None, provenance=self.provenance)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FeatureStats":
        """Read a ``.npz`` written by :meth:`save`, pytorch-fid or clean-fid (keys ``mu``, ``sigma``, optional ``n``).

        Without ``n`` the statistics can be computed and compared but not updated or merged. The file's
        provenance strings (none in pytorch-fid's and clean-fid's files) are in :attr:`provenance`.
        """
        data = read_stats_npz(path)
        mu, sigma = torch.from_numpy(data["mu"]), torch.from_numpy(data["sigma"])
        n, features = data["n"], data["features"]
        stats = cls(dim=mu.shape[0], keep_features=features is not None)
        stats.provenance = dict(data["provenance"] or {})
        stats.mean = mu
        if n is None:
            stats._sigma_only = sigma
            stats.m2 = torch.zeros_like(sigma)
        else:
            stats.count = n
            stats.m2 = sigma * (n - 1)
        if features is not None:
            stats._chunks = [torch.from_numpy(features)]
        return stats

    def to(self, device) -> "FeatureStats":
        """Move the state (float64 whatever the caller's dtype) to ``device``, in place. Returns self."""
        move = (lambda t: None if t is None else t.to(device))
        self.mean, self.m2, self._sigma_only = move(self.mean), move(self.m2), move(self._sigma_only)
        self._chunks = [c.to(device) for c in self._chunks]
        return self

    # -------------------------------------------------------------------------------------------- parallel
    def all_reduce(self, group=None) -> "FeatureStats":
        """Combine this accumulator with those of every process in a ``torch.distributed`` group, in place.

        Afterwards every rank holds the statistics of all ranks' data (as one pass over the concatenation,
        up to rounding). Works with gloo (CPU) and nccl (the state travels through the current CUDA device);
        a no-op when torch.distributed is not initialised. Call it once, after the last ``update``. Ranks that
        saw no data take part too (they must call it as well: it is a collective). Kept features are gathered
        in rank order. Implementation: sum counts and Σx to get the global mean, then sum each rank's M2 shifted
        to that mean, M2 + n (μ_r − μ)(μ_r − μ)ᵀ — a sum of centred pieces, so no precision is lost.
        """
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return self
        self._check_mutable("all_reduce")
        if self._reduced:
            raise RuntimeError("all_reduce was already called on these statistics; a second call would count every sample again")
        comm = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend(group) == "nccl" else torch.device("cpu")
        home = self.device

        # 1. Agree on d (a rank without data may not know it): max of d and of −d must coincide.
        mine = float(self.dim) if self.dim is not None else -1.0
        dims = torch.tensor([mine, -mine if self.dim is not None else -np.inf], dtype=torch.float64, device=comm)
        dist.all_reduce(dims, op=dist.ReduceOp.MAX, group=group)
        if dims[0] < 1:
            raise ValueError("all_reduce: no process has seen any features")
        d = int(dims[0])
        if -float(dims[1]) != d:
            raise ValueError(f"all_reduce: processes hold features of different dimensions (between {-float(dims[1]):.0f} and {d})")
        self._ensure_state(d, home)

        # 2. Total count and Σx → global mean.
        head = torch.cat([torch.tensor([float(self.count)], dtype=torch.float64, device=home), self.mean * self.count]).to(comm)
        dist.all_reduce(head, group=group)
        total = int(round(float(head[0])))
        if total == 0:
            raise ValueError("all_reduce: no process has seen any features")
        global_mean = head[1:] / total

        # 3. Each rank's M2 about the global mean, summed.
        delta = self.mean.to(comm) - global_mean
        m2 = self.m2.to(comm) + torch.outer(delta, delta) * self.count
        dist.all_reduce(m2, group=group)

        if self.keep_features:
            self._chunks = [_all_gather_rows(self._features_tensor(), comm, group).to(home)]
        self.count = total
        self.mean = global_mean.to(home)
        self.m2 = m2.to(home)
        self._reduced = True
        return self

    def _features_tensor(self) -> torch.Tensor:
        """The kept features as a float64 tensor on the state's device (empty if none)."""
        if not self._chunks:
            return torch.zeros(0, self.dim or 0, dtype=torch.float64, device=self.device)
        return torch.cat(self._chunks)


def _numpy(a: Array) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def _all_gather_rows(x: torch.Tensor, device: torch.device, group) -> torch.Tensor:
    """Concatenate every rank's rows (in rank order); ranks may hold different numbers of rows."""
    import torch.distributed as dist

    world = dist.get_world_size(group)
    size = torch.tensor([x.shape[0]], dtype=torch.int64, device=device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size, group=group)
    sizes = [int(s) for s in sizes]
    padded = torch.zeros(max(sizes), x.shape[1], dtype=torch.float64, device=device)
    padded[: x.shape[0]] = x.to(device)
    gathered = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(gathered, padded, group=group)
    return torch.cat([g[:s] for g, s in zip(gathered, sizes)])
