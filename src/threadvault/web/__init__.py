"""The threadvault Datasette plugin: hook implementations only."""
