"""Identifying text in NIfTI files: header text fields, header extensions, gzip header names.

A ``.nii.gz`` written by a converter can carry the original file name (often the
patient's name or the series description) and a time stamp in its gzip header, besides
the header text fields (``descrip`` holds acquisition times) and extensions (whole DICOM
headers, comments).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
from pathlib import Path

import nibabel as nib

from ..io import atomic_path, raw_data, stored_header, write_raw
from .policy import PLACEHOLDERS, ScrubPolicy

#: NIfTI-1 header text fields cleared by :func:`scrub_nifti` (``data_type`` is an unused
#: ANALYZE 7.5 leftover that can hold text as well).
NIFTI_TEXT_FIELDS = ("descrip", "aux_file", "db_name", "intent_name", "data_type")
_GZIP_MAGIC = b"\x1f\x8b"
_FTEXT, _FHCRC, _FEXTRA, _FNAME, _FCOMMENT = 1, 2, 4, 8, 16


def scrub_nifti(img: nib.Nifti1Image, policy: ScrubPolicy) -> tuple[nib.Nifti1Image, list[str]]:
    """Clear the free-text header fields and drop the header extensions.

    The data object is reused as is (same dtype, stored values, scaling); affines,
    qform/sform codes, units and every other header field are unchanged. On a header
    read from disk nibabel leaves ``scl_slope``/``scl_inter`` as NaN (the proxy keeps
    them): they are restored from the proxy, so that writing the stored values with
    the returned header (:func:`bids_deface.methods.io.write_raw`) is exact.

    Returns
    -------
    img, changed
        A new image (the input is not modified) and the cleared field names
        (``descrip``, ``aux_file``, ``db_name``, ``intent_name``, ``data_type``,
        ``extensions``), only those that held something.
    """
    if policy.level == "none":
        return img, []
    header = stored_header(img)
    changed = []
    for field in NIFTI_TEXT_FIELDS:
        if policy.keeps(field):
            continue
        if bytes(header[field].item()).strip(b"\x00 "):
            changed.append(field)
        header[field] = b""
    if len(header.extensions) and not policy.keeps("extensions"):
        changed.append("extensions")
        header.extensions.clear()
    clean = img.__class__(img.dataobj, img.affine, header=header, extra=img.extra)
    for field in ("sform_code", "qform_code", "scl_slope", "scl_inter"):
        clean.header[field] = header[field]  # the constructor must not have touched them
    return clean, changed


def nifti_identifying_values(img: nib.Nifti1Image, changed: list[str]) -> list[str]:
    """The original text of the cleared header fields and of text extensions' values.

    A text extension (a comment, ``key=value`` lines) contributes each value; binary
    extensions (an embedded DICOM header) are dropped whole but not searched for.
    """
    values: list[str] = []

    def add(text: str) -> None:
        text = text.strip()
        if text.lower() not in PLACEHOLDERS and text not in values:
            values.append(text)

    for field in changed:
        if field in NIFTI_TEXT_FIELDS:
            add(bytes(img.header[field].item()).split(b"\x00")[0].decode("latin-1"))
    if "extensions" in changed:
        for extension in img.header.extensions:
            content = extension.get_content()
            content = content if isinstance(content, bytes) else str(content).encode("utf-8", "replace")
            text = content.rstrip(b"\x00").decode("latin-1")
            if text and sum(ch.isprintable() or ch in "\r\n\t" for ch in text) / len(text) > 0.95:
                for part in re.split(r"[\r\n;]+", text):
                    add(re.split(r"[=:]", part, maxsplit=1)[-1])
    return values


def gzip_names(path: str | os.PathLike) -> tuple[bytes, bytes, int]:
    """The gzip header's file name, comment and time stamp (``b""``, ``b""``, 0 if none)."""
    with open(path, "rb") as fh:
        head = fh.read(64 * 1024)
    if head[:2] != _GZIP_MAGIC or len(head) < 10:
        return b"", b"", 0
    flags, mtime = head[3], struct.unpack("<I", head[4:8])[0]
    pos = 10
    if flags & _FEXTRA:
        pos += 2 + struct.unpack("<H", head[pos : pos + 2])[0]
    name = comment = b""
    if flags & _FNAME:
        end = head.index(b"\x00", pos)
        name, pos = head[pos:end], end + 1
    if flags & _FCOMMENT:
        end = head.index(b"\x00", pos)
        comment = head[pos:end]
    return name, comment, mtime


def copy_without_gzip_names(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy a file atomically; a gzip file loses its header's name, comment, extra field and time.

    The compressed stream is copied byte for byte (the CRC covers the uncompressed data,
    not the header), so this costs a copy, not a recompression. Other files are copied
    as they are. The result gets the usual file mode (umask), not the source's.
    """
    src, dst = Path(src), Path(dst)
    with open(src, "rb") as fh, atomic_path(dst) as tmp, open(tmp, "wb") as out:
        head = fh.read(10)
        if head[:2] == _GZIP_MAGIC and len(head) == 10:
            flags = head[3]
            if flags & _FEXTRA:
                fh.read(struct.unpack("<H", fh.read(2))[0])
            for flag in (_FNAME, _FCOMMENT):
                if flags & flag:
                    while fh.read(1) not in (b"\x00", b""):
                        pass
            if flags & _FHCRC:
                fh.read(2)
            # ID1 ID2 CM, flags without names/extra/header CRC, MTIME 0, XFL, OS 255 (unknown)
            out.write(head[:3] + bytes([flags & _FTEXT]) + b"\x00\x00\x00\x00" + head[8:9] + b"\xff")
        else:
            out.write(head)
        shutil.copyfileobj(fh, out, 16 * 1024 * 1024)
    return dst


def scrub_nifti_file(
    src: str | os.PathLike, dst: str | os.PathLike, policy: ScrubPolicy
) -> tuple[list[str], list[str]]:
    """Write ``src`` to ``dst`` with its header scrubbed and no name in its gzip header.

    Only when a header field or extension changes are the stored voxel values rewritten
    (:func:`~bids_deface.methods.io.write_raw`, exact); otherwise the file is copied
    with :func:`copy_without_gzip_names`.

    Returns
    -------
    changed, values
        The cleared header fields and their original text (for the leftover scan).
    """
    img = nib.load(src)
    clean, changed = scrub_nifti(img, policy)
    values = nifti_identifying_values(img, changed)
    if changed:
        write_raw(dst, clean.header, raw_data(clean))
    else:
        copy_without_gzip_names(src, dst)
    return changed, values
