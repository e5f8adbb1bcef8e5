"""A rack restored from its state directory does not go back in emulated time: at a speed above 1
the emulated clock runs ahead of the wall clock, and a restart starts it no earlier than the last
event it kept, so no SEL record is stamped before one already logged."""

from __future__ import annotations

import time
from pathlib import Path

from emulator import topology
from emulator.harness import RackThread
from tests.conftest import TEST_IPMI_PORT, TEST_REDFISH_PORT, next_base_address


def _rack(state_dir: Path, text: str, *, fresh: bool) -> RackThread:
    return RackThread(
        topology.load_text(text, "<test>"),
        speed=200.0,
        state_dir=state_dir,
        fresh=fresh,
        power_on=fresh,
    )


def test_a_restart_continues_the_emulated_time(tmp_path: Path) -> None:
    text = topology.generate(
        4,
        base_address=next_base_address(),
        ipmi_port=TEST_IPMI_PORT,
        redfish_port=TEST_REDFISH_PORT,
        control_address="127.0.0.1",
        control_port=0,
    )
    with _rack(tmp_path, text, fresh=True) as first:
        time.sleep(2.0)  # 400 emulated s: the rack boots, well ahead of the wall clock
        ahead = first.call(lambda r: r.clock.now())
        last_sel = first.call(lambda r: max(rec.timestamp for rec in r.nodes["n01"].sel.records()))
    assert ahead > time.time() + 100
    with _rack(tmp_path, text, fresh=False) as again:
        now = again.call(lambda r: r.clock.now())
        assert now >= last_sel, (now, last_sel)
        stamps = again.call(lambda r: [rec.timestamp for rec in r.nodes["n01"].sel.records()])
    assert stamps == sorted(stamps) and stamps[-1] >= last_sel
