"""A switch's OS images: two partitions, A and B, as OS10 keeps them.

Rules:

* one partition is active (the running OS), the other is standby; ``next_boot`` names the one the
  next boot loads (``boot system standby|active``); a boot makes ``next_boot`` the active one;
* ``image install`` writes the standby partition only, and takes emulated time; while it runs a
  second install is refused, and a reload or power loss aborts it (the standby keeps what it had);
* an image is checked whole before anything starts (``nodes.firmware``'s format, component
  ``switch-os``, this switch's model): a bad one raises and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from nodes.errors import InvalidArgument
from nodes.firmware import FirmwareImage, ImageNotApplicable, parse_image

#: The component name a switch OS image carries in its header.
SWITCH_OS = "switch-os"


class Partition(StrEnum):
    A = "A"
    B = "B"

    @property
    def other(self) -> Partition:
        return Partition.B if self is Partition.A else Partition.A


class InstallState(StrEnum):
    IDLE = "idle"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    FAILED = "failed"


def check_image(data: bytes, model: str) -> FirmwareImage:
    """The image's header if ``data`` is a whole, intact switch OS image for ``model``."""
    image = parse_image(data)
    if image.component != SWITCH_OS:
        raise ImageNotApplicable(f"image is for {image.component}, not a switch OS")
    if image.model != model:
        raise ImageNotApplicable(f"image is for model {image.model}, this switch is {model}")
    return image


@dataclass
class InstallStatus:
    """The last install: what, from where, and how it went (``show image status``)."""

    state: InstallState = InstallState.IDLE
    version: str = ""
    source: str = ""
    started_at: float | None = None
    ended_at: float | None = None
    detail: str = "No install information available"
    size: int = 0


class ImageBank:
    def __init__(self, version: str) -> None:
        self.versions: dict[Partition, str] = {Partition.A: version, Partition.B: version}
        self.active = Partition.A
        self.next_boot = Partition.A
        self.install = InstallStatus()

    @property
    def running(self) -> str:
        return self.versions[self.active]

    @property
    def standby(self) -> Partition:
        return self.active.other

    def boot_choice(self, which: str) -> Partition:
        if which == "standby":
            return self.standby
        if which == "active":
            return self.active
        raise InvalidArgument(f"boot system takes standby or active, not {which!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "versions": {p.value: v for p, v in self.versions.items()},
            "active": self.active.value,
            "next_boot": self.next_boot.value,
        }

    def load(self, data: dict[str, Any]) -> None:
        versions = {Partition(k): str(v) for k, v in data["versions"].items()}
        if set(versions) != set(Partition):
            raise InvalidArgument(f"bad image partitions {sorted(versions)}")
        self.versions = versions
        self.active = Partition(data["active"])
        self.next_boot = Partition(data["next_boot"])
