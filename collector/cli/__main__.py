"""``python -m flightlog.collector.cli`` runs the ``flightlog`` command."""

from flightlog.collector.cli.main import main

main()
