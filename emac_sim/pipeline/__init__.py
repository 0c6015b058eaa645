"""The pipeline: the layer on top that runs the others for a command (DESIGN §2, §7, §9).

- :mod:`.compile` — ``emac compile``: bounds → Monte Carlo → check → budgets → decision →
  artifacts (:func:`~emac_sim.pipeline.compile.compile_spec`);
- :mod:`.validate` — ``emac validate``: the check over every spec found, JSON and JUnit XML
  (:func:`~emac_sim.pipeline.validate.validate_paths`);
- :mod:`.candidate` — a candidate model judged under the accepted spec's policy;
- :mod:`.whatif` — ``emac whatif``: sweeps, find-max and fan-out studies, their tables and plots;
- :mod:`.report` — ``emac report``;
- :mod:`.evidence` — ``emac evidence`` and the ``--prometheus`` / ``--evidence`` options.

Layering: the pipeline may import every layer below it (spec, model, analytic, engine, check,
budgets, govern, emit, discover, evidence, studies, core); none of them imports the pipeline.
``emit/`` only renders what the pipeline hands it (:class:`emac_sim.emit.Derivation`). The
command line (:mod:`emac_sim.cli`) is a thin typer layer over these functions.
"""
