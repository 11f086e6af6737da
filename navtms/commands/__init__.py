"""One module per `navtms` subcommand; see navtms/cli.py for the contract."""
