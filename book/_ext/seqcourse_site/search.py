"""Chinese full-text search whose query side splits words the way the index side did.

Why the stock ``zh`` search missed 反向传播, 束搜索, 长短期记忆 …: the index side segments pages with
jieba (``cut_for_search``), so 反向传播 is stored as the two words 反向 and 传播, and drops every
one-character word (束 of 束搜索, 门 of 门控). The query side (``searchtools.js``) cuts only at spaces and
punctuation, so the query 反向传播 is one word that no index entry equals; partial matching only finds index
words *containing* the query, never a query made of several index words. "反向 传播" worked because the
user did the segmentation.

The fix keeps jieba on the index side and makes the browser segment the query with the index itself:

- index side: jieba ``cut_for_search`` as before (whole words plus their dictionary sub-words), with the
  glossary's Chinese terms added to jieba's dictionary (互相关, 神经认知机 are words of this book), and single
  Han characters are kept, so every Han character of the site is a key of the index;
- query side (``zh_search.js``, Sphinx's ``js_splitter_code`` hook): spaces between Han characters are
  dropped (Chinese is written without them), then each run of Han characters is cut into the fewest words of
  the index's own vocabulary (dynamic programming; ties go to the longest first word, as in forward maximum
  matching).
  Segments are therefore exactly the keys the index side produced, whatever jieba's dictionary; a second copy
  of jieba in the browser (several MB of dictionary) could still disagree with the filtered, stemmed index.
  The same script shows formulas in result snippets as plain text instead of raw ``\\(...\\)``.
"""

from __future__ import annotations

import re
from pathlib import Path

import snowballstemmer
from sphinx.search.zh import SearchChinese

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")  # the CJK ideograph blocks
_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
SPLITTER = (Path(__file__).parent / "zh_search.js").read_text(encoding="utf-8")


def glossary_words(glossary: str) -> list[str]:
    """Runs of three or more Han characters in the term lines (unindented) of MyST ``{glossary}`` blocks.

    A term line reads ``中文名（English name）``; its Chinese name becomes a word of jieba's dictionary.
    """
    words = set()
    for block in re.findall(r"```\{glossary\}\n(.*?)```", glossary, re.S):
        for line in block.splitlines():
            if line.strip() and not line.startswith((" ", "\t")):
                words.update(w for w in _HAN_RUN.findall(line.split("（")[0]) if len(w) >= 3)
    return sorted(words)


class SeqcourseChinese(SearchChinese):
    """Sphinx's jieba-based Chinese search, keeping one-character Han words, with a matching query splitter.

    Latin words are stemmed with the original Porter algorithm, the one ``language_data.js`` runs on queries
    (stock ``zh`` stems the index with Snowball's English stemmer and keeps some short words unstemmed, so
    "key" and "adding" were stored under other keys than the browser looked up).
    """

    js_splitter_code = SPLITTER

    def init(self, options: dict[str, str]) -> None:
        super().init(options)
        self.stemmer = snowballstemmer.stemmer("porter")

    def stem(self, word: str) -> str:
        return self.stemmer.stemWord(word.lower())

    def word_filter(self, stemmed_word: str) -> bool:
        return len(stemmed_word) > 1 or bool(_HAN.fullmatch(stemmed_word))
