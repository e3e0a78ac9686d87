"""A small built-in English corpus to train reference tokenizers on (no downloads)."""
from __future__ import annotations

import itertools

_SUBJECTS = ["the movie", "this phone", "my neighbour", "the new album", "our team", "the weather", "a small cafe",
             "the museum in Paris", "John Smith", "the river Thames", "Microsoft", "the old library", "Angela Merkel",
             "the train to Berlin", "a quiet hotel", "the election", "Google", "the soup", "the children", "Mount Everest"]
_VERBS = ["was", "is", "seems", "looked", "felt", "became", "remains", "sounded"]
_OBJECTS = ["absolutely wonderful", "terribly boring", "surprisingly good", "quite bad", "rather expensive",
            "really cheap", "very crowded", "completely empty", "fantastic and fun", "awful and slow", "calm",
            "noisy", "beautiful", "ugly", "delicious", "disappointing", "excellent", "average", "strange", "perfect"]
_EXTRA = [
    "I love this", "I hate this", "What a great day", "This is the worst experience of my life",
    "The capital of France is Paris.", "Berlin is the capital of Germany.", "Who wrote the book?",
    "The quick brown fox jumps over the lazy dog.", "She sells sea shells by the sea shore.",
    "Machine learning models run on edge devices.", "The engine converts the model to a faster format.",
    "Hugging Face pipelines return labels and scores.", "Tokenizers split text into word pieces.",
    "Where is the nearest train station?", "How much does it cost?", "Barack Obama was born in Hawaii.",
    "Apple announced a new product in California.", "The meeting is on Monday at ten.",
    "Translate this sentence into German.", "Summarize the following article in one line.",
]


def sentences(n: int | None = None) -> list[str]:
    combos = (f"{s} {v} {o}." for s, v, o in itertools.product(_SUBJECTS, _VERBS, _OBJECTS))
    text = _EXTRA + [c[0].upper() + c[1:] for c in combos]
    return text if n is None else text[:n]
