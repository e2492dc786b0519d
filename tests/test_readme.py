"""The README a newcomer reads: image names a cluster can pull, and nothing pointing outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aisetl.ship.names import check_image_name

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
# Image names as the README writes them: in image=..., build(...), docker run/push/build lines.
IMAGES = sorted(
    set(
        re.findall(
            r"""(?:image=|build\(|docker (?:push|build -t)\s+)["']?([a-z0-9.\-]+(?::\d+)?/[\w./\-]+:[\w.\-]+)""", README
        )
    )
    | set(re.findall(r"^\s+([a-z0-9.\-]+(?::\d+)?/[\w./\-]+:[\w.\-]+)\s*$", README, re.M))
)


def test_the_readme_names_images():
    assert IMAGES, "no image name found: the pattern above no longer matches the README's examples"


@pytest.mark.parametrize("image", IMAGES)
def test_every_image_name_in_the_readme_is_one_a_cluster_can_pull(image):
    assert check_image_name(image) == image


def test_every_file_the_readme_names_is_in_the_repository():
    named = set(re.findall(r"`((?:docs|tests|notebooks|aisetl|benchmarks|scripts)/[\w./\-]*\.\w+)`", README))
    named |= {target for target in re.findall(r"\]\(([^)]+)\)", README)}
    assert named
    missing = [p for p in sorted(named) if not (ROOT / p).exists()]
    assert missing == []


def test_nothing_in_the_readme_points_outside_the_repository():
    links = re.findall(r"\]\(([^)]+)\)", README)
    assert [link for link in links if "://" in link or link.startswith(("/", ".."))] == []
    assert not re.search(r"shared/docs|/work/|\.\./", README)
