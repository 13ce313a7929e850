"""Instance settings: values the first start of an installation fixes for good.

The one such value today is the domain of every event UID (`UID_DOMAIN`): it must not follow
CALBRIDGE_PUBLIC_URL when the service moves, or every subscriber's calendar would delete and
recreate every event (docs/architecture.md, *Identity, history and cancellations*).
"""

from __future__ import annotations

from sqlalchemy import select

from .base import StoreBase, insert_unless_present
from .rows import StoreError
from .tables import InstanceSettingTable

UID_DOMAIN = "uid_domain"


class InstanceQueries(StoreBase):
    """Store methods for the instance settings."""

    def instance_setting(self, key: str, first: str) -> str:
        """The value stored under `key`, storing `first` if there is none yet. Processes
        starting at once all get the value of whichever stored it first."""
        if not first:
            raise StoreError(f"instance setting {key!r} cannot be empty")
        with self._write() as db:
            insert_unless_present(db, InstanceSettingTable, {"key": key, "value": first})
            value = db.scalar(
                select(InstanceSettingTable.value).where(InstanceSettingTable.key == key)
            )
        assert value is not None  # inserted above, or already there
        return value
