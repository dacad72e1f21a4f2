"""Terms, proper nouns and key phrases."""

from __future__ import annotations

import math

from worker.stories.terms import (
    DEFAULT_TERM_TEXT_CHARS,
    extract_terms,
    key_phrases,
    term_pairs,
)
from worker.stories.vectors import add_to_centroid, cosine, idf, normalized, top_terms, weigh


def test_terms_are_stemmed_and_stop_words_dropped() -> None:
    terms = extract_terms(None, "The rescuers were searching; the rescuer searched.")
    assert terms.counts == {"rescuer": 2.0, "search": 2.0}


def test_title_words_count_double() -> None:
    terms = extract_terms("Bridge collapse", "The bridge fell.")
    assert terms.counts["bridg"] == 3.0
    assert terms.counts["fell"] == 1.0


def test_capitalized_words_inside_a_sentence_are_proper_nouns() -> None:
    terms = extract_terms(None, "Divers searched the Tamsin River. Mayor Brennan spoke.")
    assert {"tamsin", "river", "brennan"} <= terms.proper
    assert "diver" not in terms.proper  # capitalized only because it opens the sentence
    assert "mayor" not in terms.proper


def test_pairs_are_adjacent_terms_of_one_sentence() -> None:
    terms = extract_terms("Tamsin bridge", "Bank of America lent. Divers searched.", pairs=True)
    # Stop words are skipped ("bank [of] america"), a sentence break ends a run (no "lent
    # diver"), title pairs count like title words.
    assert term_pairs(terms.run) == {
        "bank america": 1.0,
        "america lent": 1.0,
        "diver search": 1.0,
        "tamsin bridg": 2.0,
    }
    assert extract_terms("Tamsin bridge", "Bank of America lent.").run == []  # not asked for


def test_language_picks_the_stemmer() -> None:
    german = extract_terms(None, "Die Brücken sind gesperrt, sagte er.", "de").counts
    assert set(german) == {"bruck", "gesperrt", "sagt"}  # "die", "sind", "er" are stop words


def test_stop_words_are_per_language() -> None:
    # "war" is a German function word and an English news word.
    assert "war" in extract_terms(None, "The war goes on.").counts
    assert "war" not in extract_terms(None, "Es war kalt.", "de").counts


def test_terms_come_from_the_lead_of_a_long_text() -> None:
    sentence = "Divers searched the Tamsin River for the missing ferry. "
    lead = sentence * (DEFAULT_TERM_TEXT_CHARS // len(sentence))
    pad = "x" * (DEFAULT_TERM_TEXT_CHARS - len(lead) - 4)
    # The limit falls inside "landslide": its first letters must not become a term.
    tail = "landslide. Unrelated tallies of quinces, marmalade and Zubrowka follow. " * 20
    text = f"{lead}{pad} {tail}"
    assert text[:DEFAULT_TERM_TEXT_CHARS].endswith(" lan")
    counts = extract_terms("Ferry lost", text).counts
    assert {"diver", "search", "tamsin", "ferri", "lost"} <= set(counts)
    assert not {"lan", "landslid", "quinc", "marmalad", "zubrowka"} & set(counts)
    assert "zubrowka" not in extract_terms(text, None).counts  # a title is cut alike
    # A text within the limit is read whole, and so is one within a limit of one's own.
    assert "zubrowka" in extract_terms(None, tail).counts
    assert "zubrowka" in extract_terms(None, text, max_chars=len(text)).counts
    # A word that ends right at the limit is whole: it is kept.
    assert "tamsin" in extract_terms(None, "Near Tamsin river", max_chars=len("Near Tamsin")).counts


def test_key_phrases_are_capitalized_runs() -> None:
    text = (
        "Mayor Odile Brennan spoke in Port Ellery. Odile Brennan said the Bank of Ellery "
        "would help. The bridge fell."
    )
    phrases = key_phrases(text)
    assert {"Odile Brennan", "Port Ellery", "Bank of Ellery"} <= set(phrases)
    assert "The" not in phrases
    assert key_phrases("Brennan spoke. Brennan left. Ellery said Brennan stays.")[0] == "Brennan"


def test_weights_are_unit_length_and_proper_nouns_weigh_more() -> None:
    terms = extract_terms(None, "The mayor met Brennan and the mayor left.")
    vec = weigh(terms, n_docs=10, df={})
    assert abs(sum(w * w for w in vec.values()) - 1.0) < 1e-9
    assert vec["brennan"] > vec["met"]


def test_numbers_weigh_like_names() -> None:
    terms = extract_terms(None, "The fire killed 61 residents and the fire hurt Brennan.")
    vec = weigh(terms, n_docs=10, df={})
    assert vec["61"] > vec["resid"]  # same count and document frequency
    assert vec["61"] == vec["brennan"]
    plain = weigh(terms, n_docs=10, df={}, number_weight=1.0)
    assert plain["61"] == plain["resid"]


def test_rare_terms_weigh_more() -> None:
    assert idf(1000, 1) > idf(1000, 500) > 0


def test_weights_are_the_documented_formula() -> None:
    # (1 + ln tf) x idf x boost, L2-normalized, computed here from ``idf`` term by term: the
    # very same floats (``weigh`` inlines ``idf``; stored centroids must not drift).
    terms = extract_terms("Brennan wins", "Brennan won 3 races. The races were long races.")
    df = {"brennan": 4, "race": 40, "3": 9}
    vec = weigh(terms, n_docs=100, df=df)
    raw = {}
    for term, count in terms.counts.items():
        boost = 3.0 if term in terms.proper or term == "3" else 1.0
        raw[term] = (1.0 + math.log(count)) * idf(100, df.get(term, 0)) * boost
    norm = math.sqrt(sum(w * w for w in raw.values()))
    assert vec == {term: weight / norm for term, weight in raw.items()}


def test_top_terms_ranks_by_weight_then_term() -> None:
    vec = {"d": 0.5, "b": 1.0, "c": 0.5, "a": 0.25, "e": 1.0, "f": 0.0}
    assert list(top_terms(vec, 4).items()) == [("b", 1.0), ("e", 1.0), ("c", 0.5), ("d", 0.5)]
    assert list(top_terms(vec, 5)) == ["b", "e", "c", "d", "a"]
    assert "f" not in top_terms(vec, 6)  # never a zero weight


def test_centroid_keeps_the_heaviest_terms() -> None:
    centroid = add_to_centroid({"a": 1.0, "b": 0.2}, {"b": 0.5, "c": 0.1}, keep=2)
    assert centroid == {"a": 1.0, "b": 0.7}
    assert top_terms({"x": 1.0, "y": 1.0, "z": 0.5}, 2) == {"x": 1.0, "y": 1.0}


def test_cosine() -> None:
    assert cosine({"a": 1.0}, {"a": 3.0}) == 1.0
    assert cosine({"a": 1.0}, {"b": 1.0}) == 0.0
    assert normalized({}) == {}


def test_tricky_text_is_pinned() -> None:
    # Pinned from the per-sentence implementation: sentence breaks after quotes and brackets,
    # "U.S." (no break inside), possessives with both apostrophes, digits, hyphens, an
    # underscore, a line break, and a title weight whose repeated sums are not whole numbers.
    title = "Reid\u2019s 61-year-old Dad, 2024"
    text = (
        '"Rescue teams," Mayor O\'Neil said. "They\'re searching." (The U.S. Army left.) '
        "Bank of America\u2019s chief, John van Dyke, met Reid's lawyer!\nPort Ellery "
        "mourns; Tara Reid\u2019s rehab costs $6.5 million_dollars."
    )
    terms = extract_terms(title, text, title_weight=1.5)
    assert list(terms.counts.items()) == [
        *((t, 1.0) for t in ("rescu", "team", "mayor", "o'neil", "they'r", "search", "armi")),
        *((t, 1.0) for t in ("left", "bank", "america", "chief", "john", "van", "dyke", "met")),
        ("reid", 3.5),
        *((t, 1.0) for t in ("lawyer", "port", "elleri", "mourn", "tara", "rehab", "cost")),
        *((t, 1.0) for t in ("6", "5", "million", "dollar")),
        *((t, 1.5) for t in ("61", "old", "dad", "2024")),
    ]
    assert terms.proper == {
        "america",
        "dad",
        "dyke",
        "elleri",
        "john",
        "mayor",
        "o'neil",
        "reid",
        "tara",
    }
    assert key_phrases(f"{title}.\n{text}") == [
        "Bank of America",
        "Dad",
        "John van Dyke",
        "Mayor O'Neil",
        "Port Ellery",
        "Reid",
        "Tara Reid",
        "U S",
    ]
