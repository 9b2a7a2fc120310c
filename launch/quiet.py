"""Keeps Orbax's per-save INFO lines out of the console (warnings still show)."""

import logging as pylogging

from absl import logging


class _QuietOrbax(pylogging.Filter):

  def filter(self, record: pylogging.LogRecord) -> bool:
    return record.levelno >= pylogging.WARNING or 'orbax' not in record.pathname


def install() -> None:
  logging.get_absl_handler().addFilter(_QuietOrbax())
