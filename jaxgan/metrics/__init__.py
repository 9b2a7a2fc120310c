"""Sample-quality metrics: mode coverage on 2-D mixtures, Fréchet distance, KID, IS,
precision/recall/density/coverage.

This package takes arrays (samples, features, logits); it does not load data sets. The
networks' modules (``inception``, ``digit_classifier``) and ``sr`` load on first use.
"""

from jaxgan import lazy
from jaxgan.metrics.frechet import (
    feature_statistics,
    frechet_distance,
    frechet_distance_from_features,
)
from jaxgan.metrics.inception_score import inception_score
from jaxgan.metrics.kid import kernel_inception_distance
from jaxgan.metrics.mixture import mode_metrics, nearest_modes
from jaxgan.metrics.prdc import precision_recall_density_coverage

__all__ = ['feature_statistics', 'frechet_distance', 'frechet_distance_from_features',
           'inception_score', 'kernel_inception_distance', 'mode_metrics', 'nearest_modes',
           'precision_recall_density_coverage']


_LAZY = ('digit_classifier', 'inception', 'sr')


__getattr__, __dir__ = lazy.submodules(__name__, _LAZY, __all__)
