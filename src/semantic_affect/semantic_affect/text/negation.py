"""Template sentences that teach the head what negation does to emotion words.

GoEmotions has few negated emotion words, so a bag-of-words or embedding head reads "I'm not happy"
as joy. These templates pair a negated emotion word with the label it implies in conversation:
a negated positive state is sadness (about oneself) or anger (aimed at someone or something); a
negated negative state is neutral, or happiness when relief is said. Added to training only; the
conversational development set is written separately and never generated from here.
"""

from __future__ import annotations

import itertools

SUBJECTS = ("i'm", "i am", "honestly i'm", "i'm really", "i'm just", "we're")
POSITIVE = ("happy", "glad", "pleased", "excited", "thrilled", "satisfied", "in a good mood", "having fun",
            "enjoying this", "feeling great")
NEGATIVE_STATES = ("sad", "angry", "upset", "scared", "worried", "afraid", "mad", "nervous", "annoyed",
                   "anxious", "cross", "frightened")
TARGETS = ("with you", "with this service", "with how you treated me", "about the way they handled it",
           "with the repair", "that you lied to me", "with this at all")
SELF_TAILS = ("", "today", "anymore", "since she left")
CALM_TAILS = ("anymore", "at all", "about it", "now", "about the trip")
RELIEF = ("it's not bad at all", "that's not bad", "not bad at all, i like it", "i can't complain, it's lovely",
          "i couldn't be happier", "no complaints, it was perfect", "i'm not worried anymore, it worked out",
          "i'm not scared anymore, i feel great", "i never thought it would go this well",
          "nothing could spoil this day")


def negation_examples() -> list[tuple[str, str]]:
    """(text, canonical label) pairs, deterministic order."""
    out: list[tuple[str, str]] = []
    for subj, adj, tail in itertools.product(SUBJECTS[:4], POSITIVE, SELF_TAILS):
        out.append((f"{subj} not {adj} {tail}".strip(), "sadness"))
    for subj, adj, target in itertools.product(SUBJECTS[:3], ("happy", "pleased", "satisfied", "okay"), TARGETS):
        out.append((f"{subj} not {adj} {target}", "anger"))
    for subj, adj, tail in itertools.product(SUBJECTS[:3], NEGATIVE_STATES, CALM_TAILS):
        out.append((f"{subj} not {adj} {tail}", "neutral"))
    for text in RELIEF:
        out.append((text, "happiness"))
    return out
