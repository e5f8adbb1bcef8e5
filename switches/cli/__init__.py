"""The switch's management CLI, OS10 style, with no I/O: a parser for the grammar
(:mod:`switches.cli.session`) and renderers of the model's state (:mod:`switches.cli.render`).
The SSH adapter (:mod:`switches.ssh`) feeds it lines and does the file transfers it asks for."""
