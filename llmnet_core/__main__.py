"""The `llmnet` console script, and `python -m llmnet_core`.

It starts here rather than in `cli`: importing the command line (click and the CLI's modules) takes tens
of milliseconds, and Ctrl-C during that time must end as Ctrl-C at any other moment does (`interrupted`,
exit 130), not with a traceback from the middle of an import.
"""

from __future__ import annotations

from .process import interrupted, own_standard_streams


def main() -> None:
    """Console-script entry point."""
    try:
        own_standard_streams()
        from .cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        interrupted()


if __name__ == "__main__":
    main()
