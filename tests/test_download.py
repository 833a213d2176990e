"""The optional downloader against a local http.server on 127.0.0.1: good hash, bad hash, unreachable port."""

import functools
import hashlib
import http.server
import socket
import threading

import pytest

from seqcourse.data.download import ChecksumError, download, sha256sum

PAYLOAD = "深度序列建模 data\n".encode() * 1000


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def out_dir(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    return d


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "data.txt").write_bytes(PAYLOAD)
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_good_hash_downloads_and_is_idempotent(server, tmp_path):
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    target = tmp_path / "out" / "data.txt"
    assert download(f"{server}/data.txt", target, digest, timeout=5) == target
    assert target.read_bytes() == PAYLOAD and sha256sum(target) == digest
    # already present with the right hash: no request is made (the URL would 404)
    assert download(f"{server}/missing.txt", target, digest, timeout=5) == target


def test_bad_hash_deletes_and_raises(server, out_dir):
    target = out_dir / "data.txt"
    with pytest.raises(ChecksumError, match="expected"):
        download(f"{server}/data.txt", target, "0" * 64, timeout=5)
    assert not target.exists()
    assert list(out_dir.iterdir()) == []  # no partial file left behind


def test_unreachable_and_missing_give_clear_errors(server, out_dir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again at once: nothing listens there
    with pytest.raises(ConnectionError, match="offline"):
        download(f"http://127.0.0.1:{port}/x", out_dir / "x", "0" * 64, timeout=2)
    with pytest.raises(ConnectionError, match="404|Not Found"):
        download(f"{server}/missing.txt", out_dir / "y", "0" * 64, timeout=2)
    assert list(out_dir.iterdir()) == []


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="sha256"):
        download("http://127.0.0.1:1/x", tmp_path / "x", "abc")
    with pytest.raises(ValueError, match="timeout"):
        download("http://127.0.0.1:1/x", tmp_path / "x", "0" * 64, timeout=0)
