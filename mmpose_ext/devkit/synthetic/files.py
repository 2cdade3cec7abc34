# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""What the writers share: argument checks and byte-stable file writers.

Equal arguments must give byte-identical files, so the writers fix
everything that would vary: the JPEG quality, the json separators, and the
creation time that scipy stamps into a MAT-5 header.
"""
import io
import json
import os
from typing import Dict, Tuple

import cv2
import numpy as np
from scipy.io import savemat

from .scene import FORMATS

__all__ = ['check_args', 'makedirs', 'write_jpeg', 'write_json', 'write_mat']

_JPEG_QUALITY = 90
_MAX_PEOPLE = 100
_MIN_IMAGE_SIDE, _MAX_IMAGE_SIDE = 64, 4096


def check_args(fmt, out_dir, num_train, num_val, seed, image_size,
               max_people) -> Tuple[int, int]:
    """Validate the public arguments and create ``out_dir``.

    Args: as :func:`mmpose_ext.devkit.synthetic.generate_dataset`.

    Returns:
        tuple[int, int]: (width, height) of ``image_size`` as ints.

    Raises:
        ValueError: One line naming the first invalid argument.
    """

    def is_int(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if fmt not in FORMATS:
        raise ValueError(f'fmt must be one of {", ".join(FORMATS)}, '
                         f'got {fmt!r}')
    for name, value in (('num_train', num_train), ('num_val', num_val)):
        if not is_int(value) or value < 1:
            raise ValueError(
                f'{name} must be a positive integer, got {value!r}')
    if not is_int(seed) or seed < 0:
        raise ValueError(f'seed must be a non-negative integer, got {seed!r}')
    if (not isinstance(image_size, (tuple, list)) or len(image_size) != 2
            or not all(is_int(v) for v in image_size)
            or not all(_MIN_IMAGE_SIDE <= v <= _MAX_IMAGE_SIDE
                       for v in image_size)):
        raise ValueError(
            f'image_size must be (width, height), integers in '
            f'[{_MIN_IMAGE_SIDE}, {_MAX_IMAGE_SIDE}], got {image_size!r}')
    if not is_int(max_people) or not 1 <= max_people <= _MAX_PEOPLE:
        raise ValueError(f'max_people must be an integer in '
                         f'[1, {_MAX_PEOPLE}], got {max_people!r}')
    if not isinstance(out_dir, (str, os.PathLike)) or not str(out_dir):
        raise ValueError(f'out_dir must be a directory path, got {out_dir!r}')
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise ValueError(f'out_dir {str(out_dir)!r} cannot be created: '
                         f'{e.strerror or e}') from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise ValueError(f'out_dir {str(out_dir)!r} is not writable')
    return int(image_size[0]), int(image_size[1])


def makedirs(*paths: str) -> None:
    """Create each directory (and its parents) if missing."""
    for path in paths:
        os.makedirs(path, exist_ok=True)


def write_jpeg(path: str, image: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 BGR image as a JPEG of fixed quality."""
    ok, data = cv2.imencode('.jpg', image,
                            [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    if not ok:
        raise OSError(f'JPEG encoding failed for {path}')
    with open(path, 'wb') as f:
        f.write(data.tobytes())


def write_json(path: str, obj) -> None:
    """Write ``obj`` as compact json (no spaces after separators)."""
    with open(path, 'w') as f:
        # dumps uses the C encoder, dump the pure-Python one
        f.write(json.dumps(obj, separators=(',', ':')))


def write_mat(path: str, arrays: Dict[str, np.ndarray]) -> None:
    """Write a MAT-5 file (uncompressed, 1-D arrays as columns).

    Like ``savemat``, but with a fixed header text: scipy stamps the creation
    time into the 116-byte MAT-5 header, which would break byte-identical
    output.

    Args:
        path (str): The .mat file to write.
        arrays (dict[str, np.ndarray]): MATLAB variable name -> array.
    """
    buffer = io.BytesIO()
    savemat(buffer, arrays, do_compression=False, oned_as='column')
    data = bytearray(buffer.getvalue())
    header = b'MATLAB 5.0 MAT-file, written by mmpose_ext synthetic data'
    data[:116] = header.ljust(116, b' ')
    with open(path, 'wb') as f:
        f.write(bytes(data))
