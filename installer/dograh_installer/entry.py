"""Console entry point: check the interpreter, then hand over to the CLI.

This module and its package ``__init__`` use only syntax and modules that
Python 3.4 understands, so an old interpreter reaches the version message
instead of a SyntaxError from a module it cannot compile.
"""

import sys

MINIMUM_PYTHON = (3, 9)


def main():
    if sys.version_info < MINIMUM_PYTHON:
        sys.stderr.write(
            "dograh: error: Python %d.%d or newer is required, but this is Python %d.%d.%d "
            "(%s). Install a newer python3 and run the command again.\n"
            % (MINIMUM_PYTHON + tuple(sys.version_info[:3]) + (sys.executable,))
        )
        return 2
    from dograh_installer.cli import run

    return run()


if __name__ == "__main__":
    sys.exit(main())
