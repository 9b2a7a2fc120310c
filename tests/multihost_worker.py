"""One process of a two-process ("two-host") CPU run, for tests/test_multihost.py.

  python tests/multihost_worker.py MODE PROCESS_ID PORT WORKDIR

``PROCESS_ID`` -1: a single process (no ``jax.distributed``). Modes: ``train`` (the digits
config of :func:`config`, then the parameters saved to ``WORKDIR/params_<id>.npy``) and
``any_host`` (prints ``train._stop_vote`` of STOP on process 1 only, of GO_ON on both, and
of FAILED on process 0 with STOP on process 1),
``stop`` (``train`` with a stop requested on process 1 only, from its second call on),
``distributed`` (``train`` with ``config.distributed``: ``jax.distributed.initialize()``
reads the cluster from the environment), ``write_fails`` (``stop``'s run, the lead's metric
log failing from step ``$FAIL_FROM``, 5 by default), ``record_fails`` (the lead failing to
write ``config.json``), ``data_fails`` (``write_fails``' run, process 1's data failing from
step ``$FAIL_FROM``, 20 by default), ``local_mesh`` (prints the processes and the size of
``sharding.local_mesh()``'s devices, and the rows ``put_rows`` puts on it).
"""

import os
import sys

import jax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def config(num_steps: int = 10):
  """A small MLP on the 8 px digits (a finite data set: every host reads its slice of the
  same global batch, so two hosts compute what one computes)."""
  from configs import toy2d
  c = toy2d.get_config()
  c.model.generator.features = c.model.discriminator.features = (32, 32)
  c.model.generator.output_shape = (8, 8, 1)
  c.model.generator.output_activation = 'tanh'
  c.data = dict(name='digits', batch_size=32, image_size=8)
  c.num_steps, c.steps_per_call, c.log_every, c.checkpoint_every = num_steps, 5, 5, 5
  c.eval_every, c.num_eval_samples = 10, 16
  return c


def main(mode: str, pid: int, port: str, workdir: str) -> None:
  from jaxgan import sharding
  sharding.run_cpu_programs_inline()  # as the launchers run (launch.common.run)
  if pid >= 0:
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
    if mode != 'distributed':  # there, launch.train's config.distributed does it
      jax.distributed.initialize(f'localhost:{port}', num_processes=2, process_id=pid)
  import numpy as np

  from jaxgan import sharding as sharding_lib
  from jaxgan import train
  if mode == 'local_mesh':
    mesh = sharding_lib.local_mesh()
    rows, n = sharding_lib.put_rows(np.arange(3) + 10 * pid, mesh)
    print('LOCAL', sorted({d.process_index for d in mesh.devices.flat}), mesh.size, n,
          np.asarray(rows).tolist(), flush=True)
    return
  if mode == 'any_host':
    mesh = sharding_lib.make_mesh()
    votes = [(train.STOP if pid == 1 else train.GO_ON), train.GO_ON,
             (train.FAILED if pid == 0 else train.STOP)]
    print('ANY', *[int(train._stop_vote(v, mesh)) for v in votes], flush=True)
    return
  c = config()
  c.distributed = mode == 'distributed'  # from the cluster's environment (here SLURM's)
  if mode == 'stop':  # process 1 alone is asked to stop, from its second call on
    c.num_steps, c.checkpoint_every, c.eval_every = 30, 100, 100

    class StopAtSecondCall(train._StopRequest):
      reads = 0

      @property
      def requested(self):
        self.reads += 1
        return pid == 1 and self.reads >= 2

      @requested.setter
      def requested(self, value):
        pass
    train._StopRequest = StopAtSecondCall
  if mode == 'record_fails' and pid == 0:  # the lead cannot write config.json
    from jaxgan import workdir as workdir_lib

    def record_config(*args, **kwargs):
      raise PermissionError('config.json: permission denied')
    workdir_lib.record_config = record_config
  if mode in ('write_fails', 'data_fails'):
    from jaxgan import data, writers
    from tests.train_helpers import failing_from
    c.num_steps, c.checkpoint_every, c.eval_every = 30, 100, 100
  if mode == 'write_fails' and pid == 0:  # the lead's metric log fails (a full disk, say)
    writers.MetricWriter.write = failing_from(
        writers.MetricWriter.write, int(os.environ.get('FAIL_FROM', '5')),
        lambda step: OSError(f'No space left on device (step {step})'))
  if mode == 'data_fails' and pid == 1:  # process 1 cannot read its batches
    data.Pipeline.batches = failing_from(
        data.Pipeline.batches, int(os.environ.get('FAIL_FROM', '20')),
        lambda step: OSError(f'unreadable record (step {step})'))
  state = train.train_and_evaluate(c, workdir)
  leaves = jax.tree.leaves((state.g_params, state.d_params))
  np.save(os.path.join(workdir, f'params_{pid}.npy'),
          np.concatenate([np.asarray(x).ravel() for x in leaves]))
  print('STEP', int(state.step), 'DEVICES', jax.local_device_count(), jax.device_count(),
        flush=True)


if __name__ == '__main__':
  main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
