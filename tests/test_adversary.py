"""The adversary dataset on a small real head: participant, group and release for real, then
every byte of the output folder and of the release searched for every planted value.

The promise differs by folder (docs/guarantees.rst):

* **release**: no planted value in any byte (decompressed images and gzip headers, every
  table and text), except what the policy keeps on purpose and ``release_summary.json`` lists
  (the dataset's ``Authors``; values of documented, BIDS-defined columns);
* **output folder** (not for sharing: face renders and source names): no planted metadata
  value in any byte either: sidecars, headers, records, reports (HTML, SVG, PNG text chunks),
  logs and crash files carry field names, never the values;
* **both**: HTML/JS planted in kept sidecar values, the dataset's name, table values and a
  ratings file are escaped in every report; ``../`` in them never writes outside the two folders.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from datetime import datetime, timezone

import nibabel as nib
import pytest
from cli_run import run_logged
from fault_kit import small_head
from guarantees import outcome
from hostile import NAME_DICOM, SEARCH, make_hostile_dataset

pytestmark = [pytest.mark.heads, pytest.mark.slow, pytest.mark.xdist_group("adversary")]

XSS = {
    "Manufacturer": "<script>alert('XSSMANUF')</script>",
    "SoftwareVersions": "<img src=x onerror=\"alert('XSSSOFT')\">",
    "ManufacturersModelName": "../../../../XSSPATHMODEL",
    "Name": "<script>alert('XSSNAME')</script>/../../XSSPATHNAME",
    "group": "<b onmouseover=alert('XSSGROUP')>control</b>",
    "reviewer": "<script>alert('XSSREVIEWER')</script>",
    "note": "<img src=x onerror=alert('XSSNOTE')>../../XSSPATHNOTE",
    "scans filename": "../../../XSSPATHSCANS.nii.gz",
}
#: planted here on top of tests/hostile.py's places
MORE = {
    "QMC-DB-5512": "anat NIfTI db_name",
    "QMC-AUXANAT": "anat NIfTI aux_file",
    "QMC-INTA": "anat NIfTI intent_name",
    "ZEBEDEE": "anat DICOM-style header extension (code 2), a patient name element",
    "NESTED-LIST-4471": "a value nested in a list of objects in a sidecar",
}
#: spellings searched for that were never planted (what a careless copy would write)
ALTERNATE = {"19560312", "04.03.2019"}
KEPT = {"authorsdottir": "dataset_description Authors (kept on purpose, listed)"}


def _dicom_extension(name: str) -> bytes:
    """A DICOM-style extension: the preamble marker then one explicit-VR (0010,0010) PN element."""
    value = name.encode() + (b" " if len(name) % 2 else b"")
    return b"DICM" + struct.pack("<HH2sH", 0x0010, 0x0010, b"PN", len(value)) + value


def _plant(bids):
    anat = bids / "sub-01" / "ses-01" / "anat" / "sub-01_ses-01_T1w.nii.gz"
    img = nib.load(anat)
    img = nib.Nifti1Image(img.get_fdata(dtype="float32").astype("int16"), img.affine, img.header)
    img.header["db_name"] = b"QMC-DB-5512"
    img.header["aux_file"] = b"QMC-AUXANAT"
    img.header["intent_name"] = b"QMC-INTA"
    img.header.extensions.append(nib.nifti1.Nifti1Extension(2, _dicom_extension("ZEBEDEE^QUIMBY")))
    img.to_filename(anat)
    sidecar = anat.with_name(anat.name.replace(".nii.gz", ".json"))
    meta = json.loads(sidecar.read_text())
    meta["CustomInfo"]["Visits"] = [{"Operator": "NESTED-LIST-4471"}]
    meta.update({k: XSS[k] for k in ("Manufacturer", "SoftwareVersions", "ManufacturersModelName")})
    sidecar.write_text(json.dumps(meta, indent=2))
    description = json.loads((bids / "dataset_description.json").read_text())
    description["Name"] = XSS["Name"]
    (bids / "dataset_description.json").write_text(json.dumps(description, indent=2))
    participants = (bids / "participants.tsv").read_text().replace("\tcontrol\t", f"\t{XSS['group']}\t")
    (bids / "participants.tsv").write_text(participants)
    scans = bids / "sub-01" / "ses-01" / "sub-01_ses-01_scans.tsv"
    scans.write_text(scans.read_text() + f"{XSS['scans filename']}\t2019-03-04T10:22:31\tnobody\n")


def _png_text(data: bytes) -> bytes:
    """The text of a PNG's tEXt, zTXt and iTXt chunks (decompressed)."""
    texts, at = [], 8
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        body = data[at + 8 : at + 8 + length]
        if kind == b"tEXt":
            texts.append(body)
        elif kind == b"zTXt":
            key, _, rest = body.partition(b"\0")
            texts.append(key + b"\0" + zlib.decompress(rest[1:]))
        elif kind == b"iTXt":
            key, _, rest = body.partition(b"\0")
            compressed, rest = rest[0], rest[2:]
            _lang, _, rest = rest.partition(b"\0")
            _tkey, _, text = rest.partition(b"\0")
            texts.append(key + b"\0" + (zlib.decompress(text) if compressed else text))
        at += 12 + length
    return b"\n".join(texts)


def every_byte(root):
    """``(relative path, bytes)``: each file, its gzip header and decompressed content, a PNG's text chunks."""
    import gzip

    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel, data = path.relative_to(root).as_posix(), path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            yield f"{rel} (gzip header)", data[:512]
            data = gzip.decompress(data)
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            yield f"{rel} (PNG text)", _png_text(data)
        yield rel, data


def search(root, needles) -> list[str]:
    found = []
    for rel, data in every_byte(root):
        lower = data.lower()
        found += [f"{rel}: {what} ({needle!r})" for needle, what in needles.items() if needle.lower().encode() in lower]
    return found


@pytest.fixture(scope="module")
def adversary(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("adversary")
    head = root / "head.nii.gz"
    small_head(shared_data).to_filename(head)
    bids = make_hostile_dataset(root / "bids", head)
    _plant(bids)
    out, release = root / "out", root / "release"
    common = ["--skip-bids-validation", "-w", str(root / "work")]
    participant, _ = run_logged([str(bids), str(out), "participant", "--impact", "none", "--nprocs", "2", *common])
    source = "sub-01/ses-01/anat/sub-01_ses-01_T1w.nii.gz"
    (out / "sub-01_desc-ratings.json").write_text(
        json.dumps(
            {
                "subject": "01",
                "reviewer": XSS["reviewer"],
                "rated_at": datetime.now(timezone.utc).isoformat(),
                "ratings": [{"source_file": source, "rating": "good", "note": XSS["note"]}],
            }
        )
    )
    group, _ = run_logged([str(bids), str(out), "group", "--release-dir", str(release), *common])
    outside = sorted(p.relative_to(root).as_posix() for p in root.parent.rglob("*XSSPATH*"))
    return {
        "root": root,
        "bids": bids,
        "out": out,
        "release": release,
        "codes": (participant, group),
        "summary": json.loads((out / "release_summary.json").read_text()),
        "outside": outside,
    }


def test_adversary_run_ends_and_releases(adversary):
    assert adversary["codes"] in ((0, 0), (4, 0)), adversary["codes"]
    assert (adversary["release"] / "dataset_description.json").is_file()


def _values():
    return {**SEARCH, **MORE, NAME_DICOM: "the DICOM-style name"}


def test_the_search_finds_every_planted_value_in_the_input(adversary):
    """The search itself works: each value is found in the input dataset, where it was planted."""
    planted = {k: v for k, v in {**_values(), **KEPT}.items() if k not in ALTERNATE}
    found = {hit.rsplit("(", 1)[1].rstrip(")") for hit in search(adversary["bids"], planted)}
    assert found == {repr(v) for v in planted}, sorted({repr(v) for v in planted} - found)


def test_no_planted_value_in_the_release(adversary):
    leaks = search(adversary["release"], _values())
    kept = search(adversary["release"], KEPT)
    listed = {(k["file"], k["field"]) for k in adversary["summary"]["kept_on_purpose"]}
    assert ("dataset_description.json", "Authors") in listed
    assert [k.split(":")[0] for k in kept] == ["dataset_description.json"]
    outcome(
        "adversary-release",
        f"{len(leaks)} planted value(s) found; kept on purpose and listed: "
        + ", ".join(sorted(f"{f} {n}" for f, n in listed if f == "dataset_description.json")),
    )


def test_no_planted_value_in_the_output_folder(adversary):
    leaks = search(adversary["out"], {**_values(), **KEPT})
    assert list((adversary["out"] / "logs").rglob("*.log")), "no log to search"
    outcome("adversary-output", f"{len(leaks)} planted value(s) found" + (f": {leaks}" if leaks else ""))


def test_html_and_paths_are_escaped_and_stay_inside(adversary):
    from markupsafe import escape

    raw, reached, pages = [], set(), 0
    for folder in (adversary["out"], adversary["release"]):
        for path in sorted(folder.rglob("*")):
            if path.suffix not in (".html", ".svg", ".htm") or not path.is_file():
                continue
            pages += 1
            text = path.read_text(encoding="utf-8")
            raw += [f"{path.name}: {p!r}" for p in XSS.values() if re.search(r"[<>]", p) and p in text]
            raw += [f"{path.name}: <script> with a planted alert" for _ in re.findall(r"<script>alert\('XSS", text)]
            reached |= {key for key, p in XSS.items() if re.search(r"[<>]", p) and str(escape(p)) in text}
    assert pages >= 3
    observed = f"{len(raw)} unescaped payload(s) in {'' if raw else 'any '}report "
    observed += f"({', '.join(sorted(reached)) or 'none'} shown escaped); "
    observed += f"{len(adversary['outside'])} file(s) written outside the output and release folders"
    outcome("adversary-escape", observed)
