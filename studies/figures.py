r"""The README's figures of trained runs: class grids, InfoGAN code sweeps, SR crops.

  python -m studies.figures classes --workdir=W --output=docs/cgan_classes.png
  python -m studies.figures codes --workdir=W --output=docs/infogan_codes.png
  python -m studies.figures sr --workdirs=bicubic,SRResNet=W1,SRGAN=W2,... \
      --output=docs/sr_crops.png
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jaxgan import evaluate, inference, plots  # noqa: E402
from jaxgan import gan as gan_lib  # noqa: E402
from launch import common  # noqa: E402


def class_grid(workdir: str, output: str, per_class: int = 10) -> None:
  """One row per class: ``per_class`` samples asked for that class (EMA rule)."""
  gan, _, state, config = inference.restore(workdir, with_data=False)
  k = gan.latent.num_classes
  if not k:
    raise ValueError(f'{workdir} is not a class-conditional run: classes draws one row per '
                     'class (a cgan, acgan, cgan_pd or sagan_cond run).')
  labels = np.repeat(np.arange(k), per_class)
  x = inference.sample(gan, state, k * per_class, inference.uses_ema(config), seed=1,
                       labels=labels)
  plots.save_image_grid(x, output, ncols=per_class)


def code_grid(workdir: str, output: str, continuous: int = 0, steps: int = 10) -> None:
  """InfoGAN: one row per categorical code; along a row continuous code ``continuous``
  goes from -2 to 2 (beyond its training range [-1, 1], as Chen et al. 2016 show), the
  noise and the other codes fixed."""
  gan, _, state, config = inference.restore(workdir, with_data=False)
  latent = gan.latent
  if not latent.num_categorical or not latent.num_continuous:
    raise ValueError(f'{workdir} is not an InfoGAN run with a categorical and a continuous '
                     'code: codes draws one row per category.')
  if not 0 <= continuous < latent.num_continuous:
    raise ValueError(f'continuous must be in [0, {latent.num_continuous}) for {workdir} (its '
                     f'continuous codes); got {continuous}.')
  z = jax.random.normal(jax.random.key(3), (1, latent.z_dim))
  rows = []
  for c in range(latent.num_categorical):
    cont = np.zeros((steps, latent.num_continuous), np.float32)
    cont[:, continuous] = np.linspace(-2, 2, steps)
    codes = {'categorical': jnp.full((steps,), c, jnp.int32), 'continuous': jnp.asarray(cont)}
    rows.append(np.asarray(gan_lib.generate(gan, state, jnp.repeat(z, steps, 0), codes,
                                            inference.uses_ema(config))))
  plots.save_image_grid(np.concatenate(rows), output, ncols=steps)


def sr_crops(named_workdirs: list[tuple[str, str | None]], output: str, size: int = 48,
             image: int = 0, corners: tuple[tuple[int, int], ...] = ((100, 180), (40, 40))):
  """Side-by-side crops of held-out photo ``image``: LR (nearest), each run (or
  ``'bicubic'``), HR; one row per crop corner (in HR pixels), moved inside the image
  where it would reach past its edge (and the crop cut to a smaller image's side).

  Raises:
    ValueError: no run among ``named_workdirs`` (the held-out photos and the scale come
      from a run's pipeline).
  """
  if all(workdir is None for _, workdir in named_workdirs):
    raise ValueError("sr needs at least one NAME=DIR run beside 'bicubic': the held-out "
                     "photos and the scale come from a run's pipeline.")
  columns, pairs, scale = {}, None, 4
  for name, workdir in named_workdirs:
    if workdir is None:
      continue
    gan, pipe, state, config = inference.restore(workdir)
    if pipe.evaluator != 'sr':
      raise ValueError(f'{workdir} is not a super-resolution run (its data, '
                       f'{pipe.name!r}, has no low- and high-resolution pairs).')
    scale = pipe.evaluator_args['scale']
    pairs = pairs or pipe.evaluator_args['eval_pairs']()
    run = evaluate.EvalRun(gan, state, pipe, inference.uses_ema(config), num_samples=0)
    columns[name] = run.upscale_whole(pairs[image][0])
  lr, hr = pairs[image]
  order = ['LR'] + [n for n, _ in named_workdirs] + ['HR']
  full = {'LR': np.repeat(np.repeat(lr, scale, 0), scale, 1), 'HR': hr,
          'bicubic': evaluate.bicubic_upscale(lr, scale), **columns}
  fig, axes = plt.subplots(len(corners), len(order), figsize=(1.6 * len(order),
                                                              1.7 * len(corners)), dpi=120)
  axes = np.atleast_2d(axes)
  size = min(size, *hr.shape[:2])
  for r, (top, left) in enumerate(corners):
    top, left = min(top, hr.shape[0] - size), min(left, hr.shape[1] - size)
    for c, name in enumerate(order):
      crop = np.clip(full[name][top:top + size, left:left + size], -1, 1)
      axes[r, c].imshow((crop + 1) / 2, interpolation='nearest')
      axes[r, c].set_xticks([])
      axes[r, c].set_yticks([])
      if r == 0:
        axes[r, c].set_title(name, fontsize=8)
  fig.tight_layout()
  plots.save_figure(fig, output)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('kind', choices=['classes', 'codes', 'sr'])
  parser.add_argument('--workdir')
  parser.add_argument('--workdirs', help="sr: comma-separated NAME=DIR, or 'bicubic'")
  parser.add_argument('--output', required=True)
  args = parser.parse_args()
  if args.kind in ('classes', 'codes') and not args.workdir:
    parser.error(f'{args.kind} needs --workdir.')
  if args.kind == 'sr':
    if not args.workdirs:
      parser.error('sr needs --workdirs.')
    items = [i.strip() for i in args.workdirs.split(',') if i.strip()]
    bad = [i for i in items if '=' not in i and i != 'bicubic']
    if bad:
      parser.error(f"--workdirs: write each as NAME=DIR or 'bicubic'; got {', '.join(bad)}.")
    named = [(i.split('=', 1)[0], i.split('=', 1)[1] if '=' in i else None) for i in items]
    if all(d is None for _, d in named):
      parser.error("sr needs at least one NAME=DIR run beside 'bicubic'.")
    names = [n for n, _ in named]
    taken = sorted({n for n in names if names.count(n) > 1}
                   | {n for n, d in named if d is not None and n in ('LR', 'HR', 'bicubic')})
    if taken:  # a column would replace another (HR=DIR the ground truth)
      parser.error(f"--workdirs: each NAME once, none of LR, HR or bicubic (columns of their "
                   f"own); got {', '.join(taken)}.")
  # A bad output or run is one line (exit 1), and the output is checked before any work.
  common.quiet_failed_restores()
  try:
    common.check_output_name(args.output)
    output = plots.check_format(args.output, image=args.kind != 'sr')  # .png when none
    common.check_output_name(output)  # as written: out/fig may be the folder out/fig.png
    common.check_output_writable(output)
    if args.kind == 'sr':
      sr_crops(named, output)
    elif args.kind == 'classes':
      class_grid(args.workdir, output)
    else:
      code_grid(args.workdir, output)
  except (*common.USER_ERRORS, ValueError, OSError) as e:
    common.end(f'Error: {e}', 1)  # one line, without TensorStore's late callbacks
  print(f'wrote {output}')


if __name__ == '__main__':
  main()
