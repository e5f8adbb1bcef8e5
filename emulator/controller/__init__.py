"""The controller: runbooks that break a rack and replay the documented restoration procedures.

It sees the rack only as a client (the control plane's HTTP API, the BMCs' Redfish and IPMI, the
workload endpoints); no module here imports the rack's model (``nodes``, ``switches``,
``emulator.rack``), except :mod:`emulator.controller.embed`, the launcher that starts a rack to
drive (a test checks both). Modules:

* :mod:`~emulator.controller.runbook`: the YAML runbook, its pydantic models and loader;
* :mod:`~emulator.controller.tolerance`: what a probe's output must satisfy;
* :mod:`~emulator.controller.steps`: the closed registry of step kinds, one async function each;
* :mod:`~emulator.controller.engine`: one loop over the phases' steps, safeguards, rollbacks,
  the journal and resume;
* :mod:`~emulator.controller.report`: JUnit XML and the HTML report;
* :mod:`~emulator.controller.cli`: ``scaleunit run`` and ``scaleunit level``.
"""
