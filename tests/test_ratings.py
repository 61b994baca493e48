"""A person's ratings: read from the saved files, merged into the group outputs, gating the release."""

from __future__ import annotations

import json

from reports_fixtures import make_record

from bids_deface.cli.group import run_group_level
from bids_deface.cli.parser import parse_args
from bids_deface.ratings import not_signed_off, read_ratings, with_ratings


def _save(out, name, reviewer, when, *ratings):
    entries = [{"source_file": source, "rating": rating, "note": note} for source, rating, note in ratings]
    (out / name).write_text(json.dumps({"subject": "01", "reviewer": reviewer, "rated_at": when, "ratings": entries}))


def test_the_newest_rating_wins_and_broken_entries_never_count(tmp_path, caplog):
    _save(tmp_path, "sub-01_desc-ratings.json", "Ann", "2026-12-01T10:00:00Z", ("a.nii.gz", "redo", "ear left"))
    (tmp_path / "sub-01").mkdir()
    _save(tmp_path / "sub-01", "sub-01_desc-ratings.json", "Bo", "2026-12-02T10:00:00Z", ("a.nii.gz", "good", ""))
    _save(tmp_path, "sub-02_desc-ratings.json", "Cy", "2026-12-03T10:00:00Z", ("b.nii.gz", "great", ""))
    _save(tmp_path, "sub-03_desc-ratings.json", "", "2026-12-03T10:00:00Z", ("c.nii.gz", "good", ""))
    (tmp_path / "sub-04_desc-ratings.json").write_text("{not json")
    ratings = read_ratings(tmp_path)
    assert set(ratings) == {"a.nii.gz"}
    assert ratings["a.nii.gz"]["rating"] == "good" and ratings["a.nii.gz"]["rated_by"] == "Bo"
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "sub-02_desc-ratings.json" in warned and "sub-03_desc-ratings.json" in warned
    assert "sub-04_desc-ratings.json: not a ratings file" in warned


def test_what_the_release_may_not_hold():
    records = with_ratings(
        [
            {"source_file": "pass.nii.gz", "status": "pass"},
            {"source_file": "review.nii.gz", "status": "review"},
            {"source_file": "good_review.nii.gz", "status": "review"},
            {"source_file": "excluded.nii.gz", "status": "pass"},
        ],
        {
            "good_review.nii.gz": {"rating": "good", "rated_by": "Ann"},
            "excluded.nii.gz": {"rating": "exclude", "rated_by": "Ann"},
        },
    )
    assert [s for s, _ in not_signed_off(records, "review")] == ["review.nii.gz", "excluded.nii.gz"]
    assert [s for s, _ in not_signed_off(records, "all")] == ["pass.nii.gz", "review.nii.gz", "excluded.nii.gz"]
    assert dict(not_signed_off(records, "review"))["excluded.nii.gz"] == "rated 'exclude' by Ann"


def test_group_outputs_carry_who_rated_what_and_when(tiny_bids, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    records = [make_record("01", "", "T1w"), make_record("02", "", "T1w")]
    source = records[0]["source_file"]
    _save(out, "sub-01_desc-ratings.json", "Ann Reviewer", "2026-12-04T09:30:00Z", (source, "good", "checked"))
    config = parse_args([str(tiny_bids), str(out), "group"])
    assert run_group_level(config, records) == 0
    summary = json.loads((out / "group_summary.json").read_text())
    assert summary["ratings"] == {"n_rated": 1, "good": 1, "redo": 0, "exclude": 0, "rated_by": ["Ann Reviewer"]}
    table = (out / "group_deface.tsv").read_text().splitlines()
    header = table[0].split("\t")
    row = dict(zip(header, next(line for line in table[1:] if line.startswith(source)).split("\t")))
    assert (row["rating"], row["rated_by"], row["rated_at"]) == ("good", "Ann Reviewer", "2026-12-04T09:30:00Z")
    assert "<strong>good</strong> by Ann Reviewer, 2026-12-04T09:30:00Z: checked" in (out / "group.html").read_text()


def test_a_rating_older_than_the_defaced_image_vouches_for_nothing(tmp_path):
    import os

    from bids_deface.ratings import rated_before

    defaced = tmp_path / "sub-01_desc-defaced_T1w.nii.gz"
    defaced.write_bytes(b"x")
    os.utime(defaced, (1_800_000_000, 1_800_000_000))  # 2027-01-15
    assert rated_before("2026-12-04T10:00:00Z", defaced)
    assert not rated_before("2027-02-01T10:00:00.000Z", defaced)
    assert rated_before("not a time", defaced)
    assert not rated_before("2026-12-04T10:00:00Z", tmp_path / "absent.nii.gz")
