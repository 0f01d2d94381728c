"""Image references in the grammar of distribution/reference (regexp.go), which docker parses `FROM` with.

`[host[:port]/]path[:tag][@digest]`, the repository path lowercase. Used for valohai.yaml's `image`
(a space, a newline or a second instruction never reaches a Dockerfile) and for the `registry` images
are pushed to.
"""

from __future__ import annotations

import re

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_NAME = rf"(?:{_HOST}(?::[0-9]+)?/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REFERENCE = re.compile(rf"(?P<name>{_NAME})(?::{_TAG})?(?:@{_DIGEST})?", re.ASCII)
IMAGE_NAME = re.compile(_NAME, re.ASCII)
MAX_IMAGE_NAME = 255


def is_image_reference(text: str) -> bool:
    """True if docker would read `text` as one image reference (and nothing more)."""
    match = IMAGE_REFERENCE.fullmatch(text)
    return match is not None and len(match["name"]) <= MAX_IMAGE_NAME


def is_repository_prefix(text: str, longest_name: int) -> bool:
    """True if `<text>/<name>` is an image name (no tag, no digest) for names up to `longest_name` characters."""
    return IMAGE_NAME.fullmatch(f"{text}/x") is not None and len(text) + 1 + longest_name <= MAX_IMAGE_NAME
