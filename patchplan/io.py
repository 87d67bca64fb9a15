"""Writing outputs atomically: a failed run never leaves a half-written file.

Every writer here creates a temporary file in the destination folder and renames it into place
(``os.replace`` is atomic on one filesystem), so readers see the old file or the new one, never a part.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import folium
    import geopandas as gpd
    import pandas as pd


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``, on error delete it.

    The file gets the permissions a plain ``open`` would give it (0666 less the umask), not the
    owner-only 0600 of a temporary file, so a shared folder's readers can open the outputs.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8"
) -> Iterator[IO]:
    """Open a file for writing that appears at ``path`` only if the block completes."""
    with (
        atomic_path(path) as tmp,
        open(tmp, mode, encoding=None if "b" in mode else encoding) as fh,
    ):
        yield fh


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_write(path) as fh:
        fh.write(text)
    return Path(path)


def write_csv(
    frame: pd.DataFrame,
    path: str | os.PathLike[str],
    index: bool = False,
    *,
    note: str = "",
    excel: bool = False,
) -> Path:
    """Write a table as UTF-8 CSV (Excel opens it) atomically; geometry columns are dropped.

    ``note`` is written as a first line above the header (e.g. an INTERNAL marking); ``excel``
    adds the byte-order mark Excel needs to read UTF-8 (dashes, accents) correctly.
    """
    table = frame.drop(columns="geometry") if "geometry" in frame.columns else frame
    with atomic_write(path, encoding="utf-8-sig" if excel else "utf-8") as fh:
        if note:
            fh.write(note + "\n")
        table.to_csv(fh, index=index, lineterminator="\n")
    return Path(path)


def write_gpkg(layers: dict[str, gpd.GeoDataFrame], path: str | os.PathLike[str]) -> Path:
    """Write several layers into one GeoPackage atomically (QGIS opens it)."""
    with atomic_path(path) as tmp:
        tmp.unlink()  # pyogrio must create the file itself
        for name, frame in layers.items():
            frame.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
    return Path(path)


def write_map(fmap: folium.Map, path: str | os.PathLike[str]) -> Path:
    """Save a Folium map as one HTML file atomically."""
    return write_text(path, fmap.get_root().render())
