"""Images in, one canonical form out: float32 tensor N×3×H×W, RGB, values in [0, 1].

Every public entry point of percept_lib passes its images through :func:`validate_images` (or
:func:`validate_pair` for two), so that bad input fails here with a message that names the problem and
the fix, instead of producing a silent wrong number further down.

- :mod:`.canonical` — the canonical form, its one validation, and the converters to it
- :mod:`.files` — image files: the one decoder (EXIF orientation, pixel-count limit), folder walk, load, save
- :mod:`.resize` — the resize modes ``clean`` (clean-fid) and ``pytorch-fid``

Import from here (``from percept_lib.images import decode_image``): the submodules are how the code is
organised, not a second way in.
"""
from .canonical import (  # noqa: F401
    RANGE_TOLERANCE, validate_images, validate_pair, pil_to_array, array_to_tensor, to_unit_float, to_pil,
)
from .files import (  # noqa: F401
    IMAGE_EXTENSIONS, DEFAULT_MAX_PIXELS, pixel_limit, decode_image, load_image, list_images, iter_folder,
    load_folder, save_images, to_tensor, image_size,
)
from .resize import (  # noqa: F401
    RESIZE_MODES, check_resize_mode, resize,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "RANGE_TOLERANCE",
    "RESIZE_MODES",
    "array_to_tensor",
    "check_resize_mode",
    "decode_image",
    "image_size",
    "iter_folder",
    "list_images",
    "load_folder",
    "load_image",
    "pil_to_array",
    "pixel_limit",
    "resize",
    "save_images",
    "to_pil",
    "to_tensor",
    "to_unit_float",
    "validate_images",
    "validate_pair",
]
