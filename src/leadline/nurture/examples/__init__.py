"""Example workflows shipped with Leadline (YAML files in this folder), loaded by the demo."""

from __future__ import annotations

from importlib.resources import files


def example_names() -> list[str]:
    return sorted(p.name.removesuffix(".yaml") for p in files(__package__).iterdir() if p.name.endswith(".yaml"))


def example_text(name: str) -> str:
    if name not in example_names():
        raise KeyError(name)
    return files(__package__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
