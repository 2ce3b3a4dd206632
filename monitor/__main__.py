"""``python -m monitor``: the ``driftline`` command line."""

from monitor.cli import run

if __name__ == "__main__":
    run()
