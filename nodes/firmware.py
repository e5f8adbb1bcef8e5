"""Firmware images and the update jobs that flash them.

**The image format.** A fixed 168-byte header, big-endian, then the payload::

    offset  size  field
         0     8  magic            b"SUFW\\r\\n\\x1a\\n" (a text-mode copy breaks it)
         8     2  format version   1
        10     2  header length    168
        12    16  component        ASCII, NUL-padded: bios, bmc, nic, disk, cpld, boot_drive
        28    32  model            ASCII, NUL-padded: the hardware model it is for, "CS-2400"
        60    64  version          ASCII, NUL-padded: [0-9A-Za-z._+-]{1,64}
       124     8  payload length   at most MAX_PAYLOAD
       132    32  payload SHA-256
       164     4  CRC-32 of bytes 0-163

**The rules an update job keeps.**

* ``start`` checks everything first (BMC up, image well formed, model, targets, anti-rollback
  floor, no other job for that component) and raises without changing anything.
* A job is NEW for ``job_start_s``, then RUNNING through the steps TRANSFERRING (size divided by
  ``transfer_bytes_per_s``), VERIFYING (``verify_s``) and INSTALLING (``flash_<component>_s``).
* Then, by component and apply time:

  ======================  ==============================================================
  bmc, immediate          ACTIVATING: the BMC cold-resets; the version changes when it is back
  bmc, on-reset           PENDING_ACTIVATION until the next BMC reset (or AC cycle), then as above
  bios (any apply time)   PENDING_ACTIVATION until the host next enters POST (power on from
  nic/disk/boot_drive,    off, power cycle, reset); the version changes as POST begins
  on-reset
  cpld (any apply time)   PENDING_ACTIVATION until every PSU loses input and one regains it
  nic/disk/boot_drive,    the version changes as soon as installing ends
  immediate
  ======================  ==============================================================

* A job that is new or running (not activating) fails (EXCEPTION) if the BMC resets or loses
  power; nothing changes. Staged (pending) jobs survive both, as images in flash do.
* Cancelling is possible while new, transferring, verifying or pending; not while flashing.
* ``percent`` is 100 only when COMPLETED; pending jobs report 99.
* Only finished jobs are forgotten, the oldest first, beyond ``MAX_JOB_HISTORY``.

Errors (all :class:`~nodes.errors.InvalidArgument`, so every adapter maps them already)::

    InvalidArgument
     ├── FirmwareImageError        the bytes are no image this BMC can use
     │    ├── NotAFirmwareImage     bad magic, truncated or malformed header
     │    ├── UnsupportedImageFormat a format version this BMC does not read
     │    ├── CorruptImage          header CRC, payload length or payload SHA-256 mismatch
     │    └── UnknownComponent      the header names no firmware component
     ├── ImageNotApplicable        the image is for another model or another component
     └── DowngradeRefused          the version is below the component's anti-rollback floor
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import re
import struct
import zlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from nodes import sensors as sn
from nodes.errors import CapacityExceeded, InvalidArgument, InvalidState, NotFound
from nodes.events import Event, EventSink, FirmwareChanged, FirmwareUpdateProgressed
from nodes.power import HostState
from nodes.sel import SelEntryInput, SensorType

if TYPE_CHECKING:
    from collections.abc import Callable

    from nodes.clock import Timer
    from nodes.node import Node

#: The node's firmware components, as ``NodeSpec.firmware`` names them.
COMPONENTS: Final = ("bios", "bmc", "nic", "disk", "cpld", "boot_drive")
#: What an image may be for: a node's components, and a switch's OS (``switches.images``).
IMAGE_COMPONENTS: Final = (*COMPONENTS, "switch-os")

MAGIC: Final = b"SUFW\r\n\x1a\n"
FORMAT_VERSION: Final = 1
_BODY = struct.Struct(">8sHH16s32s64sQ32s")
_CRC = struct.Struct(">I")
HEADER_SIZE: Final = _BODY.size + _CRC.size
MAX_PAYLOAD: Final = 256 * 1024 * 1024
MAX_JOB_HISTORY: Final = 64

_COMPONENT_RE = re.compile(r"[a-z_]{1,16}")
_MODEL_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z ._+/-]{0,31}")
_VERSION_RE = re.compile(r"[0-9A-Za-z._+-]{1,64}")

#: IPMI Version Change (2Bh) event data 2, "version change type" (IPMI 2.0 table 42-3).
_CHANGE_TYPE = {
    "bios": 0x09,  # system firmware (EFI / BIOS) change
    "bmc": 0x02,  # management controller firmware revision
    "cpld": 0x11,  # programmable hardware change (e.g. FPGA)
    "nic": 0x13,  # board/FRU component change
    "disk": 0x13,
    "boot_drive": 0x13,
}
_FIRMWARE_CHANGE_DETECTED = 0x01  # sensor-specific offset of sensor type 2Bh
_DATA2_IS_EXTENSION = 0xC0  # event data 1 bits 7:6 = 11b: data 2 is a sensor-specific code


# -- errors ---------------------------------------------------------------------------------------
class FirmwareImageError(InvalidArgument):
    """The bytes are not a firmware image this BMC can use."""


class NotAFirmwareImage(FirmwareImageError):
    """Bad magic, a truncated header or a malformed header field."""


class UnsupportedImageFormat(FirmwareImageError):
    """An image format version this BMC does not read."""


class CorruptImage(FirmwareImageError):
    """The header's CRC, the payload length or the payload's SHA-256 does not match."""


class UnknownComponent(FirmwareImageError):
    """The header names no firmware component."""


class ImageNotApplicable(InvalidArgument):
    """The image is for another hardware model, or the targets name another component."""


class DowngradeRefused(InvalidArgument):
    """The image's version is below the component's anti-rollback floor."""


# -- the image format ------------------------------------------------------------------------------
@dataclass(frozen=True)
class FirmwareImage:
    """A parsed image header (the payload itself is not kept)."""

    component: str
    model: str
    version: str
    payload_size: int
    sha256: bytes
    format_version: int = FORMAT_VERSION

    @property
    def size(self) -> int:
        """The whole image, header included."""
        return HEADER_SIZE + self.payload_size


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key: numeric parts compare as numbers ("2.10" > "2.9"), others as text, after."""
    parts = re.split(r"[._+-]", version)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


def _check(value: str, what: str, pattern: re.Pattern[str]) -> str:
    if not pattern.fullmatch(value):
        raise InvalidArgument(f"bad {what} {value!r}: expected {pattern.pattern}")
    return value


def make_payload(component: str, model: str, version: str, size: int) -> bytes:
    """Deterministic filler that looks random, so equal arguments give equal images."""
    if not 0 <= size <= MAX_PAYLOAD:
        raise InvalidArgument(f"payload size {size} is not 0 to {MAX_PAYLOAD} bytes")
    seed = f"{component}\0{model}\0{version}".encode()
    return hashlib.shake_256(seed).digest(size) if size else b""


def build_image(
    component: str,
    model: str,
    version: str,
    payload: bytes | None = None,
    *,
    size: int | None = None,
) -> bytes:
    """An image for ``component`` of ``model``: give the ``payload``, or a ``size`` of filler."""
    if component not in IMAGE_COMPONENTS:
        raise UnknownComponent(
            f"unknown firmware component {component!r}: one of {IMAGE_COMPONENTS}"
        )
    _check(model, "model", _MODEL_RE)
    _check(version, "version", _VERSION_RE)
    if (payload is None) == (size is None):
        raise InvalidArgument("give either a payload or a size")
    if payload is None:
        assert size is not None
        payload = make_payload(component, model, version, size)
    if len(payload) > MAX_PAYLOAD:
        raise InvalidArgument(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    body = _BODY.pack(
        MAGIC,
        FORMAT_VERSION,
        HEADER_SIZE,
        component.encode("ascii"),
        model.encode("ascii"),
        version.encode("ascii"),
        len(payload),
        hashlib.sha256(payload).digest(),
    )
    return body + _CRC.pack(zlib.crc32(body)) + bytes(payload)


def corrupt_image(image: bytes) -> bytes:
    """A test aid: flip the last payload byte after hashing, so only the SHA-256 fails."""
    if len(image) <= HEADER_SIZE:
        raise InvalidArgument("an image needs a payload of at least one byte to corrupt")
    return image[:-1] + bytes((image[-1] ^ 0xFF,))


def _text(raw: bytes, what: str) -> str:
    text = raw.rstrip(b"\0")
    if b"\0" in text:
        raise NotAFirmwareImage(f"not a firmware image: NUL inside the {what} field")
    try:
        return text.decode("ascii")
    except UnicodeDecodeError:
        raise NotAFirmwareImage(f"not a firmware image: the {what} field is not ASCII") from None


def read_header(data: bytes) -> FirmwareImage:
    """Parse and check the header only (the payload is not hashed)."""
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise NotAFirmwareImage("not a firmware image: no SUFW magic at the start")
    if len(data) < _BODY.size:
        raise NotAFirmwareImage(
            f"not a firmware image: truncated header ({len(data)} of {HEADER_SIZE} bytes)"
        )
    _magic, fmt, hlen, raw_component, raw_model, raw_version, length, digest = _BODY.unpack_from(
        data
    )
    if fmt != FORMAT_VERSION:
        raise UnsupportedImageFormat(
            f"unsupported image format version {fmt} (this BMC reads {FORMAT_VERSION})"
        )
    if hlen != HEADER_SIZE:
        raise NotAFirmwareImage(f"not a firmware image: header length {hlen}, not {HEADER_SIZE}")
    if len(data) < HEADER_SIZE:
        raise NotAFirmwareImage(
            f"not a firmware image: truncated header ({len(data)} of {HEADER_SIZE} bytes)"
        )
    (crc,) = _CRC.unpack_from(data, _BODY.size)
    if crc != zlib.crc32(data[: _BODY.size]):
        raise CorruptImage("corrupt image: the header's CRC-32 does not match")
    component = _text(raw_component, "component")
    if component not in IMAGE_COMPONENTS:
        raise UnknownComponent(
            f"unknown firmware component {component!r}: one of {IMAGE_COMPONENTS}"
        )
    model = _text(raw_model, "model")
    version = _text(raw_version, "version")
    if not _MODEL_RE.fullmatch(model):
        raise NotAFirmwareImage(f"not a firmware image: bad model {model!r}")
    if not _VERSION_RE.fullmatch(version):
        raise NotAFirmwareImage(f"not a firmware image: bad version {version!r}")
    if length > MAX_PAYLOAD:
        raise NotAFirmwareImage(
            f"not a firmware image: payload length {length} exceeds {MAX_PAYLOAD}"
        )
    return FirmwareImage(component, model, version, length, digest, fmt)


def verify_payload(image: FirmwareImage, data: bytes) -> None:
    """Check that ``data`` (the whole image) holds exactly the payload its header describes."""
    found = len(data) - HEADER_SIZE
    if found < image.payload_size:
        raise CorruptImage(
            f"corrupt image: truncated payload ({found} of {image.payload_size} bytes)"
        )
    if found > image.payload_size:
        raise CorruptImage(f"corrupt image: {found - image.payload_size} bytes after the payload")
    if hashlib.sha256(memoryview(data)[HEADER_SIZE:]).digest() != image.sha256:
        raise CorruptImage("corrupt image: the payload's SHA-256 does not match the header")


def parse_image(data: bytes) -> FirmwareImage:
    """Parse ``data`` and check it whole; raises a :class:`FirmwareImageError`."""
    image = read_header(data)
    verify_payload(image, data)
    return image


# -- update jobs ---------------------------------------------------------------------------------
class ApplyTime(StrEnum):
    IMMEDIATE = "immediate"
    ON_RESET = "on-reset"


class JobState(StrEnum):
    NEW = "new"
    RUNNING = "running"
    PENDING_ACTIVATION = "pending-activation"
    COMPLETED = "completed"
    EXCEPTION = "exception"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.COMPLETED, JobState.EXCEPTION, JobState.CANCELLED)


class UpdateStep(StrEnum):
    TRANSFERRING = "transferring"
    VERIFYING = "verifying"
    INSTALLING = "installing"
    AWAITING_ACTIVATION = "awaiting-activation"
    ACTIVATING = "activating"
    APPLIED = "applied"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Activation(StrEnum):
    """What a pending job waits for."""

    HOST_RESET = "host-reset"
    BMC_RESET = "bmc-reset"
    AC_CYCLE = "ac-cycle"


@dataclass(frozen=True)
class JobStep:
    step: UpdateStep
    at: float
    message: str
    #: For FAILED and CANCELLED: the step that was under way.
    during: UpdateStep | None = None


@dataclass(frozen=True)
class UpdateJob:
    """A snapshot of an update job, taken when asked for."""

    id: str
    component: str
    model: str
    version: str
    old_version: str
    apply_time: ApplyTime
    targets: tuple[str, ...]
    image_size: int
    image_sha256: str
    state: JobState
    percent: int
    steps: tuple[JobStep, ...]
    created_at: float
    started_at: float | None
    ended_at: float | None
    awaiting: Activation | None
    failure: str | None
    #: When the present running phase is expected to end (a hint for Retry-After).
    estimated_end: float | None

    @property
    def step(self) -> UpdateStep | None:
        return self.steps[-1].step if self.steps else None


@dataclass(slots=True)
class _Job:
    id: str
    image: FirmwareImage
    old_version: str
    apply_time: ApplyTime
    targets: tuple[str, ...]
    created_at: float
    planned: float
    state: JobState = JobState.NEW
    steps: list[JobStep] = field(default_factory=list)
    started_at: float | None = None
    ended_at: float | None = None
    awaiting: Activation | None = None
    failure: str | None = None
    done: float = 0.0
    phase_start: float | None = None
    phase_length: float = 0.0
    final_percent: int = 0
    ac_lost: bool = False
    timer: Timer | None = None

    @property
    def component(self) -> str:
        return self.image.component

    @property
    def step(self) -> UpdateStep | None:
        return self.steps[-1].step if self.steps else None

    def percent(self, now: float) -> int:
        if self.state is JobState.COMPLETED:
            return 100
        if self.state.finished:
            return self.final_percent
        done = self.done
        if self.phase_start is not None:
            done += min(max(0.0, now - self.phase_start), self.phase_length)
        if self.planned <= 0:
            return 0 if self.state is JobState.NEW else 99
        return min(99, int(100 * done / self.planned))


class FirmwareUpdater:
    """The update jobs of one node; the node forwards its power and BMC transitions here."""

    def __init__(self, node: Node, emit: EventSink, history: int = MAX_JOB_HISTORY) -> None:
        self._node = node
        self._emit_sink = emit
        self._history = history
        self._jobs: dict[str, _Job] = {}
        self._ids = itertools.count(1)

    # -- queries -------------------------------------------------------------------------------
    def jobs(self) -> list[UpdateJob]:
        now = self._node.clock.now()
        return [self._view(job, now) for job in self._jobs.values()]

    def job(self, job_id: str) -> UpdateJob:
        return self._view(self._get(job_id), self._node.clock.now())

    def _get(self, job_id: str) -> _Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise NotFound(f"no update job {job_id!r} on {self._node.name}") from None

    def _view(self, job: _Job, now: float) -> UpdateJob:
        end = None
        if job.state is JobState.RUNNING and job.phase_start is not None:
            end = job.phase_start + job.phase_length
        return UpdateJob(
            id=job.id,
            component=job.component,
            model=job.image.model,
            version=job.image.version,
            old_version=job.old_version,
            apply_time=job.apply_time,
            targets=job.targets,
            image_size=job.image.size,
            image_sha256=job.image.sha256.hex(),
            state=job.state,
            percent=job.percent(now),
            steps=tuple(job.steps),
            created_at=job.created_at,
            started_at=job.started_at,
            ended_at=job.ended_at,
            awaiting=job.awaiting,
            failure=job.failure,
            estimated_end=end,
        )

    def _active(self, component: str) -> _Job | None:
        for job in self._jobs.values():
            if job.component == component and not job.state.finished:
                return job
        return None

    # -- commands ------------------------------------------------------------------------------
    def start(
        self, data: bytes, *, targets: list[str] | None, apply_time: ApplyTime | str
    ) -> UpdateJob:
        node = self._node
        if not node.bmc_powered():
            raise InvalidState("the BMC has no power")
        if not node.bmc_answering():
            raise InvalidState("the BMC is restarting")
        try:
            when = ApplyTime(apply_time)
        except ValueError:
            raise InvalidArgument(
                f"unknown apply time {apply_time!r}: immediate or on-reset"
            ) from None
        image = parse_image(data)
        if image.model != node.spec.model:
            raise ImageNotApplicable(
                f"image is for model {image.model}, this node is {node.spec.model}"
            )
        wanted = tuple(dict.fromkeys(targets or ()))
        for target in wanted:
            if target not in COMPONENTS:
                raise InvalidArgument(f"unknown target component {target!r}: one of {COMPONENTS}")
            if target != image.component:
                raise ImageNotApplicable(f"image is for {image.component}, not {target}")
        if image.component not in node.firmware:
            raise NotFound(f"{node.name} has no {image.component} firmware")
        floor: str | None = getattr(node.spec.firmware_minimum, image.component)
        if floor is not None and version_key(image.version) < version_key(floor):
            raise DowngradeRefused(
                f"{image.component} version {image.version} is below its minimum {floor}"
                " (anti-rollback)"
            )
        busy = self._active(image.component)
        if busy is not None:
            raise InvalidState(
                f"{image.component} already has update job {busy.id} ({busy.state.value})"
            )
        # Everything is checked: from here on the job exists.
        t = node.timings.firmware
        flash: float = getattr(t, f"flash_{image.component}_s")
        planned = image.size / t.transfer_bytes_per_s + t.verify_s + flash
        if image.component == "bmc":
            planned += node.timings.bmc_cold_reset_s
        now = node.clock.now()
        job = _Job(
            id=f"fw-{next(self._ids)}",
            image=image,
            old_version=node.firmware[image.component],
            apply_time=when,
            targets=wanted or (image.component,),
            created_at=now,
            planned=planned,
        )
        self._jobs[job.id] = job
        self._progress(job, f"update of {job.component} to {image.version} accepted")
        job.timer = node.clock.call_later(t.job_start_s, lambda: self._transfer(job))
        self._prune()
        return self._view(job, now)

    def cancel(self, job_id: str) -> UpdateJob:
        job = self._get(job_id)
        if job.state.finished:
            raise InvalidState(f"update job {job_id} is already {job.state.value}")
        if job.step in (UpdateStep.INSTALLING, UpdateStep.ACTIVATING):
            raise InvalidState(f"update job {job_id} is {job.step}: it cannot be cancelled")
        self._end(job, JobState.CANCELLED, UpdateStep.CANCELLED, "cancelled", None)
        return self.job(job_id)

    # -- the job's own progress ----------------------------------------------------------------
    def _now(self) -> float:
        return self._node.clock.now()

    def _emit(self, event: Event, into: list[Event] | None) -> None:
        self._emit_sink(event)
        if into is not None:
            into.append(event)

    def _progress(self, job: _Job, message: str, into: list[Event] | None = None) -> None:
        event = FirmwareUpdateProgressed(
            device=self._node.name,
            at=self._now(),
            job_id=job.id,
            component=job.component,
            state=job.state,
            percent=job.percent(self._now()),
            step=job.step,
            message=message,
        )
        self._emit(event, into)

    def _phase(
        self,
        job: _Job,
        step: UpdateStep,
        length: float,
        message: str,
        then: Callable[[], None] | None,
        into: list[Event] | None = None,
    ) -> None:
        now = self._now()
        if job.phase_start is not None:
            job.done += job.phase_length
        job.phase_start = now
        job.phase_length = length
        job.steps.append(JobStep(step, now, message))
        self._progress(job, message, into)
        if then is not None:
            job.timer = self._node.clock.call_later(length, then)

    def _transfer(self, job: _Job) -> None:
        t = self._node.timings.firmware
        job.state = JobState.RUNNING
        job.started_at = self._now()
        size = job.image.size
        self._phase(
            job,
            UpdateStep.TRANSFERRING,
            size / t.transfer_bytes_per_s,
            f"transferring {size} bytes to {job.component}",
            lambda: self._verify(job),
        )

    def _verify(self, job: _Job) -> None:
        t = self._node.timings.firmware
        message = f"verifying the image at {job.component}"
        self._phase(job, UpdateStep.VERIFYING, t.verify_s, message, lambda: self._install(job))

    def _install(self, job: _Job) -> None:
        flash: float = getattr(self._node.timings.firmware, f"flash_{job.component}_s")
        message = f"installing {job.image.version} on {job.component}"
        self._phase(job, UpdateStep.INSTALLING, flash, message, lambda: self._installed(job))

    def _installed(self, job: _Job) -> None:
        job.timer = None
        component = job.component
        if component == "bmc" and job.apply_time is ApplyTime.IMMEDIATE:
            from nodes.node import BmcResetKind  # a cycle at import time, not now

            self._activate_bmc(job, None)
            self._node.bmc_reset(BmcResetKind.COLD)
            return
        if component == "cpld":
            waits: Activation | None = Activation.AC_CYCLE
        elif component == "bios" or job.apply_time is ApplyTime.ON_RESET:
            waits = Activation.BMC_RESET if component == "bmc" else Activation.HOST_RESET
        else:
            waits = None
        if waits is None:
            self._apply(job, None)
            return
        if job.phase_start is not None:
            job.done += job.phase_length
            job.phase_start = None
        job.state = JobState.PENDING_ACTIVATION
        job.awaiting = waits
        reason = {
            Activation.HOST_RESET: "a host reset is required",
            Activation.BMC_RESET: "a BMC reset is required",
            Activation.AC_CYCLE: "an AC power cycle is required (every PSU off, then on)",
        }[waits]
        message = f"{component} {job.image.version} is installed; {reason} to activate it"
        job.steps.append(JobStep(UpdateStep.AWAITING_ACTIVATION, self._now(), message))
        self._progress(job, message)

    def _activate_bmc(self, job: _Job, into: list[Event] | None) -> None:
        """The BMC restarts into the new image; ``bmc_back`` completes the job."""
        job.state = JobState.RUNNING
        job.awaiting = None
        message = f"restarting the BMC to run {job.image.version}"
        length = self._node.timings.bmc_cold_reset_s
        self._phase(job, UpdateStep.ACTIVATING, length, message, None, into)

    def _apply(self, job: _Job, into: list[Event] | None) -> None:
        node = self._node
        component, new = job.component, job.image.version
        old = node.firmware[component]
        node.firmware[component] = new
        now = self._now()
        self._emit(
            FirmwareChanged(
                device=node.name, at=now, component=component, old=old, new=new, job_id=job.id
            ),
            into,
        )
        with contextlib.suppress(CapacityExceeded):  # a full SEL drops it, as log() does
            node.sel.add(
                SelEntryInput(
                    sensor_type=SensorType.VERSION_CHANGE,
                    sensor_number=sn.FIRMWARE_VERSION,
                    offset=_FIRMWARE_CHANGE_DETECTED,
                    raw_data1=_DATA2_IS_EXTENSION | _FIRMWARE_CHANGE_DETECTED,
                    data2=_CHANGE_TYPE[component],
                    message=f"Firmware change detected: {component} {old} -> {new}",
                )
            )
        self._end(
            job, JobState.COMPLETED, UpdateStep.APPLIED, f"{component} updated to {new}", into
        )

    def _fail(self, job: _Job, reason: str, into: list[Event] | None) -> None:
        job.failure = reason
        self._end(job, JobState.EXCEPTION, UpdateStep.FAILED, f"failed: {reason}", into)

    def _end(
        self,
        job: _Job,
        state: JobState,
        step: UpdateStep,
        message: str,
        into: list[Event] | None,
    ) -> None:
        now = self._now()
        if job.timer is not None:
            job.timer.cancel()
            job.timer = None
        job.final_percent = job.percent(now)
        during = job.step if step is not UpdateStep.APPLIED else None
        job.state = state
        job.awaiting = None
        job.ended_at = now
        job.phase_start = None
        job.steps.append(JobStep(step, now, message, during))
        self._progress(job, message, into)
        self._prune()

    def _prune(self) -> None:
        excess = len(self._jobs) - self._history
        if excess <= 0:
            return
        for job_id in [j.id for j in self._jobs.values() if j.state.finished][:excess]:
            del self._jobs[job_id]

    # -- what the node tells us ------------------------------------------------------------------
    def _live(self) -> list[_Job]:
        return [job for job in self._jobs.values() if not job.state.finished]

    def host_entered(self, state: HostState) -> list[Event]:
        """The host changed power state; entering POST activates jobs awaiting a host reset."""
        events: list[Event] = []
        if state is HostState.POST:
            for job in self._live():
                if job.awaiting is Activation.HOST_RESET:
                    self._apply(job, events)
        return events

    def bmc_reset_started(self) -> list[Event]:
        """The BMC began to restart: work in progress is lost, a staged BMC image boots."""
        events: list[Event] = []
        for job in self._live():
            if job.step is UpdateStep.ACTIVATING:
                continue
            if job.state in (JobState.NEW, JobState.RUNNING):
                self._fail(job, "interrupted by a BMC reset", events)
            elif job.awaiting is Activation.BMC_RESET:
                self._activate_bmc(job, events)
        return events

    def bmc_back(self) -> list[Event]:
        """The BMC is up again: a BMC image it restarted into is now the running version."""
        events: list[Event] = []
        for job in self._live():
            if job.step is UpdateStep.ACTIVATING:
                self._apply(job, events)
        return events

    def ac_lost(self) -> list[Event]:
        """Every PSU lost input: the BMC is off, work in progress is lost."""
        events: list[Event] = []
        for job in self._live():
            if job.step is UpdateStep.ACTIVATING:
                continue
            if job.state in (JobState.NEW, JobState.RUNNING):
                self._fail(job, "interrupted: the BMC lost power", events)
            elif job.awaiting in (Activation.AC_CYCLE, Activation.BMC_RESET):
                job.ac_lost = True
        return events

    def ac_restored(self) -> list[Event]:
        """Input is back after a loss: staged CPLD and BMC images are now running."""
        events: list[Event] = []
        for job in self._live():
            if job.ac_lost and job.state is JobState.PENDING_ACTIVATION:
                self._apply(job, events)
        return events

    # -- persistence -----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Every job remembered, JSON-safe, and the next job number."""
        now = self._now()
        jobs = []
        for job in self._jobs.values():
            image = job.image
            jobs.append(
                {
                    "id": job.id,
                    "component": image.component,
                    "model": image.model,
                    "version": image.version,
                    "payload_size": image.payload_size,
                    "sha256": image.sha256.hex(),
                    "old_version": job.old_version,
                    "apply_time": job.apply_time.value,
                    "targets": list(job.targets),
                    "created_at": job.created_at,
                    "planned": job.planned,
                    "state": job.state.value,
                    "steps": [
                        {
                            "step": st.step.value,
                            "at": st.at,
                            "message": st.message,
                            "during": st.during.value if st.during else None,
                        }
                        for st in job.steps
                    ],
                    "started_at": job.started_at,
                    "ended_at": job.ended_at,
                    "awaiting": job.awaiting.value if job.awaiting else None,
                    "failure": job.failure,
                    "percent": job.percent(now),
                    "ac_lost": job.ac_lost,
                }
            )
        return {"jobs": jobs, "next_id": self._peek_next_id()}

    def _peek_next_id(self) -> int:
        n = next(self._ids)
        self._ids = itertools.count(n)
        return n

    def restore(self, data: dict[str, Any]) -> list[Event]:
        """Put the jobs back, as after a power loss of the BMC: a job that was new or running
        (even activating) ends in EXCEPTION as interrupted and its component keeps its old
        version; staged (pending) images survive, as images in flash do."""
        self._jobs = {}
        for d in data["jobs"]:
            job = _Job(
                id=str(d["id"]),
                image=FirmwareImage(
                    str(d["component"]),
                    str(d["model"]),
                    str(d["version"]),
                    int(d["payload_size"]),
                    bytes.fromhex(d["sha256"]),
                ),
                old_version=str(d["old_version"]),
                apply_time=ApplyTime(d["apply_time"]),
                targets=tuple(d["targets"]),
                created_at=float(d["created_at"]),
                planned=float(d["planned"]),
                state=JobState(d["state"]),
                steps=[
                    JobStep(
                        UpdateStep(st["step"]),
                        float(st["at"]),
                        str(st["message"]),
                        UpdateStep(st["during"]) if st["during"] else None,
                    )
                    for st in d["steps"]
                ],
                started_at=d["started_at"],
                ended_at=d["ended_at"],
                awaiting=Activation(d["awaiting"]) if d["awaiting"] else None,
                failure=d["failure"],
                final_percent=int(d["percent"]),
                ac_lost=bool(d["ac_lost"]),
            )
            if job.state is JobState.PENDING_ACTIVATION:
                job.done = job.planned
            elif not job.state.finished:
                job.done = job.planned * job.final_percent / 100
            self._jobs[job.id] = job
        self._ids = itertools.count(int(data["next_id"]))
        events: list[Event] = []
        for job in self._live():
            if job.state in (JobState.NEW, JobState.RUNNING):
                self._fail(job, "interrupted: the BMC lost power", events)
        return events
