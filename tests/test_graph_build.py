"""The participant graph builds for every option combination (build only, nothing runs: seconds)."""

from __future__ import annotations

import itertools

import nibabel as nib
import numpy as np
import pytest

from bids_deface.config import IMPACT_MODES, WorkflowConfig
from bids_deface.layout import AnatImage, SessionPlan
from bids_deface.methods.deface.removal import METHODS
from bids_deface.workflows.base import init_bids_deface_wf


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    """sub-01: one session with a T1w (reference) and a T2w; sub-02: a single PDw."""
    root = tmp_path_factory.mktemp("graph")

    def image(subject, session, suffix):
        rel = f"sub-{subject}/" + (f"ses-{session}/" if session else "") + "anat/"
        name = f"sub-{subject}" + (f"_ses-{session}" if session else "") + f"_{suffix}.nii.gz"
        path = root / rel / name
        path.parent.mkdir(parents=True, exist_ok=True)
        nib.Nifti1Image(np.ones((4, 4, 4), np.int16), np.eye(4)).to_filename(path)
        return AnatImage(path=path, relpath=rel + name, subject=subject, session=session, suffix=suffix)

    (root / "license.txt").write_text("a FreeSurfer licence")
    t1, t2, pd = image("01", "a", "T1w"), image("01", "a", "T2w"), image("02", None, "PDw")
    return root, [SessionPlan("01", "a", t1, (t1, t2)), SessionPlan("02", None, pd, (pd,))]


def _names(workflow) -> set[str]:
    return {node.fullname for node in workflow._create_flat_graph().nodes()}


@pytest.mark.parametrize(("method", "deear", "impact"), list(itertools.product(METHODS, (True, False), IMPACT_MODES)))
def test_graph_builds(plans, method, deear, impact):
    root, sessions = plans
    options = WorkflowConfig(method=method, deear=deear, impact=impact, fs_license_file=root / "license.txt")
    workflow = init_bids_deface_wf(
        sessions=sessions, output_dir=root / "out", work_dir=root / "work", options=options, sidecars={}
    )
    names = _names(workflow)
    registrations = [n for n in names if n.endswith(".register_template")]
    assert len(registrations) == 2  # one template registration per session
    assert sum(n.endswith(".coregister") for n in names) == 1  # only the T2w, not the references
    for key in ("sub_01_ses_a_T1w", "sub_01_ses_a_T2w", "sub_02_PDw"):
        image_nodes = {n.rsplit(".", 1)[-1] for n in names if f".{key}_wf." in n}
        assert {"deface", "face_qa", "metrics", "records"} <= image_nodes, key
        assert ("impact" in image_nodes) == (impact != "none"), key
        assert any("freesurfer" in n for n in image_nodes) == (impact == "freesurfer" and key.endswith("T1w")), key
    deface = next(node for node in workflow._create_flat_graph().nodes() if node.fullname.endswith("T2w_wf.deface"))
    assert (deface.inputs.method, deface.inputs.deear) == (method, deear)


def test_the_audit_graph_registers_every_image_on_its_own(plans):
    from bids_deface.cli.progress import count_nodes
    from bids_deface.workflows.audit import init_audit_wf

    root, sessions = plans
    images = [image for plan in sessions for image in plan.images]
    workflow = init_audit_wf(images=images, output_dir=root / "out", work_dir=root / "work", options=WorkflowConfig())
    names = _names(workflow)
    for image in images:
        prefix = f"bids_deface_audit_wf.sub_{image.subject}_wf.{image.key}_audit_wf."
        for node in ("register_template", "independent_brain", "audit_brain", "audit_face", "metrics", "ds_metrics"):
            assert prefix + node in names, prefix + node
    assert not any(n.endswith((".deface", ".coregister", ".impact")) for n in names)  # it defaces nothing
    _, per_subject = count_nodes(workflow)
    assert set(per_subject) == {"sub-01", "sub-02"}  # the progress lines name the participants
