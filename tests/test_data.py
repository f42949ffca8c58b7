"""Tests of rnn_tutorial.data: lookup order, checksums, downloads (against a local HTTP
server on 127.0.0.1) and the loaders on the real offline data folder."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import io
import os
import socket
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

from rnn_tutorial import data
from rnn_tutorial.data import (
    ChecksumError,
    DataFile,
    Dataset,
    DatasetNotFoundError,
    UnknownDatasetError,
)

GOOD = b"the book's verified bytes\n" * 100
BAD = b"some other bytes entirely\n" * 100  # same length as GOOD
SHA_GOOD = hashlib.sha256(GOOD).hexdigest()
SHA_BAD = hashlib.sha256(BAD).hexdigest()


def _real_data_dir() -> Path:
    env = os.environ.get("RNN_TUTORIAL_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


REAL = _real_data_dir()
needs_real = pytest.mark.skipif(
    not (REAL / "SHA256SUMS").is_file(),
    reason=f"offline data folder {REAL} is absent (set RNN_TUTORIAL_DATA to it)",
)


# --- a local HTTP server ---------------------------------------------------------------------


class Server(http.server.ThreadingHTTPServer):
    routes: dict[str, bytes]
    hits: list[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:
        self.server.hits.append(self.path)
        body = self.server.routes.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        # /truncated/...: promise 1000 bytes more than are sent, then close the connection.
        extra = 1000 if self.path.startswith("/truncated/") else 0
        self.send_header("Content-Length", str(len(body) + extra))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def _server() -> Iterator[Server]:
    srv = Server(("127.0.0.1", 0), Handler)
    srv.routes, srv.hits = {}, []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


@pytest.fixture
def server(_server: Server) -> Server:
    _server.routes.clear()
    _server.hits.clear()
    return _server


@pytest.fixture
def closed_port_url() -> str:
    """A URL on a port nobody listens on: connection refused stands for "offline"."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/a.txt"


@pytest.fixture(autouse=True)
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Every test gets an empty data folder and cache under tmp_path (never the user cache)."""
    data_dir, cache = tmp_path / "data", tmp_path / "cache"
    data_dir.mkdir()
    monkeypatch.setenv("RNN_TUTORIAL_DATA", str(data_dir))
    monkeypatch.setenv("RNN_TUTORIAL_CACHE", str(cache))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return data_dir, cache


def register(monkeypatch: pytest.MonkeyPatch, url: str, sha256: str = SHA_GOOD) -> None:
    """A test-only registry entry "toy" with one file a.txt served at ``url``."""
    toy = Dataset("toy", (DataFile("a.txt", sha256, url),), "tests")
    monkeypatch.setitem(data.DATASETS, "toy", toy)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if not p.is_dir()) if root.exists() else []


# --- registry and lookup ---------------------------------------------------------------------


@needs_real
def test_registry_matches_sha256sums() -> None:
    sums = {}
    for line in (REAL / "SHA256SUMS").read_text().splitlines():
        digest, rel = line.split()
        sums[rel.removeprefix("./")] = digest
    ours = {f"{ds.name}/{f.name}": f.sha256 for ds in data.DATASETS.values() for f in ds.files}
    assert ours == sums
    for ds in data.DATASETS.values():  # every file can be downloaded from somewhere
        assert ds.archive or ds.fallback or all(f.url for f in ds.files), ds.name


def test_unknown_dataset_lists_known_names() -> None:
    with pytest.raises(UnknownDatasetError) as err:
        data.fetch("mnits")
    assert isinstance(err.value, KeyError)
    for name in ("mnist", "imdb", "ptb", "names", "fra-eng", "tinyshakespeare"):
        assert name in str(err.value)


def test_data_dir_comes_first_then_cache(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, closed_port_url: str
) -> None:
    data_dir, cache = dirs
    register(monkeypatch, closed_port_url)
    (cache / "toy").mkdir(parents=True)
    (cache / "toy" / "a.txt").write_bytes(GOOD)
    assert data.fetch("toy") == {"a.txt": cache / "toy" / "a.txt"}  # offline: from the cache
    (data_dir / "toy").mkdir()
    (data_dir / "toy" / "a.txt").write_bytes(GOOD)
    assert data.fetch("toy") == {"a.txt": data_dir / "toy" / "a.txt"}


def test_missing_offline_names_file_url_and_env_var(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, closed_port_url: str
) -> None:
    register(monkeypatch, closed_port_url)
    with pytest.raises(DatasetNotFoundError) as err:
        data.fetch("toy")
    assert isinstance(err.value, FileNotFoundError)
    for part in ("toy/a.txt", closed_port_url, "RNN_TUTORIAL_DATA"):
        assert part in str(err.value)
    assert files_under(dirs[1]) == []


# --- downloads -------------------------------------------------------------------------------


def test_download_is_verified_and_cached(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, server: Server
) -> None:
    server.routes["/good/a.txt"] = GOOD
    register(monkeypatch, server.url + "/good/a.txt")
    path = data.fetch("toy")["a.txt"]
    assert path == dirs[1] / "toy" / "a.txt" and path.read_bytes() == GOOD
    assert data.fetch("toy")["a.txt"] == path  # the second call is served from the cache
    assert server.hits == ["/good/a.txt"]
    assert files_under(dirs[1]) == [path]  # no temp files left behind


def test_download_with_wrong_hash_is_rejected(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, server: Server
) -> None:
    server.routes["/bad/a.txt"] = BAD
    register(monkeypatch, server.url + "/bad/a.txt")
    with pytest.raises(ChecksumError) as err:
        data.fetch("toy")
    assert (err.value.expected, err.value.actual) == ("sha256:" + SHA_GOOD, "sha256:" + SHA_BAD)
    for part in (server.url + "/bad/a.txt", SHA_GOOD, SHA_BAD):
        assert part in str(err.value)
    assert files_under(dirs[1]) == []


def test_interrupted_download_leaves_no_partial_file(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, server: Server
) -> None:
    server.routes["/truncated/a.txt"] = GOOD
    register(monkeypatch, server.url + "/truncated/a.txt")
    with pytest.raises(DatasetNotFoundError) as err:
        data.fetch("toy")
    assert "/truncated/a.txt" in str(err.value) and "RNN_TUTORIAL_DATA" in str(err.value)
    assert isinstance(err.value.__cause__, requests.exceptions.ChunkedEncodingError)  # cut short
    assert server.hits == ["/truncated/a.txt"]
    assert files_under(dirs[1]) == []  # neither toy/a.txt nor a temp file anywhere


# --- corrupt local files ---------------------------------------------------------------------


@pytest.mark.parametrize("where", ["data", "cache"])
def test_corrupt_local_file_is_never_used(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, server: Server, where: str
) -> None:
    server.routes["/good/a.txt"] = GOOD
    register(monkeypatch, server.url + "/good/a.txt")
    bad = dirs[0 if where == "data" else 1] / "toy" / "a.txt"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(BAD)
    with pytest.raises(ChecksumError) as err:
        data.fetch("toy")
    assert err.value.path == str(bad)
    for part in (str(bad), SHA_GOOD, SHA_BAD):
        assert part in str(err.value)
    if where == "cache":
        assert "Delete" in str(err.value)
    assert bad.read_bytes() == BAD and server.hits == []  # not silently replaced


def test_file_changed_after_verification_is_caught(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, closed_port_url: str
) -> None:
    register(monkeypatch, closed_port_url)
    path = dirs[0] / "toy" / "a.txt"
    path.parent.mkdir()
    path.write_bytes(GOOD)
    data.fetch("toy")
    path.write_bytes(BAD)  # same size; the verification memo keys on the mtime too
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(ChecksumError):
        data.fetch("toy")


# --- archives (names, fra-eng) and the IMDB fallback -------------------------------------------


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, body in members.items():
            zf.writestr(name, body)
    return buf.getvalue()


@pytest.mark.parametrize("b_bytes", [BAD, GOOD], ids=["bad-member", "good"])
def test_archive_members_verified_then_moved(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, server: Server, b_bytes: bytes
) -> None:
    zipped = _zip({"pre/a.txt": GOOD, "pre/b.txt": b_bytes, "pre/other.txt": b"x"})
    server.routes["/arc.zip"] = zipped
    files = (DataFile("a.txt", SHA_GOOD), DataFile("b.txt", SHA_GOOD))
    archive = data.Archive(
        server.url + "/arc.zip", "sha1:" + hashlib.sha1(zipped).hexdigest(), "pre/"
    )
    monkeypatch.setitem(data.DATASETS, "toy", Dataset("toy", files, "tests", archive=archive))
    if b_bytes is BAD:
        with pytest.raises(ChecksumError) as err:
            data.fetch("toy")
        assert "arc.zip:pre/b.txt" in str(err.value) and SHA_BAD in str(err.value)
        assert files_under(dirs[1]) == []  # all or nothing: a.txt was not moved either
    else:
        paths = data.fetch("toy")
        assert {k: p.read_bytes() for k, p in paths.items()} == {"a.txt": GOOD, "b.txt": GOOD}
        assert files_under(dirs[1]) == sorted(paths.values())  # no zip, no temp folder


def test_archive_with_wrong_hash_is_rejected(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, server: Server
) -> None:
    server.routes["/arc.zip"] = _zip({"pre/a.txt": GOOD})
    archive = data.Archive(server.url + "/arc.zip", "sha1:" + "0" * 40, "pre/")
    toy = Dataset("toy", (DataFile("a.txt", SHA_GOOD),), "tests", archive=archive)
    monkeypatch.setitem(data.DATASETS, "toy", toy)
    with pytest.raises(ChecksumError, match="sha1:0000"):
        data.fetch("toy")
    assert files_under(dirs[1]) == []


def test_archive_that_is_not_a_zip_is_rejected(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, server: Server
) -> None:
    server.routes["/arc.zip"] = b"<html>not found</html>"  # hash unknown, as for names
    archive = data.Archive(server.url + "/arc.zip", None, "pre/")
    toy = Dataset("toy", (DataFile("a.txt", SHA_GOOD),), "tests", archive=archive)
    monkeypatch.setitem(data.DATASETS, "toy", toy)
    with pytest.raises(DatasetNotFoundError, match="not a zip archive"):
        data.fetch("toy")
    assert files_under(dirs[1]) == []


def test_imdb_falls_back_to_canonical_tar(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, server: Server
) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in [
            ("aclImdb/train/pos/1_9.txt", "great"),
            ("aclImdb/train/neg/0_2.txt", "awful"),
            ("aclImdb/test/pos/3_10.txt", "superb"),
            ("aclImdb/test/neg/2_1.txt", "dull"),
            ("aclImdb/train/unsup/4_0.txt", "unlabelled"),
            ("aclImdb/README", "readme"),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    server.routes["/aclImdb_v1.tar.gz"] = buf.getvalue()
    md5 = "md5:" + hashlib.md5(buf.getvalue()).hexdigest()
    fallback = ("aclImdb_v1.tar.gz", server.url + "/aclImdb_v1.tar.gz", md5)
    imdb = dataclasses.replace(data.DATASETS["imdb"], fallback=fallback)
    monkeypatch.setitem(data.DATASETS, "imdb", imdb)
    (x_train, y_train), (x_test, y_test) = data.load_imdb()
    assert (x_train, x_test) == (["awful", "great"], ["dull", "superb"])
    assert y_train.dtype == np.int64 and y_train.tolist() == [0, 1] and y_test.tolist() == [0, 1]
    assert files_under(dirs[1]) == [dirs[1] / "imdb" / "aclImdb_v1.tar.gz"]


# --- the idx parser --------------------------------------------------------------------------


def _idx(path: Path, magic: int, dims: tuple[int, ...], n_bytes: int) -> Path:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    path.write_bytes(gzip.compress(header + bytes(range(n_bytes))))
    return path


def test_idx_parser_checks_magic_and_dims(tmp_path: Path) -> None:
    ok = data._read_idx(_idx(tmp_path / "ok.gz", 0x803, (2, 3, 4), 24), 0x803, (2, 3, 4))
    assert ok.dtype == np.uint8 and ok.shape == (2, 3, 4) and ok[1, 2, 3] == 23
    for magic, dims, n_bytes in [
        (0x801, (2, 3, 4), 24),
        (0x803, (2, 4, 3), 24),
        (0x803, (2, 3, 4), 23),
    ]:
        with pytest.raises(ValueError, match="expected idx magic"):
            data._read_idx(_idx(tmp_path / "bad.gz", magic, dims, n_bytes), 0x803, (2, 3, 4))


# --- the loaders on the real offline data ----------------------------------------------------


@pytest.fixture
def real(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNN_TUTORIAL_DATA", str(REAL))


@pytest.fixture(scope="session")
def imdb(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """IMDB parsed once per session (the slowest loader)."""
    if not (REAL / "SHA256SUMS").is_file():
        pytest.skip(f"offline data folder {REAL} is absent")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RNN_TUTORIAL_DATA", str(REAL))
        mp.setenv("RNN_TUTORIAL_CACHE", str(tmp_path_factory.mktemp("cache")))
        return data.load_imdb()


@needs_real
def test_mnist(real: None) -> None:
    (x_train, y_train), (x_test, y_test) = data.load_mnist()
    assert (x_train.shape, y_train.shape) == ((60000, 28, 28), (60000,))
    assert (x_test.shape, y_test.shape) == ((10000, 28, 28), (10000,))
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    counts = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(y_train).tolist() == counts
    assert x_train.mean() / 255 == pytest.approx(0.1306605, abs=1e-6)


@needs_real
def test_tiny_shakespeare(real: None) -> None:
    text = data.load_tiny_shakespeare()
    assert len(text) == 1_115_394 and len(set(text)) == 65


@needs_real
def test_ptb(real: None) -> None:
    ptb = data.load_ptb()
    assert {k: len(v) for k, v in ptb.items()} == {
        "train": 929_589,
        "valid": 73_760,
        "test": 82_430,
    }
    assert len(set(ptb["train"])) == 10_000 and ptb["train"][-1] == "<eos>"
    assert set(ptb["valid"]) <= set(ptb["train"]) and "<unk>" in ptb["train"]


@needs_real
def test_imdb(imdb: tuple) -> None:
    (x_train, y_train), (x_test, y_test) = imdb
    assert len(x_train) == len(x_test) == 25_000 and isinstance(x_train[0], str)
    assert y_train.dtype == y_test.dtype == np.int64
    assert np.bincount(y_train).tolist() == np.bincount(y_test).tolist() == [12_500, 12_500]


@needs_real
def test_fra_eng(real: None) -> None:
    pairs = data.load_fra_eng()
    assert len(pairs) == 167_130 and pairs[0] == ("Go.", "Va !")
    assert all(len(p) == 2 and "\t" not in p[0] + p[1] for p in pairs[:1000])


@needs_real
def test_names(real: None) -> None:
    names = data.load_names()
    assert len(names) == 18 and list(names) == sorted(names)
    assert sum(map(len, names.values())) == 20_074
    assert all(n and n == n.strip() for ns in names.values() for n in ns)


def test_co2_from_statsmodels() -> None:
    dates, co2 = data.load_co2()
    assert len(dates) == len(co2) == 2284 and co2.dtype == np.float64
    assert str(dates[0]) == "1958-03-29" and str(dates[-1]) == "2001-12-29"
    assert (np.diff(dates) == np.timedelta64(7, "D")).all()
    assert int(np.isnan(co2).sum()) == 59 and co2[0] == 316.1
    assert 310 < np.nanmin(co2) and np.nanmax(co2) < 380


def test_co2_with_a_corrupt_file_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "_CO2_SHA256", "0" * 64)
    with pytest.raises(ChecksumError, match="Reinstall the statsmodels"):
        data.load_co2()
