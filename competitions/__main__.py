from competitions.commands.cli import entry_point

entry_point()
