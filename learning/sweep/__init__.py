"""The command names of the original layout, kept working: ``python -m learning.sweep``
(the launcher, :mod:`learning.launch`) and ``python -m learning.sweep.inspection`` (the
inspection, :mod:`learning.analysis`). Nothing else lives here."""
