"""The command line: parse into one config, run a level, map the outcome to an exit code.

Exit codes (the README's table): 0 every image passed; 1 at least one image failed a
check or could not be processed; 2 a usage or input-dataset error, before any work;
3 an internal error (a bug, or a worker that died); 4 nothing failed, but at least one
image needs a person's review (its signals disagree, or its face check could not see);
5 (audit level) an image or file could not be checked (unreadable, annexed content
not present), so the audit cannot vouch for the dataset.
"""

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL, EXIT_REVIEW, EXIT_UNCHECKED = 0, 1, 2, 3, 4, 5
#: From the mildest outcome to the worst, for combining the outcomes of several steps.
_SEVERITY = (EXIT_OK, EXIT_REVIEW, EXIT_FAILED, EXIT_UNCHECKED, EXIT_USAGE, EXIT_INTERNAL)


def worst(*codes: int) -> int:
    """The most severe of several exit codes (an internal error beats a failed image, which beats a review)."""
    return max(codes, key=_SEVERITY.index)


def gate_code(counted: dict) -> int:
    """The exit code of a :func:`~bids_deface.methods.record.tally`: failed, review, or OK."""
    if counted["gate"]:
        return EXIT_FAILED
    return EXIT_REVIEW if counted["review"] else EXIT_OK
