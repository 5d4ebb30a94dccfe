"""Suite-wide ordering: fast file-level tests first, slow ones (crash, soak, boots) last.

A failure in a quick test shows within the first minutes of CI instead of after the slow ones
(the image build and its boots take the longest).
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Stable sort: unmarked tests keep their order, `slow` then `e2e` go to the end, and the
    image's builds and qemu boots last of all."""

    def weight(item: pytest.Item) -> int:
        if item.get_closest_marker("e2e") is not None:
            return 3 if item.nodeid.startswith("tests/image/") else 2
        return 1 if item.get_closest_marker("slow") is not None else 0

    items.sort(key=weight)
