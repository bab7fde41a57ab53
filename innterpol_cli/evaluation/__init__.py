"""Held-out accuracy: innterpol against linear interpolation and the paper's other baselines.

The truth is either the weights' own recorded test split, taken from the grid files they were
trained from, or real models the user passes; every method predicts the truth models'
parameters and is scored on the same models.

- :mod:`.truth`: the truth models and the reference grid the baselines may use;
- :mod:`.methods`: the methods compared, and which of them a run asks for;
- :mod:`.run`: :func:`~.run.evaluate`, every method on the truth models;
- :mod:`.record`: its result, :class:`~.record.Evaluation`, and the JSON document;
- :mod:`.metrics`: error statistics; :mod:`.scoring`: scores per channel, along each axis;
- :mod:`.halfstep`: the paper's half-step test of interpolation against nearest-neighbour;
- :mod:`.spectra`: PySME spectra of the evaluated models;
- :mod:`.tables`, :mod:`.plots`: the tables (stderr) and the figures.

The baselines themselves are in :mod:`innterpol_cli.baselines`.
"""
