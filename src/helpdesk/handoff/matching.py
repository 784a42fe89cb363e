"""Text matching for escalation: configured keywords, "I want a person" requests, and
what two messages say apart from the opening, sign-off and ids they share
(`differing_parts`, for the repetition trigger in `policy`).

Keywords and phrases match case-insensitively (Unicode case folding, so "STRASSE"
finds "straße") on word boundaries: "lawyer" finds "I'll call my lawyer!" and "my
lawyer's letter" but not "lawyers" nor "lawyerly"; write "lawyer*" to also match any
word that starts with it ("lawyers'", "lawyering"). The words of a phrase may be
separated by any run of spaces or punctuation, so "refund now" finds "refund...  now"
and "refund-now" (and, accepted as the price of tolerance, "a refund. Now, ...").

`is_human_request` recognises English requests for a person with a handful of
patterns rather than a model. Known limits, accepted because a false escalation costs
an agent a glance while a missed one costs a customer:
- third-person or reported speech still matches ("the courier said to talk to a person");
- negation is only seen inside the same clause, and bare "not" counts as negation, so
  "why can I not talk to a human?" is missed (while "why can't I ..." is found);
- other languages only match through `Settings.escalation_human_phrases`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'"})


def normalize(text: str) -> str:
    """Case-folded, compatibility-normalised text with one kind of apostrophe."""
    return unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).casefold()


@lru_cache(maxsize=512)
def _phrase_pattern(phrase: str) -> re.Pattern[str] | None:
    words = normalize(phrase).split()
    if not words:
        return None
    parts = []
    for word in words:
        if word.endswith("*") and len(word) > 1:
            parts.append(re.escape(word[:-1]) + r"\w*")
        else:
            parts.append(re.escape(word))
    # Lookarounds rather than \b: a keyword may itself start or end with punctuation.
    return re.compile(r"(?<!\w)" + r"\W+".join(parts) + r"(?!\w)")


def keyword_hits(text: str, keywords: Iterable[str]) -> tuple[str, ...]:
    """The configured keywords or phrases found in `text`, in configuration order."""
    folded = normalize(text)
    hits: dict[str, str] = {}  # one hit per keyword however it is capitalised
    for keyword in keywords:
        pattern = _phrase_pattern(keyword.strip())
        if pattern is not None and pattern.search(folded):
            hits.setdefault(pattern.pattern, keyword.strip())
    return tuple(hits.values())


_COMMAND = re.compile(r"^\s*/(?:human|agent|operator|person)(?:@\w+)?(?:\s|$)")

# Words that name the wrong thing after "human": HR, rights, a mistake...
_NOT_A_PERSON = r"(?!\W+(?:resources?|rights?|error|errors|nature|body|race|trafficking|capital))"
_HUMAN = rf"humans?(?:\s+beings?)?{_NOT_A_PERSON}"
_MODIFIER = r"(?:(?:real|live|actual|proper|human)\s+)"
_ARTICLE = (
    r"(?:(?:a|an|the|some|your|one\s+of\s+your|somebody\s+from\s+your|a\s+member\s+of\s+your)\s+)"
)
_STAFF = (
    r"(?:(?:person|agent|operator|representative|rep|manager|supervisor|employee)s?"
    r"|staff(?:\s+members?)?"
    r"|customer\s+(?:service|support|care)(?:\s+(?:agents?|reps?|representatives?|team))?"
    r"|support\s+(?:agents?|team|staff|person))"
)
# Someone you talk to: also "someone", which you may well "need" for other reasons.
_ANYONE = r"(?:someone|somebody|anyone|anybody|people)"
_CONTACT_VERB = (
    r"(?:talk|speak|chat|get\s+through|put\s+me\s+through|connect\s+me|transfer\s+me"
    r"|pass\s+me|forward\s+me|escalate\s+(?:this|me|it))"
)
_WANT_VERB = r"(?:want|need|get\s+me|give\s+me|request|ask\s+for|asking\s+for|prefer|bring\s+me)"

_REQUEST_PATTERNS = tuple(
    re.compile(p)
    for p in (
        # "can I talk to a human", "connect me with a live agent", "speak directly to someone"
        rf"(?<!\w){_CONTACT_VERB}(?:\s+\w+)?\s+(?:to|with)\s+{_ARTICLE}?{_MODIFIER}*"
        rf"(?:{_HUMAN}|{_STAFF}|{_ANYONE})(?!\w)",
        # "I want a human", "get me an agent", "I need a real person"
        rf"(?<!\w){_WANT_VERB}\s+{_ARTICLE}?(?:{_MODIFIER}+(?:{_HUMAN}|{_STAFF})"
        rf"|{_HUMAN}|(?:agent|operator|representative|manager|supervisor))(?!\w)",
        # "is this a real person?", "live agent please"
        r"(?<!\w)(?:real|live|actual)\s+(?:human|person|people|agent|operator|representative)(?!\w)",
        r"(?<!\w)human\s+(?:agent|operator|representative|support|assistance|help)(?!\w)",
        r"(?<!\w)(?:don't|do\s+not|doesn't)\s+want\s+(?:to\s+(?:talk|speak|chat)\s+(?:to|with)\s+)?"
        r"(?:a\s+|the\s+|this\s+|your\s+)?(?:bot|robot|chatbot|machine|ai)(?!\w)",
        r"(?<!\w)stop\s+(?:the\s+|this\s+)?(?:bot|robot|chatbot)(?!\w)",
        # "is there a human?", "anyone I can talk to?"
        rf"(?<!\w)(?:is|are)\s+there\s+(?:a\s+|an\s+|any\s+)?{_MODIFIER}*"
        r"(?:humans?|persons?|people|agents?|operators?)(?!\w)",
        r"(?<!\w)(?:someone|somebody|anyone|anybody|a\s+person|a\s+human)\s+(?:i|we)\s+"
        r"(?:can|could)\s+(?:talk|speak|chat)(?!\w)",
    )
)

# A message that is nothing but the request: "Human!!", "agent please", "a real person".
_BARE = re.compile(
    r"^(?:please\s+|pls\s+)?(?:a\s+|an\s+)?(?:real\s+|live\s+)?"
    r"(?:human|person|agent|operator|representative|rep|customer\s+service|support)"
    r"(?:\s+(?:please|pls|plz|now|asap))*$"
)
_CLAUSE_BREAK = re.compile(r"[.!?;,\n]|\bbut\b")
_NEGATION = re.compile(
    r"(?<!\w)(?:don't|dont|do\s+not|does\s+not|doesn't|didn't|did\s+not|no\s+need|never|not|without)(?!\w)"
)


def _negated(folded: str, start: int) -> bool:
    """A negation earlier in the same clause: "I don't need a human, thanks"."""
    clause = _CLAUSE_BREAK.split(folded[:start])[-1]
    return _NEGATION.search(clause) is not None


def is_human_request(text: str, extra_phrases: Iterable[str] = ()) -> bool:
    """Whether the customer asks to talk to a person (including the /human command).

    `extra_phrases` (e.g. `Settings.escalation_human_phrases`) are matched like
    keywords, without the negation check.
    """
    if _COMMAND.match(text):
        return True
    folded = normalize(text)
    bare = " ".join(re.sub(r"[^\w\s']", " ", folded).split())
    if _BARE.match(bare):
        return True
    for pattern in _REQUEST_PATTERNS:
        for match in pattern.finditer(folded):
            if not _negated(folded, match.start()):
                return True
    return bool(keyword_hits(text, extra_phrases))


# --- what two messages say apart from their shared opening and sign-off ----------------

# Contractions stay one word: the apostrophe in "where's" separates no clauses.
_WORD = re.compile(r"\w+(?:'\w+)*")
_QUESTION_MARKS = frozenset("?؟")


@dataclass(frozen=True, slots=True)
class Wording:
    """A message as its words, numbers left out, and the text between them.

    `gaps[i]` precedes `words[i]`; the last gap follows the last word. A gap holding
    punctuation ends a clause, as do both ends of the text.
    """

    words: tuple[str, ...]
    gaps: tuple[str, ...]
    dropped_numbers: bool = False

    @classmethod
    def of(cls, text: str) -> Wording:
        folded = normalize(text)
        words: list[str] = []
        gaps: list[str] = []
        gap, end, dropped = "", 0, False
        for match in _WORD.finditer(folded):
            gap += folded[end : match.start()]
            end = match.end()
            # Order ids and ticket numbers change from message to message without
            # changing the question; the text around a dropped number joins its gaps.
            if any(ch.isdigit() for ch in match.group()):
                dropped = True
                continue
            words.append(match.group())
            gaps.append(gap)
            gap = ""
        gaps.append(gap + folded[end:])
        return cls(tuple(words), tuple(gaps), dropped)

    def ends_clause(self, i: int) -> bool:
        """Whether a clause boundary separates words[:i] from words[i:]."""
        return i in (0, len(self.words)) or bool(self.gaps[i].strip())

    def asks(self, start: int, stop: int) -> bool:
        """Whether words[start:stop] hold a question mark (after any of them)."""
        return any(ch in _QUESTION_MARKS for gap in self.gaps[start + 1 : stop + 1] for ch in gap)

    def between(self, start: int, stop: int) -> str:
        """words[start:stop] as written, with the punctuation that closes them."""
        parts = [self.words[start]] if start < stop else []
        for i in range(start + 1, stop):
            parts += [self.gaps[i], self.words[i]]
        if start < stop:
            parts.append(self.gaps[stop])
        # A dropped number leaves its spaces behind.
        return " ".join("".join(parts).split())


def differing_parts(a: Wording, b: Wording) -> tuple[str, str] | None:
    """What `a` and `b` say besides the whole clauses they open or close with alike.

    Numbers do not count (see `Wording`). None when nothing is set aside (no shared
    clause, no number), or when a shared clause asks a question: then both messages
    ask it, whatever else they add ("Where is my parcel? It's been a week").
    An empty string means that message says nothing the other does not.
    """
    shortest = min(len(a.words), len(b.words))
    lead = 0
    for k in range(1, shortest + 1):
        if a.words[k - 1] != b.words[k - 1]:
            break
        if a.ends_clause(k) and b.ends_clause(k):
            lead = k
    na, nb = len(a.words), len(b.words)
    tail = 0
    for m in range(1, shortest - lead + 1):
        if a.words[na - m] != b.words[nb - m]:
            break
        if a.ends_clause(na - m) and b.ends_clause(nb - m):
            tail = m
    if not (lead or tail or a.dropped_numbers or b.dropped_numbers):
        return None
    if a.asks(0, lead) or b.asks(0, lead) or a.asks(na - tail, na) or b.asks(nb - tail, nb):
        return None
    return a.between(lead, na - tail), b.between(lead, nb - tail)
