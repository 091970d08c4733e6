from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..platform import Platform, start_platform


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    p = start_platform(tmp_path_factory.mktemp("platform"))
    yield p
    p.stop()
