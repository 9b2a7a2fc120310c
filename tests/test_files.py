"""Tests that an output written through ``jaxgan.files.replacing`` is whole or absent: an
error or interrupt while writing it leaves the earlier file as it was, and no temporary
file behind."""

import io
import json
import os
import tempfile
from unittest import mock

import chex
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from absl.testing import absltest, parameterized
from PIL import Image

from jaxgan import files, plots, upscale
from launch import sample


def _write_partial_then_fail(path, *args, **kwargs):
  """A writer cut short: part of a file, then an error (a full disk)."""
  del args, kwargs
  with open(path, 'wb') as f:
    f.write(b'partial')
  raise OSError('No space left on device')


class ReplacingTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = tempfile.mkdtemp()
    self.path = os.path.join(self.dir, 'out.txt')
    with open(self.path, 'w') as f:
      f.write('earlier')

  def _read(self) -> str:
    with open(self.path) as f:
      return f.read()

  def test_the_new_file_replaces_the_earlier_one_and_no_temporary_file_stays(self):
    with files.replacing(self.path) as tmp:
      self.assertNotEqual(tmp, self.path)
      self.assertEqual(os.path.dirname(tmp), os.path.realpath(self.dir))  # one rename
      with open(tmp, 'w') as f:
        f.write('new')
      self.assertEqual(self._read(), 'earlier')  # readers see the old file until the end
    self.assertEqual(self._read(), 'new')
    self.assertEqual(os.listdir(self.dir), ['out.txt'])

  @parameterized.parameters((237, 237), (238, 237), (250, 237))
  def test_a_name_near_the_longest_allowed_is_written(self, length, kept):
    # '.tmp-' + 12 hex digits + '-' is 18 bytes: a name of up to 237 bytes is kept whole
    # in the temporary name (255 at most), a longer one by its end, suffix and all. 246
    # characters + '.npy' is a legal name whose temporary one was not: np.save failed, and
    # so did the cleanup, with a chained traceback.
    name = 'n' * (length - 4) + '.npy'
    path = os.path.join(self.dir, name)
    with files.replacing(path) as tmp:
      self.assertLen(os.path.basename(tmp), 18 + kept)
      self.assertTrue(os.path.basename(tmp).endswith(name[length - kept:]))
      np.save(tmp, np.arange(3))
    np.testing.assert_array_equal(np.load(path), np.arange(3))
    self.assertEqual(sorted(os.listdir(self.dir)), sorted(['out.txt', name]))

  @parameterized.parameters(ValueError('bad value'), KeyboardInterrupt())
  def test_an_error_or_interrupt_keeps_the_earlier_file_whole(self, error):
    with self.assertRaises(type(error)), files.replacing(self.path) as tmp:
      with open(tmp, 'w') as f:
        f.write('half of a new fi')
      raise error
    self.assertEqual(self._read(), 'earlier')
    self.assertEqual(os.listdir(self.dir), ['out.txt'])

  def test_a_block_that_writes_nothing_there_fails_and_changes_nothing(self):
    # np.savez appends '.npz' to a name not ending in it: the file it wrote is not renamed,
    # and removed with the temporary name it belongs to (the docstring's promise).
    for name in ('out.txt', 'new.npy'):
      with self.assertRaisesRegex(FileNotFoundError, 'Nothing was written'), \
          files.replacing(os.path.join(self.dir, name)) as tmp:
        np.savez(tmp, x=np.zeros(2))
      self.assertEqual(os.listdir(self.dir), ['out.txt'])
    self.assertEqual(self._read(), 'earlier')

  def test_two_writers_of_one_path_write_to_different_temporary_files(self):
    with files.replacing(self.path) as first, files.replacing(self.path) as second:
      self.assertNotEqual(first, second)
      for tmp, text in ((first, 'first'), (second, 'second')):
        with open(tmp, 'w') as f:
          f.write(text)
    self.assertEqual(self._read(), 'first')  # the outer block ends last
    self.assertEqual(os.listdir(self.dir), ['out.txt'])

  def test_a_failed_rename_leaves_no_temporary_file(self):
    os.mkdir(os.path.join(self.dir, 'd.json'))  # a folder cannot be replaced by a file
    with self.assertRaises(OSError):
      files.write_text(os.path.join(self.dir, 'd.json'), '{}')
    self.assertEqual(sorted(os.listdir(self.dir)), ['d.json', 'out.txt'])

  def test_the_earlier_files_permissions_are_kept(self):
    os.chmod(self.path, 0o640)
    files.write_text(self.path, 'new')
    self.assertEqual(os.stat(self.path).st_mode & 0o777, 0o640)

  def test_a_symlinked_output_replaces_its_target_and_keeps_the_link(self):
    link = os.path.join(self.dir, 'latest.txt')
    os.symlink(self.path, link)
    files.write_text(link, 'new')
    self.assertTrue(os.path.islink(link))
    self.assertEqual(self._read(), 'new')
    self.assertEqual(sorted(os.listdir(self.dir)), ['latest.txt', 'out.txt'])

  @parameterized.parameters('..npy', 's.npy', 'S.NPY.npy')
  def test_odd_names_and_a_path_without_a_folder(self, name):
    x = np.arange(3.0)
    cwd = os.getcwd()
    os.chdir(self.dir)
    try:
      with files.replacing(name) as tmp:
        np.save(tmp, x)
    finally:
      os.chdir(cwd)
    np.testing.assert_array_equal(np.load(os.path.join(self.dir, name)), x)
    self.assertEqual(sorted(os.listdir(self.dir)), sorted([name, 'out.txt']))

  @parameterized.parameters(('x.JPG', 'JPEG'), ('x.PNG', 'PNG'), ('..png', 'PNG'))
  def test_the_format_follows_the_suffix_in_any_case(self, name, want):
    path = os.path.join(self.dir, name)
    upscale.write_image(path, np.zeros((4, 4, 3), np.float32))
    with Image.open(path) as im:
      self.assertEqual(im.format, want)
      self.assertNotIn('icc_profile', im.info)
    # A colour profile given (the input's) is embedded, and read back as given.
    from PIL import ImageCms
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile('sRGB')).tobytes()
    upscale.write_image(path, np.zeros((4, 4, 3), np.float32), profile)
    self.assertEqual(upscale.color_profile(path), profile)
    self.assertEqual(sorted(os.listdir(self.dir)), sorted([name, 'out.txt']))

  def test_a_profile_of_another_colour_space_is_not_passed_to_the_rgb_output(self):
    # A grayscale (or CMYK, Lab) input's profile tagged the RGB output, which colour-managed
    # software then refused.
    from PIL import ImageCms
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile('LAB')).tobytes()
    path = os.path.join(self.dir, 'in.png')
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path, icc_profile=lab)
    with self.assertLogs(level='WARNING') as logs:
      self.assertIsNone(upscale.color_profile(path))
    self.assertRegex(logs.output[0], 'has a Lab colour profile, which cannot tag the RGB')

  def test_a_jpeg_side_over_65500_is_refused_before_the_work(self):
    with self.assertRaisesRegex(ValueError, r'would be 65600x8 pixels; a JPEG side is at most '
                                '65500: write a .png'):
      upscale.check_output_size(os.path.join(self.dir, 'x.jpg'), (8, 65600))
    with self.assertRaisesRegex(ValueError, r'would be 8x65600 pixels'):  # a tall one too
      upscale.check_output_size(os.path.join(self.dir, 'x.jpeg'), (65600, 8))
    with self.assertRaisesRegex(ValueError, r'would be 65600x8 pixels'):  # any case
      upscale.check_output_size(os.path.join(self.dir, 'x.JPG'), (8, 65600))
    upscale.check_output_size(os.path.join(self.dir, 'x.png'), (8, 65600))
    # Pillow writes a side of 65,500 and refuses 65,501 (OSError, after the work): the
    # limit is its, not the format's 65,535. write_image checks before it converts.
    path = os.path.join(self.dir, 'wide.jpg')
    upscale.write_image(path, np.zeros((1, 65500, 3), np.float32))
    with Image.open(path) as im:
      self.assertEqual(im.size, (65500, 1))
    with self.assertRaisesRegex(ValueError, r'would be 65501x1 pixels; a JPEG side is at most '
                                '65500'):
      upscale.write_image(os.path.join(self.dir, 'wider.jpg'), np.zeros((1, 65501, 3)))
    with self.assertRaises(OSError):  # libjpeg: 'Maximum supported image dimension is 65500'
      Image.fromarray(np.zeros((1, 65501, 3), np.uint8)).save(os.path.join(self.dir, 'p.jpg'))
    self.assertNotIn('wider.jpg', os.listdir(self.dir))

  def test_jpeg_is_written_at_quality_95_for_either_suffix(self):
    pixels = np.random.default_rng(0).integers(0, 256, (16, 16, 3)).astype(np.uint8)
    reference = io.BytesIO()
    Image.fromarray(pixels).save(reference, format='JPEG', quality=95)
    for name in ('q.jpg', 'q.jpeg'):
      path = os.path.join(self.dir, name)
      upscale.write_image(path, pixels.astype(np.float32) / 127.5 - 1.0)  # exact levels
      with open(path, 'rb') as f:
        self.assertEqual(f.read(), reference.getvalue(), name)

  def test_np_savez(self):
    path = os.path.join(self.dir, 'panels.npz')
    with files.replacing(path) as tmp:
      np.savez(tmp, a=np.ones(2))
    np.testing.assert_array_equal(np.load(path)['a'], np.ones(2))

  def test_a_figure_without_a_suffix_is_written_as_png(self):
    fig = plt.figure()
    written = plots.save_figure(fig, os.path.join(self.dir, 'crops'))
    self.assertEqual(written, os.path.join(self.dir, 'crops.png'))
    with Image.open(written) as im:
      self.assertEqual(im.format, 'PNG')
    self.assertEqual(sorted(os.listdir(self.dir)), ['crops.png', 'out.txt'])
    self.assertEqual(plt.get_fignums(), [])

  def test_an_image_grid_without_a_suffix_is_written_as_png(self):
    # plt.imsave alone fails on a name without a suffix ("unknown file extension").
    written = plots.save_image_grid(np.zeros((4, 8, 8, 1), np.float32),
                                    os.path.join(self.dir, 'grid'), scale=1)
    self.assertEqual(written, os.path.join(self.dir, 'grid.png'))
    with Image.open(written) as im:
      self.assertEqual((im.format, im.size), ('PNG', (19, 19)))  # 2 x 8 px + 3 px pads
    self.assertEqual(sorted(os.listdir(self.dir)), ['grid.png', 'out.txt'])

  def test_the_temporary_name_keeps_the_suffix_so_np_save_writes_it_exactly(self):
    # np.save appends '.npy' to a name not ending in it: a temporary name without the
    # suffix would leave the array in another file than the one renamed.
    path = os.path.join(self.dir, 'samples.npy')
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    with files.replacing(path) as tmp:
      self.assertTrue(tmp.endswith('.npy'))
      np.save(tmp, x)
    np.testing.assert_array_equal(np.load(path), x)
    self.assertEqual(sorted(os.listdir(self.dir)), ['out.txt', 'samples.npy'])

  def test_the_new_file_is_flushed_to_disk_before_it_replaces_the_earlier_one(self):
    # A crash after the rename but before the data reached the disk could leave an empty
    # file where the earlier one was (ext4's delayed allocation): fsync, then rename.
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
      events.append(('fsync', os.fstat(fd).st_ino))
      real_fsync(fd)

    def replace(src, dst):
      events.append(('replace', os.stat(src).st_ino))
      real_replace(src, dst)
    with mock.patch.object(files.os, 'fsync', fsync), \
        mock.patch.object(files.os, 'replace', replace):
      files.write_text(self.path, 'new')
    written = os.stat(self.path).st_ino
    self.assertEqual(events, [('fsync', written), ('replace', written)])
    self.assertEqual(self._read(), 'new')

  def test_write_text(self):
    files.write_text(self.path, 'text')
    self.assertEqual(self._read(), 'text')
    self.assertEqual(os.listdir(self.dir), ['out.txt'])


class JsonTextTest(parameterized.TestCase):

  def test_non_finite_numbers_are_null_and_the_rest_unchanged(self):
    obj = {'reverse_kl': float('inf'), 'nested': {'a': [1.5, float('nan'), -np.inf]},
           'np': np.float64('inf'), 'pair': (2, 'x'), 'ok': np.float64(0.25), 'n': 3,
           'flag': True, 'none': None, 'range': (1.0, float('inf'))}
    text = files.json_text(obj)
    strict = json.loads(text, parse_constant=lambda c: self.fail(f'{c} in {text}'))
    self.assertEqual(strict, {'reverse_kl': None, 'nested': {'a': [1.5, None, None]},
                              'np': None, 'pair': [2, 'x'], 'ok': 0.25, 'n': 3,
                              'flag': True, 'none': None, 'range': [1.0, None]})
    self.assertNotIn('Infinity', text)
    self.assertEqual(obj['reverse_kl'], float('inf'))  # the caller's object is not changed

  def test_numpy_and_jax_numbers_are_written_as_numbers(self):
    obj = {'f32': np.float32(0.5), 'i64': np.int64(7), 'b': np.bool_(True),
           'arr': np.array([[1.0, np.nan], [np.inf, 2.0]], np.float32),
           'jax': jnp.asarray(3.0), 'jax_nan': jnp.asarray([jnp.nan, 1.0])}
    self.assertEqual(json.loads(files.json_text(obj)),
                     {'f32': 0.5, 'i64': 7, 'b': True, 'arr': [[1.0, None], [None, 2.0]],
                      'jax': 3.0, 'jax_nan': [None, 1.0]})

  def test_json_text_indents_one_space_by_default(self):
    self.assertEqual(files.json_text({'a': [1, 2]}), '{\n "a": [\n  1,\n  2\n ]\n}')
    self.assertEqual(files.json_text({'a': 1}, indent=None), '{"a": 1}')

  def test_write_json(self):
    path = os.path.join(tempfile.mkdtemp(), 'eval.json')
    files.write_json(path, {'fid': 12.5, 'kid': float('nan')})
    with open(path) as f:
      self.assertEqual(json.load(f), {'fid': 12.5, 'kid': None})
    self.assertEqual(os.listdir(os.path.dirname(path)), ['eval.json'])
    # NumPy integer keys (a class index) are written as JSON keys, as Python ints are.
    self.assertEqual(json.loads(files.json_text({np.int64(3): 1.0, 4: np.float32(2)})),
                     {'3': 1.0, '4': 2.0})

  def test_append_json_line_keeps_every_record_and_ends_a_cut_line(self):
    path = os.path.join(tempfile.mkdtemp(), 'evals.jsonl')
    files.append_json_line(path, {'step': 10, 'kid': float('nan')})
    files.append_json_line(path, {'step': 20, 'fid': np.float32(1.5)})
    with open(path) as f:
      self.assertEqual(f.read(), '{"step": 10, "kid": null}\n{"step": 20, "fid": 1.5}\n')
    # A writer killed mid-line: the next record starts on a line of its own, so only the
    # cut one is lost to a reader of whole lines.
    with open(path, 'a') as f:
      f.write('{"step": 30, "fi')
    files.append_json_line(path, {'step': 40})
    with open(path) as f:
      lines = f.read().splitlines()
    self.assertEqual(lines[2:], ['{"step": 30, "fi', '{"step": 40}'])
    self.assertEqual([json.loads(x)['step'] for i, x in enumerate(lines) if i != 2],
                     [10, 20, 40])


class OutputsCutShortTest(chex.TestCase):
  """The launchers' and the trainer's pictures and arrays, their writer failing halfway."""

  def setUp(self):
    super().setUp()
    self.dir = tempfile.mkdtemp()

  def _earlier(self, name: str) -> tuple[str, bytes]:
    path = os.path.join(self.dir, name)
    content = b'the earlier output'
    with open(path, 'wb') as f:
      f.write(content)
    return path, content

  def _assert_kept(self, path: str, content: bytes) -> None:
    with open(path, 'rb') as f:
      self.assertEqual(f.read(), content)
    self.assertEqual(os.listdir(self.dir), [os.path.basename(path)])

  def test_sample_npy(self):
    path, content = self._earlier('s.npy')
    with mock.patch.object(np, 'save', _write_partial_then_fail), \
        self.assertRaisesRegex(OSError, 'No space'):
      sample.write(path, np.zeros((4, 2), np.float32), 'ring8', None)
    self._assert_kept(path, content)
    sample.write(path, np.ones((4, 2), np.float32), 'ring8', None)  # and then it works
    np.testing.assert_array_equal(np.load(path), np.ones((4, 2)))

  def test_image_grid(self):
    path, content = self._earlier('grid.png')
    with mock.patch.object(plt, 'imsave', _write_partial_then_fail), \
        self.assertRaises(OSError):
      plots.save_image_grid(np.zeros((4, 8, 8, 1), np.float32), path)
    self._assert_kept(path, content)
    plots.save_image_grid(np.zeros((4, 8, 8, 1), np.float32), path, scale=1)
    with Image.open(path) as im:
      self.assertEqual(im.size, (19, 19))  # 2x2 images of 8 px and 3 px of padding

  def test_scatter_and_loss_curves_close_their_figure(self):
    for name, write in (
        ('scatter.png', lambda p: plots.save_scatter(np.zeros((5, 2)), np.ones((2, 2)), p)),
        ('loss_curves.png', lambda p: plots.save_loss_curves([{'step': 1, 'd_loss': 0.5}],
                                                             p))):
      self.dir = tempfile.mkdtemp()
      path, content = self._earlier(name)
      with mock.patch.object(plt.Figure, 'savefig',
                             lambda fig, p, **kw: _write_partial_then_fail(p)), \
          self.assertRaises(OSError):
        write(path)
      self._assert_kept(path, content)
      self.assertEqual(plt.get_fignums(), [])

  def test_upscaled_image(self):
    path, content = self._earlier('photo_x4.png')
    with mock.patch.object(Image.Image, 'save',
                           lambda self, p, **kw: _write_partial_then_fail(p)), \
        self.assertRaises(OSError):
      upscale.write_image(path, np.zeros((4, 4, 3), np.float32))
    self._assert_kept(path, content)
    upscale.write_image(path, np.ones((4, 6, 3), np.float32))
    with Image.open(path) as im:
      self.assertEqual((im.size, im.getpixel((0, 0))), ((6, 4), (255, 255, 255)))


if __name__ == '__main__':
  absltest.main()
