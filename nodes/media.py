"""Virtual media: the BMC presents a remote image to the host as a CD drive or a USB stick.

Rules it keeps:

* A node has a fixed set of slots (``cd``: a CD/DVD drive, ``usb``: a removable disk); each
  holds at most one image, named by a URI (``http``, ``https``, ``nfs``, ``cifs`` or ``smb``,
  which is CIFS).
* ``insert`` into a slot that already holds an image is refused (eject first, as on real BMCs);
  ``eject`` of an empty slot does nothing.
* ``set_inserted`` / ``set_write_protected`` change an attached image's flags (a slot without
  an image cannot be marked inserted).
* The host sees an image only while it is attached *and* inserted; booting with the boot
  target ``cdrom`` (``usb``) then boots from the image in the ``cd`` (``usb``) slot.
* Every change is a :class:`~nodes.events.VirtualMediaChanged` event; refusals change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Final
from urllib.parse import urlsplit

from nodes.clock import Clock
from nodes.errors import InvalidArgument, InvalidState, NotFound
from nodes.events import Event, EventSink, VirtualMediaChanged

#: URI schemes an image may be fetched with.
SCHEMES: Final = ("http", "https", "nfs", "cifs", "smb")
MAX_URI: Final = 1024


class MediaKind(StrEnum):
    CD = "cd"
    USB = "usb"


@dataclass(frozen=True)
class MediaSlot:
    """One virtual drive and what it holds."""

    id: str
    kind: MediaKind
    image: str = ""
    inserted: bool = False
    write_protected: bool = True
    transfer_protocol: str = ""

    @property
    def attached(self) -> bool:
        return bool(self.image)

    @property
    def image_name(self) -> str:
        return self.image.rstrip("/").rsplit("/", 1)[-1] if self.image else ""

    @property
    def visible(self) -> bool:
        """Whether the host sees a medium in this drive."""
        return self.attached and self.inserted


def check_image_uri(uri: str) -> str:
    """The scheme of a usable image URI; :class:`InvalidArgument` otherwise."""
    if not uri or len(uri) > MAX_URI or any(c.isspace() for c in uri):
        raise InvalidArgument(f"not an image URI: {uri[:80]!r}")
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise InvalidArgument(f"image URI scheme {parts.scheme!r} is not one of {SCHEMES}")
    if not parts.hostname:
        raise InvalidArgument(f"image URI {uri!r} names no host")
    if not parts.path or parts.path.endswith("/"):
        raise InvalidArgument(f"image URI {uri!r} names no file")
    return "cifs" if scheme == "smb" else scheme


class VirtualMedia:
    """A node's virtual media slots. Synchronous; changes go to the sink as events."""

    def __init__(
        self,
        device: str,
        clock: Clock,
        emit: EventSink,
        slots: tuple[tuple[str, MediaKind], ...] = (("CD", MediaKind.CD), ("USB", MediaKind.USB)),
    ) -> None:
        self._device = device
        self._clock = clock
        self._emit = emit
        self._slots: dict[str, MediaSlot] = {sid: MediaSlot(sid, kind) for sid, kind in slots}

    def slots(self) -> list[MediaSlot]:
        return list(self._slots.values())

    def slot(self, slot_id: str) -> MediaSlot:
        try:
            return self._slots[slot_id]
        except KeyError:
            raise NotFound(f"no virtual media slot {slot_id!r} on {self._device}") from None

    def visible(self, kind: MediaKind) -> MediaSlot | None:
        """The first slot of ``kind`` whose medium the host sees."""
        return next((s for s in self._slots.values() if s.kind is kind and s.visible), None)

    def _set(self, new: MediaSlot) -> list[Event]:
        old = self._slots[new.id]
        if new == old:
            return []
        self._slots[new.id] = new
        event = VirtualMediaChanged(
            device=self._device,
            at=self._clock.now(),
            slot=new.id,
            image=new.image,
            inserted=new.inserted,
            write_protected=new.write_protected,
        )
        self._emit(event)
        return [event]

    def insert(
        self,
        slot_id: str,
        image: str,
        *,
        inserted: bool = True,
        write_protected: bool = True,
        transfer_protocol: str | None = None,
    ) -> list[Event]:
        """Attach ``image`` to an empty slot."""
        slot = self.slot(slot_id)
        scheme = check_image_uri(image)
        if slot.attached:
            raise InvalidState(f"{slot_id} already holds {slot.image}: eject it first")
        protocol = (transfer_protocol or scheme).lower()
        if protocol != scheme:
            raise InvalidArgument(f"transfer protocol {protocol!r} does not match {image!r}")
        return self._set(
            MediaSlot(slot.id, slot.kind, image, inserted, write_protected, protocol.upper())
        )

    def eject(self, slot_id: str) -> list[Event]:
        slot = self.slot(slot_id)
        return self._set(MediaSlot(slot.id, slot.kind))

    def set_flags(
        self, slot_id: str, *, inserted: bool | None = None, write_protected: bool | None = None
    ) -> list[Event]:
        """Change an attached image's inserted and write-protect flags."""
        slot = self.slot(slot_id)
        if inserted and not slot.attached:
            raise InvalidState(f"{slot_id} holds no image to insert")
        new = replace(
            slot,
            inserted=slot.inserted if inserted is None else inserted,
            write_protected=slot.write_protected if write_protected is None else write_protected,
        )
        return self._set(new)

    # -- persistence -----------------------------------------------------------------------------
    def snapshot(self) -> list[dict[str, Any]]:
        return [
            {
                "id": s.id,
                "image": s.image,
                "inserted": s.inserted,
                "write_protected": s.write_protected,
                "transfer_protocol": s.transfer_protocol,
            }
            for s in self._slots.values()
        ]

    def restore(self, data: list[dict[str, Any]]) -> None:
        for d in data:
            slot = self._slots.get(d["id"])
            if slot is None:
                continue
            self._slots[slot.id] = MediaSlot(
                slot.id,
                slot.kind,
                str(d["image"]),
                bool(d["inserted"]),
                bool(d["write_protected"]),
                str(d["transfer_protocol"]),
            )
