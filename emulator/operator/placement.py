"""VM placement: where the workloads run, moved live by a drain, restarted elsewhere when
their node goes down, failed while storage is at risk."""

from __future__ import annotations

from collections import Counter

from emulator.operator.core import ViewCore
from emulator.operator.events import (
    WorkloadFailed,
    WorkloadMoved,
    WorkloadStarted,
)
from emulator.operator.records import VmRecord
from emulator.operator.states import VmState


class Placement(ViewCore):
    """Placing and moving VMs."""

    def _reconcile_workloads(self) -> None:
        now = self._now()
        if self.storage_at_risk():
            out = ", ".join(sorted(r.name for r in self._out()))
            for vm in self._vms.values():
                if vm.state is VmState.RUNNING:
                    device = vm.node or self.name
                    vm.state, vm.node = VmState.FAILED, None
                    self._emit(
                        WorkloadFailed(
                            device=device,
                            at=now,
                            vm=vm.name,
                            reason=f"storage at risk: {out} are out of the scale unit at once",
                        )
                    )
            return
        for vm in self._vms.values():
            if vm.state is VmState.RUNNING and vm.node is not None and not self._available(vm.node):
                self._move(vm, live=False)
        for vm in self._vms.values():
            if vm.state is not VmState.RUNNING:
                home = self._records.get(vm.home)
                if vm.state is VmState.PENDING and home is not None and self._in_service(home):
                    target: str | None = vm.home
                elif vm.state is VmState.PENDING and not self._ticking:
                    continue  # its home may come up in a moment (a cold start)
                else:
                    target = self._least_loaded(exclude=None)
                if target is None:
                    break
                restarted = vm.state is VmState.FAILED
                vm.state, vm.node = VmState.RUNNING, target
                self._emit(WorkloadStarted(device=target, at=now, vm=vm.name, restarted=restarted))

    def _evacuate(self, name: str, *, live: bool) -> tuple[str, ...]:
        moved = []
        for vm in self._vms.values():
            if vm.state is VmState.RUNNING and vm.node == name and self._move(vm, live=live):
                moved.append(vm.name)
        return tuple(moved)

    def _move(self, vm: VmRecord, *, live: bool) -> bool:
        source = vm.node or self.name
        target = self._least_loaded(exclude=source)
        if target is None:
            vm.state, vm.node = VmState.FAILED, None
            self._emit(
                WorkloadFailed(
                    device=source, at=self._now(), vm=vm.name, reason="no node can take it"
                )
            )
            return False
        vm.node = target
        self._emit(
            WorkloadMoved(device=source, at=self._now(), vm=vm.name, target=target, live=live)
        )
        return True

    def _least_loaded(self, exclude: str | None) -> str | None:
        load = Counter(v.node for v in self._vms.values() if v.state is VmState.RUNNING)
        candidates = [
            r.name for r in self._records.values() if r.name != exclude and self._in_service(r)
        ]
        if not candidates:
            return None
        return min(candidates, key=lambda n: (load[n], n))
