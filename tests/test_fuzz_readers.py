"""Fuzzing the readers (issue 20): mutated real ATLAS9, MARCS, FITS and MOOG files give a model or a
one-line error naming the file, never a traceback, a MemoryError or a hang.

Hypothesis runs derandomized (the same 2,000 files per format on every run) with a per-file
deadline; every model that is read is also put through ``innterpol check``, which must judge it
without raising.
"""

import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = 2000
#: Seconds one mutated file may take to be read and checked.
PER_FILE = 2.0

#: Byte strings that make numbers and counts hostile.
NASTY = [b"99999999999", b"-1", b"0", b"NaN", b"1e308", b"-0", b"\x00", b"\xff\xfe", b"READ DECK6", b"TEFF",
         b"Number of depth points", b"\n", b"E+99", b"9" * 40]


@st.composite
def mutations(draw, size: int):
    """A list of (kind, position, length, payload) edits of a file of ``size`` bytes."""
    ops = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "delete", "duplicate", "insert", "truncate", "nasty"]))
        pos = draw(st.integers(0, max(0, size - 1)))
        length = draw(st.integers(1, 200))
        payload = draw(st.binary(min_size=1, max_size=8)) if kind == "insert" else draw(st.sampled_from(NASTY))
        ops.append((kind, pos, length, payload))
    return ops


def apply(data: bytes, ops) -> bytes:
    out = bytearray(data)
    for kind, pos, length, payload in ops:
        pos = min(pos, max(0, len(out) - 1))
        if kind == "flip" and out:
            out[pos] ^= 1 << (length % 8)
        elif kind == "delete":
            del out[pos:pos + length]
        elif kind == "duplicate":
            out[pos:pos] = out[pos:pos + length]
        elif kind == "insert":
            out[pos:pos] = payload
        elif kind == "truncate":
            del out[pos:]
        elif kind == "nasty":
            out[pos:pos + min(length, len(payload))] = payload
    return bytes(out)


def _seed(fmt: str, shared: Path) -> bytes:
    import formats

    if fmt == "atlas9":
        return (shared / "samples/atlas9/t03500g5.0am05ak2odfnew.dat").read_bytes()
    if fmt == "marcs":
        return (shared / "samples/marcs/sun.mod").read_bytes()
    if fmt == "moog":
        return formats.get_format("moog").format_model(formats.read(shared / "samples/atlas9/ksun.mod")[0]).encode()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "seed.fits"
        formats.write(formats.read(shared / "samples/marcs/sun.mod"), path, "fits")
        return path.read_bytes()


@pytest.mark.parametrize("fmt", ["atlas9", "marcs", "fits", "moog"])
def test_mutated_files_read_or_fail_in_one_line(fmt, shared):
    import formats
    from formats.errors import InnterpolError
    from innterpol_cli.check import check

    seed = _seed(fmt, shared)
    seen = {"models": 0, "errors": 0}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz.{fmt}"

        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(mutations(len(seed)))
        def read_one(ops):
            path.write_bytes(apply(seed, ops))
            start = time.monotonic()
            try:
                models = formats.read(path, fmt)
            except InnterpolError as exc:
                message = str(exc)
                assert "\n" not in message and str(path) in message, message
                seen["errors"] += 1
            else:
                assert all(isinstance(m, formats.Atmosphere) for m in models)
                check(models)  # judges whatever was read, without raising
                seen["models"] += 1
            assert time.monotonic() - start < PER_FILE, ops

        read_one()
    # The mutations reach both outcomes: the test is not passing on errors (or models) alone.
    assert seen["models"] > 0 and seen["errors"] > 0, seen
    assert seen["models"] + seen["errors"] >= EXAMPLES
