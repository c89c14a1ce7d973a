#!/usr/bin/env python3
"""Build dist/dograh.pyz, a shiv zipapp that runs on CPython 3.9 to 3.14.

Pure-Python dependencies come from requirements/zipapp.txt, resolved for
Python 3.9. cffi and websockets ship a compiled module per Python version.
Their file names carry the version tag (``_cffi_backend.cpython-312-...so``),
so the modules for every supported version sit side by side and each
interpreter loads its own. cryptography uses the stable ABI (abi3), so one
build serves them all. The zipapp targets this machine's architecture.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT / "requirements" / "zipapp.txt"
OLDEST = "3.9"
NEWER = ["3.10", "3.11", "3.12", "3.13", "3.14"]
# Packages whose compiled modules differ per Python version.
PER_VERSION = ["cffi", "websockets"]


def platform_args() -> list:
    machine = platform.machine()
    tags = ["manylinux2014", "manylinux_2_17", "manylinux_2_28", "manylinux_2_34", "manylinux1", "manylinux_2_5"]
    args = []
    for tag in tags:
        args += ["--platform", f"{tag}_{machine}"]
    return args + ["--implementation", "cp", "--only-binary=:all:"]


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args], check=True)


def pinned(name: str) -> str:
    for line in PINS.read_text().splitlines():
        if line.lower().startswith(name.lower() + "=="):
            return line.strip()
    raise SystemExit(f"{name} is not pinned in {PINS}")


def check_requires_python(site: Path) -> None:
    """Stop the build when a bundled distribution does not support the oldest Python.

    pip does not always enforce Requires-Python for --python-version (a
    package index without that metadata lets pycparser 3.0, which needs
    3.10, through), so the wheels' own metadata is checked here.
    """
    from importlib.metadata import distributions

    from packaging.specifiers import SpecifierSet

    too_new = []
    for dist in distributions(path=[str(site)]):
        required = dist.metadata.get("Requires-Python")
        if required and OLDEST not in SpecifierSet(required):
            too_new.append(f"{dist.metadata['Name']}=={dist.version} (Requires-Python {required})")
    if too_new:
        raise SystemExit(f"pins in {PINS} do not run on Python {OLDEST}: " + ", ".join(sorted(too_new)))


def build(output: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="dograh-build-") as tmp:
        work = Path(tmp)
        site = work / "site-packages"
        wheels = work / "wheels"
        pip("wheel", "--no-deps", "-w", str(wheels), str(ROOT))
        pip("install", "--no-deps", "--target", str(site), "--python-version", OLDEST, *platform_args(),
            "-r", str(PINS), *map(str, wheels.glob("*.whl")))
        check_requires_python(site)
        for version in NEWER:
            download = work / f"py{version}"
            pip("download", "--no-deps", "-d", str(download), "--python-version", version, *platform_args(),
                *[pinned(name) for name in PER_VERSION])
            tag = "cpython-" + version.replace(".", "")
            for wheel in download.glob("*.whl"):
                with zipfile.ZipFile(wheel) as archive:
                    for member in archive.namelist():
                        if tag in member and member.endswith(".so"):
                            archive.extract(member, site)
        built = work / "shiv.pyz"
        subprocess.run(
            [sys.executable, "-m", "shiv", "--site-packages", str(site), "-e", "dograh_installer.entry:main",
             "-p", "/usr/bin/env python3", "--compressed", "--reproducible", "-o", str(built)],
            check=True,
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        write_guarded(built, output)
    print(f"built {output} ({output.stat().st_size / 1024**2:.1f} MiB)")


# shiv's own __main__ imports a bootstrap module that uses f-strings, which
# an interpreter older than 3.6 cannot compile. This guard checks the
# version first, with syntax that Python 2.7 still parses.
VERSION_GUARD = """\
import sys
if sys.version_info < (3, 9):
    sys.stderr.write(
        "dograh: error: Python 3.9 or newer is required, but this is Python %d.%d.%d (%s). "
        "Install a newer python3 and run the command again.\\n"
        % (sys.version_info[0], sys.version_info[1], sys.version_info[2], sys.executable)
    )
    sys.exit(2)
"""

# shiv unpacks the bundled libraries into ~/.shiv unless SHIV_ROOT names
# another directory, and a system account with HOME=/nonexistent or a
# read-only HOME would get a PermissionError traceback from its bootstrap.
# This prefix picks another root first. A fallback root must belong to this
# user alone, because anyone who can write to it could plant code that we
# would import. It must not be on a noexec mount either, because the kernel
# refuses to map the bundled .so files from there. Like the version guard,
# it must parse on Python 2.7, so it uses no f-strings, annotations or
# keyword-only arguments.
# TODO: probe flock as setup_remote.sh does. shiv retries a failing flock
# forever, so a root on a mount without lock support hangs the first run.
SHIV_ROOT_GUARD = """\
def _dograh_usable_root(path, private):
    import os
    import stat
    created = False
    if not os.path.isdir(path):
        try:
            os.makedirs(path, 0o700)
        except OSError:
            return False
        created = True
    try:
        info = os.lstat(path) if private else os.stat(path)
        usable = (stat.S_ISDIR(info.st_mode) and os.access(path, os.W_OK | os.X_OK)
                  and not os.statvfs(path).f_flag & getattr(os, "ST_NOEXEC", 8))
        if private:
            usable = usable and info.st_uid == os.geteuid() and not info.st_mode & 0o022
    except OSError:
        usable = False
    if created and not usable:
        try:
            os.rmdir(path)
        except OSError:
            pass
    return usable


def _dograh_choose_shiv_root():
    import os
    import sys
    if os.environ.get("SHIV_ROOT"):
        return
    default = os.path.expanduser(os.path.join("~", ".shiv"))
    if os.path.isabs(default) and _dograh_usable_root(default, False):
        return
    candidates = []
    cache = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(cache):
        candidates.append(os.path.join(cache, "dograh-shiv"))
    uid = os.geteuid()
    candidates += ["/var/tmp/dograh-shiv-%d" % uid, "/tmp/dograh-shiv-%d" % uid]
    for candidate in candidates:
        if _dograh_usable_root(candidate, True):
            os.environ["SHIV_ROOT"] = candidate
            return
    sys.stderr.write(
        "dograh: error: cannot unpack the zipapp's libraries: none of %s is a writable directory of this "
        "user on a mount without noexec; set SHIV_ROOT to one and run the command again.\\n"
        % ", ".join([default] + candidates)
    )
    sys.exit(2)


_dograh_choose_shiv_root()
del _dograh_usable_root, _dograh_choose_shiv_root
"""


def write_guarded(built: Path, output: Path) -> None:
    """Copy shiv's zipapp to ``output`` with the guards before its __main__.py.

    The copy is renamed into place, so a test or a user running ``output``
    during a rebuild never sees a half-written file.
    """
    data = built.read_bytes()
    shebang = data[: data.index(b"\n") + 1]
    with zipfile.ZipFile(built) as source:
        entries = [(info, source.read(info)) for info in source.infolist()]
    fd, name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    temporary = Path(name)
    with os.fdopen(fd, "wb") as handle:
        handle.write(shebang)
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as target:
            for info, content in entries:
                if info.filename == "__main__.py":
                    content = (VERSION_GUARD + SHIV_ROOT_GUARD).encode() + content
                target.writestr(info, content)
    temporary.chmod(0o755)
    temporary.replace(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "dist" / "dograh.pyz")
    args = parser.parse_args()
    build(args.output)


if __name__ == "__main__":
    main()
