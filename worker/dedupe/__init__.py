"""Duplicate detection, cheapest layer first (see DESIGN.md "Dedup, in layers")."""

from worker.dedupe.exact import content_hash, normalize_text

__all__ = ["content_hash", "normalize_text"]
