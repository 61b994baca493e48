"""A dataset built to leak: synthetic identifying values planted everywhere a real BIDS dataset carries them.

Every value is synthetic. :data:`PLANTED` maps a short description of each place to the
text planted there; :data:`SEARCH` holds the strings a released byte must not contain
(each planted value, and its other spellings a careless copy would produce).
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np

NAME_DICOM = "QUIMBY^JONATHAN"
NAME = "Jonathan Quimby"
OPERATOR = "Wilhelmina Fudge"
EMAIL = "jonathan.quimby@example.org"
PHONE = "+44 20 7946 0958"
BIRTH = "1956-03-12"
VISIT = "2019-03-04T10:22:31"
VISIT_DICOM = "2019-03-04T10:22:31.000000"
AUTHOR = "Alice Authorsdottir"

PLANTED = {
    "sidecar PatientName": NAME_DICOM,
    "sidecar AcquisitionDateTime": VISIT_DICOM,
    "sidecar Notes": "Ward B7 reference XZ-99812",
    "sidecar CustomInfo.Subject": "SUBJ-REF-77123",
    "sidecar OperatorName": OPERATOR,
    "sidecar SubjectName": NAME_DICOM,
    "inherited T1w.json InstitutionName": "Quimby Memorial Clinic",
    "inherited bold InstitutionAddress": "42 Planted Lane, Springfield",
    "anat descrip": "TE=2.3;Time=102231.000;Date=20190304",
    "func descrip": "TE=30;Time=102231.000;Date=20190304",
    "func comment extension": f"PatientName={NAME_DICOM}",
    "func DICOM-style extension": "DICM\x00\x10\x10PN\x0cSMITHERS^ZED",
    "func aux_file": "QMC-AUX-3341",
    "func intent_name": "QMC-INT",
    "func gzip FNAME": "QUIMBY_JONATHAN_BOLD.nii",
    "participants name": NAME,
    "participants birthdate": BIRTH,
    "participants undocumented site_code": "QMC-SITE-7781",
    "scans acq_time": VISIT,
    "scans operator": OPERATOR,
    "sessions acq_time": VISIT,
    "sessions note": "complained of claustrophobia in the bore",
    "code heuristic": NAME_DICOM,
    "extra notes": f"{NAME} phoned on {VISIT[:10]}",
    "sub-folder notes": f"{NAME} was late",
    "README": f"We scanned {NAME} on {VISIT[:10]}; contact {EMAIL} or {PHONE}.",
    "CHANGES": f"1.0.0 2019-03-05\n  - added the scan of {NAME}",
    "description Acknowledgements": f"We thank {NAME} ({EMAIL}).",
}

#: Strings no released byte may hold (case-insensitive), with the planted place each stands for.
SEARCH = {
    "quimby": "the participant's family name (any spelling)",
    "jonathan": "the participant's given name",
    "wilhelmina": "the operator's name",
    "fudge": "the operator's family name",
    "smithers": "the name in the DICOM-style extension",
    EMAIL: "the e-mail address",
    "7946 0958": "the telephone number",
    BIRTH: "the birth date",
    "19560312": "the birth date, DICOM",
    VISIT[:10]: "the visit date",
    "20190304": "the visit date, DICOM",
    "04.03.2019": "the visit date, day first",
    "2019-03-05": "a date in CHANGES",
    "XZ-99812": "the Notes field",
    "SUBJ-REF-77123": "a nested custom field",
    "42 Planted Lane": "an inherited sidecar's address",
    "QMC-SITE-7781": "an undocumented participants column",
    "QMC-AUX-3341": "a NIfTI aux_file",
    "QMC-INT": "a NIfTI intent_name",
    "claustrophobia": "a sessions.tsv free-text note",
    "102231": "the acquisition time in descrip",
}


def _gzip(path: Path, data: bytes, fname: str, mtime: int = 1551694951) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(filename=fname, mode="wb", fileobj=raw, mtime=mtime) as fh:
        fh.write(data)


def _write_nifti(img: nib.Nifti1Image, path: Path, fname: str) -> None:
    plain = path.with_name(path.name[:-3])
    img.to_filename(plain)
    _gzip(path, plain.read_bytes(), fname)
    plain.unlink()


def make_hostile_dataset(root: Path, head: Path) -> Path:
    """Write the hostile dataset under ``root``; ``head`` is a real T1w head (a demo image)."""
    ses = root / "sub-01" / "ses-01"
    (ses / "anat").mkdir(parents=True)
    (ses / "func").mkdir()
    anat = nib.load(head)
    anat.header["descrip"] = PLANTED["anat descrip"].encode()
    anat.header.extensions.append(nib.nifti1.Nifti1Extension(6, f"PatientName={NAME_DICOM}".encode()))
    _write_nifti(anat, ses / "anat" / "sub-01_ses-01_T1w.nii.gz", "QUIMBY_JONATHAN_T1.nii")
    (ses / "anat" / "sub-01_ses-01_T1w.json").write_text(
        json.dumps(
            {
                "RepetitionTime": 2.3,
                "EchoTime": 0.00232,
                "FlipAngle": 8,
                "Manufacturer": "Siemens",
                "PatientName": NAME_DICOM,
                "AcquisitionDateTime": VISIT_DICOM,
                "Notes": PLANTED["sidecar Notes"],
                "CustomInfo": {"Subject": PLANTED["sidecar CustomInfo.Subject"], "Visit": 1},
                "OperatorName": OPERATOR,
                "SubjectName": NAME_DICOM,
            },
            indent=2,
        )
    )
    (ses / "anat" / "notes.txt").write_text(PLANTED["sub-folder notes"])
    bold = nib.Nifti1Image(
        np.random.default_rng(0).integers(0, 900, (16, 16, 10, 4)).astype(np.int16), np.diag([3.0, 3.0, 3.0, 1.0])
    )
    bold.header.set_xyzt_units("mm", "sec")
    bold.header["pixdim"][4] = 2.0
    for field in ("descrip", "aux_file", "intent_name"):
        bold.header[field] = PLANTED[f"func {field}"].encode()
    bold.header.extensions.append(nib.nifti1.Nifti1Extension(6, PLANTED["func comment extension"].encode()))
    bold.header.extensions.append(nib.nifti1.Nifti1Extension(2, PLANTED["func DICOM-style extension"].encode()))
    _write_nifti(bold, ses / "func" / "sub-01_ses-01_task-rest_bold.nii.gz", PLANTED["func gzip FNAME"])
    (ses / "func" / "sub-01_ses-01_task-rest_bold.json").write_text(
        json.dumps(
            {"RepetitionTime": 2.0, "TaskName": "rest", "PatientName": NAME_DICOM, "AcquisitionDateTime": VISIT_DICOM}
        )
    )
    (ses / "sub-01_ses-01_scans.tsv").write_text(
        "filename\tacq_time\toperator\n"
        f"anat/sub-01_ses-01_T1w.nii.gz\t{VISIT}\t{OPERATOR}\n"
        f"func/sub-01_ses-01_task-rest_bold.nii.gz\t{VISIT}\t{OPERATOR}\n"
    )
    (root / "sub-01" / "sub-01_sessions.tsv").write_text(
        f"session_id\tacq_time\tnote\nses-01\t{VISIT}\t{PLANTED['sessions note']}\n"
    )
    (root / "participants.tsv").write_text(
        f"participant_id\tage\tsex\tgroup\tname\tbirthdate\tsite_code\nsub-01\t34\tM\tcontrol\t{NAME}\t{BIRTH}\t"
        f"{PLANTED['participants undocumented site_code']}\n"
    )
    (root / "participants.json").write_text(
        json.dumps(
            {
                "age": {"Description": "age at scan", "Units": "year"},
                "group": {"Description": "study arm"},
                "name": {"Description": "full name"},
            },
            indent=2,
        )
    )
    (root / "T1w.json").write_text(
        json.dumps({"InstitutionName": PLANTED["inherited T1w.json InstitutionName"], "MagneticFieldStrength": 3})
    )
    (root / "task-rest_bold.json").write_text(
        json.dumps({"TaskName": "rest", "InstitutionAddress": PLANTED["inherited bold InstitutionAddress"]})
    )
    (root / "dataset_description.json").write_text(
        json.dumps(
            {
                "Name": "hostile",
                "BIDSVersion": "1.10.0",
                "DatasetType": "raw",
                "License": "CC0",
                "Authors": [AUTHOR],
                "Acknowledgements": PLANTED["description Acknowledgements"],
            },
            indent=2,
        )
    )
    (root / "README").write_text(PLANTED["README"] + "\n")
    (root / "CHANGES").write_text(PLANTED["CHANGES"] + "\n")
    (root / "code").mkdir()
    (root / "code" / "heuristic.py").write_text(f"if seq.patient_name == {NAME_DICOM!r}:\n    pass\n")
    (root / "extra").mkdir()
    (root / "extra" / "notes.txt").write_text(PLANTED["extra notes"])
    return root


def released_bytes(root: Path):
    """``(relative path, bytes)`` of every file under ``root``; gzip files as their header then their content."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        rel = path.relative_to(root).as_posix()
        if data[:2] == b"\x1f\x8b":
            yield f"{rel} (gzip header)", data[:512]
            data = gzip.decompress(data)
        yield rel, data


def leaks(root: Path, allowed=()) -> list[str]:
    """Every (file, searched string) where a released byte holds a planted value."""
    found = []
    for rel, data in released_bytes(root):
        lower = data.lower()
        for needle, what in SEARCH.items():
            if needle.lower().encode() in lower and (rel, needle) not in allowed:
                found.append(f"{rel}: {what} ({needle!r})")
    return found


def copy_head(demo_bids: Path, to: Path) -> Path:
    shutil.copy(demo_bids / "sub-01" / "anat" / "sub-01_T1w.nii.gz", to)
    return to
