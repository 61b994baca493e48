"""Metadata scrubbing: sidecar policy levels, dates, nested values, NIfTI header fields."""

from __future__ import annotations

import gzip
import json

import nibabel as nib
import numpy as np
import pytest

from bids_deface.methods.io import raw_data, write_raw
from bids_deface.methods.metadata.dates import shift_date_value
from bids_deface.methods.metadata.nifti import nifti_identifying_values, scrub_nifti
from bids_deface.methods.metadata.policy import LEVELS, ScrubPolicy, load_field_rules
from bids_deface.methods.metadata.schema import bids_sidecar_fields
from bids_deface.methods.metadata.sidecar import (
    identifying_values,
    provenance_fields,
    scrub_sidecar,
    scrub_sidecar_fields,
)

#: A dcm2niix-like sidecar written without anonymisation (-ba n).
SIDECAR = {
    "Modality": "MR",
    "MagneticFieldStrength": 3,
    "Manufacturer": "Siemens",
    "ManufacturersModelName": "Prisma_fit",
    "SoftwareVersions": "syngo MR E11",
    "InstitutionName": "Example University Hospital",
    "InstitutionAddress": "1 Hospital Road, Springfield",
    "InstitutionalDepartmentName": "Radiology",
    "DeviceSerialNumber": "45123",
    "StationName": "MRC45123",
    "PatientPosition": "HFS",
    "PatientName": "DOE^JOHN",
    "PatientID": "MRN0042857",
    "PatientBirthDate": "1956-03-12",
    "PatientSex": "M",
    "PatientWeight": 81,
    "ProcedureStepDescription": "MR HEAD DOE research",
    "SeriesDescription": "t1_mprage_sag_p2_iso",
    "ProtocolName": "t1_mprage_sag_p2_iso",
    "AcquisitionDateTime": "2019-03-04T10:22:31.000000",
    "AcquisitionTime": "10:22:31.000000",
    "StudyInstanceUID": "1.2.840.113619.2.55.3.1",
    "RepetitionTime": 2.3,
    "EchoTime": 0.00232,
    "InversionTime": 0.9,
    "FlipAngle": 8,
    "SliceThickness": 0.9,
    "MRAcquisitionType": "3D",
    "SeriesNumber": 5,
    "ConversionSoftware": "dcm2niix",
}
ANALYSIS = (
    "RepetitionTime",
    "EchoTime",
    "InversionTime",
    "FlipAngle",
    "MagneticFieldStrength",
    "Manufacturer",
    "ManufacturersModelName",
    "SoftwareVersions",
    "MRAcquisitionType",
)
IDENTIFYING = (
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "DeviceSerialNumber",
    "StationName",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientWeight",
    "ProcedureStepDescription",
    "SeriesDescription",
    "ProtocolName",
    "AcquisitionDateTime",
    "AcquisitionTime",
    "StudyInstanceUID",
)


def test_policy_table_is_documented():
    rules = load_field_rules()
    assert len(rules) > 80
    assert all(rule.reason.strip() and rule.action in ("remove", "date", "keep") for rule in rules)
    names = {rule.field for rule in rules}
    for field in (
        "InstitutionName",
        "InstitutionAddress",
        "AcquisitionDateTime",
        "DeviceSerialNumber",
        "StationName",
        "ProcedureStepDescription",
    ):
        assert field in names


def test_unknown_level_names_the_allowed_ones():
    with pytest.raises(ValueError, match="none, default, strict"):
        ScrubPolicy(level="paranoid")
    with pytest.raises(TypeError):
        ScrubPolicy(keep_fields="EchoTime")
    assert LEVELS == ("none", "default", "strict")


def test_none_changes_nothing():
    clean, changed = scrub_sidecar(SIDECAR, ScrubPolicy(level="none", scrub_fields=("EchoTime",)))
    assert clean == SIDECAR and changed == []
    assert clean is not SIDECAR


def test_default_removes_identifying_keeps_analysis():
    before = json.dumps(SIDECAR, sort_keys=True)
    clean, changed = scrub_sidecar(SIDECAR, ScrubPolicy(), suffix="T1w")
    assert json.dumps(SIDECAR, sort_keys=True) == before  # input untouched
    for field in IDENTIFYING:
        assert field not in clean and field in changed
    for field in (*ANALYSIS, "PatientPosition", "SeriesNumber", "ConversionSoftware", "Modality"):
        assert clean[field] == SIDECAR[field]
    assert set(changed) == set(IDENTIFYING)
    # names only, never values
    assert not set(changed) & {str(v) for v in SIDECAR.values()}


def test_strict_keeps_only_bids_fields_minus_identifying():
    clean, changed = scrub_sidecar(SIDECAR, ScrubPolicy(level="strict"), suffix="T1w")
    for field in ANALYSIS:  # RepetitionTime is not in the anat rules but is protected
        assert clean[field] == SIDECAR[field]
    for field in ("PatientPosition", "SeriesNumber", "ConversionSoftware", "Modality", *IDENTIFYING):
        assert field not in clean and field in changed
    # BIDS defines DeviceSerialNumber/StationName for MRI, but they identify the site
    assert {"DeviceSerialNumber", "StationName"} <= bids_sidecar_fields("T1w")


@pytest.mark.parametrize("level", ["default", "strict"])
def test_keep_field_wins(level):
    policy = ScrubPolicy(level=level, keep_fields=("InstitutionName", "Series*"), scrub_fields=("InstitutionName",))
    clean, changed = scrub_sidecar(SIDECAR, policy, suffix="T1w")
    assert clean["InstitutionName"] == SIDECAR["InstitutionName"]
    assert clean["SeriesDescription"] == SIDECAR["SeriesDescription"]
    assert clean["SeriesNumber"] == 5
    assert "InstitutionName" not in changed


def test_extra_scrub_fields_and_patterns():
    clean, changed = scrub_sidecar(SIDECAR, ScrubPolicy(scrub_fields=("ConversionSoftware", "Manufacturer*")))
    assert "ConversionSoftware" not in clean and "Manufacturer" not in clean and "ManufacturersModelName" not in clean
    assert {"ConversionSoftware", "Manufacturer", "ManufacturersModelName"} <= set(changed)


def test_shift_dates_keeps_format():
    meta = {
        "AcquisitionDateTime": "2019-03-04T10:22:31.000000",
        "AcquisitionDate": "20190304",
        "SeriesDate": "2020-03-01",
        "ContentDate": "20200301",
        "StudyDate": "2019-03-04",
        "AcquisitionTime": "10:22:31.000000",
        "SeriesTime": "102231.500",
        "InstanceCreationDate": "yesterday",
        "PatientBirthDate": "1956-03-12",
        "EchoTime": 0.003,
    }
    clean, changed = scrub_sidecar(meta, ScrubPolicy(shift_days=-2))
    assert clean["AcquisitionDateTime"] == "2019-03-02T10:22:31.000000"
    assert clean["AcquisitionDate"] == "20190302"
    assert clean["SeriesDate"] == "2020-02-28"  # 2020 is a leap year: 1 March - 2 days
    assert clean["ContentDate"] == "20200228"
    assert clean["StudyDate"] == "2019-03-02"
    assert clean["AcquisitionTime"] == meta["AcquisitionTime"]  # time of day kept, as in scans.tsv
    assert clean["SeriesTime"] == meta["SeriesTime"]
    assert "InstanceCreationDate" not in clean  # cannot be shifted: removed
    assert "PatientBirthDate" not in clean  # never shifted: it would still give the age
    assert clean["EchoTime"] == 0.003
    assert set(changed) == {
        "AcquisitionDateTime",
        "AcquisitionDate",
        "SeriesDate",
        "ContentDate",
        "StudyDate",
        "InstanceCreationDate",
        "PatientBirthDate",
    }
    # without shift_days dates and times go
    clean, _ = scrub_sidecar(meta, ScrubPolicy())
    assert set(clean) == {"EchoTime"}


def test_shift_date_value_formats():
    assert shift_date_value("20191231120000.5", 1) == "20200101120000.5"
    assert shift_date_value(["2019-01-01", "2019-01-02"], 10) == ["2019-01-11", "2019-01-12"]
    assert shift_date_value("2019-02-30", 1) is None
    assert shift_date_value(20190304, 1) is None


def test_nested_structures_and_lists():
    """Inside a field the policy keeps (BIDS terms with object values), the rules apply at any depth."""
    meta = {
        "EchoTime": 0.003,
        "DatasetLinks": {"global": {"const": {"PatientName": "DOE^JOHN", "EchoTime": 3.0, "StudyDate": "20190304"}}},
        "SourceDatasets": [{"InstitutionName": "Example University Hospital", "Index": 1}, "plain"],
    }
    clean, changed = scrub_sidecar(meta, ScrubPolicy())
    assert clean["DatasetLinks"]["global"]["const"] == {"EchoTime": 3.0}
    assert clean["SourceDatasets"] == [{"Index": 1}, "plain"]
    assert set(changed) == {
        "DatasetLinks.global.const.PatientName",
        "DatasetLinks.global.const.StudyDate",
        "SourceDatasets[0].InstitutionName",
    }
    values = identifying_values(meta, changed)
    assert set(values) == {"DOE^JOHN", "20190304", "Example University Hospital"}


def test_default_removes_fields_no_allow_list_names_nested_included():
    """Non-standard fields (free text, nested subject data, misspelled DICOM names) do not survive."""
    meta = {
        "EchoTime": 0.003,
        "SeriesNumber": 5,
        "Notes": "scanned with John Doe's consent",
        "CustomInfo": {"Subject": "DOE^JOHN", "Visit": 2},
        "OperatorName": "Jane Roe",
        "SubjectName": "DOE^JOHN",
        "dcmmeta": {"global": {"const": {"EchoTime": 3.0}}},
        "InstitutionName": "Example University Hospital",
    }
    result = scrub_sidecar_fields(meta, ScrubPolicy(), suffix="T1w")
    assert result.clean == {"EchoTime": 0.003, "SeriesNumber": 5}
    assert set(result.unknown) == {"Notes", "CustomInfo", "OperatorName", "SubjectName", "dcmmeta"}
    assert result.identifying == ["InstitutionName"]
    kept = scrub_sidecar_fields(meta, ScrubPolicy(keep_fields=("CustomInfo",)), suffix="T1w")
    assert kept.clean["CustomInfo"] == meta["CustomInfo"]
    assert scrub_sidecar_fields(meta, ScrubPolicy(level="none")).clean == meta


def test_identifying_values_of_heads_like_sidecar():
    _, changed = scrub_sidecar(SIDECAR, ScrubPolicy(shift_days=30))
    values = identifying_values(SIDECAR, changed)
    assert "Example University Hospital" in values and "45123" in values
    assert "2019-03-04T10:22:31.000000" in values  # the original of a shifted date
    assert "81" in values  # integers become strings
    assert identifying_values(SIDECAR, ["NotThere"]) == []
    assert (
        identifying_values({"StationName": "n/a", "OperatorsName": "Anonymous"}, ["StationName", "OperatorsName"]) == []
    )


def test_bids_sidecar_fields_per_suffix():
    t1w = bids_sidecar_fields("T1w")
    assert {"EchoTime", "FlipAngle", "InversionTime", "MagneticFieldStrength", "Manufacturer"} <= t1w
    assert "RepetitionTime" in bids_sidecar_fields("bold")
    assert "TaskName" in bids_sidecar_fields("bold")
    assert "SamplePrimaryAntibody" not in t1w  # microscopy only
    with pytest.raises(ValueError, match="not defined"):
        bids_sidecar_fields("faceless")


# --------------------------------------------------------------------------- NIfTI


def _nifti_with_identifiers(path):
    data = np.arange(12 * 10 * 8, dtype=np.int16).reshape(12, 10, 8)
    affine = np.array([[-2.0, 0, 0, 30], [0, 2.0, 0, -40], [0, 0, 2.5, -20], [0, 0, 0, 1]])
    img = nib.Nifti1Image(data, affine)
    header = img.header
    header.set_qform(affine, code=1)
    header.set_sform(affine, code=4)
    header.set_slope_inter(0.5, 10.0)
    header.set_xyzt_units("mm", "sec")
    header["descrip"] = b"TE=2.5;Time=153152.362;Date=20190304"
    header["aux_file"] = b"DOE^JOHN"
    header["db_name"] = b"/home/john/data/n"
    header["intent_name"] = b"MRN0042857"
    fake_dicom = b"DICM\x10\x00\x10\x00PN\x08\x00DOE^JOHN\x08\x00\x80\x00LO\x1c\x00Example University Hospital"
    header.extensions.append(nib.nifti1.Nifti1Extension(2, fake_dicom))
    header.extensions.append(nib.nifti1.Nifti1Extension(6, b"acquired 2019-03-04 by John Doe"))
    img.to_filename(path)
    return nib.load(path)


def test_scrub_nifti_clears_text_and_extensions(tmp_path):
    img = _nifti_with_identifiers(tmp_path / "in.nii.gz")
    original_header = img.header.copy()
    clean, changed = scrub_nifti(img, ScrubPolicy())
    assert set(changed) == {"descrip", "aux_file", "db_name", "intent_name", "extensions"}
    for field in ("descrip", "aux_file", "db_name", "intent_name"):
        assert clean.header[field].item() == b""
    assert len(clean.header.extensions) == 0
    # input untouched
    assert len(img.header.extensions) == 2 and img.header["descrip"].item().startswith(b"TE=2.5")
    # data: the same proxy, same stored values, same scaling
    assert clean.dataobj is img.dataobj
    np.testing.assert_array_equal(raw_data(clean), raw_data(img))
    assert clean.get_data_dtype() == img.get_data_dtype()
    assert (clean.header["scl_slope"], clean.header["scl_inter"]) == (0.5, 10.0)
    np.testing.assert_array_equal(clean.affine, img.affine)
    for field in ("sform_code", "qform_code", "xyzt_units", "pixdim", "dim", "srow_x", "quatern_b", "qoffset_x"):
        np.testing.assert_array_equal(clean.header[field], original_header[field])
    values = nifti_identifying_values(img, changed)
    assert "DOE^JOHN" in values and "TE=2.5;Time=153152.362;Date=20190304" in values


def test_scrubbed_nifti_written_raw_is_exact_and_clean(tmp_path):
    img = _nifti_with_identifiers(tmp_path / "in.nii.gz")
    clean, _ = scrub_nifti(img, ScrubPolicy())
    out = write_raw(tmp_path / "out.nii.gz", clean.header, raw_data(clean))
    again = nib.load(out)
    np.testing.assert_array_equal(raw_data(again), raw_data(img))
    assert raw_data(again).tobytes() == raw_data(img).tobytes()
    np.testing.assert_array_equal(again.get_fdata(), img.get_fdata())
    assert again.header.get_slope_inter() == (0.5, 10.0) or again.dataobj.slope == 0.5
    assert (int(again.header["sform_code"]), int(again.header["qform_code"])) == (4, 1)
    content = gzip.open(out).read()
    for secret in (b"DOE^JOHN", b"Example University Hospital", b"20190304", b"John Doe", b"/home/john"):
        assert secret not in content
    assert b"DOE^JOHN" in gzip.open(tmp_path / "in.nii.gz").read()


def test_scrub_nifti_levels_and_keep(tmp_path):
    img = _nifti_with_identifiers(tmp_path / "in.nii.gz")
    same, changed = scrub_nifti(img, ScrubPolicy(level="none"))
    assert same is img and changed == []
    kept, changed = scrub_nifti(img, ScrubPolicy(keep_fields=("descrip", "extensions")))
    assert kept.header["descrip"].item() == img.header["descrip"].item()
    assert len(kept.header.extensions) == 2
    assert "descrip" not in changed and "aux_file" in changed


def test_provenance_fields_are_bids_deidentification_fields():
    fields = provenance_fields(tool="bids_deface", version="1.2.3", method="template", template="MNI152")
    json.dumps(fields)
    assert set(fields) == {"DeidentificationMethod", "DeidentificationMethodCodeSequence"}
    assert (
        isinstance(fields["DeidentificationMethod"], list)
        and "bids_deface 1.2.3" in fields["DeidentificationMethod"][0]
    )
    codes = fields["DeidentificationMethodCodeSequence"]
    assert codes[0]["CodeValue"] == "113102" and codes[0]["CodingSchemeDesignator"] == "DCM"
    assert all({"CodeValue", "CodeMeaning", "CodingSchemeDesignator"} <= set(code) for code in codes)
    scrubbed = provenance_fields(tool="bids_deface", version="1", method="m", template="t", scrub_level="strict")
    assert any(code["CodeValue"] == "113105" for code in scrubbed["DeidentificationMethodCodeSequence"])
    assert {"DeidentificationMethod", "DeidentificationMethodCodeSequence"} <= bids_sidecar_fields("T1w")
