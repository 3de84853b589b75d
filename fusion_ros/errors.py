# SPDX-License-Identifier: Apache-2.0
"""Exception classes of fusion_ros. This module imports nothing.

The core raises these and never logs; nodes catch :class:`FusionError` per message, log it
throttled and keep serving; the CLI prints ``error: ...`` and returns 1.
"""


class FusionError(Exception):
    """Base class of every error fusion_ros raises on purpose."""


class ConfigError(FusionError, ValueError):
    """A parameter, option or configuration value is invalid."""


class UsageError(ConfigError):
    """A command-line argument, or a combination of them, is wrong: the CLI exits 2 (as
    argparse does for the mistakes it catches itself), failures exit 1."""


class OptionError(UsageError):
    """A model option is unknown, of the wrong type or outside its range."""


class ShapeError(FusionError, ValueError):
    """An array or tensor has the wrong shape, size or channel count."""


class EncodingError(FusionError, ValueError):
    """An image message has an unsupported encoding or inconsistent layout."""


class RegistrationError(FusionError):
    """The frames do not determine a transform (textureless, or no consistent answer)."""


class ModelNotFoundError(FusionError, LookupError):
    """A model name is not in the registry."""


class WeightsError(FusionError):
    """A checkpoint is missing, corrupt or does not match the model."""


class TrainingError(FusionError):
    """A training run cannot usefully go on (its network has collapsed)."""


class BagError(FusionError):
    """A rosbag2 recording cannot be read or written."""


class BagWriteError(BagError):
    """Writing a bag failed (disk full, file size limit, I/O error)."""


class ConnectionTimeout(FusionError):
    """Nodes and topics did not connect in time (a topic nobody subscribes to)."""
