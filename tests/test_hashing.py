"""File hashes: exact, computed once per file version, redone when the file changes."""

from __future__ import annotations

import hashlib
import os

from fpexp.hashing import background_hash, prefetch, sha256_file


def test_sha256_file_matches_hashlib_across_block_boundaries(tmp_path):
    path = tmp_path / "data.bin"
    data = os.urandom(100_003)
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert sha256_file(path) == expected
    assert sha256_file(path, block=4096) == expected  # 25 blocks, the last one partial
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    assert sha256_file(empty) == hashlib.sha256(b"").hexdigest()


def test_a_prefetched_hash_is_reused_and_a_changed_file_is_hashed_again(tmp_path):
    path = tmp_path / "x.npy"
    path.write_bytes(b"first version")
    prefetch(path)
    job = background_hash(path)
    assert background_hash(path) is job
    assert job.result() == hashlib.sha256(b"first version").hexdigest()
    path.write_bytes(b"second version, longer")
    again = background_hash(path)
    assert again is not job
    assert again.result() == hashlib.sha256(b"second version, longer").hexdigest()


def test_prefetch_ignores_what_is_not_a_file(tmp_path):
    prefetch(None)
    prefetch(tmp_path / "missing.csv")
    prefetch(tmp_path)
