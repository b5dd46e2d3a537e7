"""Classroom tooling: what notebooks call (:mod:`.classroom`), the student edition and headless runs
(:mod:`.editions`), the rendered site (:mod:`.site`), the small super-resolution model of notebook 05
(:mod:`.sr`), the normalised style loss and Johnson network of notebook 04 (:mod:`.style_net`) and the
ring-of-Gaussians toy of notebook 07 (:mod:`.gan2d`). The library proper (images, extractors, losses,
metrics, pipeline) never imports from here."""
