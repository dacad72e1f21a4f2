"""Paragraph-level filter for boilerplate that survives trafilatura.

Usage::

    from worker.extract.boilerplate import drop_boilerplate

    paragraphs = drop_boilerplate(["Real text ...", "Subscribe to our newsletter", ...])

Each rule removes a whole *short* paragraph that is nothing but a subscription box, a paywall
notice, a cookie banner, an advertisement label or a share/related-links line. Rules are kept
only when bench/extraction_eval.py shows that they help (more ``without`` segments absent, no
``with`` segment lost); long paragraphs are never touched, so a sentence in an article that
happens to mention a newsletter stays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

DEFAULT_MAX_BOILERPLATE_CHARS = 200
"""Paragraphs longer than this are article text, whatever words they contain."""

_PATTERNS = [
    # subscription / newsletter boxes
    r"^(subscribe|sign up|signup|register|join)\b.{0,80}\b(newsletter|updates|inbox|email|free)\b",
    r"\bnewsletter\b.{0,60}\b(subscribe|sign up|anmelden|abonnieren|abonnier)",
    r"^(jetzt )?(zum )?(newsletter )?(abonnieren|anmelden)\b",
    r"\bsign(ing)? up\b.{0,40}\bnewsletter\b|\bsign up here\b|\bfree sign up$|^sign up to\b",
    r"\b(rss-feed|newsletter) abonnieren\b",
    r"^subscribe now\b|^start (a |your )?free (account|trial)\b",
    # paywall notices
    r"\byou have \w+ (free )?(articles?|stories) (left|remaining)\b",
    r"\bget access to \d+ (free |premium )?(articles|stories)\b",
    r"\balready (a )?(subscriber|member|registered)\b|^current print subscriber\b",
    r"\bactivate your (complimentary )?digital (account|access|subscription)\b",
    r"^(subscribe|log ?in|sign in) to (continue|read)\b",
    r"\b(please subscribe|to (view|read|continue reading) the full (story|article))\b",
    r"\bthis (article|content) is (only )?(available|reserved) (to|for) (subscribers|members)\b",
    r"^(kostenlos registrieren und weiterlesen|weiterlesen mit)\b",
    r"^sie sind (aktuell )?nicht eingeloggt",
    # cookie banners
    r"\b(we|this (web)?site) uses? cookies\b",
    r"^(accept|allow|reject) (all )?cookies\b",
    # labels, app promotion and share lines
    r"^(advertisement|anzeige|werbung|sponsored|publicit[ée])$",
    r"^(share|teilen)( (on|this|article|via))?\b.{0,40}$",
    r"^(share to|share on) (facebook|twitter|x|linkedin|whatsapp|email)\b",
    r"\bdownload the [\w ]{1,30} apps? (for|on) (ios|android)\b",
    # "read also" / related-content teasers, in the languages of the evaluation set
    r"^(related|read more|more from|recommended|most popular|mehr zum thema|auch interessant)"
    r"\b.{0,80}$",
    r"^(read more|read also|lesen sie auch|lesen sie hier|auch lesen|mehr themen|weitere themen"
    r"|schon gelesen|zum weiterlesen|lea también|le puede interesar|vea también|notas relacionadas"
    r"|à lire aussi|czytaj też|dowiedz się więcej|leia também|leggi anche)\b.{0,120}$",
]
_BOILERPLATE_RE = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE)


def is_boilerplate(paragraph: str) -> bool:
    """True for a short paragraph that matches one of the boilerplate rules."""
    text = paragraph.strip()
    return len(text) <= DEFAULT_MAX_BOILERPLATE_CHARS and bool(_BOILERPLATE_RE.search(text))


def drop_boilerplate(paragraphs: Iterable[str]) -> list[str]:
    """``paragraphs`` without the boilerplate ones, order kept."""
    return [p for p in paragraphs if not is_boilerplate(p)]
