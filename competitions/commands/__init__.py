"""The `compete` command: argument parsing and the verbs. Each verb parses, calls the Python API
(competitions.api, which calls the pipeline), and reports."""
