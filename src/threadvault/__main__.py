from threadvault.cli import cli

cli()
