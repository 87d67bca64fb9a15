"""Fingerprints of a study and an on-disk store of finished results keyed by them.

A fingerprint is the SHA-256 of everything a run depends on: every settings section of the scenario
(outputs and sweep excluded: where results go, and which what-if study a run is part of, do not
change them), the content of every input file it
names, and the patchplan version. Two runs with the same fingerprint compute the same results
(runs are deterministic), so a finished one can be reused: by ``patchplan rounds`` to write one
provider's sheets without recomputing, and by sweeps to skip finished variants.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

from patchplan import __version__
from patchplan.io import atomic_path

if TYPE_CHECKING:
    from patchplan.scenario import Scenario

__all__ = ["ResultCache", "file_digest", "scenario_fingerprint"]

_FILE_KEYS = ("network", "areas", "pcns", "neighbourhoods", "addresses", "people", "visits",
              "existing", "practices")  # fmt: skip
_digests: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes (memoised per path, size and modification time)."""
    file = Path(path)
    stat = file.stat()
    key = (str(file.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _digests:
        digest = hashlib.sha256()
        with open(file, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        _digests[key] = digest.hexdigest()
    return _digests[key]


def _plain(value: Any) -> Any:
    """Settings as JSON-able values (tuples as lists, dataclasses as dicts)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def scenario_fingerprint(scenario: Scenario) -> str:
    """A hex digest of the scenario's settings, its input files' content and patchplan's version.

    Paths are replaced by the content of the files they name, so moving a study's data folder
    keeps its fingerprint while editing one row of a visits file changes it.
    """
    settings = {
        f.name: _plain(getattr(scenario, f.name))
        for f in dataclasses.fields(scenario)
        if f.name not in ("outputs", "path", "sweep")
    }
    inputs = settings.get("inputs", {})
    for key in _FILE_KEYS:
        path = scenario.input_path(key) if inputs.get(key) else None
        inputs[key] = file_digest(path) if path is not None and path.is_file() else inputs.get(key)
    inputs.pop("base_dir", None)
    text = json.dumps({"version": __version__, "settings": settings}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ResultCache:
    """Pickled results in one folder, one file per fingerprint, written atomically.

    Parameters
    ----------
    folder : where the files live (created on first write).
    """

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        """The file holding the result for ``key``."""
        return self.folder / f"{key}.pkl"

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()

    def get(self, key: str) -> Any | None:
        """The stored result, or None when there is none or it cannot be read (then recompute)."""
        file = self.path(key)
        if not file.is_file():
            return None
        try:
            with open(file, "rb") as fh:
                return pickle.load(fh)
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
            return None

    def put(self, key: str, value: Any) -> Path:
        """Store ``value`` under ``key`` (atomically: an interrupted write leaves no file)."""
        with atomic_path(self.path(key)) as tmp, open(tmp, "wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return self.path(key)
