"""Give every module of a Lambda zip its bytecode for the Python running this script.

    python3.13 deploy/compile_artifact.py .serverless/refdata.zip

Run by deploy/bytecode.js, inside `serverless package` and `serverless deploy`, with the
Python of the function's runtime. Lambda's /var/task is read-only, so a module without
valid bytecode in the zip is compiled from source at every INIT; and a zip stores fixed
dates, so timestamp-based .pyc (what pip writes) are stale there. So every .pyc already in
the zip is dropped, every .py gets an unchecked-hash .pyc (PEP 552: valid whatever the
dates, and never re-read against the source on a tree nothing can change), and the zip is
written again with its entries in name order and one fixed date: the same inputs give the
same artifact. Standard library only.
"""

from __future__ import annotations

import compileall
import os
import py_compile
import sys
import tempfile
import zipfile
from pathlib import Path

FIXED_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold
TASK_ROOT = "/var/task"  # where Lambda unpacks the zip: the paths tracebacks show


def is_bytecode(name: str) -> bool:
    return name.endswith((".pyc", ".pyo")) or "__pycache__/" in name


def compile_artifact(artifact: Path) -> tuple[int, int]:
    """Rewrite `artifact` in place; returns (modules compiled, stale .pyc dropped)."""
    with tempfile.TemporaryDirectory(prefix="refdata-bytecode-") as scratch:
        tree = Path(scratch) / "tree"
        modes: dict[str, int] = {}
        dropped = 0
        with zipfile.ZipFile(artifact) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                if is_bytecode(info.filename):
                    dropped += info.filename.endswith((".pyc", ".pyo"))
                    continue
                archive.extract(info, tree)
                # Readable by everyone: Lambda runs the code as a user that owns none of it.
                modes[info.filename] = ((info.external_attr >> 16) & 0o777) | 0o444
        sources = sorted(path for path in tree.rglob("*.py") if path.is_file())
        ok = compileall.compile_dir(
            tree,
            quiet=1,
            stripdir=str(tree),
            prependdir=TASK_ROOT,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            workers=os.cpu_count() or 1,
        )
        if not ok:
            raise SystemExit(f"compile_artifact: some modules of {artifact} do not compile")
        files = sorted(
            path.relative_to(tree).as_posix() for path in tree.rglob("*") if path.is_file()
        )
        rewritten = artifact.with_suffix(".zip.tmp")
        with zipfile.ZipFile(rewritten, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in files:
                info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (0o100000 | modes.get(name, 0o644)) << 16
                info.create_system = 3  # Unix, so the modes above are honoured
                archive.writestr(info, (tree / name).read_bytes())
        os.replace(rewritten, artifact)
    return len(sources), dropped


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    compiled, dropped = compile_artifact(Path(argv[1]))
    tag = sys.implementation.cache_tag
    print(f"{compiled} modules compiled for {tag} (unchecked-hash), {dropped} stale .pyc dropped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
