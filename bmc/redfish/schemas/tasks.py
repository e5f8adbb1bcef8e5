"""TaskService and its Tasks."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bmc.redfish.schemas.common import Health, Link, Message, Resource, Status, odata_type

TaskState = Literal[
    "New",
    "Starting",
    "Running",
    "Suspended",
    "Interrupted",
    "Pending",
    "Stopping",
    "Completed",
    "Killed",
    "Exception",
    "Service",
    "Cancelling",
    "Cancelled",
]


class TaskService(Resource):
    odata_type: str = odata_type("TaskService.v1_3_0.TaskService")
    status: Status = Field(default_factory=Status)
    service_enabled: bool = True
    date_time: str
    completed_task_over_write_policy: Literal["Manual", "Oldest"] = "Oldest"
    life_cycle_event_on_task_state_change: bool = False
    tasks: Link


class Task(Resource):
    odata_type: str = odata_type("Task.v1_7_4.Task")
    task_state: TaskState
    #: Only once the task has finished (the schema: "shall not be set until the task completes").
    task_status: Health | None = None
    start_time: str
    end_time: str | None = None
    percent_complete: int | None = None
    task_monitor: str
    messages: list[Message]
