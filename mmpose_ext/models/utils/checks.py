# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
"""Argument checks shared by the model parts."""


def check_positive_int(name: str, value, minimum: int = 1) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is an int (not a
    bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) \
            or value < minimum:
        raise ValueError(f'{name} must be an int >= {minimum}, got {value!r}')


def check_choice(name: str, value, choices) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is one of
    ``choices``."""
    if value not in choices:
        raise ValueError(
            f'{name} must be one of {tuple(choices)}, got {value!r}')


def check_non_negative(name: str, value) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value >= 0`` (NaN
    fails)."""
    if not value >= 0:
        raise ValueError(f'{name} must be >= 0, got {value!r}')
