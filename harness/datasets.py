"""Every dataset route, read from the registry (app/datasets.py), with keys that name records.

Tests enumerate routes from here instead of typing them: a new registry entry is covered by
each of them without a test edit. The routes are read from the declarations themselves, not
from the router built from them, so a route the router fails to serve is a failing test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from app.datasets import DATASETS, SETTINGS, Dataset, Grouping, Key, Route, SettingValue
from app.snapshot.snapshot import Item, Snapshot


def example_of(dataset: Dataset) -> dict[str, Any]:
    """The record the dataset's schema documents (its first example)."""
    example: dict[str, Any] = dataset.schema.model_json_schema()["examples"][0]
    return example


@dataclass(frozen=True)
class DatasetRoute:
    """One GET a dataset declares: its list, its get, or one of its groupings."""

    dataset: Dataset  # whose records it answers
    route: Route
    kind: str  # "list", "get" or "group"
    key: Key | None = None  # what its path parameter names: its own key, or the parent's
    grouping: Grouping | None = None

    @property
    def id(self) -> str:
        return self.route.name

    @property
    def searchable(self) -> bool:
        return self.kind != "get" and bool(self.dataset.search)

    def path(self, key: Any = None, q: str | None = None) -> str:
        path = self.route.path
        if self.key is not None:
            path = path.replace(f"{{{self.key.name}}}", quote(str(key), safe=""))
        return path if q is None else f"{path}?q={quote(q, safe='')}"

    @property
    def template(self) -> str:
        """The path with `{}` where the key goes."""
        return self.route.path if self.key is None else self.path("{}").replace("%7B%7D", "{}")

    def samples(self) -> list[Any]:
        """Keys that name records, from the documented example: each of its key fields (so
        every code form a get route takes); for a grouping, the example's parent."""
        example = example_of(self.dataset)
        if self.grouping is not None:
            return [example[self.grouping.field]]
        if self.key is not None:
            return [example[field] for field in self.key.fields]
        return [None]

    def sample_query(self) -> str:
        """A `q` that finds the documented example (its first search field, as written)."""
        return str(example_of(self.dataset)[self.dataset.search[0]])[:100]

    def sample_paths(self) -> list[str]:
        paths = [self.path(key) for key in self.samples()]
        if self.searchable:
            paths.append(self.path(self.samples()[0], self.sample_query()))
        return paths


def dataset_routes() -> list[DatasetRoute]:
    found = []
    for dataset in DATASETS:
        if dataset.list_route is not None:
            found.append(DatasetRoute(dataset, dataset.list_route, "list"))
        if dataset.get_route is not None:
            found.append(DatasetRoute(dataset, dataset.get_route, "get", dataset.key))
        for grouping in dataset.groups:
            if grouping.route is not None:  # else an index only, served by no route
                found.append(
                    DatasetRoute(dataset, grouping.route, "group", grouping.parent.key, grouping)
                )
    return found


DATASET_ROUTES = dataset_routes()
# Each route with keys that name records, and a search that finds one where it searches.
SAMPLE_PATHS = [path for route in DATASET_ROUTES for path in route.sample_paths()]
DATASET_TAGS = {dataset.tag.name for dataset in DATASETS}


def with_settings(snapshot: Snapshot, values: Mapping[str, SettingValue]) -> Snapshot:
    """`snapshot` whose settings, looked up by key as business code does, are exactly these.
    Not encoded: a test may hold a value no loaded snapshot could (a threshold past 64 bits)."""
    by_key = {
        key: Item({"key": key, "value": value, "value_type": type(value).__name__})
        for key, value in values.items()
    }
    settings = snapshot[SETTINGS].replace(by_key=by_key)
    return dataclasses.replace(snapshot, datasets={**snapshot.datasets, SETTINGS.name: settings})
