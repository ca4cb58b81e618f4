"""The one training loop every learned codec reuses, plus the registry behind ``ncodec train NAME``."""
from .loop import TrainConfig, gradient_step, run_training
from .registry import get_trainer, register_trainer, trainers

__all__ = ["TrainConfig", "run_training", "gradient_step", "register_trainer", "trainers", "get_trainer"]
