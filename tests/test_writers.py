"""Tests of the run's outputs: metric logs, loss curves and the checkpoint folder."""

import csv
import json
import os
import re
import shutil
import tempfile
import time
import warnings
from unittest import mock

import chex
import jax
import numpy as np
from absl.testing import absltest, parameterized

from jaxgan import checkpoints, plots, writers
from tests.train_helpers import decode_png, tensorboard_events


def _strict(constant: str):
  raise ValueError(f'{constant} is not JSON')


class MetricWriterTest(chex.TestCase):

  def test_a_non_finite_value_is_left_out_and_the_log_stays_strict_json(self):
    # A lazy penalty that a resume added has no value until its first due step: NaN.
    wd = tempfile.mkdtemp()
    w = writers.MetricWriter(wd)
    w.write(1, {'d_loss': 1.5, 'penalty': float('nan')})
    w.write(2, {'d_loss': 1.25, 'penalty': np.float32(0.5)})
    w.close()
    with open(w.jsonl_path) as f:
      rows = [json.loads(line, parse_constant=_strict) for line in f]
    self.assertEqual(rows, [{'step': 1, 'd_loss': 1.5},
                            {'step': 2, 'd_loss': 1.25, 'penalty': 0.5}])
    with open(w.csv_path, newline='') as f:
      self.assertEqual(list(csv.DictReader(f)),
                       [{'step': '1', 'd_loss': '1.5', 'penalty': ''},
                        {'step': '2', 'd_loss': '1.25', 'penalty': '0.5'}])
    # A row appended under the columns it already has: the value left out is an empty
    # cell, not 0 (read back, the row lacks it).
    w = writers.MetricWriter(wd, resume_step=2)
    w.write(3, {'d_loss': 1.0, 'penalty': float('inf')})
    w.close()
    with open(w.csv_path, newline='') as f:
      self.assertEqual(list(csv.reader(f))[-1], ['3', '1.0', ''])
    self.assertEqual(writers.read_csv(w.csv_path)[-1], {'step': 3, 'd_loss': 1.0})

  def test_a_row_of_the_known_columns_is_appended_to_the_csv_in_place(self):
    # Appended, not the whole file written again at every step (a long run's log would
    # cost more at each row, and a reader following the file would lose it).
    wd = tempfile.mkdtemp()
    w = writers.MetricWriter(wd)
    w.write(1, {'d_loss': 1.5})
    with open(w.csv_path, newline='') as reader:  # follows the file it opened
      self.assertEqual(reader.read(), 'step,d_loss\r\n1,1.5\r\n')
      w.write(2, {'d_loss': 1.25})
      w.write(3, {})  # fewer columns: an empty cell
      self.assertEqual(reader.read(), '2,1.25\r\n3,\r\n')
    w.write(4, {'d_loss': 1.0, 'g_loss': 0.5})  # a new column: the file is written anew
    w.close()
    with open(w.csv_path, newline='') as f:
      self.assertEqual(f.read(), 'step,d_loss,g_loss\r\n1,1.5,\r\n2,1.25,\r\n3,,\r\n'
                                 '4,1.0,0.5\r\n')

  def test_a_resume_without_the_jsonl_keeps_the_csv_rows(self):
    # The CSV alone (the JSONL deleted, or not copied): its rows up to the resumed step are
    # kept, and the JSONL is written again from them, not the CSV emptied.
    d = tempfile.mkdtemp()
    with open(os.path.join(d, 'metrics.csv'), 'w') as f:
      f.write('step,d_loss,penalty\n10,1.5,0.25\n20,1.25,\n30,1.0,0.5\n40,0.75,0.125\n')
    w = writers.MetricWriter(d, resume_step=30)
    w.write(40, {'d_loss': 2.0, 'penalty': 1.0})
    w.close()
    want = [{'step': 10, 'd_loss': 1.5, 'penalty': 0.25}, {'step': 20, 'd_loss': 1.25},
            {'step': 30, 'd_loss': 1.0, 'penalty': 0.5},
            {'step': 40, 'd_loss': 2.0, 'penalty': 1.0}]
    self.assertEqual(writers.read_jsonl(os.path.join(d, 'metrics.jsonl')), want)
    self.assertEqual(open(os.path.join(d, 'metrics.csv')).read().splitlines(),
                     ['step,d_loss,penalty', '10,1.5,0.25', '20,1.25,', '30,1.0,0.5',
                      '40,2.0,1.0'])
    # A last row cut short (a killed run) is left out, as in the JSONL; a bad row before
    # it is named.
    head = 'step,d_loss,penalty\n10,1.5,0.25\n'
    for cut in ('20,1.2', '2\n', '20,1.2e\n', '20,1.2,0.5'):  # the last: all, no line end
      with open(os.path.join(d, 'metrics.csv'), 'w') as f:
        f.write(head + cut)
      with self.assertLogs('absl', level='WARNING'):
        self.assertEqual(writers.read_csv(os.path.join(d, 'metrics.csv')),
                         [{'step': 10, 'd_loss': 1.5, 'penalty': 0.25}])
    for bad in ('20,x,1\n', '20,1.0,0.5,7\n'):  # not a number; a cell too many
      with open(os.path.join(d, 'metrics.csv'), 'w') as f:
        f.write(head + bad + '30,1.0,0.5\n')
      with self.assertRaisesRegex(ValueError, r'metrics.csv, row 2, is not a metrics row'):
        writers.read_csv(os.path.join(d, 'metrics.csv'))
    with open(os.path.join(d, 'metrics.csv'), 'w') as f:  # no step column
      f.write('d_loss,penalty\n1.5,0.25\n1.0,0.5\n')
    with self.assertRaisesRegex(ValueError, r'metrics.csv, row 1, is not a metrics row'):
      writers.read_csv(os.path.join(d, 'metrics.csv'))

  def test_a_resume_from_a_damaged_csv_alone_names_its_row_and_keeps_it(self):
    # No JSONL to write it again from: the CSV's own error (its row, what to do), not one
    # about a JSONL that is not there; nothing is written.
    d = tempfile.mkdtemp()
    text = 'step,d_loss\n10,1.5\n20,x\n30,1.0\n'
    with open(os.path.join(d, 'metrics.csv'), 'w') as f:
      f.write(text)
    with self.assertRaisesRegex(writers.MetricLogError,
                                r'metrics\.csv, row 2, is not a metrics row \(.*\)\. Correct '
                                r'or delete that row\.$'):
      writers.MetricWriter(d, resume_step=30)
    self.assertEqual(sorted(os.listdir(d)), ['metrics.csv'])
    with open(os.path.join(d, 'metrics.csv')) as f:
      self.assertEqual(f.read(), text)

  def test_a_resume_with_an_emptied_jsonl_keeps_the_csv_rows(self):
    # metrics.jsonl emptied (zero-length after a crash, or by a sync tool) or cut short:
    # it replaced every CSV row with its own, silently. The CSV, holding more rows up to
    # the resumed step, is the record then, and the JSONL is written again from it.
    d = tempfile.mkdtemp()
    w = writers.MetricWriter(d, 0)
    for s in (5, 10, 15, 20):
      w.write(s, {'d_loss': 1.0, 'g_loss': 2.0})
    w.close()
    want = [{'step': s, 'd_loss': 1.0, 'g_loss': 2.0} for s in (5, 10, 15)]
    for jsonl in ('', '{"step": 5, "d_loss": 1.0, "g_loss": 2.0}\n'):  # emptied; cut short
      with open(w.jsonl_path, 'w') as f:
        f.write(jsonl)
      with self.assertLogs('absl', level='WARNING') as logs:
        writers.MetricWriter(d, 15).close()
      self.assertRegex('\n'.join(logs.output), r'from .*metrics\.csv: it holds 3 steps up to '
                       rf'step 15, .*metrics\.jsonl only {jsonl.count(chr(10))}')
      self.assertEqual(writers.read_csv(w.csv_path), want)
      self.assertEqual(writers.read_jsonl(w.jsonl_path), want)
      w = writers.MetricWriter(d, 15)  # both whole again: one more row to each
      w.write(20, {'d_loss': 1.0, 'g_loss': 2.0})
      w.close()
    # The JSONL whole and the CSV with fewer steps (a row twice is one step), or damaged (a
    # cell not a number, a row without its step, bytes not text): the JSONL stays the record.
    # The same steps in both, with other values: the JSONL's are kept, and nothing warned.
    for csv_text, warned in ((b'step,d_loss,g_loss\n5,1.0,2.0\n', False),
                             (b'step,d_loss,g_loss\n5,9,9\n10,9,9\n15,9,9\n20,9,9\n', False),
                             (b'step,d_loss,g_loss\n5,1,2\n5,1,2\n5,1,2\n5,1,2\n', False),
                             (b'step,d_loss,g_loss\n5,x,2\n10,1,2\n', True),
                             (b'step,d_loss,g_loss\n,1,2\n10,1,2\n', True),
                             (b'step,d_loss,g_loss\n5,1,2\xff\n', True)):
      with open(w.csv_path, 'wb') as f:
        f.write(csv_text)
      with (self.assertLogs if warned else self.assertNoLogs)('absl', level='WARNING'):
        writers.MetricWriter(d, 15).close()
      self.assertEqual(writers.read_csv(w.csv_path), want)
      self.assertEqual(writers.read_jsonl(w.jsonl_path), want)
      w = writers.MetricWriter(d, 15)
      w.write(20, {'d_loss': 1.0, 'g_loss': 2.0})
      w.close()

  def test_a_damaged_csv_is_not_written_over_by_a_shorter_jsonl(self):
    # A damaged metrics.csv beside an emptied metrics.jsonl: rewriting the CSV from it
    # would have lost every row; refused, both files kept.
    d = tempfile.mkdtemp()
    csv_path, jsonl_path = (os.path.join(d, f) for f in ('metrics.csv', 'metrics.jsonl'))
    for damaged in (b'step,d_loss,g_loss\n5,1,2\n10,1\xff,2\n15,1,2\n',
                    b'step,d_loss,g_loss\n5,1,2\n,1,2\n15,1,2\n'):
      open(jsonl_path, 'w').close()
      with open(csv_path, 'wb') as f:
        f.write(damaged)
      with self.assertRaisesRegex(writers.MetricLogError,
                                  r'metrics\.jsonl holds 0 rows against its 3, so it is not '
                                  'written again from that'):
        writers.MetricWriter(d, 15)
      with open(csv_path, 'rb') as f:
        self.assertEqual(f.read(), damaged)
    # A JSONL of as many rows as the damaged CSV's: the record, the CSV written from it.
    with open(jsonl_path, 'w') as f:
      f.write('{"step": 5, "d_loss": 1.0}\n{"step": 10, "d_loss": 2.0}\n')
    with open(csv_path, 'w') as f:
      f.write('step,d_loss\n5,x\n10,2.0\n')
    with self.assertLogs('absl', level='WARNING') as logs:
      writers.MetricWriter(d, 15).close()
    self.assertIn('it is written again from', logs.output[0])
    with open(csv_path) as f:
      self.assertEqual(f.read().splitlines(), ['step,d_loss', '5,1.0', '10,2.0'])

  @parameterized.parameters('{}', '{"d_loss": 1.0}', '[5, 1.0]', '{"step": "10", "d_loss": 1.0}',
                            '{"step": true, "d_loss": 1.0}', '{"step": 10, "d_loss": null}',
                            '{"step": 10, "d_loss": "1.0"}', '{"step": 10, "d_loss": true}',
                            '5')
  def test_a_jsonl_line_that_is_not_a_metrics_row_is_named_or_left_out_last(self, bad):
    # JSON, but not a row of an integer step and numbers: it raised a KeyError or a
    # TypeError later, on resume. Before the last line it is named, as a line not JSON is;
    # as the last, it is left out with a warning.
    d = tempfile.mkdtemp()
    path = os.path.join(d, 'metrics.jsonl')
    good = '{"step": 5, "d_loss": 1.5, "g_loss": 2}\n'
    with open(path, 'w') as f:
      f.write(good + bad + '\n{"step": 15, "d_loss": 1.0}\n')
    message = r'metrics\.jsonl, line 2, is not a metrics row \(.*\)\. Correct or delete'
    with self.assertRaisesRegex(writers.MetricLogError, message):
      writers.read_jsonl(path)
    with self.assertRaisesRegex(writers.MetricLogError, message):  # not a KeyError
      writers.MetricWriter(d, 15)
    with open(path, 'w') as f:
      f.write(good + bad + '\n')
    with self.assertLogs('absl', level='WARNING') as logs:
      self.assertEqual(writers.read_jsonl(path), [{'step': 5, 'd_loss': 1.5, 'g_loss': 2}])
    self.assertIn('line 2, not a metrics row', logs.output[0])
    with self.assertLogs('absl', level='WARNING'):
      writers.MetricWriter(d, 15).close()
    with open(path) as f:  # a resume writes it again without that line
      self.assertEqual(f.read(), good)

  def test_a_resume_without_the_csv_writes_it_again_whole(self):
    d = tempfile.mkdtemp()
    w = writers.MetricWriter(d)
    w.write(10, {'d_loss': 1.5})
    w.write(20, {'d_loss': 1.25})
    w.close()
    os.remove(w.csv_path)
    w = writers.MetricWriter(d, resume_step=20)
    w.write(30, {'d_loss': 1.0})
    w.close()
    self.assertEqual(open(w.csv_path).read().splitlines(),
                     ['step,d_loss', '10,1.5', '20,1.25', '30,1.0'])

  def test_blank_lines_in_the_jsonl_are_skipped(self):
    path = os.path.join(tempfile.mkdtemp(), 'metrics.jsonl')
    with open(path, 'w') as f:
      f.write('{"step": 1}\n\n{"step": 2}\n   \n')
    self.assertEqual(writers.read_jsonl(path), [{'step': 1}, {'step': 2}])

  def test_a_resume_purges_tensorboard_from_the_step_after_its_checkpoint(self):
    # TensorBoard reads a run's event files in name order, and a SessionLog START at step
    # s drops the events of steps >= s read before it. A resume from step 2 keeps steps
    # 1-2 of the first run and 3-4 of its own, also when it starts in the same second
    # (both files had one name: the second truncated the first). The sample pictures too.
    import glob
    import time

    from tensorboardX import event_file_writer
    from tensorboardX.proto import event_pb2
    d, second = tempfile.mkdtemp(), float(int(time.time()))
    for resume, steps, offset in ((0, (1, 2, 3, 4), 0.0), (2, (3, 4), 10.0)):
      # tensorboardX names a file by the second it is opened: the same second for both.
      with mock.patch.object(event_file_writer.time, 'time', return_value=second):
        w = writers.MetricWriter(d, resume)
      for s in steps:
        w.write(s, {'d_loss': s + offset})
        w.write_image(s, 'samples', np.full((1, 1, 3), s + offset, np.uint8))
      w.close()
    self.assertLen(glob.glob(os.path.join(d, 'tensorboard', '*tfevents*')), 2)
    points = {}
    for event in tensorboard_events(d):
      if event.session_log.status == event_pb2.SessionLog.START:
        points = {k: v for k, v in points.items() if k[1] < event.step}
      for value in event.summary.value:
        points[value.tag, event.step] = (
            float(decode_png(value.image.encoded_image_string)[0, 0, 0])
            if value.HasField('image') else value.simple_value)
    want = {1: 1.0, 2: 2.0, 3: 13.0, 4: 14.0}
    self.assertEqual(points, {(tag, s): v for tag in ('d_loss', 'samples')
                              for s, v in want.items()})

  def test_images_go_to_tensorboard_as_png(self):
    d = tempfile.mkdtemp()
    w = writers.MetricWriter(d)
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    w.write_image(20, 'samples', image)
    with self.assertRaisesRegex(ValueError, r'uint8 \[h, w, 3\]; got float32 of shape \(5, 7\)'):
      w.write_image(20, 'samples', np.zeros((5, 7), np.float32))
    for channels in (1, 4):  # gray and RGBA grids are made RGB before they come here
      with self.assertRaisesRegex(ValueError, rf'got uint8 of shape \(5, 7, {channels}\)'):
        w.write_image(20, 'samples', np.zeros((5, 7, channels), np.uint8))
    w.close()
    got = [(e.step, v) for e in tensorboard_events(d) for v in e.summary.value]
    self.assertLen(got, 1)
    step, value = got[0]
    self.assertEqual((step, value.tag, value.image.height, value.image.width),
                     (20, 'samples', 5, 7))
    np.testing.assert_array_equal(decode_png(value.image.encoded_image_string), image)

  def test_flush_puts_the_tensorboard_rows_on_disk(self):
    # tensorboardX buffered them (up to 120 s): a run killed after a checkpoint lost, for
    # good, the events of the steps before it. The trainer flushes before each save.
    import glob
    d = tempfile.mkdtemp()
    w = writers.MetricWriter(d)
    size = lambda: sum(os.path.getsize(p) for p in glob.glob(os.path.join(d, 'tensorboard', '*')))
    w.write(10, {'d_loss': 1.0})
    before = size()
    w.flush()
    self.assertGreater(size(), before)
    w.close()

  def test_each_metric_is_a_tensorboard_scalar_at_its_int_step_and_the_step_is_none(self):
    w = writers.MetricWriter(tempfile.mkdtemp())
    with mock.patch.object(w._tb, 'add_scalar') as add:
      w.write(np.int32(7), {'d_loss': 1.5, 'g_loss': np.float32(0.25), 'penalty': float('inf')})
    w.close()
    self.assertEqual([c.args for c in add.call_args_list], [('d_loss', 1.5, 7),
                                                            ('g_loss', 0.25, 7)])
    self.assertEqual(writers.read_jsonl(w.jsonl_path), [{'step': 7, 'd_loss': 1.5,
                                                         'g_loss': 0.25}])

  def test_a_restart_from_step_0_empties_both_logs(self):
    d = tempfile.mkdtemp()
    w = writers.MetricWriter(d)
    w.write(10, {'d_loss': 1.5})
    w.close()
    writers.MetricWriter(d, resume_step=0).close()  # a run that saved no checkpoint, again
    for name in ('metrics.jsonl', 'metrics.csv'):
      with open(os.path.join(d, name)) as f:
        self.assertEqual(f.read(), '', name)


class LossCurvesTest(chex.TestCase):

  def test_every_metric_of_any_row_gets_a_panel(self):
    # The penalty is logged early and not at the end (a resumed run dropped it): plotted.
    rows = [{'step': 1, 'd_loss': 1.0, 'penalty': 0.5}, {'step': 2, 'd_loss': 0.9},
            {'step': 3, 'g_loss': 2.0}]
    path = os.path.join(tempfile.mkdtemp(), 'curves.png')
    plt = plots._pyplot()
    with mock.patch.object(plt, 'subplots', wraps=plt.subplots) as spy:
      plots.save_loss_curves(rows, path)
    self.assertEqual(spy.call_args.args[:2], (3, 1))
    self.assertTrue(os.path.exists(path))

  def test_rows_without_metrics_write_nothing(self):
    path = os.path.join(tempfile.mkdtemp(), 'curves.png')
    for rows in ([], [{'step': 1}]):
      plots.save_loss_curves(rows, path)
    self.assertFalse(os.path.exists(path))


class PicturesTest(chex.TestCase):

  def test_each_metric_is_drawn_with_gaps_where_a_row_lacks_it(self):
    import matplotlib.axes
    rows = [{'step': 1, 'd_loss': 1.0, 'penalty': 0.5}, {'step': 2, 'd_loss': 0.9},
            {'step': 3, 'd_loss': 0.8}]
    drawn = []
    real = matplotlib.axes.Axes.plot

    def plot(ax, *args, **kwargs):
      drawn.append((list(args[0]), list(args[1])))
      return real(ax, *args, **kwargs)
    with mock.patch.object(matplotlib.axes.Axes, 'plot', plot):
      plots.save_loss_curves(rows, os.path.join(tempfile.mkdtemp(), 'curves.png'))
    # Per panel a line, then a dot at each point with no finite neighbour (a line through
    # one point draws nothing): the penalty's one row before its gap.
    self.assertEqual([d[0] for d in drawn], [[1, 2, 3], [], [1, 2, 3], [1]])
    self.assertEqual(drawn[0][1], [1.0, 0.9, 0.8])
    np.testing.assert_array_equal(drawn[2][1], [0.5, np.nan, np.nan])  # a gap, not 0
    self.assertEqual(drawn[3][1], [0.5])

  def test_one_row_is_drawn(self):
    # A run of log_every steps logs one row: each panel was empty.
    from PIL import Image
    path = os.path.join(tempfile.mkdtemp(), 'curves.png')
    plots.save_loss_curves([{'step': 50, 'd_loss': 1.3, 'g_loss': 0.7}], path)
    with Image.open(path) as im:
      rgb = np.asarray(im.convert('RGB'), np.int64)
    blue = (np.abs(rgb - [31, 119, 180]).sum(-1) < 60).sum()  # matplotlib's first colour
    self.assertGreater(blue, 10)

  def test_image_grid_by_hand(self):
    # 5 images of 2x3 px: a 3-column grid (ceil(sqrt(5))) of 2 rows, 1 px pads of white
    # (1.0), pixels (x + 1) / 2 clipped to [0, 1].
    x = np.linspace(-1.5, 1.5, 5 * 2 * 3).reshape(5, 2, 3, 1).astype(np.float32)
    grid = plots.image_grid(x)
    chex.assert_shape(grid, (1 + 2 * 3, 1 + 3 * 4, 1))
    want = np.ones((7, 13, 1), np.float32)
    for i, (top, left) in enumerate([(1, 1), (1, 5), (1, 9), (4, 1), (4, 5)]):
      want[top:top + 2, left:left + 3] = np.clip((x[i] + 1) / 2, 0, 1)
    np.testing.assert_allclose(grid, want, rtol=1e-6)
    chex.assert_shape(plots.image_grid(x, ncols=5), (1 + 3, 1 + 5 * 4, 1))
    # More columns than images (a conditional grid of K columns, fewer samples): no blank
    # columns; no image at all is refused.
    chex.assert_shape(plots.image_grid(x[:2], ncols=10), (1 + 3, 1 + 2 * 4, 1))
    with self.assertRaisesRegex(ValueError, r'at least one image; got shape \(0, 2, 3, 1\)'):
      plots.image_grid(x[:0])
    for bad in (np.zeros((2, 4, 4, 2)), np.zeros((4, 4, 3))):
      with self.assertRaisesRegex(ValueError, r'of 1 \(gray\), 3 \(RGB\) or 4 \(RGBA\) '
                                  f'channels; got shape {re.escape(str(bad.shape))}'):
        plots.save_image_grid(bad, os.path.join(tempfile.mkdtemp(), 'g.png'))

  def test_a_grid_is_drawn_three_times_its_size_and_any_suffix_case_is_taken(self):
    import matplotlib.pyplot as plt
    from PIL import Image
    d = tempfile.mkdtemp()
    written = plots.save_image_grid(np.zeros((4, 8, 8, 3), np.float32), os.path.join(d, 'g.png'))
    with Image.open(written) as im:
      self.assertEqual(im.size, (3 * (2 * 9 + 1),) * 2)
    written = plots.save_figure(plt.figure(), os.path.join(d, 'f.PNG'))
    with Image.open(written) as im:
      self.assertEqual(im.format, 'PNG')

  def test_a_grid_is_written_in_every_format_it_takes_and_the_rest_are_refused_first(self):
    # plt.imsave hands raster formats to Pillow by the suffix's name: .tif, .rgba, .raw,
    # .pgf and .svgz, which matplotlib figures take, failed there with a KeyError after
    # the sampling. Every format the grid takes is written; the others are refused before.
    from matplotlib.backend_bases import FigureCanvasBase
    d, x = tempfile.mkdtemp(), np.zeros((4, 8, 8, 3), np.float32)
    formats = FigureCanvasBase.get_supported_filetypes()
    refused = []
    for suffix in formats:
      path = os.path.join(d, f'g.{suffix}')
      try:
        plots.check_format(path, image=True)
      except ValueError as e:
        self.assertIn(f'cannot write a picture as .{suffix}; give one of .eps, ', str(e))
        refused.append(suffix)
        with self.assertRaisesRegex(ValueError, f'as .{suffix};'):
          plots.save_image_grid(x, path)
        continue
      self.assertEqual(plots.save_image_grid(x, path), path)
      self.assertGreater(os.path.getsize(path), 0)
    self.assertContainsSubset({'pgf', 'raw', 'rgba', 'svgz', 'tif'}, refused)
    self.assertNoCommonElements({'png', 'jpg', 'jpeg', 'tiff', 'pdf', 'svg', 'eps'}, refused)
    self.assertEqual(len(os.listdir(d)), len(formats) - len(refused))
    plots.check_format(os.path.join(d, 'f.tif'))  # a figure takes every one

  def test_a_figure_is_written_in_every_format_it_takes_and_pgf_needs_tex(self):
    # .pgf needs a TeX program (xelatex): without one it was taken, and studies.figures
    # failed with a RuntimeError after restoring and running the models.
    import matplotlib
    from matplotlib.backend_bases import FigureCanvasBase
    plt = plots._pyplot()
    d = tempfile.mkdtemp()
    tex = shutil.which(matplotlib.rcParams['pgf.texsystem'])
    for suffix in FigureCanvasBase.get_supported_filetypes():
      path = os.path.join(d, f'f.{suffix}')
      if suffix == 'pgf' and not tex:
        fig = plt.figure()
        with self.assertRaisesRegex(ValueError, r'cannot write a picture as \.pgf \(it needs '
                                    r'xelatex, which is not installed\); give one of'):
          plots.save_figure(fig, path)
        plt.close(fig)
        continue
      self.assertEqual(plots.save_figure(plt.figure(), path), path)
      self.assertGreater(os.path.getsize(path), 0)
    with mock.patch.object(plots.shutil, 'which', lambda name: '/usr/bin/' + name):
      self.assertEqual(plots.check_format(os.path.join(d, 'f.pgf')),
                       os.path.join(d, 'f.pgf'))
    with mock.patch.object(plots.shutil, 'which', lambda name: None), \
         self.assertRaisesRegex(ValueError, r'as \.pgf \(it needs xelatex, which is not '):
      plots.check_format(os.path.join(d, 'f.pgf'))

  def test_a_gray_grid_keeps_its_values_in_gray_and_its_column_count(self):
    # Values -0.5, 0, 0.5, 1 are 0.25, 0.5, 0.75, 1 of white, not stretched to the grid's
    # own range; 4 columns as asked (not the square 2 x 2), 1 px white pads, scale 1.
    from PIL import Image
    x = np.array([-0.5, 0.0, 0.5, 1.0], np.float32).reshape(4, 1, 1, 1) * np.ones((1, 2, 2, 1))
    path = plots.save_image_grid(x, os.path.join(tempfile.mkdtemp(), 'g.png'), scale=1,
                                 ncols=4)
    with Image.open(path) as im:
      rgb = np.asarray(im.convert('RGB'), np.float32)
    chex.assert_shape(rgb, (1 + 3, 1 + 4 * 3, 3))
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 1])  # gray: R = G = B
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    np.testing.assert_allclose(rgb[1, [1, 4, 7, 10], 0], [63.75, 127.5, 191.25, 255], atol=1.5)
    np.testing.assert_array_equal(rgb[0, :, 0], 255)  # the pad

  def test_a_scatter_draws_the_samples_and_the_modes_where_they_are_in_view(self):
    samples = np.array([[0.5, -1.0], [2.0, 0.25]])
    modes = np.array([[1.0, 2.0], [-3.0, 0.5]])
    real_save, drawn, limits = plots.save_figure, [], []

    def save(fig, path):
      ax = fig.axes[0]
      drawn.append([c.get_offsets().tolist() for c in ax.collections])
      limits.append((ax.get_xlim(), ax.get_ylim()))
      return real_save(fig, path)
    d = tempfile.mkdtemp()
    with mock.patch.object(plots, 'save_figure', save):
      written = plots.save_scatter(samples, modes, os.path.join(d, 'modes'))
    self.assertEqual(written, os.path.join(d, 'modes.png'))
    self.assertTrue(os.path.exists(written))
    self.assertEqual(drawn, [[samples.tolist(), modes.tolist()]])
    for (lo, hi), coords in zip(limits[0], modes.T, strict=True):  # every mode well inside
      self.assertLess(lo, coords.min() - 0.5)
      self.assertGreater(hi, coords.max() + 0.5)

  def test_8_bit_levels_are_written_back_as_they_were(self):
    # Every level v of an 8-bit image, as the data reads it (v / 127.5 - 1), is written
    # as v: rounded, not truncated (plt.imsave's own float conversion made 63 of 256 RGB
    # levels one darker).
    from PIL import Image
    levels = np.arange(256, dtype=np.float64)
    for c in (1, 3):
      x = np.repeat((levels / 127.5 - 1).reshape(1, 16, 16, 1), c, -1).astype(np.float32)
      path = plots.save_image_grid(x, os.path.join(tempfile.mkdtemp(), 'g.png'), scale=1)
      with Image.open(path) as im:
        rgb = np.asarray(im.convert('RGB'))[1:17, 1:17]
      for k in range(3):
        np.testing.assert_array_equal(rgb[..., k], levels.reshape(16, 16), err_msg=f'C={c}')

  def test_non_finite_pixels_are_magenta_and_warned_about(self):
    from PIL import Image
    x = np.zeros((2, 2, 2, 1), np.float32)
    x[0, 0, 1, 0], x[1, 1, 0, 0] = np.nan, -np.inf
    path = os.path.join(tempfile.mkdtemp(), 'g.png')
    with self.assertWarnsRegex(UserWarning, '2 non-finite values .* drawn magenta'):
      plots.save_image_grid(x, path, scale=1, ncols=2)
    with Image.open(path) as im:
      rgb = np.asarray(im.convert('RGB'))
    magenta = np.all(rgb == (255, 0, 255), axis=-1)
    self.assertEqual(list(zip(*np.nonzero(magenta), strict=True)), [(1, 2), (2, 4)])
    np.testing.assert_array_equal(rgb[1, 1], (128, 128, 128))  # 0 is mid-gray
    # In colour a pixel with one channel not finite is magenta whole, an RGBA one opaque;
    # the finite pixels are (x + 1) / 2.
    for c in (3, 4):
      x = np.zeros((1, 1, 2, c), np.float32)
      x[0, 0, 0, 1] = np.nan if c == 3 else np.inf
      with self.assertWarnsRegex(UserWarning, '1 non-finite value '):
        plots.save_image_grid(x, os.path.join(tempfile.mkdtemp(), 'g.png'), scale=1)
      grid = plots.image_grid(x, pad=0)
      np.testing.assert_array_equal(grid[0, 0], (1.0, 0.0, 1.0, 1.0)[:c])
      np.testing.assert_array_equal(grid[0, 1], np.full(c, 0.5))

  def test_a_refused_scatter_or_curve_draws_nothing_and_leaves_no_figure_open(self):
    import matplotlib.pyplot as plt
    d, samples = tempfile.mkdtemp(), np.zeros((5, 2))
    before = plt.get_fignums()
    for write, message in (
        (lambda: plots.save_scatter(samples, np.ones((2, 2)), os.path.join(d, 's.xyz')),
         'cannot write a picture as .xyz'),
        (lambda: plots.save_loss_curves([{'step': 1, 'd_loss': 0.5}],
                                        os.path.join(d, 'c.xyz')),
         'cannot write a picture as .xyz'),
        (lambda: plots.save_scatter(samples, np.zeros((0, 2)), os.path.join(d, 's.png')),
         r'modes must be finite 2-D points \[k >= 1, 2\]; got an array of shape \(0, 2\)'),
        (lambda: plots.save_scatter(samples, np.full((2, 2), np.nan), os.path.join(d, 's')),
         'modes must be finite')):
      with self.assertRaisesRegex(ValueError, message):
        write()
    self.assertEqual(plt.get_fignums(), before)
    self.assertEqual(os.listdir(d), [])

  def test_non_finite_samples_of_a_scatter_are_counted(self):
    samples = np.array([[0.5, 0.0], [np.nan, 1.0], [np.inf, 0.0]])
    with self.assertWarnsRegex(UserWarning, '2 of 3 samples are not finite'):
      titles = _scatter_titles(samples, np.ones((2, 2)), 'ring8')
    self.assertEqual(titles, ['ring8 (2 non-finite not drawn)'])

  def test_samples_outside_the_view_are_counted(self):
    # The view is the modes' box 1.5 times (|x|, |y| <= 3 here): a third of the mass thrown
    # to (10, 10) drew as a perfect ring.
    modes = np.array([[2.0, 0.0], [0.0, -2.0], [-2.0, 1.0]])
    samples = np.array([[2.0, 0.1], [10.0, 10.0], [0.0, -3.5], [2.9, -2.9], [np.nan, 50.0]])
    with self.assertWarnsRegex(UserWarning, r'2 of 5 samples lie outside the view \[-3, 3\]'):
      titles = _scatter_titles(samples, modes, 'ring8')
    self.assertEqual(titles, ['ring8 (1 non-finite not drawn) (2 outside the view)'])
    # A sample on the view's edge is in it; modes all at the origin get the view [-1, 1].
    with warnings.catch_warnings():
      warnings.simplefilter('error', UserWarning)  # nothing outside, nothing warned
      self.assertEqual(_scatter_titles(np.array([[3.0, -3.0], [-3.0, 0.0]]), modes, 'a'),
                       ['a'])
      self.assertEqual(_scatter_titles(np.array([[0.1, -1.0]]), np.zeros((2, 2)), 'b'), ['b'])
    with self.assertWarnsRegex(UserWarning, r'1 of 1 samples lie outside the view \[-1, 1\]'):
      _scatter_titles(np.array([[0.0, 1.01]]), np.zeros((2, 2)), 'c')

  def test_loss_curves_return_the_file_written(self):
    d = tempfile.mkdtemp()
    self.assertEqual(plots.save_loss_curves([{'step': 1, 'd_loss': 0.5}],
                                            os.path.join(d, 'c')), os.path.join(d, 'c.png'))
    self.assertIsNone(plots.save_loss_curves([{'step': 1}], os.path.join(d, 'e.png')))


def _scatter_titles(samples: np.ndarray, modes: np.ndarray, title: str) -> list[str]:
  """The titles of the figures :func:`plots.save_scatter` writes (to a new folder)."""
  titles, real_save = [], plots.save_figure

  def save(fig, path):
    titles.append(fig.axes[0].get_title())
    return real_save(fig, path)
  with mock.patch.object(plots, 'save_figure', save):
    plots.save_scatter(samples, modes, os.path.join(tempfile.mkdtemp(), 's'), title)
  return titles


def _saved(states: dict, keep: int = 3) -> str:
  """A new folder of checkpoints, ``{step: state}`` saved in order and closed."""
  d = tempfile.mkdtemp()
  ckpt = checkpoints.Checkpoints(d, keep=keep)
  for step, state in states.items():
    ckpt.save(step, state)
  ckpt.close()
  return d


class CheckpointFolderTest(chex.TestCase):

  def test_a_save_cut_short_is_cleaned_up_by_the_trainer_not_by_readers(self):
    d = tempfile.mkdtemp()
    ckpt = checkpoints.Checkpoints(d)
    ckpt.save(1, {'w': np.ones(3, np.float32)})
    ckpt.wait()
    ckpt.close()
    leftover = os.path.join(d, '2.orbax-checkpoint-tmp-12345')  # a killed run's save
    os.makedirs(leftover)
    reader = checkpoints.Checkpoints(d, read_only=True)
    # Orbax removes them in the background: wait for that (it would be done by now),
    # else the folder is still there whatever the reader was told.
    wait = getattr(reader._manager, '_maybe_await_cleanup_tmp_directory', None)
    wait() if wait is not None else time.sleep(5)
    reader.close()
    self.assertTrue(os.path.isdir(leftover))
    ckpt = checkpoints.Checkpoints(d)  # the trainer's: removed before its first save
    self.assertEqual(ckpt.latest_step(), 1)
    ckpt.save(3, {'w': np.ones(3, np.float32)})
    ckpt.close()
    self.assertEqual(sorted(os.listdir(d)), ['1', '3'])

  def test_a_checkpoint_that_reads_back_non_finite_is_reported_as_damaged(self):
    # Damaged bytes that still decompress read back as any value; jaxgan saves a state
    # only when it is finite, so a NaN read back is the file's fault, not the run's.
    d = tempfile.mkdtemp()
    ckpt = checkpoints.Checkpoints(d)
    good = {'w': np.ones(3, np.float32), 'step': np.int32(1)}
    ckpt.save(1, good)
    ckpt.save(2, {'w': np.array([1.0, np.nan, np.inf], np.float32), 'step': np.int32(2)})
    ckpt.wait()
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), good)
    with self.assertRaisesRegex(checkpoints.CheckpointError,
                                r'step 2 in .* is damaged: it holds non-finite values \(in '
                                r'w\).*Nothing on disk was changed\. To go on, move '
                                r'.*/2 aside to resume from step 1\.'):
      ckpt.restore(abstract)
    reader = checkpoints.Checkpoints(d, read_only=True)
    with self.assertRaisesRegex(checkpoints.CheckpointError, 'the earlier checkpoints are of '
                                'steps 1'):
      reader.restore(abstract)
    chex.assert_trees_all_equal(reader.restore(abstract, step=1), good)
    ckpt.close()
    self.assertEqual(sorted(os.listdir(d)), ['1', '2'])

  def test_the_advice_names_the_latest_earlier_step_and_the_first_three_bad_arrays(self):
    d = tempfile.mkdtemp()
    ckpt = checkpoints.Checkpoints(d)
    good = {k: np.ones(2, np.float32) for k in 'abcd'}
    for step in (10, 20):
      ckpt.save(step, good)
    ckpt.save(30, {k: np.full(2, np.nan, np.float32) for k in 'abcd'})
    ckpt.wait()
    self.assertEqual(ckpt.all_steps(), [10, 20, 30])
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), good)
    with self.assertRaisesRegex(checkpoints.CheckpointError,
                                r'non-finite values \(in a, b, c\), .*/30 aside to resume '
                                r'from step 20\.$'):
      ckpt.restore(abstract)
    with self.assertRaisesRegex(checkpoints.CheckpointError,
                                r'the earlier checkpoints are of steps 10, 20 \(--step=N '
                                r'reads one\)\.$'):
      checkpoints.Checkpoints(d, read_only=True).restore(abstract)
    ckpt.close()
    only = _saved({5: {k: np.full(2, np.nan, np.float32) for k in 'abcd'}})  # nothing earlier
    with self.assertRaisesRegex(checkpoints.CheckpointError,
                                r'To go on, no earlier checkpoint is kept\.$'):
      checkpoints.Checkpoints(only, read_only=True).restore(abstract)

  def test_a_scalar_that_became_a_vector_is_another_architecture(self):
    self.assertEqual(checkpoints.architecture_differences(
        {'p': {'gain': jax.ShapeDtypeStruct((), np.float32), 'w': np.ones(2)}},
        {'p': {'gain': jax.ShapeDtypeStruct((4,), np.float32), 'w': np.ones(2)}}),
        ['p/gain: () vs (4,)'])

  def test_a_root_cause_names_its_type_and_is_cut_after_300_characters(self):
    self.assertEqual(checkpoints._root_cause(ValueError('bad  \n value')), 'ValueError: bad value')
    self.assertEqual(checkpoints._root_cause(ValueError('x' * 300)), f'ValueError: {"x" * 300}')
    # The innermost of a chain: an explicit cause and an implicit context are followed, a
    # context suppressed by ``from None`` is not.
    for link, want in (('from', f'OSError: {"x" * 300}...'), ('implicit', 'OSError: disk'),
                       ('none', 'RuntimeError: outer')):
      inner = OSError('x' * 400 if link == 'from' else 'disk')
      try:
        try:
          raise inner
        except OSError:
          if link == 'from':
            raise RuntimeError('outer') from inner
          if link == 'none':
            raise RuntimeError('outer') from None
          raise RuntimeError('outer')  # noqa: B904 - an implicit context
      except RuntimeError as e:
        self.assertEqual(checkpoints._root_cause(e), want, link)

  def test_keep_holds_the_last_checkpoints_and_must_be_at_least_1(self):
    with self.assertRaisesRegex(ValueError, 'keep_checkpoints must be at least 1; got 0'):
      checkpoints.Checkpoints(tempfile.mkdtemp(), keep=0)
    d = _saved({step: {'w': np.full(2, step, np.float32)} for step in (1, 2, 3, 4)}, keep=2)
    self.assertEqual(sorted(os.listdir(d)), ['3', '4'])

  def test_a_reader_makes_no_folder(self):
    d = os.path.join(tempfile.mkdtemp(), 'checkpoints')
    reader = checkpoints.Checkpoints(d, read_only=True)
    self.assertIsNone(reader.restore({'w': jax.ShapeDtypeStruct((2,), np.float32)}))
    reader.close()
    self.assertFalse(os.path.exists(d))

  def test_a_reader_that_cannot_restore_names_the_earlier_steps(self):
    # Sampling or evaluating with another model: the checkpoints before the one asked for
    # are listed, not the advice of a trainer (move it aside, another architecture).
    d = _saved({step: {'w': np.ones(3, np.float32)} for step in (10, 20, 30)})
    other = {'w': jax.ShapeDtypeStruct((4,), np.float32)}  # another model's shape
    reader = checkpoints.Checkpoints(d, read_only=True)
    with self.assertRaisesRegex(checkpoints.CheckpointError,
                                r'step 30 .* cannot be restored into the model of the run\'s '
                                r'config\.json .*the earlier checkpoints are of steps 10, 20 '
                                r'\(--step=N reads one\)\.$'):
      reader.restore(other)
    with self.assertRaisesRegex(checkpoints.CheckpointError,
                                r'step 10 .*another run\)\.$'):
      reader.restore(other, step=10)

  def test_architecture_differences_name_the_parameters_first_and_three_at_most(self):
    # The optimizer's state of other parameters differs too: the parameters say why.
    saved = {'d_opt_state': {'mu': np.ones(2)}, 'd_params': {'b': np.ones(1), 'w': np.ones(3)},
             'ema_params': {'w': np.ones(2)}, 'g_params': {'w': np.ones(2)}, 'step': np.int32(0)}
    wanted = {'d_opt_state': {'mu': np.ones(5)}, 'd_params': {'b': np.ones(5), 'w': np.ones(5)},
              'ema_params': {'w': np.ones(5)}, 'g_params': {'v': np.ones(2)}, 'step': np.int32(0)}
    self.assertEqual(checkpoints.architecture_differences(saved, wanted, most=5),
                     ['d_params/b: (1,) vs (5,)', 'd_params/w: (3,) vs (5,)',
                      'ema_params/w: (2,) vs (5,)', 'g_params/v: absent vs (2,)',
                      'g_params/w: (2,) vs absent'])
    self.assertEqual(checkpoints.architecture_differences(saved, wanted),
                     ['d_params/b: (1,) vs (5,)', 'd_params/w: (3,) vs (5,)',
                      'ema_params/w: (2,) vs (5,)'])

  def test_trees_without_an_array_in_common_are_no_architecture_difference(self):
    # Orbax's metadata of a damaged checkpoint can hold arrays by other paths than the
    # state's (none in common): that is a damaged checkpoint, not another architecture.
    self.assertEqual(checkpoints.architecture_differences(
        {'other': {'w': np.ones(2)}}, {'d_params': {'w': np.ones(2)}}), [])
    self.assertEqual(checkpoints.architecture_differences(
        {'d_params': {'w': np.ones(2)}, 'other': np.ones(1)},
        {'d_params': {'w': np.ones(3)}}), ['d_params/w: (2,) vs (3,)', 'other: (1,) vs absent'])

  def test_saved_shapes_are_read_from_the_checkpoint_and_empty_for_none(self):
    d = _saved({1: {'g': {'w': np.ones((2, 3), np.float32)}, 'step': np.int32(1)}})
    reader = checkpoints.Checkpoints(d, read_only=True)
    self.assertEqual(reader.saved_shapes(1), {('g', 'w'): (2, 3), ('step',): ()})
    self.assertEqual(reader.saved_shapes(2), {})  # no such checkpoint

  def test_wait_returns_once_the_save_is_committed(self):
    # Saves are asynchronous: the trainer waits before recording a changed config with the
    # checkpoint, and a reader (sampling) sees only committed checkpoints.
    d = tempfile.mkdtemp()
    ckpt = checkpoints.Checkpoints(d)
    ckpt.save(1, {'w': np.ones((256, 256), np.float32)})
    ckpt.wait()
    self.assertEqual(os.listdir(d), ['1'])
    self.assertEqual(checkpoints.Checkpoints(d, read_only=True).latest_step(), 1)
    ckpt.close()

  def test_a_target_without_a_sharding_is_restored_only_in_its_shapes(self):
    # Orbax alone reads such a target's arrays as saved, whatever their shape.
    d = _saved({1: {'w': np.arange(3, dtype=np.float32)}})
    reader = checkpoints.Checkpoints(d, read_only=True)
    got = reader.restore({'w': jax.ShapeDtypeStruct((3,), np.float32)})
    np.testing.assert_array_equal(got['w'], [0, 1, 2])
    with self.assertRaisesRegex(checkpoints.CheckpointError, r'w: \(3,\) vs \(4,\)'):
      reader.restore({'w': jax.ShapeDtypeStruct((4,), np.float32)})
    with self.assertRaisesRegex(checkpoints.CheckpointError,
                                r'another architecture .*w: \(3,\) vs \(4,\)'):
      checkpoints.Checkpoints(d).restore({'w': jax.ShapeDtypeStruct((4,), np.float32)})
    self.assertEqual(os.listdir(d), ['1'])  # nothing on disk changed

  def test_a_restore_target_carries_the_sharding(self):
    from jaxgan import sharding
    replicated = sharding.replicated(sharding.make_mesh())
    target = checkpoints.abstract_like({'w': np.ones((2, 3), np.float32)}, replicated)
    self.assertEqual((target['w'].shape, target['w'].sharding), ((2, 3), replicated))


if __name__ == '__main__':
  absltest.main()
