"""The command line: parse into one config, run a level, map the outcome to an exit code.

Exit codes (the README's table): 0 every image passed; 1 at least one image failed a
check or could not be processed; 2 a usage or input-dataset error, before any work;
3 an internal error (a bug, or a worker that died).
"""

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
