"""Loaded by every Python process of the shifted-clock runs (.ci/shifted-clocks puts this
folder on PYTHONPATH, so calbridge processes the tests start load it too).

libfaketime must leave the monotonic clock alone (FAKETIME_DONT_FAKE_MONOTONIC=1): timed waits
on locks and events compute their deadlines on it, and with a shifted monotonic clock they wait
for years. But then its clock_nanosleep wrapper refuses the absolute monotonic deadline that
`time.sleep` passes (EINVAL), so `time.sleep` waits with select(), whose timeout is relative.
"""

import select
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    select.select([], [], [], seconds)


time.sleep = _sleep
