"""Checks of bundles against their references: golden I/O, parity reports, task metrics, JUnit, input loaders.

Tooling, not device code: the runtime never imports this package."""
