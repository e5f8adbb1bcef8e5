"""/redfish/v1/TaskService: the update tasks of this BMC, each its own task monitor.

``/TaskService/Tasks/{id}`` is both the Task and its task monitor (the URI a 202 names in
``Location``), as on iDRAC: a GET answers **202** with ``Retry-After`` and the Task while the task
has not finished (Pending included: the new firmware is not running yet), then **200** with the
final Task. sushy polls the Task's ``@odata.id``, DMTF's library the ``Location``: both land here.
DELETE cancels a task that has not finished (409 while flashing, when the model refuses), or
forgets a finished one.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from bmc.redfish import mapping
from bmc.redfish.deps import CurrentBmc, CurrentRegistries, no_content, privileged, reply
from bmc.redfish.errors import Context, Msg, error, from_model_error, render
from bmc.redfish.registries import Registries
from bmc.redfish.schemas.common import Collection, Health, Link, collection_type
from bmc.redfish.schemas.tasks import Task, TaskService
from bmc.redfish.service import BmcService, Principal
from bmc.redfish.updates import TaskBook, TaskView, UpdateTask
from nodes.errors import ModelError

V1 = "/redfish/v1"
BASE = f"{V1}/TaskService"
TASKS = collection_type("TaskCollection.TaskCollection")
#: Retry-After bounds, in real seconds; a staged task waits for the client's own reset.
RETRY_MIN_S = 1
RETRY_MAX_S = 10
RETRY_PENDING_S = 2

router = APIRouter(prefix=BASE)
ServiceReader = Annotated[Principal, privileged("TaskService")]
TaskReader = Annotated[Principal, privileged("Task")]


def task_uri(task_id: str) -> str:
    return f"{BASE}/Tasks/{task_id}"


async def task_book(request: Request, bmc: CurrentBmc) -> TaskBook:
    """This BMC's tasks, kept in the app's state (one app serves a whole rack)."""
    books: dict[str, TaskBook] | None = getattr(request.app.state, "task_books", None)
    if books is None:
        books = {}
        request.app.state.task_books = books
    book = books.get(bmc.name)
    if book is None or book.node is not bmc.node:
        book = books[bmc.name] = TaskBook(bmc.node)
    return book


CurrentTasks = Annotated[TaskBook, Depends(task_book)]


#: TaskStatus once finished, by outcome (not by the worst message: a ResetRequired that was
#: then done leaves a Completed task OK).
_OUTCOME: dict[str, Health] = {"Completed": "OK", "Cancelled": "Warning", "Exception": "Critical"}


def render_task(book: TaskBook, task: UpdateTask, regs: Registries) -> tuple[Task, TaskView]:
    view = book.view(task)
    messages = [render(regs.messages[n.registry], Msg(n.key, n.args)) for n in view.notes]
    health = _OUTCOME.get(view.state) if view.finished else None
    uri = task_uri(task.id)
    body = Task(
        odata_id=uri,
        id=task.id,
        name=f"Firmware update task {task.id}",
        task_state=view.state,
        task_status=health,
        start_time=mapping.iso_time(view.start),
        end_time=mapping.iso_time(view.end) if view.end is not None else None,
        percent_complete=view.percent,
        task_monitor=uri,
        messages=messages,
    )
    return body, view


def retry_after(bmc: BmcService, view: TaskView) -> str:
    """Real seconds to wait: emulated time runs ``speed`` times faster than the wall clock."""
    if view.state == "Pending":
        return str(RETRY_PENDING_S)
    if view.remaining_s is None:
        return str(RETRY_MIN_S)
    speed = float(getattr(bmc.node.clock, "speed", 1.0)) or 1.0
    return str(max(RETRY_MIN_S, min(RETRY_MAX_S, math.ceil(view.remaining_s / speed))))


def monitor_reply(
    bmc: BmcService, book: TaskBook, task: UpdateTask, regs: Registries, *, accepted: bool = False
) -> Response:
    """The task monitor's answer: 202 + Retry-After until the task finishes, then 200.

    ``accepted``: the answer to the request that created the task (always 202, with Location).
    """
    body, view = render_task(book, task, regs)
    headers = {"Location": task_uri(task.id)} if accepted else {}
    if accepted or not view.finished:
        headers["Retry-After"] = retry_after(bmc, view)
        return reply(body, status=202, headers=headers)
    return reply(body)


@router.get("")
async def task_service(_: ServiceReader, bmc: CurrentBmc) -> Response:
    return reply(
        TaskService(
            odata_id=BASE,
            id="TaskService",
            name="Task Service",
            date_time=mapping.iso_time(bmc.now()),
            tasks=Link(odata_id=f"{BASE}/Tasks"),
        )
    )


@router.get("/Tasks")
async def tasks(_: TaskReader, book: CurrentTasks) -> Response:
    uris = [task_uri(t) for t in book.tasks]
    return reply(Collection.of(TASKS, f"{BASE}/Tasks", "Task Collection", uris))


def _task(book: TaskBook, task_id: str) -> UpdateTask:
    task = book.get(task_id)
    if task is None:
        raise error(404, "ResourceNotFound", "Task", task_id)
    return task


@router.get("/Tasks/{task_id}")
async def task(
    task_id: str, _: TaskReader, bmc: CurrentBmc, book: CurrentTasks, regs: CurrentRegistries
) -> Response:
    return monitor_reply(bmc, book, _task(book, task_id), regs)


@router.delete("/Tasks/{task_id}")
async def delete_task(
    task_id: str, who: TaskReader, bmc: CurrentBmc, book: CurrentTasks, regs: CurrentRegistries
) -> Response:
    task = _task(book, task_id)
    if book.view(task).finished:
        book.remove(task)
        bmc.log_action("task.removed", who, task=task.id)
        return no_content()
    try:
        book.cancel(task)
    except ModelError as exc:
        raise from_model_error(exc, Context(resource_type="Task", resource=task.id)) from None
    bmc.log_action("task.cancelled", who, task=task.id)
    body, _view = render_task(book, task, regs)
    return reply(body)
