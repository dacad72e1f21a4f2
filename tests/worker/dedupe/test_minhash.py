"""Layer 3: MinHash sketches, LSH band keys and the containment test."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tests.worker.stories.texts import BRIDGE_LOCAL, BRIDGE_WIRE, FILLER, OTHER_BRIDGE, STRIKE
from worker.dedupe.minhash import (
    DEFAULT_BANDS,
    DEFAULT_NUM_PERM,
    Sketch,
    band_keys,
    compare,
    shingle_hashes,
    sketch,
)

BOILERPLATE_TOP = "Subscribe now for unlimited access. Already a subscriber? Log in."
BOILERPLATE_BOTTOM = "Copyright 2024 Harbor Daily. All rights reserved. Share this story."


def syndicated_copy(text: str, *, keep: float, edit_rate: float, seed: int = 1) -> str:
    """What another site prints: new byline, boilerplate, the ending cut, a few words changed."""
    rnd = random.Random(seed)
    words = text.split()[: int(len(text.split()) * keep)]
    edited = [rnd.choice(["city", "crews", "officials"]) if rnd.random() < edit_rate else w
              for w in words]  # fmt: skip
    return "\n".join(
        [BOILERPLATE_TOP, "By Jo Smith, Harbor Daily", " ".join(edited), BOILERPLATE_BOTTOM]
    )


def test_sketch_is_deterministic_and_pinned() -> None:
    # Signatures and band keys are stored in the database: they must never change silently.
    a, b = sketch(BRIDGE_WIRE), sketch(BRIDGE_WIRE)
    assert a is not None and b is not None
    assert np.array_equal(a.signature, b.signature)
    assert len(a.signature) == DEFAULT_NUM_PERM
    assert band_keys(a) == band_keys(b)
    assert band_keys(sketch("one two three four five six seven eight nine ten eleven twelve "
                            "thirteen fourteen fifteen"), bands=2)[:2] == PINNED_KEYS  # fmt: skip


PINNED_KEYS = [-6641837936526857395, -8708268590456054257]


def test_band_keys_fit_a_signed_bigint() -> None:
    s = sketch(BRIDGE_WIRE)
    assert s is not None
    keys = band_keys(s)
    assert len(keys) == DEFAULT_BANDS
    assert all(-(2**63) <= k < 2**63 for k in keys)
    assert len(set(keys)) == len(keys)  # the band index is folded into each key


def test_normalization_makes_case_and_punctuation_irrelevant() -> None:
    assert np.array_equal(
        shingle_hashes("The bridge, it FELL!  Into the river."),
        shingle_hashes("the bridge it fell into the river"),
    )


@pytest.mark.parametrize(("keep", "edit_rate"), [(0.8, 0.02), (0.6, 0.05)])
def test_trimmed_edited_copy_is_found_and_verified(keep: float, edit_rate: float) -> None:
    original = sketch(BRIDGE_WIRE)
    copy = sketch(syndicated_copy(BRIDGE_WIRE, keep=keep, edit_rate=edit_rate))
    assert original is not None and copy is not None
    assert set(band_keys(original)) & set(band_keys(copy)), "LSH must make it a candidate"
    match = compare(copy, original)
    assert match.is_copy
    assert match.containment > 0.5
    assert match.jaccard < match.containment  # the trimmed ending lowers Jaccard, not containment


@pytest.mark.parametrize("other", [BRIDGE_LOCAL, OTHER_BRIDGE, STRIKE, FILLER[0][1]])
def test_other_texts_are_not_copies(other: str) -> None:
    # BRIDGE_LOCAL reports the same event in other words: same story, but not a copy.
    original, candidate = sketch(BRIDGE_WIRE), sketch(other)
    assert original is not None and candidate is not None
    assert not compare(candidate, original).is_copy
    assert compare(candidate, original).containment < 0.2


def test_short_text_is_left_to_the_exact_layer() -> None:
    assert sketch("Breaking: bridge closed.") is None


def test_bytes_round_trip() -> None:
    s = sketch(BRIDGE_WIRE)
    assert s is not None
    data = s.to_bytes()
    assert len(data) == 4 * DEFAULT_NUM_PERM
    back = Sketch.from_bytes(data, s.shingles)
    assert np.array_equal(back.signature, s.signature)
    assert compare(back, s).jaccard == 1.0


def test_too_many_bands_for_the_signature_is_an_error() -> None:
    s = sketch(BRIDGE_WIRE)
    assert s is not None
    with pytest.raises(ValueError, match="permutations"):
        band_keys(s, bands=DEFAULT_NUM_PERM, rows=2)
