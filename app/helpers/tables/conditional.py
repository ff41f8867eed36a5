"""What a conditional write can report, in the tables' own terms, and the write that does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.helpers.dynamo import ConditionFailed, DynamoInterface, Item


class Changed(Exception):
    """The item is not as the caller read it (or is gone): a concurrent change won."""


def update_existing(
    store: DynamoInterface,
    table: str,
    key: Item,
    *,
    update: str,
    values: Mapping[str, Any],
    condition: str,
    names: Mapping[str, str] | None = None,
) -> Item:
    """Apply `update` only where `condition` holds; `Changed` where it does not."""
    try:
        return store.update(
            table, key, update=update, condition=condition, names=names, values=values
        )
    except ConditionFailed as exc:
        raise Changed() from exc


class Claimed(Exception):
    """A unique value (a username, an email address) is already someone's."""

    def __init__(self, field: str) -> None:
        super().__init__(f"the {field} is taken")
        self.field = field
