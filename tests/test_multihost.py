"""Two processes on one machine as two hosts (``jax.distributed`` over CPU with gloo
collectives): the multi-host paths of the train loop, run for real."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import chex
import numpy as np
from absl.testing import absltest, parameterized

from jaxgan import workdir

HERE = os.path.dirname(os.path.abspath(__file__))
# Two CPU devices per process: a host's batch slice is split over its local devices too.
ENV = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'PYTHONPATH': os.path.dirname(HERE),
       'XLA_FLAGS': (os.environ.get('XLA_FLAGS', '')
                     + ' --xla_force_host_platform_device_count=2').strip()}


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def _start(mode: str, workdir: str, processes=(0, 1), env=None) -> list[subprocess.Popen]:
  """The workers; ``env(process, port)``: variables added to each one's environment."""
  port = str(_free_port())
  return [subprocess.Popen([sys.executable, os.path.join(HERE, 'multihost_worker.py'), mode,
                            str(p), port, workdir], env={**ENV, **(env(p, port) if env else {})},
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
          for p in processes]


def _wait(procs: list[subprocess.Popen], timeout: float) -> list[tuple[int, str, str]]:
  """``(returncode, stdout, stderr)`` of each worker, all within ``timeout`` seconds; every
  worker is killed when one overruns (a host waiting in a collective for one that has
  gone)."""
  deadline = time.monotonic() + timeout
  try:
    results = []
    for p in procs:
      out, err = p.communicate(timeout=max(deadline - time.monotonic(), 1))
      results.append((p.returncode, out, err))
    return results
  finally:
    for p in procs:
      p.kill()
      p.communicate()


def _run(mode: str, workdir: str, processes=(0, 1)) -> list[str]:
  """Runs the worker as ``processes`` at once; returns each one's stdout."""
  outs = []
  for code, out, err in _wait(_start(mode, workdir, processes), timeout=600):
    if code:
      raise AssertionError(f'worker failed ({code}):\n{err[-3000:]}')
    outs.append(out)
  return outs


class MultiHostTest(chex.TestCase):

  def test_two_hosts_train_what_one_host_trains(self):
    two, one = tempfile.mkdtemp(), tempfile.mkdtemp()
    outs = _run('train', two)
    self.assertTrue(all('STEP 10 DEVICES 2 4' in o for o in outs), outs)
    self.assertIn('STEP 10 DEVICES 2 2', _run('train', one, processes=(-1,))[0])
    host0, host1 = (np.load(os.path.join(two, f'params_{p}.npy')) for p in (0, 1))
    single = np.load(os.path.join(one, 'params_-1.npy'))
    np.testing.assert_array_equal(host0, host1)
    np.testing.assert_allclose(host0, single, atol=1e-6)
    self.assertGreater(np.abs(single).max(), 0.1)
    # Checkpoints saved together; the logs, pictures and config written once (the lead).
    self.assertEqual(sorted(os.listdir(os.path.join(two, 'checkpoints'))), ['10', '5'])
    rows = [json.loads(line) for line in open(os.path.join(two, 'metrics.jsonl'))]
    self.assertEqual([r['step'] for r in rows], [5, 10])
    self.assertEqual(os.listdir(os.path.join(two, 'samples')), ['step_0000010.png'])

  def test_the_local_mesh_holds_this_hosts_devices_alone(self):
    # Sampling and evaluation features are each process's own work: its rows go to its
    # two devices (padded to a multiple of them), never to the other host's.
    outs = _run('local_mesh', tempfile.mkdtemp())
    for pid, out in enumerate(outs):
      self.assertIn(f'LOCAL [{pid}] 2 3 [{10 * pid}, {10 * pid + 1}, {10 * pid + 2}, '
                    f'{10 * pid + 2}]', out)

  def test_a_stop_request_on_one_host_reaches_every_host(self):
    # SIGTERM may reach one host first: the loop takes the largest vote over hosts, so that
    # all save (a collective) and stop together, and a failure outranks a stop.
    outs = _run('any_host', tempfile.mkdtemp())
    self.assertEqual([o.split('ANY')[1].split() for o in outs], [['1', '0', '2']] * 2)

  def test_hosts_stop_and_save_together_when_one_is_asked(self):
    # In the loop the vote is read IN_FLIGHT calls after it is cast (so that it never waits
    # for the device): both hosts stop at the same step, before the end, with its
    # checkpoint.
    wd = tempfile.mkdtemp()
    outs = _run('stop', wd)
    steps = [int(o.split('STEP')[1].split()[0]) for o in outs]
    self.assertEqual(steps[0], steps[1], outs)
    self.assertLess(steps[0], 30)
    self.assertEqual(os.listdir(os.path.join(wd, 'checkpoints')), [str(steps[0])])

  def test_config_distributed_takes_the_cluster_from_the_environment(self):
    # --config.distributed=True calls jax.distributed.initialize() with no arguments: on a
    # cluster (here a SLURM job's variables, the coordinator's port overridden to a free
    # one) it finds the processes itself.
    def slurm(p, port):
      return {'SLURM_JOB_ID': '4242', 'SLURM_STEP_NODELIST': 'localhost', 'SLURM_NTASKS': '2',
              'SLURM_PROCID': str(p), 'SLURM_LOCALID': str(p),
              'JAX_COORDINATOR_ADDRESS': f'localhost:{port}'}
    wd = tempfile.mkdtemp()
    results = _wait(_start('distributed', wd, env=slurm), timeout=600)
    for code, out, err in results:
      self.assertEqual(code, 0, err[-3000:])
      self.assertIn('STEP 10 DEVICES 2 4', out)

  def _failing_run(self, mode: str, first: int) -> tuple[list[str], list[str]]:
    """Runs worker ``mode`` failing from step ``first`` on both hosts, checks that both
    failed; returns each host's stderr and the checkpoints' steps."""
    wd = tempfile.mkdtemp()
    results = _wait(_start(mode, wd, env=lambda p, port: {'FAIL_FROM': str(first)}),
                    timeout=240)
    self.assertTrue(all(code != 0 for code, _, _ in results), results)
    return [err for _, _, err in results], os.listdir(os.path.join(wd, 'checkpoints'))

  @parameterized.parameters(5, 30)
  def test_a_failing_lead_output_stops_every_host_with_a_checkpoint(self, first):
    # Only the lead writes the log: when that fails (from step 5, or at the last step, after
    # the last call's vote), every host saves at the same step and fails, rather than the
    # others waiting in the next collective for a lead that has gone, or exiting 0.
    errors, steps = self._failing_run('write_fails', first)
    self.assertIn(f'OSError: No space left on device (step {first})', errors[0])
    self.assertIn('Another host failed at its own work outside the train step', errors[1])
    self.assertLen(steps, 1)
    self.assertLess(int(steps[0]), 30) if first < 30 else self.assertEqual(steps, ['30'])

  @parameterized.parameters(5, 20)
  def test_a_data_error_on_one_host_stops_every_host_with_a_checkpoint(self, first):
    # Host 1 cannot read its batches from step 20 (an unreadable file of its shard): the
    # batches are read IN_FLIGHT + 1 calls ahead, so the failure is voted before the call
    # that needs them is due, and both hosts save the state of step 20 and fail; with one
    # of the first calls' batches (the call from step 5, read with the first), nothing is
    # trained. Before, host 0 waited in the call's collectives for a host that had gone.
    errors, steps = self._failing_run('data_fails', first)
    self.assertIn(f'OSError: unreadable record (step {first})', errors[1])
    self.assertIn('Another host failed at its own work outside the train step', errors[0])
    self.assertEqual(steps, ['20'] if first == 20 else [])

  def test_a_lead_that_cannot_record_the_config_stops_every_host(self):
    results = _wait(_start('record_fails', tempfile.mkdtemp()), timeout=240)
    self.assertTrue(all(code != 0 for code, _, _ in results), results)
    self.assertIn('PermissionError: config.json: permission denied', results[0][2])
    self.assertIn('Host 0 failed to write config.json and data_shapes.json', results[1][2])

  def test_a_busy_workdir_stops_every_host(self):
    # Host 0 alone takes the workdir's lock; refused, it must not leave host 1 waiting in the
    # checkpoints' collectives.
    wd = tempfile.mkdtemp()
    with workdir.Lock(wd):  # another run holds it
      results = _wait(_start('train', wd), timeout=240)
    for code, _, err in results:
      self.assertNotEqual(code, 0)
      self.assertIn('WorkdirBusy', err[-3000:])
    self.assertIn('in use by another training run', results[0][2])
    self.assertIn('Host 0 failed to take the lock of', results[1][2])
    self.assertFalse(os.path.exists(os.path.join(wd, 'checkpoints')))


if __name__ == '__main__':
  absltest.main()
