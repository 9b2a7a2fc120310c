r"""Evaluates the latest checkpoint of a run (or a kept one: ``--step``; or each kept one,
the oldest first: ``--all_steps``): ``python -m launch.evaluate --workdir=DIR
[--num_samples=10000] [--inception_weights=PATH] [--step=N | --all_steps]
[--truncation=PSI]``; prints JSON (with ``--all_steps`` a list) and writes
``DIR/eval.json``; every evaluation is also appended to ``DIR/evals.jsonl``."""

import os

from absl import app, flags

from jaxgan import evaluate, files
from launch import common

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'A workdir of launch.train.')
flags.DEFINE_integer('num_samples', 10000, 'Generated samples to evaluate.', lower_bound=2)
flags.DEFINE_integer('seed', 0, 'Noise seed, in [0, 2**32) (jax.random.key keeps its low '
                     '32 bits: 2**32 would be seed 0).', lower_bound=0,
                     upper_bound=2**32 - 1)
flags.DEFINE_string('inception_weights', None,
                    'FID Inception weights (pt_inception-2015-12-05-6726825d.pth or .npz); '
                    'default: $JAXGAN_CACHE or ~/.cache/jaxgan. Needed for FID/KID/IS.')
common.define_step_flag()
flags.DEFINE_bool('all_steps', False, 'Evaluates every checkpoint the run keeps, the oldest '
                  'first (scores along training), and prints a JSON list.')
flags.register_multi_flags_validator(
    ['step', 'all_steps'], lambda f: not (f['all_steps'] and f['step'] is not None),
    message='--step reads one checkpoint and --all_steps every kept one: give one of them.')
common.define_truncation_flag()
flags.mark_flags_as_required(['workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError('Too many command-line arguments.')
  if os.path.isdir(FLAGS.workdir):  # eval.json goes there: known before the work
    common.check_folder_writable(FLAGS.workdir)
  try:
    if FLAGS.all_steps:
      result = evaluate.evaluate_kept(FLAGS.workdir, FLAGS.num_samples, FLAGS.seed,
                                      FLAGS.inception_weights, FLAGS.truncation)
    else:
      result = evaluate.evaluate(FLAGS.workdir, FLAGS.num_samples, FLAGS.seed,
                                 FLAGS.inception_weights, FLAGS.step, FLAGS.truncation)
  except evaluate.EvaluationError as e:  # too few samples (the flag), non-finite ones or
    # images outside [-1, 1]
    flag = '--' if isinstance(e, evaluate.NumSamplesError) else ''
    raise common.LaunchError(f'{flag}{e}') from None
  print(files.json_text(result))  # as eval.json


if __name__ == '__main__':
  common.run(main)
