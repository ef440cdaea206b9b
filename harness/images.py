"""What the container images set: the uvicorn image's REFDATA_* settings, read from its
Dockerfile, so that a server started here runs with the settings the image ships."""

from __future__ import annotations

import re
import shlex

from harness import REPO

DOCKERFILE = REPO / "docker" / "Dockerfile"


def image_settings() -> dict[str, str]:
    """The REFDATA_* variables the final stage of docker/Dockerfile sets with ENV."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    final = text[text.rindex("\nFROM ") :]
    settings: dict[str, str] = {}
    for line in final.splitlines():
        if re.match(r"\s*ENV\s", line):
            for word in shlex.split(line.split(None, 1)[1]):
                name, _, value = word.partition("=")
                if name.startswith("REFDATA_"):
                    settings[name] = value
    return settings
