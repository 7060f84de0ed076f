"""Defaults shared by the `llmnet serve` command and its settings model. This module imports nothing, so
that loading the command (when llmnet lists its commands) stays cheap."""

#: largest request body accepted, in bytes (`--max-body`)
DEFAULT_MAX_BODY = 1024 * 1024

#: seconds a client has to send a request's headers, and then its body (`--read-timeout`)
DEFAULT_READ_TIMEOUT = 30.0
