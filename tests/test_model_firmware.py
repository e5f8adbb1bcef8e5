"""Firmware images and update jobs on a virtual clock."""

from __future__ import annotations

import hashlib
import struct
import zlib

import pytest

from nodes import sensors as sn
from nodes.clock import VirtualClock
from nodes.errors import InvalidArgument, InvalidState, ModelError, NotFound
from nodes.events import (
    BmcReady,
    BmcResetStarted,
    Event,
    FirmwareChanged,
    FirmwareUpdateProgressed,
)
from nodes.firmware import (
    COMPONENTS,
    HEADER_SIZE,
    MAGIC,
    MAX_JOB_HISTORY,
    Activation,
    ApplyTime,
    CorruptImage,
    DowngradeRefused,
    FirmwareImageError,
    ImageNotApplicable,
    JobState,
    NotAFirmwareImage,
    UnknownComponent,
    UnsupportedImageFormat,
    UpdateJob,
    UpdateStep,
    build_image,
    corrupt_image,
    parse_image,
    read_header,
    version_key,
)
from nodes.node import BmcResetKind, Node
from nodes.power import HostState
from nodes.sel import SensorType
from nodes.spec import (
    FirmwareMinimumSpec,
    FirmwareSpec,
    FirmwareTimingSpec,
    TimingSpec,
)
from tests import model_helpers

T = TimingSpec()
F = T.firmware
KIB = 1024
FLASH = {
    "bios": F.flash_bios_s,
    "bmc": F.flash_bmc_s,
    "nic": F.flash_nic_s,
    "disk": F.flash_disk_s,
    "cpld": F.flash_cpld_s,
    "boot_drive": F.flash_boot_drive_s,
}


def make_node(
    clock: VirtualClock,
    events: list[Event] | None = None,
    timings: TimingSpec | None = None,
    **spec_overrides: object,
) -> Node:
    return model_helpers.make_node(clock, events, timings=timings or T, **spec_overrides)


def image(component: str = "nic", version: str = "14.32.30.00", size: int = 256 * KIB) -> bytes:
    return build_image(component, "CS-2400", version, size=size)


def work_s(component: str, size: int = 256 * KIB) -> float:
    """Transfer, verify and flash, without the job's start delay."""
    return (HEADER_SIZE + size) / F.transfer_bytes_per_s + F.verify_s + FLASH[component]


def finish(clock: VirtualClock, component: str, size: int = 256 * KIB) -> None:
    clock.advance(F.job_start_s + work_s(component, size) + 0.001)


def steps(job: UpdateJob) -> list[UpdateStep]:
    return [s.step for s in job.steps]


def progress(events: list[Event]) -> list[FirmwareUpdateProgressed]:
    return [e for e in events if isinstance(e, FirmwareUpdateProgressed)]


def boot(clock: VirtualClock, node: Node) -> None:
    node.power_on()
    clock.advance(T.power_on_s + T.post_s + T.os_boot_s + 0.001)
    assert node.state is HostState.RUNNING


# -- the image format -----------------------------------------------------------------------------
def test_an_image_round_trips_through_its_header() -> None:
    data = build_image("bios", "CS-2400", "2.28.0", size=1000)
    assert len(data) == HEADER_SIZE + 1000 and HEADER_SIZE == 168
    assert data[:8] == MAGIC
    parsed = parse_image(data)
    assert (parsed.component, parsed.model, parsed.version) == ("bios", "CS-2400", "2.28.0")
    assert parsed.payload_size == 1000 and parsed.size == len(data)
    assert parsed.sha256 == hashlib.sha256(data[HEADER_SIZE:]).digest()
    assert build_image("bios", "CS-2400", "2.28.0", size=1000) == data  # deterministic
    given = build_image("cpld", "CS-2400", "1.1.5", b"payload")
    assert given.endswith(b"payload") and parse_image(given).payload_size == 7
    assert parse_image(build_image("disk", "CS-2400", "1", size=0)).payload_size == 0


def test_the_component_list_is_the_node_spec_s() -> None:
    assert tuple(FirmwareSpec.model_fields) == COMPONENTS
    assert tuple(FirmwareMinimumSpec.model_fields) == COMPONENTS
    assert all(hasattr(FirmwareTimingSpec(), f"flash_{c}_s") for c in COMPONENTS)


def _header(
    component: bytes = b"bios",
    model: bytes = b"CS-2400",
    version: bytes = b"2.28.0",
    payload: bytes = b"x",
    fmt: int = 1,
    length: int | None = None,
) -> bytes:
    body = struct.pack(
        ">8sHH16s32s64sQ32s",
        MAGIC,
        fmt,
        HEADER_SIZE,
        component,
        model,
        version,
        len(payload) if length is None else length,
        hashlib.sha256(payload).digest(),
    )
    return body + struct.pack(">I", zlib.crc32(body)) + payload


@pytest.mark.parametrize(
    ("data", "error", "text"),
    [
        (b"", NotAFirmwareImage, "not a firmware image"),
        (b"MZ\x90\x00" + bytes(300), NotAFirmwareImage, "not a firmware image: no SUFW magic"),
        (MAGIC + bytes(20), NotAFirmwareImage, "truncated header (28 of 168"),
        (_header()[:167], NotAFirmwareImage, "truncated header (167 of 168"),
        (_header(fmt=2), UnsupportedImageFormat, "unsupported image format version 2"),
        (_header(component=b"gpu"), UnknownComponent, "unknown firmware component 'gpu'"),
        (_header(model=b"CS\xff"), NotAFirmwareImage, "model field is not ASCII"),
        (_header(version=b"2.\x001"), NotAFirmwareImage, "NUL inside the version field"),
        (_header(version=b"2 8"), NotAFirmwareImage, "bad version '2 8'"),
        (_header(length=2**40), NotAFirmwareImage, "exceeds"),
        (_header(payload=b"abc")[:-1], CorruptImage, "truncated payload (2 of 3 bytes)"),
        (_header(payload=b"abc") + b"zz", CorruptImage, "2 bytes after the payload"),
        (corrupt_image(_header(payload=b"abc")), CorruptImage, "corrupt image: the payload's"),
    ],
)
def test_bad_images_are_refused_with_a_precise_error(
    data: bytes, error: type[FirmwareImageError], text: str
) -> None:
    with pytest.raises(error, match=text.replace("(", r"\(").replace(")", r"\)")) as info:
        parse_image(data)
    assert isinstance(info.value, InvalidArgument)


def test_a_damaged_header_fails_its_crc() -> None:
    data = bytearray(image("bios", "2.28.0"))
    data[60] = ord("9")  # the version's first character
    with pytest.raises(CorruptImage, match="header's CRC-32"):
        read_header(bytes(data))
    assert read_header(corrupt_image(image())).component == "nic"  # the header alone holds


def test_build_image_checks_its_arguments() -> None:
    with pytest.raises(UnknownComponent):
        build_image("gpu", "CS-2400", "1.0", size=1)
    with pytest.raises(InvalidArgument, match="bad version"):
        build_image("bios", "CS-2400", "1.0 beta", size=1)
    with pytest.raises(InvalidArgument, match="bad model"):
        build_image("bios", "x" * 33, "1.0", size=1)
    with pytest.raises(InvalidArgument, match="either a payload or a size"):
        build_image("bios", "CS-2400", "1.0")
    with pytest.raises(InvalidArgument, match="either a payload or a size"):
        build_image("bios", "CS-2400", "1.0", b"x", size=1)
    with pytest.raises(InvalidArgument):
        corrupt_image(build_image("bios", "CS-2400", "1.0", size=0))


def test_versions_compare_part_by_part() -> None:
    assert version_key("2.10.0") > version_key("2.9.9")
    assert version_key("14.32.21.04") == version_key("14.32.21.4")
    assert version_key("7.00.00.184") < version_key("7.10.00.00")
    assert version_key("1.1.4") < version_key("1.1.4.1")


# -- an immediate update ---------------------------------------------------------------------------
def test_an_immediate_nic_update_walks_its_steps_with_real_durations(clock: VirtualClock) -> None:
    events: list[Event] = []
    node = make_node(clock, events)
    t0 = clock.now()
    job = node.start_firmware_update(image("nic", "14.32.30.00"), targets=["nic"])
    assert job.state is JobState.NEW and job.percent == 0 and job.steps == ()
    assert (job.component, job.old_version, job.version) == ("nic", "14.32.21.04", "14.32.30.00")
    assert job.apply_time is ApplyTime.IMMEDIATE and job.targets == ("nic",)
    assert job.image_size == HEADER_SIZE + 256 * KIB
    assert node.update_jobs == [job]

    transfer = job.image_size / F.transfer_bytes_per_s
    clock.advance(F.job_start_s)
    running = node.update_job(job.id)
    assert running.state is JobState.RUNNING and running.step is UpdateStep.TRANSFERRING
    assert running.estimated_end == pytest.approx(clock.now() + transfer)
    clock.advance(transfer)
    assert node.update_job(job.id).step is UpdateStep.VERIFYING
    clock.advance(F.verify_s)
    assert node.update_job(job.id).step is UpdateStep.INSTALLING
    percents = []
    for _ in range(12):
        percents.append(node.update_job(job.id).percent)
        clock.advance(F.flash_nic_s / 12)
    assert percents == sorted(percents) and percents[0] < 10 and percents[-1] >= 90
    assert max(percents) <= 99

    done = node.update_job(job.id)
    assert done.state is JobState.COMPLETED and done.percent == 100
    assert node.firmware["nic"] == "14.32.30.00"
    assert steps(done) == [
        UpdateStep.TRANSFERRING,
        UpdateStep.VERIFYING,
        UpdateStep.INSTALLING,
        UpdateStep.APPLIED,
    ]
    starts = [s.at - t0 for s in done.steps]
    assert starts == pytest.approx(
        [
            F.job_start_s,
            F.job_start_s + transfer,
            F.job_start_s + transfer + F.verify_s,
            F.job_start_s + transfer + F.verify_s + F.flash_nic_s,
        ]
    )
    assert done.ended_at == pytest.approx(done.steps[-1].at)
    assert done.failure is None and done.awaiting is None

    seen = progress(events)
    assert [(e.state, e.step) for e in seen] == [
        (JobState.NEW, None),
        (JobState.RUNNING, UpdateStep.TRANSFERRING),
        (JobState.RUNNING, UpdateStep.VERIFYING),
        (JobState.RUNNING, UpdateStep.INSTALLING),
        (JobState.COMPLETED, UpdateStep.APPLIED),
    ]
    assert all(e.job_id == job.id and e.component == "nic" for e in seen)
    assert [e.percent for e in seen] == sorted(e.percent for e in seen)
    changed = [e for e in events if isinstance(e, FirmwareChanged)]
    assert [(e.component, e.old, e.new, e.job_id) for e in changed] == [
        ("nic", "14.32.21.04", "14.32.30.00", job.id)
    ]
    record = node.sel.records()[-1]
    assert record.sensor_type == SensorType.VERSION_CHANGE and record.sensor_type == 0x2B
    assert record.sensor_number == sn.FIRMWARE_VERSION
    assert record.offset == 0x01  # firmware or software change detected
    assert record.event_data[0] == 0xC1 and record.event_data[1] == 0x13  # board/FRU component
    inventory = {c.id: c.version for c in node.firmware_inventory()}
    assert inventory["nic"] == "14.32.30.00"


def test_transfer_time_is_proportional_to_the_image_size(clock: VirtualClock) -> None:
    node = make_node(clock)
    small = node.start_firmware_update(image("nic", size=1 * 1024 * KIB))
    large = node.start_firmware_update(image("disk", "16.17.02.00", size=16 * 1024 * KIB))
    clock.advance(F.job_start_s)
    small_end = node.update_job(small.id).estimated_end
    large_end = node.update_job(large.id).estimated_end
    assert small_end is not None and large_end is not None
    assert (large_end - clock.now()) / (small_end - clock.now()) == pytest.approx(
        (16 * 1024 * KIB + HEADER_SIZE) / (1024 * KIB + HEADER_SIZE)
    )


@pytest.mark.parametrize("component", ["nic", "disk", "boot_drive"])
def test_immediate_updates_of_devices_apply_at_once(clock: VirtualClock, component: str) -> None:
    node = make_node(clock)
    job = node.start_firmware_update(image(component, "99.0"))
    clock.advance(F.job_start_s + work_s(component) - 0.01)
    assert node.firmware[component] != "99.0"
    clock.advance(0.02)
    assert node.firmware[component] == "99.0"
    assert node.update_job(job.id).state is JobState.COMPLETED


def test_updates_of_different_components_run_side_by_side(clock: VirtualClock) -> None:
    node = make_node(clock)
    nic = node.start_firmware_update(image("nic", "15.0"))
    disk = node.start_firmware_update(image("disk", "17.0"))
    finish(clock, "nic")
    assert node.update_job(nic.id).state is JobState.COMPLETED
    assert node.update_job(disk.id).state is JobState.COMPLETED
    assert (node.firmware["nic"], node.firmware["disk"]) == ("15.0", "17.0")


# -- updates that wait for a reset -----------------------------------------------------------------
def test_a_bios_update_waits_for_the_next_power_on(clock: VirtualClock) -> None:
    events: list[Event] = []
    node = make_node(clock, events)
    job = node.start_firmware_update(image("bios", "2.28.0"), apply_time="immediate")
    finish(clock, "bios")
    pending = node.update_job(job.id)
    assert pending.state is JobState.PENDING_ACTIVATION and pending.percent == 99
    assert pending.step is UpdateStep.AWAITING_ACTIVATION
    assert pending.awaiting is Activation.HOST_RESET
    assert "host reset is required" in pending.steps[-1].message
    assert node.firmware["bios"] == "2.27.0"
    clock.advance(3600)
    assert node.firmware["bios"] == "2.27.0"  # time alone does not activate it
    node.power_on()
    clock.advance(T.power_on_s - 0.01)
    assert node.firmware["bios"] == "2.27.0"
    clock.advance(0.02)
    assert node.state is HostState.POST and node.firmware["bios"] == "2.28.0"
    done = node.update_job(job.id)
    assert done.state is JobState.COMPLETED and done.step is UpdateStep.APPLIED
    assert done.percent == 100 and done.awaiting is None
    messages = [r.message for r in node.sel.records()]
    assert messages.index("System Boot Initiated: power up") < messages.index(
        "Firmware change detected: bios 2.27.0 -> 2.28.0"
    )
    change = [r for r in node.sel.records() if r.sensor_type == SensorType.VERSION_CHANGE]
    assert [r.event_data[1] for r in change] == [0x09]  # system firmware (BIOS) change


@pytest.mark.parametrize("how", ["hard_reset", "power_cycle"])
def test_a_bios_update_activates_on_a_reset_of_a_running_host(
    clock: VirtualClock, how: str
) -> None:
    node = make_node(clock)
    boot(clock, node)
    job = node.start_firmware_update(image("bios", "2.28.0"))
    finish(clock, "bios")
    assert node.state is HostState.RUNNING and node.firmware["bios"] == "2.27.0"
    events = getattr(node, how)()
    if how == "hard_reset":  # POST at once: the command's own events say so
        assert any(isinstance(e, FirmwareChanged) for e in events)
    clock.advance(T.power_cycle_off_s + T.power_on_s + 0.01)
    assert node.firmware["bios"] == "2.28.0"
    assert node.update_job(job.id).state is JobState.COMPLETED


def test_an_on_reset_nic_update_waits_for_the_host(clock: VirtualClock) -> None:
    node = make_node(clock)
    boot(clock, node)
    job = node.start_firmware_update(image("nic", "15.0"), apply_time=ApplyTime.ON_RESET)
    finish(clock, "nic")
    assert node.update_job(job.id).state is JobState.PENDING_ACTIVATION
    assert node.update_job(job.id).apply_time is ApplyTime.ON_RESET
    assert node.firmware["nic"] == "14.32.21.04"
    node.bmc_reset(BmcResetKind.COLD)  # a staged image survives a BMC reset
    clock.advance(T.bmc_cold_reset_s + 1)
    assert node.update_job(job.id).state is JobState.PENDING_ACTIVATION
    node.hard_reset()
    assert node.firmware["nic"] == "15.0"


def test_a_bmc_update_restarts_the_bmc_into_the_new_version(clock: VirtualClock) -> None:
    events: list[Event] = []
    node = make_node(clock, events)
    boot(clock, node)
    job = node.start_firmware_update(image("bmc", "7.10.00.00"))
    clock.advance(F.job_start_s + work_s("bmc") - 0.01)
    assert node.bmc_answering() and node.update_job(job.id).step is UpdateStep.INSTALLING
    clock.advance(0.02)
    restarting = node.update_job(job.id)
    assert restarting.state is JobState.RUNNING and restarting.step is UpdateStep.ACTIVATING
    assert not node.bmc_answering()
    assert node.firmware["bmc"] == "7.00.00.184"
    resets = [e for e in events if isinstance(e, BmcResetStarted)]
    assert [r.kind for r in resets] == ["cold"]
    clock.advance(T.bmc_cold_reset_s - 0.1)
    assert not node.bmc_answering() and node.state is HostState.RUNNING
    assert node.update_job(job.id).percent < 100
    clock.advance(0.2)
    assert node.bmc_answering()
    assert node.firmware["bmc"] == "7.10.00.00" and node.bmc_version() == (7, 10)
    done = node.update_job(job.id)
    assert done.state is JobState.COMPLETED
    assert steps(done)[-2:] == [UpdateStep.ACTIVATING, UpdateStep.APPLIED]
    # The new version is in place before the BMC says it is back.
    changed = next(i for i, e in enumerate(events) if isinstance(e, FirmwareChanged))
    ready = next(i for i, e in enumerate(events) if isinstance(e, BmcReady))
    assert changed < ready
    assert node.sel.records()[-1].event_data[1] == 0x02  # management controller firmware


def test_an_on_reset_bmc_update_waits_for_a_bmc_reset(clock: VirtualClock) -> None:
    node = make_node(clock)
    job = node.start_firmware_update(image("bmc", "7.10.00.00"), apply_time="on-reset")
    finish(clock, "bmc")
    pending = node.update_job(job.id)
    assert pending.state is JobState.PENDING_ACTIVATION
    assert pending.awaiting is Activation.BMC_RESET
    assert node.bmc_answering()
    node.power_on()
    clock.advance(100)
    assert node.firmware["bmc"] == "7.00.00.184"  # a host reset is not a BMC reset
    node.bmc_reset(BmcResetKind.WARM)
    assert node.update_job(job.id).step is UpdateStep.ACTIVATING
    clock.advance(T.bmc_warm_reset_s + 0.01)
    assert node.firmware["bmc"] == "7.10.00.00"
    assert node.update_job(job.id).state is JobState.COMPLETED


def test_a_cpld_update_needs_an_ac_power_cycle(clock: VirtualClock) -> None:
    node = make_node(clock)
    boot(clock, node)
    job = node.start_firmware_update(image("cpld", "1.1.5"))
    finish(clock, "cpld")
    assert node.update_job(job.id).awaiting is Activation.AC_CYCLE
    node.power_cycle()
    clock.advance(300)
    node.set_psu_input("PSU1", False)  # one PSU is not an AC cycle
    node.set_psu_input("PSU1", True)
    assert node.firmware["cpld"] == "1.1.4"
    assert node.update_job(job.id).state is JobState.PENDING_ACTIVATION
    node.set_psu_input("PSU1", False)
    node.set_psu_input("PSU2", False)
    assert node.firmware["cpld"] == "1.1.4"
    events = node.set_psu_input("PSU2", True)
    assert node.firmware["cpld"] == "1.1.5"
    assert any(isinstance(e, FirmwareChanged) and e.component == "cpld" for e in events)
    assert node.update_job(job.id).state is JobState.COMPLETED
    assert node.sel.records()[-1].event_data[1] == 0x11  # programmable hardware


# -- refusals: nothing changes --------------------------------------------------------------------
def _snapshot(node: Node) -> tuple[object, ...]:
    return (
        dict(node.firmware),
        node.update_jobs,
        len(node.sel),
        node.bmc_answering(),
        node.state,
    )


@pytest.mark.parametrize(
    ("data", "kwargs", "error", "text"),
    [
        (
            build_image("bios", "CS-3000", "2.28.0", size=64),
            {},
            ImageNotApplicable,
            "image is for model CS-3000, this node is CS-2400",
        ),
        (corrupt_image(image("bios", "2.28.0")), {}, CorruptImage, "corrupt image"),
        (b"#!/bin/sh\nflash everything\n", {}, NotAFirmwareImage, "not a firmware image"),
        (image("bios", "2.20.0"), {}, DowngradeRefused, "below its minimum 2.25.0"),
        (image("bios", "2.28.0"), {"targets": ["nic"]}, ImageNotApplicable, "not nic"),
        (image("bios", "2.28.0"), {"targets": ["gpu"]}, InvalidArgument, "unknown target"),
        (image("bios", "2.28.0"), {"apply_time": "later"}, InvalidArgument, "apply time"),
    ],
)
def test_bad_updates_are_refused_and_change_nothing(
    clock: VirtualClock,
    data: bytes,
    kwargs: dict[str, object],
    error: type[ModelError],
    text: str,
) -> None:
    events: list[Event] = []
    node = make_node(clock, events, firmware_minimum=FirmwareMinimumSpec(bios="2.25.0"))
    before = _snapshot(node)
    with pytest.raises(error, match=text):
        node.start_firmware_update(data, **kwargs)  # type: ignore[arg-type]
    assert _snapshot(node) == before and events == []
    clock.advance(3600)
    assert _snapshot(node)[0] == before[0] and events == []


def test_a_downgrade_above_the_floor_is_allowed(clock: VirtualClock) -> None:
    node = make_node(clock, firmware_minimum=FirmwareMinimumSpec(nic="14.0"))
    node.start_firmware_update(image("nic", "14.0"))  # the floor itself is allowed
    finish(clock, "nic")
    assert node.firmware["nic"] == "14.0"
    with pytest.raises(DowngradeRefused):
        node.start_firmware_update(image("nic", "13.99.99"))


def test_one_update_per_component_at_a_time(clock: VirtualClock) -> None:
    events: list[Event] = []
    node = make_node(clock, events)
    first = node.start_firmware_update(image("bios", "2.28.0"))
    for wait in (0.0, F.job_start_s + 1, work_s("bios")):  # new, running, pending
        clock.advance(wait)
        before, seen = _snapshot(node), len(events)
        with pytest.raises(InvalidState, match=f"bios already has update job {first.id}"):
            node.start_firmware_update(image("bios", "2.29.0"))
        assert _snapshot(node) == before and len(events) == seen
    assert node.update_job(first.id).state is JobState.PENDING_ACTIVATION
    node.power_on()
    clock.advance(T.power_on_s + 0.01)
    node.start_firmware_update(image("bios", "2.29.0"))  # free again


def test_no_update_while_the_bmc_restarts_or_has_no_power(clock: VirtualClock) -> None:
    node = make_node(clock)
    node.bmc_reset(BmcResetKind.COLD)
    with pytest.raises(InvalidState, match="restarting"):
        node.start_firmware_update(image())
    clock.advance(T.bmc_cold_reset_s)
    node.set_psu_input("PSU1", False)
    node.set_psu_input("PSU2", False)
    with pytest.raises(InvalidState, match="no power"):
        node.start_firmware_update(image())
    assert node.update_jobs == []


# -- interruptions and cancelling ------------------------------------------------------------------
@pytest.mark.parametrize("at", [0.5, F.job_start_s + 0.01, F.job_start_s + 10])
def test_a_bmc_reset_during_an_update_fails_it_and_changes_nothing(
    clock: VirtualClock, at: float
) -> None:
    events: list[Event] = []
    node = make_node(clock, events)
    job = node.start_firmware_update(image("nic", "15.0"))
    clock.advance(at)
    under_way = node.update_job(job.id)
    returned = node.bmc_reset(BmcResetKind.WARM)
    failed = node.update_job(job.id)
    assert failed.state is JobState.EXCEPTION and failed.step is UpdateStep.FAILED
    assert failed.failure == "interrupted by a BMC reset"
    assert failed.steps[-1].during is under_way.step
    assert failed.percent == under_way.percent
    assert any(isinstance(e, FirmwareUpdateProgressed) for e in returned)
    clock.advance(3600)
    assert node.firmware["nic"] == "14.32.21.04"
    assert not any(isinstance(e, FirmwareChanged) for e in events)
    assert node.update_job(job.id).percent == failed.percent


def test_losing_ac_while_flashing_fails_the_update(clock: VirtualClock) -> None:
    node = make_node(clock)
    job = node.start_firmware_update(image("cpld", "1.1.5"))
    clock.advance(F.job_start_s + work_s("cpld") - 1)
    assert node.update_job(job.id).step is UpdateStep.INSTALLING
    node.set_psu_input("PSU1", False)
    node.set_psu_input("PSU2", False)
    node.set_psu_input("PSU1", True)
    failed = node.update_job(job.id)
    assert failed.state is JobState.EXCEPTION and "lost power" in (failed.failure or "")
    assert failed.steps[-1].during is UpdateStep.INSTALLING
    assert node.firmware["cpld"] == "1.1.4"


def test_a_bmc_flash_restart_fails_other_running_updates(clock: VirtualClock) -> None:
    fast = TimingSpec(firmware=FirmwareTimingSpec(flash_bmc_s=10))
    node = make_node(clock, timings=fast)
    node.start_firmware_update(image("bmc", "7.10"))
    nic = node.start_firmware_update(image("nic", "15.0"))
    clock.advance(60)
    assert node.update_job(nic.id).state is JobState.EXCEPTION
    clock.advance(T.bmc_cold_reset_s)
    assert node.firmware == {**node.spec.firmware.model_dump(), "bmc": "7.10"}


def test_cancelling(clock: VirtualClock) -> None:
    node = make_node(clock)
    nic = node.start_firmware_update(image("nic", "15.0"))
    clock.advance(F.job_start_s + 0.01)
    cancelled = node.cancel_firmware_update(nic.id)
    assert cancelled.state is JobState.CANCELLED and cancelled.step is UpdateStep.CANCELLED
    assert cancelled.steps[-1].during is UpdateStep.TRANSFERRING
    with pytest.raises(InvalidState, match="already cancelled"):
        node.cancel_firmware_update(nic.id)

    disk = node.start_firmware_update(image("disk", "17.0"))
    clock.advance(F.job_start_s + work_s("disk") - 1)
    with pytest.raises(InvalidState, match="installing"):
        node.cancel_firmware_update(disk.id)
    clock.advance(2)
    assert node.firmware["disk"] == "17.0"

    bios = node.start_firmware_update(image("bios", "2.28.0"))
    finish(clock, "bios")
    node.cancel_firmware_update(bios.id)  # a staged image can be dropped
    node.power_on()
    clock.advance(300)
    assert node.firmware["bios"] == "2.27.0" and node.firmware["nic"] == "14.32.21.04"
    with pytest.raises(NotFound):
        node.cancel_firmware_update("fw-999")
    with pytest.raises(NotFound):
        node.update_job("fw-999")


def test_job_history_is_bounded_to_finished_jobs(clock: VirtualClock) -> None:
    instant = TimingSpec(
        firmware=FirmwareTimingSpec(job_start_s=0, verify_s=0, flash_nic_s=0, flash_bios_s=0)
    )
    node = make_node(clock, timings=instant)
    bios = node.start_firmware_update(image("bios", "2.28.0"))
    clock.advance(1)
    assert node.update_job(bios.id).state is JobState.PENDING_ACTIVATION
    ids = []
    for i in range(MAX_JOB_HISTORY + 10):
        ids.append(node.start_firmware_update(image("nic", f"15.{i}", size=16)).id)
        clock.advance(1)
    jobs = node.update_jobs
    assert len(jobs) == MAX_JOB_HISTORY
    assert jobs[0].id == bios.id  # unfinished jobs are never forgotten
    assert [j.id for j in jobs[1:]] == ids[-(MAX_JOB_HISTORY - 1) :]
    assert node.firmware["nic"] == f"15.{MAX_JOB_HISTORY + 9}"


def test_a_five_minute_flash_runs_in_virtual_time(clock: VirtualClock) -> None:
    node = make_node(clock)
    job = node.start_firmware_update(image("bmc", "7.10"))
    clock.run_all()
    assert node.update_job(job.id).state is JobState.COMPLETED
    assert clock.pending() == 0
