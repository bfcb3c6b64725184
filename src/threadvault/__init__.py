"""threadvault: archive social-media threads into WARC captures and SQLite."""

__version__ = "0.1.0"
