# Copyright (c) mmpose_ext contributors. Licensed under Apache-2.0.
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .bad_sample_hook import BadSampleHook
from .nonfinite_loss_hook import NonFiniteLossHook
from .rank_consistency_hook import RankConsistencyHook
from .recipe_check_hook import RecipeCheckHook
