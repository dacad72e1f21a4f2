"""Terms of a news text for same-event matching: stemmed content words and proper nouns.

Usage::

    terms = extract_terms("Putin visits Minsk", "President Vladimir Putin arrived in Minsk ...")
    terms.counts        # {stemmed term: count}, title words counted DEFAULT_TITLE_WEIGHT times
    terms.proper        # the terms written capitalized mid-sentence (names, places, brands)
    extract_terms(title, text, pairs=True).run     # ["vladimir", "putin", "arriv", BREAK, ...]
    term_pairs(terms.run)                          # {"vladimir putin": 1.0, ...}: adjacent terms
    key_phrases(text)   # ["vladimir putin", "minsk", ...]: capitalized phrases, most frequent first

No model and no data file: a regular expression tokenizer, short stop-word lists, a Snowball
stemmer (the Porter family; pure table-driven code shipped in the ``snowballstemmer`` package)
and a capitalization heuristic for names. Proper nouns matter most when two events of the
same kind must be told apart (two earthquakes, two rehab stays): what differs is who and where.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import compress, pairwise
from operator import itemgetter

import snowballstemmer  # type: ignore[import-untyped]

#: Title words are counted this many times: a headline names the event in a few words.
DEFAULT_TITLE_WEIGHT = 2.0
#: Key phrases are looked for in this much of a text: names of an event are in its first part.
DEFAULT_PHRASE_CHARS = 4_000
#: Terms are taken from this much of a text (cut at a word boundary): an event is named in an
#: article's first paragraphs (the median news text is ~2,000 characters, the longest ECB+ one
#: 16,000), while a page of half a megabyte of text — extraction keeps up to 500,000 characters,
#: and a broken or hostile page fills them — would add tens of thousands of terms, each a
#: ``term_stats`` row written under the story-step lock and kept for good.
DEFAULT_TERM_TEXT_CHARS = 20_000
#: Words (and sentence breaks) of a text whose adjacent terms are paired
#: (``extract_terms(..., pairs=True)``): the lead, about 1,200 characters, where an article
#: names its event; the rest adds pairs that rarely match another text's and would cost a
#: refinement of 20,000 articles seconds and hundreds of megabytes (measured in
#: docs/stories.md).
DEFAULT_PAIR_WORDS = 200
#: Longest token kept (longer "words" are URLs, hashes or glued garbage).
DEFAULT_MAX_TOKEN_CHARS = 40

_TOKEN = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*", re.UNICODE)
# A sentence ends at . ! ? (optionally followed by a closing quote) or at a line break.
_SENTENCE_BREAK = r"(?<=[.!?])[\"'\u201d\u2019)]*\s+|\n+"
# Tokens and sentence breaks in one pass (one findall over a text, not a split and a findall per
# sentence: ~30 % less). The two never overlap: a break starts with a quote, a bracket or white
# space after . ! ? or a line break, none of them a token character, so the tokens are those of
# each sentence in turn and a break item stands between sentences.
_ITEM = re.compile(rf"{_TOKEN.pattern}|{_SENTENCE_BREAK}", re.UNICODE)
#: The term of a sentence-break item (no term holds a space: tokens hold none).
BREAK = " "
_first_char = itemgetter(0)
# Words joining the parts of a name: "Bank of America", "Ludwig van Beethoven".
_NAME_JOINERS = frozenset({"of", "de", "la", "del", "van", "von", "der", "al", "bin", "da", "du"})

# Function words, plus news filler that says nothing about which event a text is about. Rare
# words are weighted by IDF anyway; these lists only keep the most frequent ones out of the story
# index's posting lists while the IDF is still cold. Per language: German "war" or Dutch "met"
# are function words there and news words in English.
_ENGLISH_STOP_WORDS = """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    said says say told according one two new us mr mrs ms like get got year years day days week
    time people yesterday today tomorrow last first since still even many much well back make
    made way around including may might must shall s t don didn doesn isn wasn aren
"""
_OTHER_STOP_WORDS = {
    "de": """der die das und ist nicht ein eine einer eines einem einen zu den dem des im mit von
        auf für sich auch es als an bei nach wie aus oder aber wird werden wurde sind war hat
        haben noch nur er sie wir ihr am um so dass vor""",
    "fr": """le la les un une des du et est dans pour que qui ne pas sur au aux avec ce cette il
        elle sont de en se son sa ses par plus""",
    "es": """el la los las un una y en por con para es se del al lo su sus como más pero de que
        no""",
    "it": """il lo la gli le un una di che è per con non della delle nel nei e in da del al""",
    "nl": """de het een van en niet op te voor met zijn dat is in die""",
    "pt": """o os a as um uma em no na do da dos das não com por para de e que se""",
}
_STOP_WORDS = {
    "english": frozenset(_ENGLISH_STOP_WORDS.split()),
    **{
        code: frozenset(words.split()) | frozenset(_ENGLISH_STOP_WORDS.split())
        for code, words in _OTHER_STOP_WORDS.items()
    },
}

# ISO 639-1 code -> Snowball algorithm name, for the languages the stemmer package covers.
_SNOWBALL = {
    "ar": "arabic", "da": "danish", "de": "german", "el": "greek", "en": "english",
    "es": "spanish", "fi": "finnish", "fr": "french", "hu": "hungarian", "id": "indonesian",
    "it": "italian", "nl": "dutch", "no": "norwegian", "pt": "portuguese", "ro": "romanian",
    "ru": "russian", "sv": "swedish", "tr": "turkish",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Terms:
    """The terms of one text: weighted counts, which of them are proper nouns, and (when asked
    for) the run of terms whose adjacent pairs are compared ("world cup", "vladimir putin")."""

    counts: dict[str, float]
    proper: frozenset[str]
    run: list[str] = field(default_factory=list)  # terms in order, BREAK between sentences


def extract_terms(
    title: str | None,
    text: str | None,
    language: str | None = None,
    *,
    title_weight: float = DEFAULT_TITLE_WEIGHT,
    max_chars: int = DEFAULT_TERM_TEXT_CHARS,
    pairs: bool = False,
) -> Terms:
    """Stemmed content terms of a title and body (the first ``max_chars`` of each), with the
    proper-noun subset; with ``pairs``, also the ``run`` of terms whose adjacent pairs within
    a sentence are the text's phrases (stop words skipped, as in "bank [of] america"): the
    text's lead, then the title ``title_weight`` times (rounded), each ended by ``BREAK``."""
    vocabulary = _vocabulary(_language_code(language))
    counts: dict[str, float] = {}
    proper: set[str] = set()
    paired: list[str] = []
    if text:
        items, terms = vocabulary.items(_lead(text, max_chars))
        # Weight 1: a term's count is its number of occurrences, exactly the sum of 1.0s (and in
        # the same first-occurrence order), counted in C rather than a Python loop per token.
        counted = Counter(terms)
        counted.pop("", None)
        counted.pop(BREAK, None)
        counts = {term: float(n) for term, n in counted.items()}
        _add_proper(items, terms, proper)
        if pairs:
            paired.extend(filter(None, terms[:DEFAULT_PAIR_WORDS]))
            paired.append(BREAK)
    if title:
        items, terms = vocabulary.items(_lead(title, max_chars))  # a feed's title can be long
        for term in terms:  # added one at a time, as ever: the floats stay bit for bit the same
            if term and term != BREAK:
                counts[term] = counts.get(term, 0.0) + title_weight
        _add_proper(items, terms, proper)
        if pairs:
            for _ in range(max(1, round(title_weight))):
                paired.extend(filter(None, terms))
                paired.append(BREAK)
    return Terms(counts=counts, proper=frozenset(proper), run=paired)


def term_pairs(run: list[str]) -> dict[str, float]:
    """How often each pair of adjacent terms of one sentence occurs in ``run`` ("a b")."""
    found: dict[str, float] = {}
    for a, b in pairwise(run):
        if a != BREAK and b != BREAK:
            key = f"{a} {b}"
            found[key] = found.get(key, 0.0) + 1.0
    return found


def _lead(text: str, max_chars: int) -> str:
    """``text`` cut to at most ``max_chars`` at a white space (no half word becomes a term)."""
    if len(text) <= max_chars or text[max_chars].isspace():
        return text[:max_chars]
    # The cut word dropped; a text without white space is cut where it is.
    return text[:max_chars].rsplit(None, 1)[0]


def _add_proper(items: list[str], terms: list[str], proper: set[str]) -> None:
    """Add to ``proper`` the terms of tokens written capitalized mid-sentence: names (a
    sentence's first word is capitalized anyway). Only capitalized items are looked at."""
    for i in compress(range(len(items)), map(str.isupper, map(_first_char, items))):
        term = terms[i]
        if i and term and terms[i - 1] != BREAK:
            proper.add(term)


def key_phrases(text: str, limit: int = 10, language: str | None = None) -> list[str]:
    """Capitalized multi-word phrases (names, places, organizations), most frequent first.

    Used for a story's displayed keywords; matching itself works on single terms.
    """
    stop = _stop_words(language)
    found: dict[str, int] = {}
    items = _ITEM.findall(unicodedata.normalize("NFKC", text[:DEFAULT_PHRASE_CHARS]))
    # A break item is never capitalized nor a joiner: phrases end at a sentence's end.
    caps = list(map(str.isupper, map(_first_char, items)))
    n = len(items)
    end = 0  # phrases do not overlap: the next one starts after the last one's end
    for i in compress(range(n), caps):
        if i < end or items[i].casefold() in stop:
            continue
        j = i + 1
        while j < n and (caps[j] or (items[j] in _NAME_JOINERS and j + 1 < n and caps[j + 1])):
            j += 1
        # A lone capitalized word opening a sentence is usually just a sentence opening.
        if j - i > 1 or (i > 0 and _TOKEN.match(items[i - 1]) is not None):
            phrase = " ".join(_strip_possessive(t) for t in items[i:j])
            found[phrase] = found.get(phrase, 0) + 1
        end = j
    ranked = sorted(found.items(), key=lambda pc: (-pc[1], pc[0]))
    return [phrase for phrase, _ in ranked[:limit]]


def _strip_possessive(token: str) -> str:
    for suffix in ("'s", "\u2019s"):
        if token.endswith(suffix):
            return token[: -len(suffix)]
    return token


def _language_code(language: str | None) -> str:
    return (language or "en").split("-")[0].split("_")[0].lower()


def _stop_words(language: str | None) -> frozenset[str]:
    return _STOP_WORDS.get(_language_code(language), _STOP_WORDS["english"])


class _Vocabulary:
    """Token -> term for one language, cached: the same few thousand word forms make up most
    news text, and stemming costs ~5 us a word uncached."""

    def __init__(self, code: str) -> None:
        self._stemmer = snowballstemmer.stemmer(_SNOWBALL.get(code, "english"))
        self._stop = _STOP_WORDS.get(code, _STOP_WORDS["english"])
        self._cache: dict[str, str] = {}

    def items(self, text: str) -> tuple[list[str], list[str]]:
        """A text's tokens and sentence breaks (``_ITEM``), and the term of each: "" for a
        token that is not a term, ``BREAK`` for a break."""
        items: list[str] = _ITEM.findall(unicodedata.normalize("NFKC", text))
        # Most tokens are cached: one C-level pass reads them all, misses are filled after.
        terms: list[str | None] = list(map(self._cache.get, items))
        if None in terms:
            terms = [self.term(t) if c is None else c for t, c in zip(items, terms, strict=True)]
        return items, terms  # type: ignore[return-value]  # no None is left

    def term(self, token: str) -> str:
        """The stemmed term, or "" for a stop word or a token too short or too long (and
        ``BREAK`` for a sentence break)."""
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        if len(self._cache) > 500_000:  # bound memory on a long-running worker
            self._cache.clear()
        if _TOKEN.match(token) is None:
            self._cache[token] = BREAK
            return BREAK
        word = _strip_possessive(token).casefold()
        if (
            len(word) > DEFAULT_MAX_TOKEN_CHARS
            or word in self._stop
            or (len(word) < 2 and not word.isdigit())
        ):
            term = ""
        else:
            term = str(self._stemmer.stemWord(word))
        self._cache[token] = term
        return term


@lru_cache(maxsize=64)
def _vocabulary(code: str) -> _Vocabulary:
    return _Vocabulary(code)
