"""The model catalog: sources (Hub, manifests, custom), model files, parsing, RAM estimates."""

from __future__ import annotations
