"""Methods boilerplate with citations: CITATION.md at the output root, logs/CITATION.html.

The text describes what this run did (method, template, margins, checks), so that a
paper can paste it unchanged. nireports' ``boilerplate`` reportlet shows the files in
``logs/`` in the participant report.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from pathlib import Path

from .. import __version__
from ..methods.io import atomic_path

LOGGER = logging.getLogger(__name__)

#: Cited works: key -> (markdown reference, DOI or URL).
REFERENCES = {
    "bids_deface": (
        "The bids_deface developers. bids_deface: a BIDS App that defaces structural MRI and proves it.",
        "https://github.com/bids-deface/bids_deface",
    ),
    "bids": (
        "Gorgolewski KJ et al. (2016). The brain imaging data structure, a format for organizing and "
        "describing outputs of neuroimaging experiments. Scientific Data 3:160044.",
        "https://doi.org/10.1038/sdata.2016.44",
    ),
    "pydeface": (
        "Gulban OF et al. (2019). poldracklab/pydeface: v2.0.0. Zenodo.",
        "https://doi.org/10.5281/zenodo.3524401",
    ),
    "ants": (
        "Avants BB, Epstein CL, Grossman M, Gee JC (2008). Symmetric diffeomorphic image registration with "
        "cross-correlation. Medical Image Analysis 12(1):26-41.",
        "https://doi.org/10.1016/j.media.2007.06.004",
    ),
    "antspy": (
        "Tustison NJ et al. (2021). The ANTsX ecosystem for quantitative biological and medical imaging. "
        "Scientific Reports 11:9068.",
        "https://doi.org/10.1038/s41598-021-87564-6",
    ),
    "dlib": (
        "King DE (2009). Dlib-ml: A machine learning toolkit. Journal of Machine Learning Research 10:1755-1758.",
        "https://jmlr.org/papers/v10/king09a.html",
    ),
    "opencv": ("Bradski G (2000). The OpenCV Library. Dr. Dobb's Journal of Software Tools.", "https://opencv.org"),
    "dicom": (
        "DICOM PS3.15 2024, Annex E: Attribute Confidentiality Profiles. NEMA.",
        "https://dicom.nema.org/medical/dicom/current/output/chtml/part15/chapter_E.html",
    ),
    "nipype": (
        "Gorgolewski K et al. (2011). Nipype: a flexible, lightweight and extensible neuroimaging data "
        "processing framework in Python. Frontiers in Neuroinformatics 5:13.",
        "https://doi.org/10.3389/fninf.2011.00013",
    ),
    "nibabel": (
        "Brett M et al. NiBabel: access a cacophony of neuro-imaging file formats. Zenodo.",
        "https://doi.org/10.5281/zenodo.591597",
    ),
    "nilearn": (
        "Abraham A et al. (2014). Machine learning for neuroimaging with scikit-learn. Frontiers in "
        "Neuroinformatics 8:14.",
        "https://doi.org/10.3389/fninf.2014.00014",
    ),
    "nireports": (
        "Esteban O et al. (2019). fMRIPrep: a robust preprocessing pipeline for functional MRI. Nature "
        "Methods 16:111-116 (NiReports visual reports).",
        "https://doi.org/10.1038/s41592-018-0235-4",
    ),
}

_METHOD_TEXT = {
    "deface": "voxels of the face{ears} were set to zero",
    "reface": "voxels of the face{ears} were replaced with the template's",
    "shear": "voxels in front of and below a plane under the brain were set to zero",
}


def _options(options) -> dict:
    if options is None:
        return {}
    if dataclasses.is_dataclass(options):
        return dataclasses.asdict(options)
    return dict(options)


def methods_markdown(options: Mapping | object | None = None, *, version: str = __version__) -> str:
    """The methods paragraph (markdown, with ``[@key]`` citations and a reference list).

    Parameters
    ----------
    options
        The run's workflow options (:class:`bids_deface.config.WorkflowConfig` or a dict):
        ``method``, ``template``, ``deear``, ``brain_margin_mm``,
        ``registration_resolution_mm``, ``impact``, ``scrub``.
    version
        The bids_deface version to cite.
    """
    opts = _options(options)
    method = str(opts.get("method", "deface"))
    ears = " and ears" if opts.get("deear", True) else ""
    removal = _METHOD_TEXT.get(method, f"the {method} method was applied").format(ears=ears)
    template = str(opts.get("template", "pydeface"))
    margin = opts.get("brain_margin_mm", 6.0)
    resolution = opts.get("registration_resolution_mm", 4.0)
    impact = str(opts.get("impact", "fast"))
    scrub = str(opts.get("scrub", "default"))
    paragraphs = [
        f"Structural images were defaced with *bids_deface* {version} [@bids_deface], a BIDS App [@bids] built "
        "on Nipype [@nipype], NiBabel [@nibabel] and Nilearn [@nilearn]. In each session, a reference image "
        f"(preferably T1-weighted) was registered to the *{template}* head template [@pydeface] with an affine "
        f"transform estimated by ANTs [@ants; @antspy] from several initialisations on {resolution} mm copies "
        "of the images. The template's face" + (", ear" if ears else "") + " and brain masks were carried to "
        "each image's own grid through that transform and, for the other images of the session, a rigid "
        f"co-registration to the reference. The removal mask excluded the brain mask dilated by {margin} mm, "
        f"so that no brain tissue could be removed; within it, {removal}. Voxels outside the removal mask were "
        "left bit-for-bit unchanged.",
        "Each defaced image was checked: the head surface of the original and defaced images was rendered "
        "from the front and from oblique views, and faces and facial landmarks were sought on every render "
        "with dlib [@dlib] and OpenCV [@opencv]; an image passed when no face was found on its defaced renders, "
        "no brain voxel had been removed and the template registration was judged successful.",
    ]
    if impact != "none":
        paragraphs.append(
            f"The impact of defacing on downstream processing (*{impact}* mode) was measured by running brain "
            "extraction, tissue classification and template registration on the original and defaced images "
            "and comparing their overlaps, volumes and displacements."
        )
    if scrub != "none":
        paragraphs.append(
            f"Identifying metadata were removed from JSON sidecars and NIfTI headers (*{scrub}* policy, after "
            "the DICOM PS3.15 Annex E confidentiality profiles [@dicom])."
        )
    paragraphs.append("Visual reports were generated with NiReports [@nireports].")
    cited = [key for key in REFERENCES if f"@{key}" in "\n".join(paragraphs)]
    references = "\n".join(f"{i}. [{key}] {REFERENCES[key][0]} {REFERENCES[key][1]}" for i, key in enumerate(cited, 1))
    return "\n\n".join(paragraphs) + "\n\n### References\n\n" + references + "\n"


def markdown_to_html(text: str) -> str:
    """Render :func:`methods_markdown` output as a small HTML document (escaped).

    Only the subset the boilerplate uses: paragraphs, ``*emphasis*``, ``### headings``,
    numbered references with ``<links>``.
    """
    from markupsafe import Markup, escape

    blocks = []
    for block in text.strip().split("\n\n"):
        if block.startswith("### "):
            blocks.append(Markup("<h3>{}</h3>").format(block[4:]))
        elif re.match(r"^\d+\. ", block):
            items = []
            for line in block.splitlines():
                line = re.sub(r"^\d+\. ", "", line)
                match = re.match(r"^(.*?)\s*(https?://\S+)$", line)
                body, link = (match.group(1), match.group(2)) if match else (line, "")
                item = _inline(escape(body))
                if link:
                    item += Markup(' <a href="{0}">{0}</a>').format(link)
                items.append(Markup("<li>{}</li>").format(item))
            blocks.append(Markup("<ol>{}</ol>").format(Markup("").join(items)))
        else:
            blocks.append(Markup("<p>{}</p>").format(_inline(escape(block))))
    body = Markup("\n").join(blocks)
    return f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Methods</title></head><body>\n{body}\n</body></html>\n'


def _inline(text):
    from markupsafe import Markup

    return Markup(re.sub(r"\*([^*]+)\*", r"<em>\1</em>", str(text)))


def write_citation(
    output_dir: str | Path, options: Mapping | object | None = None, *, version: str = __version__
) -> Path:
    """Write CITATION.md at the output root and logs/CITATION.html; return the root file.

    nireports' boilerplate reportlet inlines every ``logs/CITATION.*`` it finds without
    escaping; only the HTML version (escaped here) is put there.
    """
    output_dir = Path(output_dir)
    text = methods_markdown(options, version=version)
    root_md = output_dir / "CITATION.md"
    header = "# Methods boilerplate (bids_deface)\n\nCopy this text unchanged (CC0) into your methods section.\n\n"
    for path, content in ((root_md, header + text), (output_dir / "logs" / "CITATION.html", markdown_to_html(text))):
        with atomic_path(path) as tmp:
            tmp.write_text(content, encoding="utf-8")
    LOGGER.debug("methods boilerplate written to %s", root_md)
    return root_md


__all__ = ["REFERENCES", "markdown_to_html", "methods_markdown", "write_citation"]
