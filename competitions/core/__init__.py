"""The ground floor: errors, competition specs, metrics, the run layout, ranks, the console, safe files.

Nothing here imports anything else of the project; every other layer may import it.
"""
