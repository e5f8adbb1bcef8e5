"""The registry of fault effects: every fault kind has one, with fail and mend side by side."""

from __future__ import annotations

from nodes.faults import PART_OF, NodeFault
from nodes.part_faults import EFFECTS, FaultEffect


def test_every_fault_kind_has_one_registered_effect() -> None:
    assert set(EFFECTS) == set(NodeFault)
    for fault, effect in EFFECTS.items():
        assert isinstance(effect, FaultEffect) and effect.fault is fault
        # fail and mend are defined together, on the same class or on the base it shares
        owner_fail = next(c for c in type(effect).__mro__ if "fail" in vars(c))
        owner_mend = next(c for c in type(effect).__mro__ if "mend" in vars(c))
        assert owner_fail is owner_mend, fault


def test_only_the_hangs_end_with_a_power_loss() -> None:
    volatile = {fault for fault, effect in EFFECTS.items() if effect.volatile}
    assert volatile == {NodeFault.OS_HANG, NodeFault.BMC_HANG}
    assert all(PART_OF[f] is None for f in volatile)
