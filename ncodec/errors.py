"""One exception hierarchy for everything a user can get wrong; the CLI maps each to a one-line message."""
from __future__ import annotations


class NcodecError(Exception):
    """Base class: every failure ncodec reports on purpose derives from this."""

    exit_code = 1


class FormatError(NcodecError):
    """The bytes are not an .ncz file this reader understands (bad magic, unknown flags, bad lengths)."""

    exit_code = 3


class TruncatedError(FormatError):
    """The file ends before the header, index or payload it declares."""


class ChecksumError(FormatError):
    """The stored checksum does not match the bytes: the file was corrupted."""


class UnsupportedVersionError(FormatError):
    """The file was written by a newer (or unknown) container or codec version."""


class CodecError(NcodecError):
    """A codec failed to encode or decode (including a payload it cannot parse)."""

    exit_code = 4


class IntegrityError(CodecError):
    """A record decoded, but its content check (a short hash stored beside the payload) does not match.

    The payload was altered behind a valid file checksum, or this machine's decoder produced
    other bytes than the writer's (a different library build, thread count or device):
    the decoded data is wrong and is not returned.
    """


class UnknownCodecError(CodecError):
    """No codec is registered under the requested (or stored) name."""


class ModelMismatchError(CodecError):
    """The file was made with other model weights than the ones installed."""


class UnsupportedInputError(NcodecError):
    """The input's media kind, shape, dtype or value range is outside what the codec handles."""

    exit_code = 5


class OptionError(NcodecError):
    """A codec option (-O key=value / options={...}) is unknown or has a bad value."""

    exit_code = 2


class InputError(NcodecError):
    """An input file is missing, unreadable or not of a recognised kind."""

    exit_code = 2


class LimitError(NcodecError):
    """A file declares more than the decode limits allow (pixels, bytes, work) before anything is allocated.

    Raise the limit (API ``max_pixels=`` / ``max_bytes=``, CLI ``--max-pixels`` / ``--max-bytes``)
    for a file you trust.
    """

    exit_code = 7


class OutputError(NcodecError):
    """The output cannot be written: missing folder, not a folder, no permission, disk full, a
    special file that cannot take the data, or the output would overwrite an input."""

    exit_code = 2


class OutputExistsError(OutputError):
    """The output exists and overwriting was not asked for (-f)."""

    exit_code = 2


class VerifyError(NcodecError):
    """--verify found that the decoded data differs from the input of a lossless codec."""

    exit_code = 6


class NcodecWarning(UserWarning):
    """Something the user should know that is not an error (the CLI prints it as one
    ``ncodec: warning: ...`` line on stderr, unless ``--quiet``)."""


class LossyWarning(NcodecWarning):
    """A lossy encode kept little of its input (e.g. audio that decodes to near-silence)."""


class QualityWarning(NcodecWarning):
    """A quality level went to a lossless codec, where it means a compression effort, not a loss."""
