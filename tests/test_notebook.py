"""The Rutland walkthrough notebook runs top to bottom on the real data.

Slow (two to three minutes on two cores): deselect with ``-m "not shared"``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "rutland_walkthrough.ipynb"


def test_notebook_is_committed_without_outputs():
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the walkthrough has code cells"
    assert all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.shared
def test_rutland_walkthrough_runs_and_shows_the_lots_map(shared_data, monkeypatch, tmp_path):
    import nbformat
    from jupyter_client import KernelManager
    from nbclient import NotebookClient

    # The kernel must run this interpreter (the venv with patchplan). ipykernel's own "python3"
    # spec says "python", which jupyter_client replaces by sys.executable; a spec registered by
    # another Python would not.
    command = KernelManager(kernel_name="python3").format_kernel_cmd()
    assert Path(command[0]).resolve() == Path(sys.executable).resolve(), (
        f"kernel 'python3' runs {command[0]}, not {sys.executable}: remove the other kernelspec"
    )
    monkeypatch.setenv("PATCHPLAN_SHARED", str(shared_data.parent))

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(
        o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs
    )
    assert "23 LSOAs, 10,385 residents aged 65+" in text
    assert "PCNs: ['U67590']" in text
    assert "274 people" in text
    html = "\n".join(str(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "leaflet" in html.lower() and "SYNTHETIC" in html, "the lots map is displayed inline"
