"""Where an installed wheel keeps the shipped files: pyproject.toml maps the clone's top-level `weights/` and
`resources/` into this package (`sketchpad/_data/weights`, `sketchpad/_data/resources`). In a clone or an
editable install this folder holds only this file and `sketchpad.paths` falls back to the repo root."""
