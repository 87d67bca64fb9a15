"""Writing outputs atomically: a failed run never leaves a half-written file.

Every writer here creates a temporary file in the destination folder and renames it into place
(``os.replace`` is atomic on one filesystem), so readers see the old file or the new one, never a part.
Inside :func:`all_or_nothing` the renames wait until the whole block has finished, so an interrupted
or failed write phase leaves no new file, no temporary file and no new folder. :func:`folder_lock`
keeps two runs from writing one outputs folder at once, and :func:`safe_name` turns a study name
into a file name that stays inside its folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from patchplan.errors import OutputsError

if TYPE_CHECKING:
    import folium
    import geopandas as gpd
    import pandas as pd

LOCK_NAME = ".patchplan.lock"
"""The lock file :func:`folder_lock` keeps in an outputs folder while a run writes there."""

# GDAL's SQLite driver keeps these beside a GeoPackage while it is open.
_SIDECARS = ("-journal", "-wal", "-shm")
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def safe_name(text: str, default: str = "study") -> str:
    """``text`` as a file name that stays in its folder: letters, digits, ``.``, ``_`` and ``-``.

    Any other run of characters (``/``, ``\\``, spaces, ``:``) becomes one ``-``; leading dots and
    dashes go (no hidden files, no ``..``), and the result is at most 100 characters. Empty → ``default``.
    """
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip(".-")[:100].rstrip(".-")
    return name or default


# --------------------------------------------------------------------------------------------------
# all or nothing


@dataclass
class _Staged:
    """Files written inside :func:`all_or_nothing`, waiting to be renamed into place."""

    files: list[tuple[Path, Path]] = field(default_factory=list)  # (temporary, target)
    folders: list[Path] = field(default_factory=list)  # created by this block, deepest last


_staged: _Staged | None = None


def _make_folder(folder: Path) -> None:
    """``mkdir -p``, remembering the folders made inside :func:`all_or_nothing`."""
    missing = []
    for parent in (folder, *folder.parents):
        if parent.exists():
            break
        missing.append(parent)
    folder.mkdir(parents=True, exist_ok=True)
    if _staged is not None:
        _staged.folders.extend(reversed(missing))


def _remove(tmp: Path) -> None:
    for path in (tmp, *(tmp.with_name(tmp.name + s) for s in _SIDECARS)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def all_or_nothing() -> Iterator[None]:
    """Make every file written in the block appear together at the end, or none of them.

    Writers (:func:`atomic_path` and everything built on it) keep their temporary files until the
    block ends; then all are renamed into place with SIGINT and SIGTERM held back, so a signal
    cannot split the set. If the block raises (an error, or :class:`~patchplan.errors.Interrupted`
    by a signal), or a stop signal is already waiting when the renames would start, the temporary
    files and the folders the block created are removed and nothing new remains. Nested blocks
    join the outer one.
    """
    global _staged
    if _staged is not None:
        yield
        return
    staged = _staged = _Staged()
    try:
        yield
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            if signal.sigpending() & _STOP_SIGNALS:
                _discard(staged)  # the signal is delivered (and raised) as the mask is restored
            else:
                for tmp, target in staged.files:
                    os.replace(tmp, target)
                staged.files.clear()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    except BaseException:
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:  # a second Ctrl-C must not cut the clean-up short
            _discard(staged)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        raise
    finally:
        _staged = None


def _discard(staged: _Staged) -> None:
    for tmp, _ in staged.files:
        _remove(tmp)
    staged.files.clear()
    for folder in reversed(staged.folders):
        with contextlib.suppress(OSError):  # not empty: someone else wrote there meanwhile
            folder.rmdir()
    staged.folders.clear()


# --------------------------------------------------------------------------------------------------
# writers


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``, on error delete it.

    The file gets the permissions a plain ``open`` would give it (0666 less the umask), not the
    owner-only 0600 of a temporary file, so a shared folder's readers can open the outputs. Inside
    :func:`all_or_nothing` the rename waits for the end of that block.
    """
    target = Path(path)
    _make_folder(target.parent)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    kept = False
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_umask())
        if _staged is not None:
            _staged.files.append((tmp, target))
            kept = True
        else:
            os.replace(tmp, target)
    finally:
        if not kept:
            _remove(tmp)


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


# --------------------------------------------------------------------------------------------------
# one run per outputs folder


def lock_holder(folder: str | os.PathLike[str]) -> int | None:
    """The pid of the live run holding ``folder``'s lock, or None when it is free (or stale)."""
    import fcntl

    lock = Path(folder) / LOCK_NAME
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _pid_in(fd)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _pid_in(fd: int) -> int:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else -1


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold ``folder``'s lock for the block, so no other patchplan run writes there meanwhile.

    The lock is an OS file lock (``flock``) on ``folder/.patchplan.lock``, which also holds the
    owner's pid for the message. The OS releases it when its process ends, however it ends, so a
    lock left by a run that died is simply taken over. A folder this call creates is removed again
    at the end if it is still empty.

    Raises
    ------
    OutputsError
        Another live run holds the lock (the message names the folder and its pid), or the folder
        cannot be created or written.
    """
    import fcntl

    root = Path(folder)
    made = [p for p in (root, *root.parents) if not p.exists()]
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputsError(f"outputs folder {root}: cannot be created ({exc.strerror})") from exc
    lock = root / LOCK_NAME
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputsError(
                f"outputs folder {root}: cannot be written ({exc.strerror})"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _pid_in(fd)
            os.close(fd)
            raise OutputsError(
                f"outputs folder {root} is in use by another patchplan run (pid {pid}); wait for "
                "it to finish, or give this study another [outputs] dir"
            ) from None
        # the holder before us may have removed the file between our open and our lock: retry
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield lock
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
        os.close(fd)
        for path in made:
            try:
                path.rmdir()
            except OSError:  # not empty: the run wrote there
                break
