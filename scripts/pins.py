"""Print requirements.txt (runtime pins for the Lambda package) from a `pip --report` on stdin.

    pip install --dry-run --ignore-installed --quiet --report - -c constraints.txt . \
        | python scripts/pins.py > requirements.txt
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    report = json.load(sys.stdin)
    pins = sorted(
        (item["metadata"]["name"], item["metadata"]["version"])
        for item in report["install"]
        if item["metadata"]["name"] != "refdata"
    )
    print("# Runtime dependencies of refdata, pinned from constraints.txt: what the Lambda")
    print("# package and the container images install. Regenerate with `make requirements.txt`.")
    for name, version in sorted(pins, key=lambda pin: pin[0].lower()):
        print(f"{name}=={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
