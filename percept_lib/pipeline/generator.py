"""A generator as input: features of a model's samples, streamed batch by batch, with no image written to disk.

The contract is one image per seed::

    generator(seeds) -> images     # seeds: 1-D int64 tensor; images: len(seeds)×3×H×W, float in [0, 1] or uint8

or, for a model that maps latent vectors to images, ``generator(z)`` with ``latent_shape=(128,)``: z[i] is a
standard normal draw of that shape from a ``torch.Generator`` seeded with image i's seed (drawn on the CPU, so
the same on every device, then moved to the run's device).

Image i of a run with ``seed=s`` depends on the per-image seed ``s + i`` alone — StyleGAN's ``--seeds``
convention: ``seed=0, n=50_000`` are the images of seeds 0 … 49 999. So the n images do not depend on the
batch size or on the number of processes (under torchrun each rank generates every world_size-th image), and
the first 1 000 images of n = 5 000 are the n = 1 000 set. Two runs share the images where their seed ranges
overlap: for an independent second set start it at ``seed=n``. (Per-image seeds stay below 2³², because a
CPU ``torch.Generator`` keeps only the low 32 bits of its seed.) A generator(n, seed) that drew a batch at a
time could promise none of this. The pipeline calls the generator under ``torch.inference_mode()`` and does
not change its mode: call ``generator.eval()`` first if it has batch norm or dropout.

Quantisation. Each batch is brought to 8 bits exactly as saving it as PNG does (clip to [0, 1], × 255, round
half to even: :func:`percept_lib.images.to_pil`, which :func:`~percept_lib.images.save_images` uses), then goes
through the extractor's own preprocessing as a decoded file would. The features are therefore those of the
same images written to a folder of PNGs and read back, and every number equals the folder command's. A
generator whose values leave [0, 1] (a tanh output in [-1, 1]) is refused with the fix.

    from percept_lib.pipeline import fid_generator
    G.eval()
    result = fid_generator(lambda z: (G(z) + 1) / 2, "real_stats.npz", n=10_000, latent_shape=(128,))
    print(result.value, result.signature)        # every k steps of a training loop
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from .. import weights as W
from ..images import validate_images
from ..metrics.stats import FeatureStats
from .extraction import FeatureSpec
from .options import RunOptions
from .provenance import run_provenance
from .sharding import MIN_IMAGES, process_group

SEED_LIMIT = 2**32  # a CPU torch.Generator keeps the low 32 bits of its seed: larger ones would repeat images


def image_seeds(seed: int, indices) -> torch.Tensor:
    """The per-image seeds ``seed + i`` of images ``indices`` (a range or sequence of ints) of a run."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"seed={seed!r}: use an integer in [0, 2^32)")
    seeds = int(seed) + torch.as_tensor(list(indices), dtype=torch.int64)
    if len(seeds) and int(seeds.max()) >= SEED_LIMIT:
        raise ValueError(f"seed={seed} with image {int(seeds.max()) - seed}: per-image seeds seed + i must stay "
                         "below 2^32 (a torch.Generator keeps 32 bits of a seed); use a smaller seed")
    return seeds


def seeded_latents(seeds: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """One standard normal tensor of ``shape`` per seed, stacked: row i drawn from a generator seeded with
    ``seeds[i]`` (on the CPU: the same numbers on every device)."""
    shape = tuple(int(s) for s in shape)
    rows = [torch.randn(shape, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    return torch.stack(rows) if rows else torch.zeros((0, *shape))


def quantised(images, expected: int) -> torch.Tensor:
    """A generator's batch as uint8 N×3×H×W on its device, rounded as PNG saving rounds; a ValueError naming
    what is wrong with it otherwise."""
    name = "generator output"
    if isinstance(images, torch.Tensor) and images.dtype == torch.uint8:
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"{name}: uint8 images of shape {tuple(images.shape)}; return N×3×H×W")
        u8 = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
    else:
        x = validate_images(images, name)
        # The expression of images.to_pil: a folder of the same images saved with save_images holds these bytes.
        u8 = (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    if u8.shape[0] != expected:
        raise ValueError(f"{name}: {u8.shape[0]} images for {expected} seeds; return one image per seed "
                         "(generator(seeds) → len(seeds)×3×H×W)")
    return u8


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n={n!r}: the number of images to generate must be a positive integer")
    return int(n)


def generated_batches(generator: Callable, indices: Sequence[int], seed: int = 0, *, batch_size: int = 50,
                      device="cpu", latent_shape: Sequence[int] | None = None) -> Iterator[torch.Tensor]:
    """uint8 batches of the images ``indices`` of a run with ``seed``, in order, ``batch_size`` at a time."""
    if not callable(generator):
        raise ValueError(f"generator: got {type(generator).__name__}; pass a callable or nn.Module that maps "
                         "seeds (or latents, with latent_shape=) to images")
    device = torch.device(device)
    for start in range(0, len(indices), batch_size):
        seeds = image_seeds(seed, indices[start:start + batch_size])
        inputs = seeds if latent_shape is None else seeded_latents(seeds, latent_shape)
        with torch.inference_mode():
            images = generator(inputs.to(device))
        yield quantised(images, len(seeds))


@dataclass
class GeneratorFeatures:
    """Features of n generated images (row i: image i of the run), how they were made, and the seed."""

    features: np.ndarray
    spec: FeatureSpec
    weights: str
    seed: int

    @property
    def n(self) -> int:
        return len(self.features)


def _embed(net, spec: FeatureSpec, u8: torch.Tensor, device: torch.device, amp: bool) -> torch.Tensor:
    """A uint8 batch → features, as the folder pipeline does (extraction._compute): preprocessing on the CPU
    when the extractor needs it there (clean resize), else on the device; autocast around the network only."""
    images = net.preprocess(u8.cpu() if net.preprocess_on_cpu else u8.to(device)).to(device)
    if device.type == "cuda":
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
        return net.embed(images, spec.layer).float()


def _feature_batches(net, generator, indices, spec, options, seed, latent_shape) -> Iterator[torch.Tensor]:
    """float64 CPU features of images ``indices``, one batch at a time, with a progress bar."""
    from tqdm.auto import tqdm

    device = options.torch_device
    with tqdm(total=len(indices), desc=f"generator [{spec.label}]", unit="img", disable=not options.progress) as bar:
        for u8 in generated_batches(generator, indices, seed, batch_size=options.batch_size, device=device,
                                    latent_shape=latent_shape):
            with torch.inference_mode():
                features = _embed(net, spec, u8, device, options.amp).double().cpu()
            bar.update(len(u8))
            yield features


def _shard(n: int, options: RunOptions):
    """(image indices of this process, process group or None, options with the bar on rank 0 only)."""
    group = process_group(options.torch_device, options.distributed)
    if group is None:
        return list(range(n)), None, options
    rank, world = group
    return list(range(rank, n, world)), group, RunOptions.resolve(options, progress=options.progress and rank == 0)


def generator_features(generator: Callable, n: int, spec=None, options: RunOptions | None = None, *, seed: int = 0,
                       latent_shape: Sequence[int] | None = None, **run) -> GeneratorFeatures:
    """Features of ``n`` images of ``generator`` (see the module docstring for the contract), row i for image
    i — for precision/recall/density/coverage (:func:`percept_lib.metrics.prdc`) or CMMD, whose math needs the
    features. ``spec``: a :class:`FeatureSpec` or an extractor name (default: the FID Inception, pool3, clean).
    Under torchrun every rank generates every world_size-th image and all ranks get every row.
    """
    n = _check_n(n)
    image_seeds(seed, [n - 1])
    spec = FeatureSpec.of(spec or "inception-fid")
    options = RunOptions.resolve(options, **run)
    indices, group, options = _shard(n, options)
    net = spec.network(options.torch_device)
    batches = _feature_batches(net, generator, indices, spec, options, seed, latent_shape)
    rows = np.zeros((len(indices), net.feature_dim(spec.layer)))
    done = 0
    for batch in batches:
        rows[done:done + len(batch)] = batch.numpy()
        done += len(batch)
    if group is not None:
        rows = _gather(rows, indices, n, group[1])
    return GeneratorFeatures(rows, spec, W.label(net.pretrained), seed)


def _gather(rows: np.ndarray, indices: list[int], n: int, world: int) -> np.ndarray:
    import torch.distributed as dist

    parts = [None] * world
    dist.all_gather_object(parts, (indices, rows))
    full = np.zeros((n, rows.shape[1]))
    for part_indices, part_rows in parts:
        full[part_indices] = part_rows
    return full


def generator_stats(generator: Callable, n: int, spec=None, options: RunOptions | None = None, *, seed: int = 0,
                    latent_shape: Sequence[int] | None = None, **run) -> FeatureStats:
    """Mean and covariance (:class:`FeatureStats`) of the features of ``n`` images of ``generator``, updated
    batch by batch (no N×d array is kept); arguments as :func:`generator_features`. Under torchrun the ranks
    share the images and merge exactly (``all_reduce``). ``.provenance`` and ``.weights`` as
    :func:`~.sharding.folder_stats` sets them."""
    n = _check_n(n)
    if n < MIN_IMAGES:
        raise ValueError(f"n={n}: a mean and covariance need at least {MIN_IMAGES} images (a covariance divides by "
                         "N − 1); generate more")
    image_seeds(seed, [n - 1])
    spec = FeatureSpec.of(spec or "inception-fid")
    options = RunOptions.resolve(options, **run)
    indices, group, options = _shard(n, options)
    net = spec.network(options.torch_device)
    stats = FeatureStats(dim=net.feature_dim(spec.layer))
    for batch in _feature_batches(net, generator, indices, spec, options, seed, latent_shape):
        stats.update(batch.numpy())  # numpy in, numpy out: the statistics read as folder_stats's do
    if group is not None:
        stats.all_reduce()
    stats.weights = W.label(net.pretrained)
    stats.spec = spec
    stats.provenance = run_provenance(spec, stats.weights)
    return stats


def fid_generator(generator: Callable, reference, n: int, *, seed: int = 0,
                  latent_shape: Sequence[int] | None = None, extractor="inception-fid", feature=None, resize=None,
                  force_mix: bool = False, options: RunOptions | None = None, **run):
    """FID between ``reference`` (a folder of images or an .npz statistics file) and ``n`` images of
    ``generator`` (contract: the module docstring), as :func:`~.folders.fid_folders` (``reference``, a folder
    of the same images saved as PNG) gives it — A is the reference, B the generated set; only the signature's
    ``seed`` differs. A statistics file's provenance, dimension and the reference folder's image count are
    checked before any image is generated. Arguments otherwise as :func:`~.folders.fid_folders`.
    """
    from ..metrics.frechet import frechet_distance
    from ..metrics.stats import read_stats_npz
    from .folders import check_stats_dimension, is_stats_file
    from .loading import folder_files
    from .provenance import Side, check_same_features, joint_labels
    from .results import MetricResult
    from .sharding import check_image_count, folder_stats

    n = _check_n(n)
    image_seeds(seed, [n - 1])  # a bad seed fails before any work
    spec = FeatureSpec.of(extractor, feature, resize)
    options = RunOptions.resolve(options, **run)
    name = f"generator {getattr(generator, '__name__', type(generator).__name__)}"
    if is_stats_file(reference):
        data = read_stats_npz(reference)
        check_stats_dimension(reference, data, spec)
        reference_side = Side(str(reference), True, data["provenance"])
        check_same_features(reference_side, Side(name, False, run_provenance(spec)), force=force_mix)
        mu_r, sigma_r, n_r = data["mu"], data["sigma"], data["n"]
    else:
        check_image_count(reference, len(folder_files(reference)), "FID")
        stats = folder_stats(reference, spec, options=options)
        reference_side = Side(str(reference), False, stats.provenance)
        (mu_r, sigma_r), n_r = stats.compute(), stats.count
    generated = generator_stats(generator, n, spec, options, seed=seed, latent_shape=latent_shape)
    mu_g, sigma_g = generated.compute()
    value = frechet_distance(mu_r, sigma_r, mu_g, sigma_g)
    extractor_label, resize_label, weights, sha256 = joint_labels(reference_side,
                                                                  Side(name, False, generated.provenance))
    details = {"seed": seed, **({"amp": True} if options.amp else {})}
    return MetricResult("fid", value, n_r, generated.count, None, (str(reference), name), extractor_label,
                        resize_label, weights, details, weights_sha256=sha256)


__all__ = ["GeneratorFeatures", "fid_generator", "generated_batches", "generator_features", "generator_stats", "image_seeds",
           "quantised", "seeded_latents"]
