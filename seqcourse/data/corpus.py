"""Real text that needs no download: the Python language reference shipped with CPython.

``pydoc_data.topics`` holds the text of ``help("assignment")``, ``help("for")`` and the other language
reference topics (about 80 topics, 0.45 million characters of English prose and code, under the PSF licence
like CPython itself). The exact text changes a little between Python versions, so numbers measured on it
(perplexities, losses) are reproducible for one Python version only.
"""

from __future__ import annotations

from seqcourse.utils import check_int_range

__all__ = ["python_docs_topics", "python_docs"]


def python_docs_topics() -> dict[str, str]:
    """Topic name -> text, as shipped with the running Python."""
    from pydoc_data.topics import topics

    return dict(topics)


def python_docs(split: str = "train", val_every: int = 10) -> str:
    """The topics in name order, joined by blank lines; a deterministic split by topic.

    Topic number i (0-based, in sorted name order) goes to ``"val"`` when ``i % val_every == val_every - 1``
    and to ``"train"`` otherwise; ``"all"`` returns every topic. Splitting by topic, not by character,
    keeps the validation text unseen as a whole.
    """
    if split not in ("train", "val", "all"):
        raise ValueError(f"split must be 'train', 'val' or 'all', got {split!r}")
    check_int_range("val_every", val_every, 2)
    topics = python_docs_topics()
    chosen = []
    for i, name in enumerate(sorted(topics)):
        is_val = i % val_every == val_every - 1
        if split == "all" or (split == "val") == is_val:
            chosen.append(topics[name].strip())
    return "\n\n".join(chosen)
