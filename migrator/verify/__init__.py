"""`fwmigrate verify`: run the original and the migrated model on the same inputs and compare."""
