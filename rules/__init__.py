"""Rule data shipped with fwmigrate (installed as the package ``migrator.rules_data``)."""
