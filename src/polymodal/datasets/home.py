"""Where real data lives, checksum verification, and canonical download for users without a local copy.

The data home is ``$POLYMODAL_DATA``. Every file there is listed in ``MANIFEST.sha256`` (``sha256  relpath``)
and is verified (once per process and file) before a loader reads it. A user without the folder can fetch the
files that are byte-for-byte copies of a public source; files the upstream data README says were converted
(flattened, recompressed, parsed) cannot be reproduced byte-identically, so for them we say where they come from.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import DataError

ENV_VAR = "POLYMODAL_DATA"
MANIFEST = "MANIFEST.sha256"

_RAW = "https://raw.githubusercontent.com"
# Files that are verbatim copies of a public source: relpath prefix -> URL template ({name} = file name).
_VERBATIM: dict[str, str] = {
    "multilabel/bibtex.mat": f"{_RAW}/SaltedPerson/CLML/9a275b6785c1aba2909a037c4c155eb31e7f33ad/data/bibtex.mat",
    "multilabel/": f"{_RAW}/ZesenChen/multi-label-dataset/5f20611a8d70aa0de7eb6edf6cf568d271ed0043/{{name}}",
    "isbi2012/": f"{_RAW}/zhixuhao/unet/b45af4d458437d8281cc218a07fd4380818ece4a/data/membrane/{{name}}",
}
# Converted files: where they come from (see the data README for the conversion).
_SOURCES: dict[str, str] = {
    "aol/": "github.com/wasiahmad/aol_query_log_analysis @ a3457b5 : user_search_logs/*.txt (flattened to TSV)",
    "debian/": "deb.debian.org debian bookworm main binary-amd64 Packages.xz (the index changes over time)",
    "amazon_uk_toys/": "github.com/Yannooh/Products @ 7e862002 : amazon_co-ecommerce_sample.csv (gzipped)",
    "reuters21578/": "github.com/wuodar/reuters_text_classification @ f52c802b : data/reut2-*.sgm (parsed)",
    "eth80/": "github.com/chenchkx/ETH-80 @ 9243466b (PNG resized to 128x128 and packed as npz)",
    "isbi2012/": "github.com/zhixuhao/unet @ b45af4d4 : data/membrane",
    "flickr8k/": "github.com/prakhar-dhakar/Image-Captioning @ 5ab31421 and quantumnaan/sic_translator @ b5393e59",
    "fashion_mnist/": "Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/)",
}

_verified: set[Path] = set()


def data_home(required: bool = True) -> Path | None:
    """The data folder from ``$POLYMODAL_DATA``; a clear error when it is unset or missing."""
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        if not required:
            return None
        raise DataError(
            f"{ENV_VAR} is not set: point it at the polymodal data folder (the one holding {MANIFEST}), "
            "e.g. export POLYMODAL_DATA=../shared/data"
        )
    home = Path(value).expanduser()
    if not (home / MANIFEST).is_file():
        raise DataError(f"{ENV_VAR}={value} has no {MANIFEST}: not a polymodal data folder")
    return home


def read_manifest(home: Path) -> dict[str, str]:
    """relpath -> sha256 hex digest."""
    out: dict[str, str] = {}
    for lineno, line in enumerate((home / MANIFEST).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise DataError(f"{home / MANIFEST}:{lineno}: malformed manifest line")
        out[parts[1].strip().lstrip("*")] = parts[0].lower()
    return out


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def canonical_url(relpath: str) -> str | None:
    """The download URL of a file that is a verbatim public copy, else None."""
    if relpath in _VERBATIM:
        return _VERBATIM[relpath]
    for prefix, template in _VERBATIM.items():
        if prefix.endswith("/") and relpath.startswith(prefix):
            return template.format(name=relpath[len(prefix):])
    return None


def _source_of(relpath: str) -> str:
    for prefix, src in _SOURCES.items():
        if relpath.startswith(prefix):
            return src
    return "see the data README"


def download(url: str, dest: Path, timeout: float = 60.0) -> None:
    """Download to a temporary file beside ``dest`` and rename it into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out)
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        Path(tmp).unlink(missing_ok=True)
        raise DataError(f"could not download {url}: {exc} (offline? set {ENV_VAR} to a local data folder)") from exc


def fetch(relpath: str, verify: bool = True) -> Path:
    """Path of a verified data file; downloads verbatim public copies that are missing."""
    home = data_home()
    assert home is not None
    manifest = read_manifest(home)
    if relpath not in manifest:
        raise DataError(f"{relpath} is not listed in {home / MANIFEST}")
    path = home / relpath
    if not path.is_file():
        url = canonical_url(relpath)
        if url is None:
            raise DataError(
                f"{path} is missing and is a converted file that cannot be downloaded verbatim; "
                f"source: {_source_of(relpath)}"
            )
        download(url, path)
    if verify and path not in _verified:
        digest = sha256_file(path)
        if digest != manifest[relpath]:
            raise DataError(f"checksum mismatch for {path}: expected {manifest[relpath]}, got {digest}")
        _verified.add(path)
    return path
