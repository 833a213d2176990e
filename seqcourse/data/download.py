"""An optional downloader: runs only when called, with a timeout and a sha256 check of what it fetched.

Nothing in seqcourse downloads at import or at run time by default; the course's data ship with the repository
or are generated. Use this for extra data you choose to fetch::

    path = download("https://example.org/corpus.txt", "data/corpus.txt", sha256="9f86d0...")
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["sha256sum", "download", "ChecksumError"]


class ChecksumError(ValueError):
    """The downloaded bytes do not have the expected sha256 (the partial file has been deleted)."""


def sha256sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, path: str | os.PathLike, sha256: str, *, timeout: float = 30.0) -> Path:
    """Fetch ``url`` into ``path`` unless a file with the right ``sha256`` is already there.

    The bytes go to a temporary file next to ``path``; on a hash mismatch it is deleted and
    :class:`ChecksumError` is raised, so a corrupt or tampered file never lands at ``path``. Network failures
    (no connection, refused port, timeout after ``timeout`` seconds) raise ``ConnectionError`` naming the URL.
    """
    if not isinstance(sha256, str) or len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"sha256 must be 64 lowercase hex digits, got {sha256!r}")
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout}")
    path = Path(path)
    if path.exists() and sha256sum(path) == sha256:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    while block := response.read(1 << 20):
                        out.write(block)
            except (urllib.error.URLError, TimeoutError, OSError) as err:
                raise ConnectionError(
                    f"could not download {url} ({err}); are you offline? Fetch the file by hand and place it "
                    f"at {path}, or retry with a longer timeout"
                ) from err
        got = sha256sum(tmp)
        if got != sha256:
            raise ChecksumError(f"sha256 of {url} is {got}, expected {sha256}; the download was discarded")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
