"""Usage and input-dataset errors: exit 2 before any work, naming the path and the reason."""

import json

import pytest
from cli_run import usage_error

from bids_deface.cli.parser import parse_args
from bids_deface.cli.run import main


def test_missing_bids_dir(tmp_path, capsys):
    code, err = usage_error([str(tmp_path / "nope"), str(tmp_path / "out"), "participant"], capsys)
    assert code == 2
    assert "nope" in err and "does not exist" in err


def test_not_bids(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    code, err = usage_error([str(tmp_path / "data"), str(tmp_path / "out"), "participant"], capsys)
    assert code == 2
    assert "dataset_description.json" in err


@pytest.mark.parametrize("inside", [".", "derivatives/bids_deface"])
def test_output_inside_input_refused(tiny_bids, capsys, inside):
    code, err = usage_error([str(tiny_bids), str(tiny_bids / inside), "participant"], capsys)
    assert code == 2
    assert "outside the input dataset" in err
    assert not (tiny_bids / "derivatives").exists()


def test_invalid_filter_file(tiny_bids, tmp_path, capsys):
    bad = tmp_path / "filters.json"
    bad.write_text("{not json")
    code, err = usage_error(
        [str(tiny_bids), str(tmp_path / "out"), "participant", "--bids-filter-file", str(bad)], capsys
    )
    assert code == 2
    assert "filters.json" in err and "not valid JSON" in err


def test_unknown_participant_exits_2(tiny_bids, tmp_path, caplog):
    code = main(
        [
            str(tiny_bids),
            str(tmp_path / "out"),
            "participant",
            "--participant-label",
            "99",
            "--skip-bids-validation",
            "-w",
            str(tmp_path / "work"),
        ]
    )
    assert code == 2
    assert "99" in caplog.text and "not found" in caplog.text
    assert not (tmp_path / "out").exists()  # a usage error comes before any work: no output, no logs


def test_group_without_participant_outputs_exits_2_and_writes_nothing(tiny_bids, tmp_path, caplog):
    code = main([str(tiny_bids), str(tmp_path / "out"), "group"])
    assert code == 2
    assert "run the participant level first" in caplog.text
    assert not (tmp_path / "out").exists()


def test_unexpected_exception_outside_the_graph_is_internal(tiny_bids, tmp_path, monkeypatch, caplog):
    import nibabel as nib
    import numpy as np

    from bids_deface.workflows import base

    nib.Nifti1Image(np.ones((8, 8, 8), np.int16), np.eye(4)).to_filename(
        tiny_bids / "sub-01" / "anat" / "sub-01_T1w.nii.gz"
    )

    def broken(**kwargs):
        raise KeyError("a bug while building the graph")

    monkeypatch.setattr(base, "init_bids_deface_wf", broken)
    code = main(
        [str(tiny_bids), str(tmp_path / "out"), "participant", "--skip-bids-validation", "-w", str(tmp_path / "w")]
    )
    assert code == 3  # exit 1 is reserved for "an image failed"
    assert "internal error" in caplog.text and "a bug while building the graph" in caplog.text


def test_parser_defaults_are_the_config_defaults(tiny_bids, tmp_path):
    from bids_deface.config import DEFAULTS

    assert parse_args([str(tiny_bids), str(tmp_path / "out"), "participant"]).workflow == DEFAULTS


@pytest.mark.parametrize(
    ("option", "value", "gb"),
    [
        ("--mem_mb", "16000", 16.0),
        ("--mem-mb", "8000", 8.0),
        ("--mem", "16G", 16.0),
        ("--mem", "4000M", 4.0),
        ("--mem-gb", "4", 4.0),
    ],
)
def test_memory_options_read_as_fmriprep_does(tiny_bids, tmp_path, option, value, gb):
    config = parse_args([str(tiny_bids), str(tmp_path / "out"), "participant", option, value])
    assert config.nipype.mem_gb == pytest.approx(gb)


def test_labels_with_or_without_prefix(tiny_bids, tmp_path):
    config = parse_args(
        [
            str(tiny_bids),
            str(tmp_path / "out"),
            "participant",
            "--participant-label",
            "sub-01",
            "02",
            "--session-label",
            "ses-A",
        ]
    )
    assert config.execution.participant_label == ["01", "02"]
    assert config.execution.session_label == ["A"]


def test_options_fill_one_config(tiny_bids, tmp_path):
    filters = tmp_path / "f.json"
    filters.write_text(json.dumps({"t1w": {"acquisition": "mprage"}}))
    config = parse_args(
        [
            str(tiny_bids),
            str(tmp_path / "out"),
            "participant",
            "--bids-filter-file",
            str(filters),
            "--method",
            "deface",
            "--no-deear",
            "--suffixes",
            "T1w",
            "T2w",
            "--nprocs",
            "3",
            "--omp-nthreads",
            "2",
            "--plugin",
            "Linear",
            "--plugin-args",
            '{"x": 1}',
            "-w",
            str(tmp_path / "w"),
            "--mem-gb",
            "4",
            "-vv",
        ]
    )
    assert config.execution.bids_filters == {"t1w": {"acquisition": "mprage"}}
    assert config.workflow.deear is False
    assert config.workflow.suffixes == ["T1w", "T2w"]
    assert (config.nipype.nprocs, config.nipype.omp_nthreads, config.nipype.plugin) == (3, 2, "Linear")
    assert config.nipype.plugin_args == {"x": 1}
    assert config.execution.work_dir == (tmp_path / "w").absolute()
    assert config.execution.verbosity == 2
    assert config.to_dict()["workflow"]["method"] == "deface"


def test_version(capsys):
    with pytest.raises(SystemExit) as err:
        main(["--version"])
    assert err.value.code == 0
    assert "bids-deface" in capsys.readouterr().out


def test_help_shows_each_default_once_and_none_that_mislead():
    from bids_deface.cli.parser import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "(default: [])" not in text and "(default: None)" not in text and "(default: {})" not in text
    assert "keep the ears (by default they are removed)" in text and "(default: True)" not in text
    assert "default: all (default" not in text
    assert "(default: brain face registration error)" in text  # a list default, read as typed
    assert "4 nothing failed, but an image needs a person's review" in text


def test_the_terminal_shows_this_package_and_errors_and_every_step_only_when_asked():
    import logging

    from bids_deface.cli.run import TerminalFilter

    def record(name, level=logging.INFO):
        return logging.LogRecord(name, level, __file__, 1, "x", (), None)

    quiet, verbose = TerminalFilter(show_steps=False), TerminalFilter(show_steps=True)
    assert quiet.filter(record("bids_deface.progress")) and quiet.filter(record("bids_deface"))
    assert not quiet.filter(record("bids_deface.progress.steps")) and verbose.filter(
        record("bids_deface.progress.steps")
    )
    assert not quiet.filter(record("py.warnings", logging.WARNING))  # numpy's, matplotlib's: the log file only
    assert not quiet.filter(record("bidsschematools"))
    assert quiet.filter(record("nipype.workflow", logging.ERROR))  # anyone's error is shown
