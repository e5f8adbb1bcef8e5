"""``/labs``: the lab running on this rack, for ``scaleunit lab status|hint|finish`` and the
rack view's lab panel. Every route needs the control plane's token (or the page's session)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

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
