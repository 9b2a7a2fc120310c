"""Studies: many runs of one recipe, compared in a table (beside ``launch/``, not in the
library). ``launch.study`` runs one; ``study.kind`` names how its runs are scored:

* ``'mixtures'``: seeds vmapped, the VEEGAN/PacGAN mode metrics of the final samples,
  scatter panels (:mod:`studies.mixtures`);
* ``'digits'``: digit-FD over training, curves (:mod:`studies.digits`).
"""
