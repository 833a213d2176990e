"""bAbI-style question answering generated locally (after Weston et al. 2016's toy tasks).

People move between places and pick up objects. Two kinds of question:

- ``where is <person> ?``  answer: the person's last place (one supporting fact);
- ``where is <object> ?``  answer: the last place of the person who picked it up (two supporting facts:
  who holds the object, then where that person went).

Stories are lists of sentences, each a list of words; :func:`encode_stories` turns them into padded id
tensors for a memory network.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seqcourse.utils import check_positive

__all__ = ["PEOPLE", "PLACES", "OBJECTS", "VOCAB", "QAExample", "generate_qa", "encode_stories"]

PEOPLE = ("mary", "john", "sandra", "daniel")
PLACES = ("kitchen", "garden", "office", "hallway", "bedroom", "bathroom")
OBJECTS = ("apple", "football", "milk")
VOCAB = ("<pad>", "went", "to", "the", "picked", "up", "where", "is", "?", *PEOPLE, *PLACES, *OBJECTS)
WORD_ID = {w: k for k, w in enumerate(VOCAB)}


@dataclass
class QAExample:
    """One story (sentences of words), a question (words), the answer word and the indices of the
    supporting sentences."""

    story: list[list[str]]
    question: list[str]
    answer: str
    support: list[int]


def _pick(seq: tuple[str, ...], gen: torch.Generator) -> str:
    return seq[int(torch.randint(len(seq), (1,), generator=gen))]


def generate_qa(n: int, n_sentences: int = 8, p_object_question: float = 0.5,
                seed: int = 0) -> list[QAExample]:
    """``n`` stories of ``n_sentences`` sentences, each followed by one answerable question."""
    check_positive(n=n, n_sentences=n_sentences)
    if n_sentences < 3:
        raise ValueError(f"n_sentences must be >= 3 (a pick-up and two moves), got {n_sentences}")
    gen = torch.Generator().manual_seed(seed)
    out = []
    while len(out) < n:
        place: dict[str, tuple[str, int]] = {}  # person -> (place, sentence index)
        holder: dict[str, tuple[str, int]] = {}  # object -> (person, sentence index)
        story = []
        for k in range(n_sentences):
            person = _pick(PEOPLE, gen)
            free = [o for o in OBJECTS if o not in holder]
            if person in place and free and float(torch.rand(1, generator=gen)) < 0.3:
                obj = _pick(tuple(free), gen)
                holder[obj] = (person, k)
                story.append([person, "picked", "up", "the", obj])
            else:
                where = _pick(PLACES, gen)
                place[person] = (where, k)
                story.append([person, "went", "to", "the", where])
        ask_object = float(torch.rand(1, generator=gen)) < p_object_question
        if ask_object:
            held = [o for o, (p, _) in holder.items() if p in place]
            if not held:
                continue
            obj = _pick(tuple(held), gen)
            person, k_pick = holder[obj]
            answer, k_move = place[person]
            out.append(QAExample(story, ["where", "is", "the", obj, "?"], answer, sorted({k_pick, k_move})))
        else:
            person = _pick(tuple(place), gen)
            answer, k_move = place[person]
            out.append(QAExample(story, ["where", "is", person, "?"], answer, [k_move]))
    return out


def encode_stories(examples: list[QAExample]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Word ids: stories (B, n_sentences, L), questions (B, L_q), answers (B,); 0 pads."""
    if not examples:
        raise ValueError("encode_stories needs at least one example")
    S = max(len(e.story) for e in examples)
    L = max(len(s) for e in examples for s in e.story)
    Lq = max(len(e.question) for e in examples)
    stories = torch.zeros(len(examples), S, L, dtype=torch.long)
    questions = torch.zeros(len(examples), Lq, dtype=torch.long)
    for b, e in enumerate(examples):
        for k, sent in enumerate(e.story):
            stories[b, k, : len(sent)] = torch.tensor([WORD_ID[w] for w in sent])
        questions[b, : len(e.question)] = torch.tensor([WORD_ID[w] for w in e.question])
    answers = torch.tensor([WORD_ID[e.answer] for e in examples])
    return stories, questions, answers
