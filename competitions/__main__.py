from competitions.cli import entry_point

entry_point()
