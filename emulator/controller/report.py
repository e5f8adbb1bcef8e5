"""A run's reports: the JSON journal (written by the engine), JUnit XML and one HTML page.

JUnit (junitparser): one testsuite per scenario, one testcase per step (its classname the phase,
its time the emulated seconds it took), a failure with the reason and the evidence. The HTML page
is self-contained (inline CSS and SVG, no script): the timeline of phases and steps in emulated
time, each phase's RTO against its target, the failure and where it happened.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape
from junitparser import Failure, JUnitXml, Skipped, TestCase, TestSuite


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else f"{m}m{sec:02d}s" if m else f"{sec}s"


def junit(journal: dict[str, Any], path: Path) -> None:
    suite = TestSuite(journal["title"])
    for step in journal["steps"]:
        case = TestCase(step["name"], classname=step["phase"])
        case.time = max(0.0, (step.get("ended_at") or 0) - (step.get("started_at") or 0))
        if step["status"] == "failed":
            failure = Failure(step.get("reason", "failed"))
            failure.text = json.dumps(step.get("evidence"), indent=2, default=str)
            case.result = [failure]
        elif step["status"] == "skipped":
            case.result = [Skipped(step.get("reason", "skipped"))]
        suite.add_testcase(case)
    if journal.get("failure") and not any(s["status"] == "failed" for s in journal["steps"]):
        case = TestCase(journal["failure"]["where"], classname="run")
        case.result = [Failure(journal["failure"]["reason"])]
        suite.add_testcase(case)
    suite.add_property("status", journal["status"])
    suite.add_property("emulated_seconds", str(round(journal.get("elapsed_s") or 0, 1)))
    xml = JUnitXml()
    xml.add_testsuite(suite)
    xml.write(str(path), pretty=True)


#: The page's template (jinja2, next to this module).
TEMPLATE = Path(__file__).with_name("report.html.j2")


def html(journal: dict[str, Any], path: Path) -> None:
    env = Environment(autoescape=select_autoescape(default=True))
    steps = [s for s in journal["steps"] if s.get("started_at") is not None]
    t0 = journal["started_at"]
    t1 = max([journal.get("ended_at") or t0] + [s.get("ended_at") or t0 for s in steps])
    span = max(t1 - t0, 1.0)
    width = 900

    def x(t: float | None) -> float:
        return float(10 + ((t or t0) - t0) / span * width)

    def w(a: float | None, b: float | None) -> float:
        return float(((b or a or t0) - (a or t0)) / span * width)

    page = env.from_string(TEMPLATE.read_text(encoding="utf-8")).render(
        j=journal, steps=steps, d=duration, x=x, w=w, W=width
    )
    path.write_text(page, encoding="utf-8")


def write_all(journal: dict[str, Any], directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "journal": directory / "journal.json",
        "junit": directory / "junit.xml",
        "html": directory / "report.html",
    }
    paths["journal"].write_text(json.dumps(journal, indent=2, default=str), encoding="utf-8")
    junit(journal, paths["junit"])
    html(journal, paths["html"])
    return paths
