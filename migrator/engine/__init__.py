"""The libcst engine: import resolution, layout tracking, rule application, output formatting."""
