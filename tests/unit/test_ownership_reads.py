"""How the ownership check reads the cluster: one metadata-only list per kind, or nothing it may not list."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes.client import exceptions

from components.resources.ownership import METADATA_LIST, _labels_by_name


class FakeResource:
    def __init__(self, items: list[tuple[str, dict[str, str] | None]] | None = None, status: int | None = None):
        self.items, self.status = items or [], status
        self.calls: list[dict[str, Any]] = []

    def get(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if self.status is not None:
            raise exceptions.ApiException(status=self.status)
        meta = [SimpleNamespace(metadata=SimpleNamespace(name=n, labels=labels)) for n, labels in self.items]
        return SimpleNamespace(items=meta)


def test_a_kind_is_listed_once_as_metadata_only_names_to_labels() -> None:
    resource = FakeResource([("a", {"k": "v"}), ("b", None)])
    assert _labels_by_name(resource, "shared") == {"a": {"k": "v"}, "b": {}}
    assert resource.calls == [{"namespace": "shared", "header_params": {"Accept": METADATA_LIST}}]


@pytest.mark.parametrize("status", [401, 403])
def test_a_kind_the_stack_may_not_list_is_read_object_by_object(status: int) -> None:
    assert _labels_by_name(FakeResource(status=status), "shared") is None


def test_other_api_errors_are_raised_for_the_one_line_message() -> None:
    with pytest.raises(exceptions.ApiException):
        _labels_by_name(FakeResource(status=500), "shared")
