"""Layers 2-4 end to end on the in-memory index, with small synthetic articles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.worker.dedupe.test_minhash import syndicated_copy
from tests.worker.stories.texts import (
    BRIDGE_LOCAL,
    BRIDGE_LOCAL_TITLE,
    BRIDGE_WIRE,
    BRIDGE_WIRE_TITLE,
    FIGHT_A,
    FIGHT_A_TITLE,
    FIGHT_B,
    FIGHT_B_TITLE,
    FILLER,
    OTHER_BRIDGE,
    OTHER_BRIDGE_TITLE,
    REMATCH,
    REMATCH_TITLE,
    STRIKE,
    STRIKE_TITLE,
    VISIT_A,
    VISIT_A_TITLE,
    VISIT_B,
    VISIT_B_TITLE,
)
from worker.stories import DEFAULT_CONFIG, Assignment, InMemoryStoryIndex, StoryDoc, assign

T0 = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)


class Stream:
    """Feeds articles to one index in order, with ids and times, after some unrelated news."""

    def __init__(self, **config: object) -> None:
        self.index = InMemoryStoryIndex()
        self.config = DEFAULT_CONFIG.with_(**config)
        self.next_id = 1
        for title, text in FILLER:
            self.add(title, text, hours=-48)

    def add(
        self, title: str | None, text: str, *, hours: float = 0.0, outlet: str | None = None
    ) -> Assignment:
        doc = StoryDoc(
            id=self.next_id,
            title=title,
            text=text,
            published_at=T0 + timedelta(hours=hours),
            outlet=outlet,
        )
        self.next_id += 1
        return assign(self.index, doc, self.config)


def test_first_article_opens_a_story() -> None:
    first = Stream().add(BRIDGE_WIRE_TITLE, BRIDGE_WIRE)
    assert first.new_story
    assert first.duplicate_of is None
    assert first.method == "new"


def test_syndicated_copy_with_trimmed_ending_points_at_the_original() -> None:
    s = Stream()
    original = s.add(BRIDGE_WIRE_TITLE, BRIDGE_WIRE, outlet="wire")
    copy = s.add(
        "Two missing after Port Ellery span gives way",  # a new headline
        syndicated_copy(BRIDGE_WIRE, keep=0.7, edit_rate=0.03),
        hours=2,
        outlet="harbor-daily",
    )
    assert copy.method == "near"
    assert copy.duplicate_of == s.next_id - 2
    assert copy.story_id == original.story_id
    assert not copy.new_story
    story = s.index.story(original.story_id)
    assert story.article_count == 2
    assert s.index.outlet_count(original.story_id) == 2


def test_copy_of_a_copy_points_at_the_first() -> None:
    s = Stream()
    s.add(BRIDGE_WIRE_TITLE, BRIDGE_WIRE)
    first_id = s.next_id - 1
    s.add(None, syndicated_copy(BRIDGE_WIRE, keep=0.8, edit_rate=0.02, seed=2), hours=1)
    again = s.add(None, syndicated_copy(BRIDGE_WIRE, keep=0.75, edit_rate=0.02, seed=3), hours=2)
    assert again.duplicate_of == first_id


@pytest.mark.parametrize("exact", [False, True])
def test_an_older_article_arriving_late_becomes_the_original(exact: bool) -> None:
    # Fetch order is not publication order: the copy was processed first, the original later.
    s = Stream()
    copy_text = BRIDGE_WIRE if exact else syndicated_copy(BRIDGE_WIRE, keep=0.7, edit_rate=0.03)
    copy = s.add("Republished", copy_text, hours=5)
    copy_id = s.next_id - 1
    again = s.add("Republished again", copy_text + " ", hours=6)
    assert again.duplicate_of == copy_id
    original = s.add(BRIDGE_WIRE_TITLE, BRIDGE_WIRE, hours=1)
    original_id = s.next_id - 1
    assert original.duplicate_of is None
    assert original.story_id == copy.story_id
    assert original.method == ("exact" if exact else "near")
    for article_id in (copy_id, copy_id + 1):
        ref = s.index.article(article_id)
        assert ref is not None and ref.duplicate_of == original_id
    # A later copy finds the new original.
    later = s.add(None, syndicated_copy(BRIDGE_WIRE, keep=0.8, edit_rate=0.02, seed=9), hours=7)
    assert later.duplicate_of == original_id


def test_same_text_reformatted_is_an_exact_copy() -> None:
    s = Stream()
    s.add(BRIDGE_WIRE_TITLE, BRIDGE_WIRE)
    again = s.add("Another headline", BRIDGE_WIRE.upper().replace("\n", "  "), hours=1)
    assert again.method == "exact"
    assert again.duplicate_of == s.next_id - 2


def test_unrelated_article_opens_its_own_story() -> None:
    s = Stream()
    bridge = s.add(BRIDGE_WIRE_TITLE, BRIDGE_WIRE)
    other = s.add(STRIKE_TITLE, STRIKE, hours=1)
    assert other.new_story
    assert other.story_id != bridge.story_id


def test_same_event_in_different_words_joins_the_story() -> None:
    s = Stream()
    wire = s.add(BRIDGE_WIRE_TITLE, BRIDGE_WIRE)
    local = s.add(BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=3)
    assert local.method == "similar"
    assert local.duplicate_of is None  # not a copy: written independently
    assert local.story_id == wire.story_id
    assert local.score >= DEFAULT_CONFIG.join_threshold


def test_same_kind_of_event_elsewhere_is_another_story() -> None:
    s = Stream()
    port_ellery = s.add(BRIDGE_WIRE_TITLE, BRIDGE_WIRE)
    s.add(BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=2)
    varnholm = s.add(OTHER_BRIDGE_TITLE, OTHER_BRIDGE, hours=4)
    assert varnholm.new_story
    assert varnholm.story_id != port_ellery.story_id


@pytest.mark.parametrize("rematch_first", [True, False])
def test_same_names_with_other_numbers_are_another_event(rematch_first: bool) -> None:
    # A rematch of the same two fighters: the names agree, the ages, records, rounds and
    # scores do not. Numbers weigh like names (``number_weight``), so the rematch stays apart
    # while a second report of the first fight, with the same numbers, joins.
    def run(**config: object) -> tuple[Assignment, Assignment, Assignment]:
        s = Stream(**config)
        first = s.add(FIGHT_A_TITLE, FIGHT_A)
        if rematch_first:
            rematch = s.add(REMATCH_TITLE, REMATCH, hours=2)
            report = s.add(FIGHT_B_TITLE, FIGHT_B, hours=4)
        else:
            report = s.add(FIGHT_B_TITLE, FIGHT_B, hours=2)
            rematch = s.add(REMATCH_TITLE, REMATCH, hours=4)
        return first, report, rematch

    first, report, rematch = run()
    assert report.story_id == first.story_id
    assert rematch.new_story and rematch.story_id != first.story_id
    # Without the number boost the shared names win and the rematch joins the first fight.
    first, _, rematch = run(number_weight=1.0)
    assert rematch.story_id == first.story_id


@pytest.mark.parametrize("strike_first", [True, False])
def test_visit_pair_is_one_story_and_the_same_day_strike_is_not(strike_first: bool) -> None:
    # The seed-pair shape: two outlets a day apart on one visit; a war event the same day.
    s = Stream()
    visit_a = s.add(VISIT_A_TITLE, VISIT_A, hours=0)
    if strike_first:
        strike = s.add(STRIKE_TITLE, STRIKE, hours=20)
        visit_b = s.add(VISIT_B_TITLE, VISIT_B, hours=30)
    else:
        visit_b = s.add(VISIT_B_TITLE, VISIT_B, hours=20)
        strike = s.add(STRIKE_TITLE, STRIKE, hours=30)
    assert visit_b.story_id == visit_a.story_id
    assert strike.story_id != visit_a.story_id


def test_a_story_weeks_old_is_not_joined() -> None:
    s = Stream()
    first = s.add(BRIDGE_WIRE_TITLE, BRIDGE_WIRE)
    much_later = s.add(BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=24 * 12)
    assert much_later.new_story
    assert much_later.story_id != first.story_id


def test_a_follow_up_days_later_within_the_window_counts_nearly_in_full() -> None:
    # The decay is flat over the days an event is covered (the linear kernel took 21% at 60 h).
    s_soon, s_late = Stream(), Stream()
    s_soon.add(BRIDGE_WIRE_TITLE, BRIDGE_WIRE)
    s_late.add(BRIDGE_WIRE_TITLE, BRIDGE_WIRE)
    soon = s_soon.add(BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=1)
    late = s_late.add(BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=60)
    assert late.score > 0.99 * soon.score


@pytest.mark.parametrize(
    "title",
    [
        # Below the join threshold without the length calibration (0.25 and 0.33).
        "Bridge collapse leaves two missing",
        "Divers search river after bridge gives way",
    ],
)
def test_a_headline_without_text_joins_its_story(title: str) -> None:
    # A failed or paywalled page keeps only its headline: judged on the scale of full texts.
    s = Stream()
    first = s.add(BRIDGE_WIRE_TITLE, BRIDGE_WIRE)
    s.add(BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=1)
    headline = s.add(title, "", hours=2)
    assert headline.story_id == first.story_id


def test_a_headline_of_another_event_stays_apart() -> None:
    s = Stream()
    bridge = s.add(BRIDGE_WIRE_TITLE, BRIDGE_WIRE)
    other = s.add("Dock workers strike at Marrow Bay harbour over pay", "", hours=2)
    assert other.story_id != bridge.story_id


def test_time_kernel_lowers_the_score_of_an_older_story() -> None:
    near = Stream().add(BRIDGE_WIRE_TITLE, BRIDGE_WIRE)
    assert near.new_story
    s_soon, s_late = Stream(), Stream()
    s_soon.add(BRIDGE_WIRE_TITLE, BRIDGE_WIRE)
    s_late.add(BRIDGE_WIRE_TITLE, BRIDGE_WIRE)
    soon = s_soon.add(BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=1)
    late = s_late.add(BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=60)
    assert soon.story_id == late.story_id  # still joined: a day or two later is the same story
    assert late.score < soon.score


def test_story_state_tracks_times_counts_headline_and_phrases() -> None:
    s = Stream()
    wire = s.add(BRIDGE_WIRE_TITLE, BRIDGE_WIRE, hours=1)
    s.add(BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=5)
    story = s.index.story(wire.story_id)
    assert story.headline == BRIDGE_WIRE_TITLE
    assert story.first_published_at == T0 + timedelta(hours=1)
    assert story.last_published_at == T0 + timedelta(hours=5)
    assert story.article_count == 2
    assert {"Port Ellery", "Tamsin River"} <= set(story.phrases)
    assert len(story.centroid) <= DEFAULT_CONFIG.centroid_terms


def test_two_stories_that_turn_out_to_be_one_are_merged_into_the_older() -> None:
    # The two halves of one report open two stories (too little in common); a full report then
    # matches both, and the younger story is merged into the older one.
    first_half, second_half = _halves(BRIDGE_WIRE)
    s = Stream(join_threshold=0.5, merge_threshold=0.45)
    a = s.add(None, first_half, hours=0)
    b = s.add(None, second_half, hours=1)
    assert a.new_story and b.new_story and a.story_id != b.story_id
    c = s.add(BRIDGE_LOCAL_TITLE, BRIDGE_LOCAL, hours=2)
    assert c.story_id == a.story_id
    assert c.merged == (b.story_id,)
    assert s.index.resolve(b.story_id) == a.story_id
    assert s.index.story_of(s.next_id - 2) == a.story_id  # the second half's article moved
    assert s.index.story(a.story_id).article_count == 3
    # A merged story is no longer a candidate: a copy of the second half joins the survivor.
    d = s.add(None, second_half, hours=3)
    assert d.method == "exact"
    assert d.story_id == a.story_id


def test_empty_article_gets_a_story_of_its_own() -> None:
    s = Stream()
    result = s.add(None, "")
    assert result.new_story
    assert result.duplicate_of is None


def _halves(text: str) -> tuple[str, str]:
    paragraphs = text.split("\n\n")
    return "\n\n".join(paragraphs[:2]), "\n\n".join(paragraphs[2:])
