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
    s = int(round(seconds))
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


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ j.title }}: {{ j.status }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
.completed{color:#1a7f37}.failed,.interrupted,.aborted{color:#c62828}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
.ok{background:#e8f5e9}.bad{background:#ffebee}.skip{background:#f5f5f5}
pre{white-space:pre-wrap;max-width:60em;font-size:.85em}
</style></head><body>
<h1>{{ j.title }} <span class="{{ j.status }}">{{ j.status }}</span></h1>
<p>{{ j.source }} &middot; emulated {{ d(j.elapsed_s) }} &middot; wall {{ '%.2f' % (j.wall_s or 0) }} s
&middot; rollback strategy {{ j.strategy }}{% if j.resumed_from %} &middot; resumed from {{ j.resumed_from }}{% endif %}</p>
{% if j.failure %}<h2 class="failed">Failure</h2>
<p><b>{{ j.failure.where }}</b>: {{ j.failure.reason }}</p>{% endif %}
<h2>Phases and RTO</h2>
<table><tr><th>phase</th><th>elapsed</th><th>RTO target</th><th>met</th></tr>
{% for p in j.phases %}<tr class="{{ 'ok' if p.rto_met and p.status == 'succeeded' else 'bad' }}">
<td>{{ p.phase }}</td><td>{{ d(p.elapsed_s) }}</td><td>{{ d(p.rto_s) }}</td>
<td>{{ 'yes' if p.rto_met else 'NO' }}{% if p.status != 'succeeded' %} ({{ p.status }}){% endif %}</td></tr>{% endfor %}
</table>
<h2>Timeline</h2>
<svg width="{{ W + 20 }}" height="{{ 30 + 16 * steps|length }}" role="img" aria-label="timeline">
{% for p in j.phases %}<rect x="{{ x(p.started_at) }}" y="0" width="{{ [w(p.started_at, p.ended_at), 1]|max }}" height="20" fill="{{ '#90caf9' if p.rto_met else '#ef9a9a' }}"><title>{{ p.phase }} {{ d(p.elapsed_s) }}</title></rect>
<text x="{{ x(p.started_at) + 2 }}" y="14" font-size="11">{{ p.phase }}</text>{% endfor %}
{% for s in steps %}<rect x="{{ x(s.started_at) }}" y="{{ 26 + 16 * loop.index0 }}" width="{{ [w(s.started_at, s.ended_at), 2]|max }}" height="12" fill="{{ '#66bb6a' if s.status == 'succeeded' else '#e53935' }}"><title>{{ s.name }}: {{ d((s.ended_at or 0) - (s.started_at or 0)) }}</title></rect>{% endfor %}
</svg>
<h2>Steps</h2>
<table><tr><th>#</th><th>phase</th><th>step</th><th>kind</th><th>status</th><th>emulated</th><th>attempts</th><th>reason / output</th></tr>
{% for s in j.steps %}<tr class="{{ {'succeeded':'ok','failed':'bad'}.get(s.status, 'skip') }}">
<td>{{ s.id }}</td><td>{{ s.phase }}</td><td>{{ s.name }}</td><td>{{ s.kind }}</td><td>{{ s.status }}</td>
<td>{{ d((s.ended_at or 0) - (s.started_at or 0)) if s.started_at else '-' }}</td><td>{{ s.attempts or '' }}</td>
<td>{% if s.reason %}<b>{{ s.reason }}</b>{% endif %}{% if s.evidence %}<pre>{{ s.evidence|tojson(indent=1) }}</pre>{% elif s.output is defined and s.output is not none %}<pre>{{ s.output|tojson|truncate(300) }}</pre>{% endif %}</td></tr>{% endfor %}
</table>
</body></html>
"""


def html(journal: dict[str, Any], path: Path) -> None:
    env = Environment(autoescape=select_autoescape(default=True))
    steps = [s for s in journal["steps"] if s.get("started_at") is not None]
    t0 = journal["started_at"]
    t1 = max([journal.get("ended_at") or t0] + [s.get("ended_at") or t0 for s in steps])
    span = max(t1 - t0, 1.0)
    width = 900

    def x(t: float | None) -> float:
        return 10 + ((t or t0) - t0) / span * width

    def w(a: float | None, b: float | None) -> float:
        return ((b or a or t0) - (a or t0)) / span * width

    page = env.from_string(_PAGE).render(j=journal, steps=steps, d=duration, x=x, w=w, W=width)
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
