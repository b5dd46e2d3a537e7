"""percept_lib: perceptual losses and image-quality metrics, with teaching notebooks."""
__version__ = "0.1.0"
