"""Leadline: open-source lead management."""

__version__ = "0.1.0"
