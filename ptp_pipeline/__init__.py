"""ptp-pipeline: lawful, pseudonymised sharing of partner data for customer pathways."""

__version__ = "0.1.0"
