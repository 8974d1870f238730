"""The ``wmbus-gateway`` command line."""
