"""Defaults shared by the `llmnet serve` command and its settings model. This module imports nothing, so
that loading the command (when llmnet lists its commands) stays cheap."""

#: largest request body accepted, in bytes (`--max-body`)
DEFAULT_MAX_BODY = 1024 * 1024
