"""``/labs``: the lab running on this rack, for ``scaleunit lab status|hint|finish`` and the
rack view's lab panel. Every route needs the control plane's token (or the page's session)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from emulator.control.plane import ControlPlane

router = APIRouter(prefix="/labs", tags=["labs"])


async def _plane(request: Request) -> ControlPlane:
    plane: ControlPlane = await request.app.state.auth(request)
    return plane


Plane = Annotated[ControlPlane, Depends(_plane)]

_NO_LAB = "no lab runs on this rack (start one: scaleunit lab SCENARIO)"


def _lab(request: Request) -> Any:
    return getattr(request.app.state, "lab", None)


@router.get("/current")
async def current(request: Request, plane: Plane) -> Any:
    """The lab: its steps (done or not, when), rule breaks, hints used, the grade once over."""
    lab = _lab(request)
    if lab is None:
        return JSONResponse({"error": _NO_LAB}, status_code=404)
    return lab.view()


@router.post("/current/hint")
async def hint(request: Request, plane: Plane) -> Any:
    """The next step in words (counted in the grade)."""
    lab = _lab(request)
    if lab is None:
        return JSONResponse({"error": _NO_LAB}, status_code=404)
    if lab.state != "running":
        return JSONResponse({"error": f"the lab is {lab.state}"}, status_code=409)
    out: dict[str, Any] = lab.hint()
    return out


@router.post("/current/finish")
async def finish(request: Request, plane: Plane) -> Any:
    """End the lab and grade it; the reports go to the lab's report directory."""
    lab = _lab(request)
    if lab is None:
        return JSONResponse({"error": _NO_LAB}, status_code=404)
    grade = await lab.finish("finished by the trainee")
    return {"grade": grade, "reports": getattr(lab, "reports", {})}


class LabIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        description="a runbook of the library (GET /labs/scenarios), e.g. node-repair",
    )
    variables: dict[str, str | int | float | bool] = Field(
        default_factory=dict, max_length=32, description="as --var NAME=VALUE"
    )


@router.get("/scenarios")
async def scenarios(plane: Plane) -> list[dict[str, str]]:
    """The library's runbooks a lab can be started from."""
    from emulator.controller import runbook as rb
    from emulator.lab.runner import library

    out = []
    for name, path in library().items():
        try:
            title = rb.load(path).title
        except rb.RunbookError:
            continue
        out.append({"name": name, "title": title})
    return out


@router.post("", status_code=202)
async def start(body: LabIn, request: Request, plane: Plane) -> Any:
    """Start a lab on this rack (the rack view's trainer panel): its stage is set once every
    node runs; GET /labs/current follows it."""
    from emulator.controller import runbook as rb
    from emulator.lab.runner import library, start_in_background

    lab = _lab(request)
    if lab is not None and lab.state != "finished":
        return JSONResponse({"error": f"a lab is {lab.state}: finish it first"}, status_code=409)
    path = library().get(body.scenario)
    if path is None:
        known = ", ".join(library())
        return JSONResponse(
            {"error": f"no scenario {body.scenario!r}; one of: {known}"}, status_code=404
        )
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is None:
        return JSONResponse({"error": "this control plane serves no rack runtime"}, 409)
    book = rb.load(path)
    unknown = sorted(set(body.variables) - set(book.variables))
    if unknown:
        return JSONResponse(
            {"error": f"unknown variable(s) {unknown}; known: {sorted(book.variables)}"}, 400
        )
    request.app.state.lab = None
    start_in_background(runtime, book, source=str(path), variables=dict(body.variables))
    return {"scenario": body.scenario, "title": book.title, "state": "starting"}
