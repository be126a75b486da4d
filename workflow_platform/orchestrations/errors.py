"""Why a send failed, so a run knows whether retrying can help."""

from workflow_platform.retries import PermanentError, TransientError


class SendError(Exception):
    """A destination could not take the data; the message names the destination, never a secret."""


class TransientSendError(SendError, TransientError):
    """Retrying may help: connection refused or reset, a timeout, HTTP 429 or 5xx."""


class PermanentSendError(SendError, PermanentError):
    """Retrying cannot help: bad credentials, access denied, no such bucket or folder, HTTP 4xx other than 429."""
