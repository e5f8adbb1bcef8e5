"""Training labs: a scenario's stage on a live rack, a person doing the procedure by hand,
followed and graded (``engine``), served under ``/labs`` (``routes``), run by ``scaleunit lab``
(``cli``)."""
