"""What a conditional write can report, in the tables' own terms."""

from __future__ import annotations


class Changed(Exception):
    """The item is not as the caller read it (or is gone): a concurrent change won."""


class Claimed(Exception):
    """A unique value (a username, an email address) is already someone's."""

    def __init__(self, field: str) -> None:
        super().__init__(f"the {field} is taken")
        self.field = field
