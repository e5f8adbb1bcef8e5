"""Update tasks: what the TaskService shows for each SimpleUpdate or multipart push.

A :class:`UpdateTask` is the adapter's record of one update request. While the BMC pulls the image
(SimpleUpdate) the task is the adapter's alone; once the model has accepted the image
(``node.start_firmware_update``) the task follows that job, and its state, progress and messages
are computed from the job's snapshot on every read. A request the model refuses gets a task that
ends at once in Exception; the model is unchanged (it raises before changing anything).

A pushed image's task takes its job's Id (``fw-3``), the Id the EventService's task events
carry; a pulled image's task gets a number when the request is accepted, before its job exists,
and answers to its job's Id as well. Tasks are kept per BMC in a :class:`TaskBook`, at most
``MAX_TASKS``, finished ones forgotten first (fewer than the model's own job history, so a task
always finds its job). They survive a BMC restart because the jobs they follow do (a BMC update
must still be seen to complete).

The tables, model -> Redfish::

    TASK_STATE       JobState -> TaskState
    STEP_MESSAGE     UpdateStep -> Update-registry message (FAILED by the step under way)
    START_ERRORS     the error refusing an image -> the messages of a task that ends in Exception

TaskState follows what OEM BMCs report: New until the job starts, Running through transfer,
verification, flashing and a BMC's own restart, **Pending** while an installed image waits for a
reset (Update.AwaitToActivate plus Base.ResetRequired naming the reset action), then Completed,
Exception or Cancelled. (OpenBMC shows a staged image as Stopping with TaskPaused; Pending is the
state the DMTF enum gives to "waiting for a condition", and what clients test for.)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import httpx

from nodes.errors import InvalidArgument, InvalidState, ModelError, NotFound
from nodes.firmware import (
    ApplyTime,
    DowngradeRefused,
    FirmwareImageError,
    ImageNotApplicable,
    JobState,
    UpdateJob,
    UpdateStep,
    read_header,
)
from nodes.node import Node

log = logging.getLogger("bmc.redfish")

#: Tasks remembered per BMC (the model keeps 64 jobs; fewer tasks, so every task has its job).
MAX_TASKS = 32
#: The largest image the BMC takes, pulled or pushed.
MAX_IMAGE_BYTES = 64 * 1024 * 1024
#: How long (real seconds) the BMC waits for an image server, per operation and in all.
FETCH_TIMEOUT_S = 30.0
FETCH_TOTAL_S = 300.0

TaskStateName = Literal[
    "New", "Running", "Pending", "Completed", "Exception", "Cancelled"
]  # the TaskState values update tasks use

TASK_STATE: dict[JobState, TaskStateName] = {
    JobState.NEW: "New",
    JobState.RUNNING: "Running",
    JobState.PENDING_ACTIVATION: "Pending",
    JobState.COMPLETED: "Completed",
    JobState.EXCEPTION: "Exception",
    JobState.CANCELLED: "Cancelled",
}

#: The BMC itself, as the place an image is transferred to.
BMC_NAME = "BMC"


@dataclass(frozen=True)
class Note:
    """One message of a task: a registry prefix, a message key and its arguments."""

    registry: str
    key: str
    args: tuple[str, ...] = ()


def _update(key: str, *args: str) -> Note:
    return Note("Update", key, args)


def _task(key: str, task_id: str) -> Note:
    return Note("TaskEvent", key, (task_id,))


#: (image, component) -> the message for a step; FAILED is looked up by the step under way.
STEP_MESSAGE: dict[UpdateStep, str] = {
    UpdateStep.TRANSFERRING: "TransferringToComponent",
    UpdateStep.VERIFYING: "VerifyingAtComponent",
    UpdateStep.INSTALLING: "InstallingOnComponent",
    UpdateStep.AWAITING_ACTIVATION: "AwaitToActivate",
    UpdateStep.ACTIVATING: "ApplyingOnComponent",
}
FAILED_DURING: dict[UpdateStep | None, str] = {
    None: "TransferFailed",
    UpdateStep.TRANSFERRING: "TransferFailed",
    UpdateStep.VERIFYING: "VerificationFailed",
    UpdateStep.INSTALLING: "ApplyFailed",
    UpdateStep.AWAITING_ACTIVATION: "ActivateFailed",
    UpdateStep.ACTIVATING: "ActivateFailed",
}


@dataclass(frozen=True)
class Refusal:
    """What the messages of a refused update name: the image and the device it was for."""

    image: str
    device: str


#: Most specific class first; the first ``isinstance`` match wins.
START_ERRORS: list[tuple[type[ModelError], Callable[[Refusal], list[Note]]]] = [
    (FirmwareImageError, lambda r: [_update("VerificationFailed", r.image, r.device)]),
    (ImageNotApplicable, lambda r: [_update("UpdateNotApplicable", r.image, r.device)]),
    (DowngradeRefused, lambda r: [_update("UpdateSkippedVersionTooLow", r.device, r.image)]),
    (InvalidState, lambda r: [_update("UpdateInProgress"), Note("Base", "ResourceInUse")]),
    (NotFound, lambda r: [_update("NoTargetsDetermined", r.image)]),
    (InvalidArgument, lambda r: [_update("NoTargetsDetermined", r.image)]),
    (ModelError, lambda r: [Note("Base", "InternalError")]),
]


def refusal_notes(exc: ModelError, refusal: Refusal) -> list[Note]:
    for cls, rule in START_ERRORS:
        if isinstance(exc, cls):
            return rule(refusal)
    raise AssertionError("ModelError is the last row")  # pragma: no cover


class Phase(StrEnum):
    FETCHING = "fetching"  # the BMC pulls the image from ImageURI
    JOB = "job"  # the model's update job does the rest
    FAILED = "failed"  # refused, or the transfer failed: no job
    CANCELLED = "cancelled"  # cancelled while fetching: no job


#: The task's state while it has no job.
PHASE_STATE: dict[Phase, TaskStateName] = {
    Phase.FETCHING: "Running",
    Phase.FAILED: "Exception",
    Phase.CANCELLED: "Cancelled",
    Phase.JOB: "Exception",  # the model forgot the job: never, with MAX_TASKS below its history
}


@dataclass
class UpdateTask:
    id: str
    #: How messages name the image: the ImageURI without credentials, or the pushed file's name.
    image: str
    created_at: float
    apply_time: ApplyTime
    #: Component ids the request named (empty: the image's own component).
    targets: tuple[str, ...]
    pulled: bool
    phase: Phase
    notes: list[Note] = field(default_factory=list)
    job_id: str | None = None
    ended_at: float | None = None
    fetcher: asyncio.Task[None] | None = None
    #: The job as last seen, should the model forget it.
    last_job: UpdateJob | None = None

    @property
    def finished(self) -> bool:
        if self.phase in (Phase.FAILED, Phase.CANCELLED):
            return True
        return self.last_job is not None and self.last_job.state.finished


@dataclass(frozen=True)
class TaskView:
    """A task as a GET shows it (protocol names, not yet wire shapes)."""

    state: TaskStateName
    finished: bool
    percent: int
    notes: list[Note]
    start: float
    end: float | None
    #: Emulated seconds until something is expected to change (None: nothing scheduled).
    remaining_s: float | None


class FetchError(Exception):
    """The image could not be pulled; the message says why (never the credentials)."""


def display_uri(uri: str) -> str:
    """``uri`` without user information, query or fragment: safe for messages and logs."""
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


async def fetch(
    url: str,
    auth: tuple[str, str] | None,
    *,
    limit: int = MAX_IMAGE_BYTES,
    timeout_s: float = FETCH_TIMEOUT_S,
    total_s: float = FETCH_TOTAL_S,
) -> bytes:
    """GET ``url`` (no redirects, no proxies from the environment), at most ``limit`` bytes.

    Remote certificates are not verified (UpdateService.VerifyRemoteServerCertificate is not
    offered, as on most BMCs out of the box).
    """
    try:
        async with asyncio.timeout(total_s):
            async with (
                httpx.AsyncClient(
                    timeout=timeout_s, verify=False, follow_redirects=False, trust_env=False
                ) as client,
                client.stream("GET", url, auth=auth) as response,
            ):
                if response.status_code != 200:
                    raise FetchError(f"HTTP {response.status_code}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise FetchError(f"image of {declared} bytes exceeds {limit}")
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > limit:
                        raise FetchError(f"image exceeds {limit} bytes")
                return bytes(data)
    except TimeoutError:
        raise FetchError(f"no image within {total_s:.0f} s") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}") from None


class TaskBook:
    """The update tasks of one BMC."""

    def __init__(self, node: Node, history: int = MAX_TASKS) -> None:
        self.node = node
        self.history = history
        self.tasks: dict[str, UpdateTask] = {}
        self._ids = itertools.count(1)
        # Jobs the model already holds (restored from the state store after a restart): their
        # task monitors answer again, under the job's Id as a pushed image's task had.
        for job in node.update_jobs:
            self.tasks[job.id] = UpdateTask(
                id=job.id,
                image=f"{job.component}-{job.version}",
                created_at=job.created_at,
                apply_time=job.apply_time,
                targets=job.targets,
                pulled=False,
                phase=Phase.JOB,
                job_id=job.id,
                last_job=job,
            )

    # -- queries -------------------------------------------------------------------------------
    def get(self, task_id: str) -> UpdateTask | None:
        """A task by its Id, or by the Id of the model job it follows (the EventService names
        update tasks by job: a pulled image's task has an Id before its job exists)."""
        task = self.tasks.get(task_id)
        if task is None:
            task = next((t for t in self.tasks.values() if t.job_id == task_id), None)
        return task

    def component_names(self) -> dict[str, str]:
        return {c.id: c.name for c in self.node.firmware_inventory()}

    def job_of(self, task: UpdateTask) -> UpdateJob | None:
        if task.job_id is None:
            return None
        with contextlib.suppress(NotFound):
            task.last_job = self.node.update_job(task.job_id)
        return task.last_job

    def view(self, task: UpdateTask) -> TaskView:
        now = self.node.clock.now()
        job = self.job_of(task)
        notes = list(task.notes)
        state: TaskStateName
        if job is None:
            state = PHASE_STATE[task.phase]
            finished = task.phase is not Phase.FETCHING
            end = task.ended_at if finished else None
            return TaskView(
                state,
                finished,
                0,
                notes,
                task.created_at,
                end,
                None,
            )
        notes += self._job_notes(task, job)
        state = TASK_STATE[job.state]
        if state == "New" and task.pulled:
            state = "Running"  # the task has been running since the pull began
        finished = job.state.finished
        remaining: float | None = None
        if job.estimated_end is not None:
            remaining = max(0.0, job.estimated_end - now)
        elif job.state is JobState.NEW:
            start = job.created_at + self.node.timings.firmware.job_start_s
            remaining = max(0.0, start - now)
        return TaskView(
            state,
            finished,
            job.percent,
            notes,
            task.created_at,
            job.ended_at if finished else None,
            remaining,
        )

    def _job_notes(self, task: UpdateTask, job: UpdateJob) -> list[Note]:
        names = self.component_names()
        image = task.image
        component = names.get(job.component, job.component)
        out = [_update("TargetDetermined", names.get(t, t), image) for t in job.targets]
        for step in job.steps:
            if step.step is UpdateStep.APPLIED:
                out.append(_update("UpdateSuccessful", component, image))
            elif step.step is UpdateStep.FAILED:
                out.append(_update(FAILED_DURING[step.during], image, component))
            elif step.step is UpdateStep.CANCELLED:
                out.append(_task("TaskCancelled", task.id))
            else:
                out.append(_update(STEP_MESSAGE[step.step], image, component))
                if step.step is UpdateStep.AWAITING_ACTIVATION:
                    out += self._reset_required(job)
        if job.state is JobState.COMPLETED:
            out.append(_task("TaskCompletedOK", task.id))
        elif job.state is JobState.EXCEPTION:
            out.append(_task("TaskAborted", task.id))
        return out

    def _reset_required(self, job: UpdateJob) -> list[Note]:
        """Base.ResetRequired naming the Redfish action that activates the staged image."""
        if job.component == "cpld":
            return []  # an AC power cycle: no Redfish action does that
        if job.component == "bmc":
            uri = "/redfish/v1/Managers/bmc/Actions/Manager.Reset"
        else:
            uri = f"/redfish/v1/Systems/{self.node.name}/Actions/ComputerSystem.Reset"
        return [Note("Base", "ResetRequired", (uri, "GracefulRestart"))]

    # -- commands ------------------------------------------------------------------------------
    def new(
        self, image: str, apply_time: ApplyTime, targets: tuple[str, ...], *, pulled: bool
    ) -> UpdateTask:
        task = UpdateTask(
            id=str(next(self._ids)),
            image=image,
            created_at=self.node.clock.now(),
            apply_time=apply_time,
            targets=targets,
            pulled=pulled,
            phase=Phase.FETCHING if pulled else Phase.JOB,
        )
        self.tasks[task.id] = task
        self._prune()
        return task

    def fail(self, task: UpdateTask, notes: list[Note]) -> None:
        task.phase = Phase.FAILED
        task.notes += [*notes, _task("TaskAborted", task.id)]
        task.ended_at = self.node.clock.now()
        log.info(
            "node=%s proto=redfish event=update.failed task=%s image=%s messages=%s",
            self.node.name,
            task.id,
            task.image,
            ",".join(n.key for n in notes),
        )

    def start(self, task: UpdateTask, data: bytes) -> None:
        """Hand the image to the model; a refusal ends the task in Exception."""
        try:
            job = self.node.start_firmware_update(
                data, targets=list(task.targets) or None, apply_time=task.apply_time
            )
        except ModelError as exc:
            self.fail(task, refusal_notes(exc, Refusal(task.image, self._device(task, data))))
            log.info(
                "node=%s proto=redfish event=update.refused task=%s reason=%s",
                self.node.name,
                task.id,
                exc,
            )
            return
        task.phase = Phase.JOB
        task.job_id = job.id
        task.last_job = job
        if not task.pulled:  # nobody has seen its Id yet: take the job's, as events use it
            del self.tasks[task.id]
            task.id = job.id
            self.tasks[task.id] = task
        log.info(
            "node=%s proto=redfish event=update.accepted task=%s job=%s component=%s version=%s"
            " apply_time=%s",
            self.node.name,
            task.id,
            job.id,
            job.component,
            job.version,
            job.apply_time.value,
        )

    def _device(self, task: UpdateTask, data: bytes) -> str:
        """The device a refused image's messages name: the target asked for, else the image's
        component, else the BMC that checked it."""
        names = self.component_names()
        if task.targets:
            return names.get(task.targets[0], task.targets[0])
        try:
            component = read_header(data).component
        except FirmwareImageError:
            return BMC_NAME
        return names.get(component, component)

    async def pull(self, task: UpdateTask, url: str, auth: tuple[str, str] | None) -> None:
        """Fetch the image, then start the job (or end the task with TransferFailed)."""
        resets = self.node.bmc_resets
        task.notes.append(_update("TransferringToComponent", task.image, BMC_NAME))
        try:
            data = await fetch(url, auth)
        except FetchError as exc:
            log.info(
                "node=%s proto=redfish event=update.fetch_failed task=%s image=%s reason=%s",
                self.node.name,
                task.id,
                task.image,
                exc,
            )
            self.fail(task, [_update("TransferFailed", task.image, BMC_NAME)])
            return
        finally:
            task.fetcher = None
        if task.phase is not Phase.FETCHING:
            return  # cancelled meanwhile
        if self.node.bmc_resets != resets or not self.node.bmc_answering():
            self.fail(task, [_update("TransferFailed", task.image, BMC_NAME)])
            return
        self.start(task, data)

    def cancel(self, task: UpdateTask) -> None:
        """Cancel a task that has not finished; raises the model's InvalidState when the job
        is past the point of no return (flashing, or the BMC restarting into it)."""
        if task.phase is Phase.FETCHING:
            if task.fetcher is not None:
                task.fetcher.cancel()
                task.fetcher = None
            task.phase = Phase.CANCELLED
            task.notes.append(_task("TaskCancelled", task.id))
            task.ended_at = self.node.clock.now()
            return
        if task.job_id is not None:
            task.last_job = self.node.cancel_firmware_update(task.job_id)

    def remove(self, task: UpdateTask) -> None:
        self.tasks.pop(task.id, None)

    def _prune(self) -> None:
        excess = len(self.tasks) - self.history
        if excess <= 0:
            return
        done = [t.id for t in self.tasks.values() if t.finished or self._job_finished(t)]
        for task_id in done[:excess]:
            del self.tasks[task_id]

    def _job_finished(self, task: UpdateTask) -> bool:
        job = self.job_of(task)
        return job is not None and job.state.finished
