"""Classroom tooling: what notebooks call (:mod:`.classroom`), the student edition and headless runs
(:mod:`.editions`), the rendered site (:mod:`.site`) and the small super-resolution model of notebook 05
(:mod:`.sr`). The library proper (images, extractors, losses, metrics) never imports from here."""
