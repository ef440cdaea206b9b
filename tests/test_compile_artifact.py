"""deploy/compile_artifact.py: what the packaging does to every zip it builds.

The package gate (`make package`) checks the real artifact; these check the rules on a small
zip: stale bytecode goes, every module gets hash-based bytecode for this Python, and the
same input gives the same bytes.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

from harness import REPO

SCRIPT = REPO / "deploy" / "compile_artifact.py"
TAG = sys.implementation.cache_tag
MAGIC = importlib.util.MAGIC_NUMBER


def make_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("top.py", "VALUE = 1\n")
        archive.writestr("pkg/__init__.py", "")
        archive.writestr("pkg/mod.py", "def f():\n    return 2\n")
        # What pip leaves: timestamp-based bytecode, here for another interpreter too.
        archive.writestr("pkg/__pycache__/mod.cpython-311.pyc", b"\x00" * 16)
        archive.writestr(f"pkg/__pycache__/mod.{TAG}.pyc", MAGIC + b"\x00" * 12)
        archive.writestr("pkg/data.txt", "not code")
        script = zipfile.ZipInfo("bin/tool", date_time=(2020, 5, 17, 10, 0, 0))
        script.external_attr = 0o100755 << 16
        archive.writestr(script, "#!/bin/sh\n")


def compile_zip(path: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-I", str(SCRIPT), str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_every_module_gets_unchecked_hash_bytecode_and_stale_bytecode_goes(
    tmp_path: Path,
) -> None:
    artifact = tmp_path / "refdata.zip"
    make_zip(artifact)
    report = compile_zip(artifact)
    assert report.startswith(f"3 modules compiled for {TAG} (unchecked-hash), 2 stale .pyc")
    with zipfile.ZipFile(artifact) as archive:
        names = archive.namelist()
        assert sorted(n for n in names if n.endswith(".pyc")) == [
            f"__pycache__/top.{TAG}.pyc",
            f"pkg/__pycache__/__init__.{TAG}.pyc",
            f"pkg/__pycache__/mod.{TAG}.pyc",
        ]
        for name in names:
            if name.endswith(".pyc"):
                header = archive.read(name)[:8]
                assert header[:4] == MAGIC, name
                # PEP 552 flags: bit 0 hash-based, bit 1 check_source (off: unchecked).
                assert int.from_bytes(header[4:8], "little") == 0b01, name
        assert names == sorted(names)
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        modes = {info.filename: (info.external_attr >> 16) & 0o777 for info in archive.infolist()}
        assert modes["bin/tool"] == 0o755
        assert modes["pkg/mod.py"] == 0o644
        assert archive.read("pkg/data.txt") == b"not code"


def test_the_same_input_gives_the_same_artifact(tmp_path: Path) -> None:
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    make_zip(first)
    make_zip(second)
    compile_zip(first)
    compile_zip(second)
    assert first.read_bytes() == second.read_bytes()
    compile_zip(first)  # compiling a compiled zip changes nothing
    assert first.read_bytes() == second.read_bytes()


def test_the_bytecode_imports_without_compiling(tmp_path: Path) -> None:
    artifact = tmp_path / "refdata.zip"
    make_zip(artifact)
    compile_zip(artifact)
    tree = tmp_path / "task"
    with zipfile.ZipFile(artifact) as archive:
        archive.extractall(tree)
    probe = (
        "import sys\n"
        "compiled = []\n"
        "sys.addaudithook(lambda e, a: e == 'compile' and compiled.append(a[1]))\n"
        "import top, pkg.mod\n"
        "print(top.VALUE, pkg.mod.f(), len(compiled))\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-B",
            "-c",
            f"import sys; sys.path.insert(0, {str(tree)!r})\n" + probe,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["1", "2", "0"]
