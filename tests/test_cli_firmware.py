"""`scaleunit firmware make` and `inspect`, through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from emulator.cli import main
from nodes.clock import VirtualClock
from nodes.firmware import HEADER_SIZE, CorruptImage, JobState, parse_image
from tests.test_model_firmware import finish, make_node


def make(tmp_path: Path, *args: str, name: str = "fw.img") -> tuple[Path, str, int]:
    out = tmp_path / name
    result = CliRunner().invoke(main, ["firmware", "make", *args, "-o", str(out)])
    return out, result.output, result.exit_code


def test_make_writes_an_image_the_model_accepts(tmp_path: Path) -> None:
    out, output, code = make(
        tmp_path, "--component", "bios", "--model", "CS-2400", "--version", "2.28.0"
    )
    assert code == 0, output
    assert f"wrote {out}: bios 2.28.0 for CS-2400, {HEADER_SIZE + 256 * 1024} bytes" in output
    image = parse_image(out.read_bytes())
    assert (image.component, image.model, image.version) == ("bios", "CS-2400", "2.28.0")
    assert image.payload_size == 256 * 1024  # the default size

    clock = VirtualClock()
    node = make_node(clock)
    job = node.start_firmware_update(out.read_bytes())
    finish(clock, "bios")
    assert node.update_job(job.id).state is JobState.PENDING_ACTIVATION


def test_make_takes_a_size_or_a_payload(tmp_path: Path) -> None:
    for size, expected in (("4096", 4096), ("1MiB", 1024**2), ("3KiB", 3072), ("2kB", 2000)):
        out, output, code = make(
            tmp_path, "--component", "nic", "--version", "15.0", "--size", size
        )
        assert code == 0, output
        assert parse_image(out.read_bytes()).payload_size == expected
    payload = tmp_path / "blob.bin"
    payload.write_bytes(b"\x00\x01firmware")
    out, output, code = make(
        tmp_path, "--component", "cpld", "--version", "1.1.5", "--payload", str(payload)
    )
    assert code == 0, output
    assert out.read_bytes()[HEADER_SIZE:] == b"\x00\x01firmware"


def test_make_refuses_bad_arguments(tmp_path: Path) -> None:
    payload = tmp_path / "blob.bin"
    payload.write_bytes(b"x")
    cases = [
        (["--component", "gpu", "--version", "1"], "'gpu' is not one of"),
        (["--component", "bios", "--version", "2.28 beta"], "bad version"),
        (["--component", "bios", "--version", "1", "--size", "lots"], "not a size"),
        (["--component", "bios", "--version", "1", "--size", "1GiB"], "not a size"),
        (["--component", "bios", "--version", "1", "--size", "512MiB"], "limit"),
        (
            ["--component", "bios", "--version", "1", "--size", "1", "--payload", str(payload)],
            "not both",
        ),
        (["--component", "bios", "--version", "1", "--size", "0", "--corrupt"], "at least one"),
    ]
    for args, message in cases:
        out, output, code = make(tmp_path, *args, name="bad.img")
        assert code == 2 and message in output, (args, output)
        assert not out.exists()


def test_inspect_prints_the_header_and_a_good_checksum(tmp_path: Path) -> None:
    out, _, _ = make(tmp_path, "--component", "bmc", "--version", "7.10.00.00", "--size", "1KiB")
    result = CliRunner().invoke(main, ["firmware", "inspect", str(out)])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(None, 1) for line in result.output.splitlines())
    assert lines["component"] == "bmc" and lines["model"] == "CS-2400"
    assert lines["version"] == "7.10.00.00" and lines["payload_bytes"] == "1024"
    assert lines["checksum"] == "ok" and len(lines["sha256"]) == 64
    as_json = CliRunner().invoke(main, ["firmware", "inspect", "--format", "json", str(out)])
    data = json.loads(as_json.output)
    assert data["checksum_ok"] is True and data["error"] is None and data["format_version"] == 1


def test_a_corrupt_image_is_made_on_request_and_caught(tmp_path: Path) -> None:
    out, output, code = make(
        tmp_path, "--component", "nic", "--version", "15.0", "--size", "4KiB", "--corrupt"
    )
    assert code == 0 and "deliberately corrupt" in output
    result = CliRunner().invoke(main, ["firmware", "inspect", str(out)])
    assert result.exit_code == 1
    assert "checksum        MISMATCH" in result.output
    assert f"error: {out}: corrupt image: the payload's SHA-256 does not match" in result.output

    clock = VirtualClock()
    node = make_node(clock)
    try:
        node.start_firmware_update(out.read_bytes())
    except CorruptImage:
        pass
    else:
        raise AssertionError("a corrupt image was accepted")
    assert node.update_jobs == []


def test_inspect_rejects_what_is_not_an_image(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not firmware at all\n")
    result = CliRunner().invoke(main, ["firmware", "inspect", str(text)])
    assert result.exit_code == 1
    assert f"error: {text}: not a firmware image: no SUFW magic" in result.output
    out, _, _ = make(tmp_path, "--component", "disk", "--version", "17.0", "--size", "100")
    cut = tmp_path / "cut.img"
    cut.write_bytes(out.read_bytes()[:100])
    result = CliRunner().invoke(main, ["firmware", "inspect", str(cut)])
    assert result.exit_code == 1 and "truncated header (100 of 168 bytes)" in result.output
