"""navtms: open neuronavigation and coil targeting for TMS. This package is the application:
the CLI, plan/session files, and the navigation loop that joins registration/, tracking/,
targets/ and viewer/."""

__version__ = "0.1.0"
