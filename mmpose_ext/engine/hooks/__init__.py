# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
from .atomic_checkpoint_hook import AtomicCheckpointHook  # noqa: F401
from .bad_sample_hook import BadSampleHook  # noqa: F401
from .nonfinite_loss_hook import NonFiniteLossHook  # noqa: F401
from .rank_consistency_hook import RankConsistencyHook  # noqa: F401
from .recipe_check_hook import RecipeCheckHook  # noqa: F401
