"""Suite-wide ordering: fast file-level tests first, slow ones (crash, soak, boots) last.

A failure in a quick test shows within the first minutes of CI instead of after the slow ones.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Stable sort: unmarked tests keep their order, `slow` then `e2e` go to the end."""

    def weight(item: pytest.Item) -> int:
        if item.get_closest_marker("e2e") is not None:
            return 2
        return 1 if item.get_closest_marker("slow") is not None else 0

    items.sort(key=weight)
