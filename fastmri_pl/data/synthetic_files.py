"""File plumbing for the synthetic generator: atomic HDF5 writes and the fastMRI ISMRMRD header."""

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import h5py


@contextlib.contextmanager
def atomic_h5_files(paths: list[Path]) -> Iterator[list[h5py.File]]:
    """Open HDF5 files under temporary names; rename them all into place only if the block succeeds.

    A reader never sees a half-written file: an interrupted generation leaves only `.name.tmp` files, which
    no reader globs (they do not end in `.h5`).
    """
    temporaries = [path.with_name(f".{path.name}.{os.getpid()}.tmp") for path in paths]
    for tmp in temporaries:
        tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.ExitStack() as stack:
            yield [stack.enter_context(h5py.File(tmp, "w")) for tmp in temporaries]
        for tmp, path in zip(temporaries, paths, strict=True):
            os.replace(tmp, path)
    finally:
        for tmp in temporaries:
            tmp.unlink(missing_ok=True)


def fastmri_header(encoding: tuple[int, int, int], recon: tuple[int, int, int]) -> str:
    """A minimal ISMRMRD XML header with the encoded and reconstructed matrix sizes fastMRI tools read."""

    def space(tag: str, size: tuple[int, int, int]) -> str:
        x, y, z = size
        return f"<{tag}><matrixSize><x>{x}</x><y>{y}</y><z>{z}</z></matrixSize></{tag}>"

    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD"><encoding>'
        f"{space('encodedSpace', encoding)}{space('reconSpace', recon)}"
        "</encoding></ismrmrdHeader>"
    )
