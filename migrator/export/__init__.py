"""`fwmigrate export`: the migrated model exported to a deployment format, the artefact loaded back
and, with ``--verify-against``, run against the original source model with verify's comparison."""
