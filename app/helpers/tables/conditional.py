"""What a conditional write can report, in the tables' own terms, and the write that does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from app.helpers.dynamo import ConditionFailed, DynamoInterface, Item


class Changed(Exception):
    """The item is not as the caller read it (or is gone): a concurrent change won."""


class Assignments(NamedTuple):
    """An update expression that sets some fields, with its attribute names and values."""

    update: str
    names: dict[str, str]
    values: dict[str, Any]


def assignments(fields: Mapping[str, Any]) -> Assignments:
    """`SET #a = :a, #b = :b` for `fields`; names are aliased, as some are reserved words."""
    return Assignments(
        "SET " + ", ".join(f"#{name} = :{name}" for name in fields),
        {f"#{name}": name for name in fields},
        {f":{name}": value for name, value in fields.items()},
    )


def update_existing(
    store: DynamoInterface,
    table: str,
    key: Item,
    fields: Mapping[str, Any],
    *,
    condition: str,
    values: Mapping[str, Any] | None = None,
) -> Item:
    """Set `fields` only where `condition` (over `values`) holds; `Changed` where it does not."""
    update, names, own_values = assignments(fields)
    try:
        return store.update(
            table,
            key,
            update=update,
            condition=condition,
            names=names,
            values={**own_values, **(values or {})},
        )
    except ConditionFailed as exc:
        raise Changed() from exc


class Claimed(Exception):
    """A unique value (a username, an email address) is already someone's."""

    def __init__(self, field: str) -> None:
        super().__init__(f"the {field} is taken")
        self.field = field


class LastAdmin(Exception):
    """The change would leave no admin account."""
