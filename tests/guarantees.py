"""The faults and inputs the suite tries, with what each test observed: the source of the table
of docs/guarantees.rst.

Each case names its test; the test computes an ``observed`` sentence from what it saw (exit
codes, statuses, the files it opened) and calls :func:`outcome`, which asserts that it is the
``result`` below and appends it to ``.cache/guarantees/outcomes.json`` (or
``$BIDS_DEFACE_GUARANTEES``). ``docs/render_guarantees.py`` renders the table from this list and
those outcomes; tests/test_guarantees.py checks that the committed table is that rendering.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTCOMES = Path(os.environ.get("BIDS_DEFACE_GUARANTEES", ROOT / ".cache" / "guarantees" / "outcomes.json"))

WHOLE = "every visible output file loads whole"


def _case(area: str, fault: str, result: str, test: str) -> dict:
    return {"area": area, "fault": fault, "result": result, "test": test}


CASES: dict[str, dict] = {
    # -- processes killed and disks filled, on a small real head --
    "kill-registration": _case(
        "kill",
        "``kill -9`` of the whole run (every process) while the template registration runs",
        f"{WHOLE}; no defaced image yet",
        "test_kills.py::test_kill_during_registration",
    ),
    "kill-sink": _case(
        "kill",
        "``kill -9`` of the whole run while a step writes an output (a ``ds_*`` sink node), "
        "after a rerun with the same ``-w``",
        f"{WHOLE}; unfinished writes only under hidden temporary names",
        "test_kills.py::test_kill_while_writing_outputs",
    ),
    "rerun-after-kills": _case(
        "kill",
        "a third run with the same ``-w`` after the two kills",
        f"exit 0, status pass, report written; {WHOLE}",
        "test_kills.py::test_rerun_after_kills_completes",
    ),
    "kill-release": _case(
        "kill",
        "``kill -9`` of the group level while it writes the release copy over an earlier release",
        "the earlier release is unchanged; the unfinished copy is only ``<release>.partial``",
        "test_kills.py::test_kill_during_release_keeps_the_previous_release",
    ),
    "rerun-release": _case(
        "kill",
        "the group level with ``--release-dir`` again after that kill",
        f"exit 0, no ``.partial`` left; {WHOLE} in the release",
        "test_kills.py::test_release_after_a_kill_completes",
    ),
    "release-disk-full": _case(
        "disk",
        "the release folder on a full file system (an 8 MB tmpfs)",
        "exit 1, error names the release and 'No space left on device'; no release and no partial copy left",
        "test_kills.py::test_full_disk_during_release",
    ),
    "two-group-runs": _case(
        "concurrency",
        "a second group level into the same output folder while the first writes its release",
        "exit 2 naming the group level and the other run's pid; the first ends with exit 0",
        "test_kills.py::test_second_group_run_is_refused",
    ),
    "two-releases": _case(
        "concurrency",
        "a second release into the same folder while one is written",
        "refused (ReleaseBusy) naming the release; the first release is untouched",
        "test_locks.py::test_a_second_release_into_one_folder_is_refused",
    ),
    "kill-worker": _case(
        "kill",
        "``kill -9`` of the worker registering one participant's template (two participants, one worker; "
        "template phantom)",
        "exit 3; that image is an error naming the step and 'a worker process died'; the other passes",
        "test_faults.py::test_killed_worker_image_is_an_error_and_the_other_participant_passes",
    ),
    "kill-main": _case(
        "kill",
        "``kill -9`` of the run's main process only",
        "no worker process survives it",
        "test_faults.py::test_workers_die_with_the_main_process",
    ),
    "output-disk-full": _case(
        "disk",
        "the output folder on a full file system (a 2 MB tmpfs with 256 KiB free; template phantom)",
        "exit 1; the image is an error (no space left, or output not written); no record says pass",
        "test_faults.py::test_disk_full_is_an_error_of_the_image_and_fails_the_run",
    ),
    "two-participant-runs": _case(
        "concurrency",
        "a second participant run on a participant another run is writing",
        "exit 2 before any work, naming the participant; nothing written for it",
        "test_locks.py::test_a_second_run_on_a_busy_participant_exits_2_before_any_work",
    ),
    "participant-added": _case(
        "input",
        "a participant added between two runs with the same ``-w`` (cached index)",
        "found and processed: exit 0, status pass",
        "test_faults.py::test_participant_added_since_the_last_run_is_found_and_processed",
    ),
    "release-annex-missing": _case(
        "input",
        "the release of a dataset whose func image is a git-annex symlink without content (``make_release`` as "
        "the command line calls it)",
        "listed as missing, naming the file and `datalad get`; the release is not clean and not published "
        "(left in ``<release>.partial``)",
        "test_hostile_release.py::test_missing_annexed_content_is_reported",
    ),
    "input-read-only": _case(
        "input",
        "the input dataset mounted read-only, its good head a git-annex symlink to read-only content",
        "the run ends (exit 1, the good head passes); the input's files are unchanged",
        "test_bad_inputs.py::test_read_only_symlinked_input_is_never_written",
    ),
    "input-path-non-ascii": _case(
        "input",
        "the dataset under a path holding a space and a non-ASCII letter (``bad inputs ü``)",
        "status pass; report written",
        "test_bad_inputs.py::test_paths_with_spaces_and_non_ascii",
    ),
    "input-not-bids": _case(
        "input",
        "a folder without ``dataset_description.json``",
        "exit 2, names the folder; nothing written",
        "test_bad_inputs.py::test_not_bids_exits_2",
    ),
    "input-output-inside": _case(
        "input",
        "the output folder inside the input dataset",
        "exit 2; the input is unchanged",
        "test_bad_inputs.py::test_output_inside_input_exits_2",
    ),
    # -- the bad input table: one participant run; the run exits 1 --
}

_FILE = "error (names the file: <file>: "
BAD_RESULTS = {
    "good": "pass",
    "annexmissing": _FILE + "content not present (a dangling symlink, e.g. a git-annex file: run `datalad get`))",
    "truncated": _FILE + "image data cannot be read; truncated or corrupt (Compressed file ended before the "
    "end-of-stream marker was reached))",
    "corrupt": _FILE + "not a readable NIfTI image (Error -3 while decompressing data: invalid stored block lengths))",
    "zerobyte": _FILE + "not a readable NIfTI image (Empty file: '<file>'))",
    "singular": _FILE + "affine is singular (determinant 0))",
    "nanaffine": _FILE + "affine has non-finite values)",
    "flat": _FILE + "expected a 3D or 4D image, got 2D with shape (52, 64))",
    "fourd": "pass",
    "coarse": "review (N voxels removed inside the independent brain mask (atlas-robex, shrunk by 6.0 mm) although "
    "the template's brain was protected)",
    "fine": _FILE + "field of view 15.6 x 19.2 x 19.2 mm cannot hold a head (at least 60 mm needed on 2 axes))",
    "zeros": _FILE + "the image is empty: all voxels are 0)",
    "nans": "pass",
}


def _bad_cases() -> dict[str, dict]:
    from bad_inputs import BAD

    return {
        f"bad-{label}": _case("bad", what, BAD_RESULTS[label], f"test_bad_inputs.py::test_bad_input[{label}]")
        for label, what in BAD.items()
    }


CASES.update(_bad_cases())
CASES.update(
    {
        f"dtype-{name}": _case(
            "bad",
            f"the small real head stored as {what}, defaced and written (no graph: the run's own read and write "
            "functions; a whole run of a scaled uint16 head: ``test_scaling.py``)",
            "dtype and scaling kept; every decoded value outside the removal unchanged",
            f"test_bad_inputs.py::test_stored_types_round_trip[{name}]",
        )
        for name, what in (
            ("int8", "int8"),
            ("float64", "float64"),
            ("uint16-scaled", "uint16 with slope 2.5, inter 10"),
        )
    }
)
CASES.update(
    {
        "adversary-release": _case(
            "adversary",
            "planted identifying values (names, e-mail, telephone, birth and visit dates, ids; NIfTI ``descrip``, "
            "``aux_file``, ``db_name``, ``intent_name``, comment and DICOM-style extensions, gzip ``FNAME``; sidecar "
            "fields, values nested in objects and lists, inherited sidecars; participants, sessions and scans "
            "columns and ``acq_time``; README, CHANGES, ``Acknowledgements``, ``Authors``) searched in every byte "
            "of the release (images and gzip headers decompressed)",
            "0 planted value(s) found; kept on purpose and listed: dataset_description.json Authors",
            "test_adversary.py::test_no_planted_value_in_the_release",
        ),
        "adversary-output": _case(
            "adversary",
            "the same values searched in every byte of the output folder: images decompressed, sidecars, records, "
            "HTML, SVG, PNG text chunks, logs, crash files, the release summary",
            "0 planted value(s) found",
            "test_adversary.py::test_no_planted_value_in_the_output_folder",
        ),
        "adversary-escape": _case(
            "adversary",
            "HTML/JS in kept sidecar values, the dataset's ``Name``, a participants value and a ratings file "
            "(reviewer, note); ``../`` in them and in a scans.tsv file name",
            "0 unescaped payload(s) in any report (note, reviewer shown escaped); 0 file(s) written outside the "
            "output and release folders",
            "test_adversary.py::test_html_and_paths_are_escaped_and_stay_inside",
        ),
    }
)


def outcome(case: str, observed: str) -> None:
    """Assert that ``observed`` is the result the table promises for ``case``, and record it."""
    expected = CASES[case]["result"]
    assert observed == expected, f"{case}: observed {observed!r}, the guarantees table says {expected!r}"
    OUTCOMES.parent.mkdir(parents=True, exist_ok=True)
    with open(OUTCOMES.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            recorded = json.loads(OUTCOMES.read_text())
        except (OSError, ValueError):
            recorded = {}
        recorded[case] = observed
        tmp = OUTCOMES.with_suffix(".tmp")
        tmp.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, OUTCOMES)
