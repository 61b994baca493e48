"""Open the participant and group reports in headless Chromium (Debian's ``chromium``).

A probe page loads each report in an iframe and, once it has loaded, lists every image
that did not decode, every ``<object>`` SVG that did not load, every resource fetched
from outside ``file://``, any ``<script>`` carrying planted text, and the computed
colour of each verdict banner. Script errors are read from Chromium's console log.
Screenshots go to ``$BIDS_DEFACE_SCREENSHOTS`` when set (else the test's temporary folder).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bids_deface.cli.run import main
from bids_deface.reports.participant import generate_participant_report
from bids_deface.reports.reportlets import plot_flicker, plot_removal_mosaic, plot_render_gallery

try:
    from .reports_fixtures import XSS, make_head, make_outputs, make_record, make_renders
except ImportError:  # tests/ is not a package
    from reports_fixtures import XSS, make_head, make_outputs, make_record, make_renders

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium, or `make test-tools`)"
    ),
]
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)
PAGES = ("sub-01.html", "sub-02.html", "group.html")

PROBE = """<!DOCTYPE html><html><body><pre id="result">pending</pre>
<iframe id="page" src="%(url)s" style="width:1280px;height:2000px"></iframe>
<script>
document.getElementById("page").addEventListener("load", function () {
  var doc = this.contentDocument, win = this.contentWindow, out = {missing: [], remote: [], planted: 0, verdicts: []};
  if (!doc) { document.getElementById("result").textContent = "NO-ACCESS"; return; }
  Array.prototype.forEach.call(doc.images, function (img) {
    if (!img.complete || img.naturalWidth === 0) { out.missing.push(img.getAttribute("src")); }
  });
  Array.prototype.forEach.call(doc.querySelectorAll("object"), function (obj) {
    var inner = null;
    try { inner = obj.contentDocument; } catch (e) { inner = null; }
    if (!inner || !inner.documentElement || inner.documentElement.nodeName.toLowerCase() !== "svg") {
      out.missing.push(obj.getAttribute("data"));
    }
  });
  win.performance.getEntriesByType("resource").forEach(function (entry) {
    if (entry.name.indexOf("file:") !== 0) { out.remote.push(entry.name); }
  });
  Array.prototype.forEach.call(doc.querySelectorAll("script"), function (s) {
    if (s.textContent.indexOf("alert(1)") >= 0) { out.planted += 1; }
  });
  Array.prototype.forEach.call(doc.querySelectorAll(".verdict"), function (v) {
    out.verdicts.push([v.className, win.getComputedStyle(v).backgroundColor]);
  });
  out.images = doc.images.length;
  out.objects = doc.querySelectorAll("object").length;
  document.getElementById("result").textContent = "CHECKED " + JSON.stringify(out);
});
</script></body></html>
"""


def chromium(args: list[str], user_data_dir: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run headless Chromium once (a fresh profile; logs on stderr)."""
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={user_data_dir}", "--enable-logging=stderr", "--v=0", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Two participants' reports and the group report, on fabricated outputs with real reportlets."""
    root = tmp_path_factory.mktemp("browser")
    head = make_head(root / "head")
    figures = root / "figures"
    figures.mkdir()
    made = {
        "flicker": plot_flicker(head["original"], head["defaced"], figures / "flicker.svg"),
        "removal": plot_removal_mosaic(head["original"], head["mask"], figures / "removal.svg"),
        "renders": plot_render_gallery(make_renders(head, root / "renders"), figures / "renders.png"),
    }
    records = [
        make_record("01", "01", "T1w", SeriesDescription=XSS),
        make_record("01", "01", "T2w", check_face=False, check_face_reason=f"face detected on yaw-000 {XSS}"),
        make_record("01", "02", "T1w", check_error=False, check_error_reason="register_template: diverged"),
        make_record("02", "", "T1w"),
    ]
    out = make_outputs(root / "out", made, records)
    for subject in ("01", "02"):
        generate_participant_report(out, subject, run_uuid="browser-test")
    (root / "bids").mkdir()
    (root / "bids" / "dataset_description.json").write_text('{"Name": "b", "BIDSVersion": "1.10.0"}')
    code = main([str(root / "bids"), str(out), "group", "-w", str(root / "work")])
    assert code == 1  # the injected face failure
    shots = Path(os.environ.get("BIDS_DEFACE_SCREENSHOTS") or root / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    return {"root": root, "out": out, "shots": shots}


def _probe(site, page: str) -> tuple[dict, str]:
    probe = site["root"] / f"probe_{page}"
    probe.write_text(PROBE % {"url": (site["out"] / page).as_uri()})
    result = chromium(
        ["--allow-file-access-from-files", "--virtual-time-budget=15000", "--dump-dom", probe.as_uri()],
        site["root"] / f"profile_{page}",
    )
    match = re.search(r"CHECKED (\{.*?\})</pre>", result.stdout)
    assert match, f"{page}: the probe did not finish ({result.stdout[-500:]!r}, {result.stderr[-2000:]!r})"
    return json.loads(match.group(1)), result.stderr


def _console_errors(stderr: str) -> list[str]:
    return [
        line for line in stderr.splitlines() if "CONSOLE" in line and re.search(r"Uncaught|Error|Failed to load", line)
    ]


@pytest.mark.parametrize("page", PAGES)
def test_report_loads_without_missing_resources_or_script_errors(site, page):
    found, stderr = _probe(site, page)
    assert found["missing"] == [], f"{page}: resources that did not load"
    assert found["remote"] == [], f"{page}: resources fetched from the network"
    assert found["planted"] == 0, f"{page}: a planted <script> became a script"
    assert _console_errors(stderr) == []
    if page == "sub-01.html":
        # per processed image: the flicker (an <object>, to animate), the removal mosaic and the renders
        assert found["objects"] == 2 and found["images"] == 4
    elif page == "sub-02.html":
        assert found["objects"] == 1 and found["images"] == 2
    else:
        assert found["images"] == 3  # status, confidence and impact figures


def test_verdict_banners_are_green_for_pass_and_red_for_fail(site):
    found, _ = _probe(site, "sub-01.html")
    colours = {cls.split("verdict-")[1]: rgb for cls, rgb in found["verdicts"]}
    assert set(colours) == {"pass", "fail"}
    r, g, b = map(int, re.findall(r"\d+", colours["pass"])[:3])
    assert g > r and g > b
    r, g, b = map(int, re.findall(r"\d+", colours["fail"])[:3])
    assert r > g and r > b


@pytest.mark.parametrize("page", PAGES)
def test_screenshot(site, page):
    shot = site["shots"] / f"{Path(page).stem}.png"
    chromium(
        [
            f"--screenshot={shot}",
            "--window-size=1280,2000",
            "--virtual-time-budget=15000",
            (site["out"] / page).as_uri(),
        ],
        site["root"] / f"shot_{page}",
    )
    assert shot.is_file() and shot.stat().st_size > 20_000, f"no screenshot of {page}"


def test_probe_catches_a_missing_figure(site):
    """The probe itself: a report whose figure file is gone must be caught."""
    broken = site["out"] / "broken.html"
    html = (site["out"] / "sub-02.html").read_text()
    broken.write_text(html.replace("</main>", '<img src="./sub-02/figures/gone.png" /></main>'))
    try:
        found, _ = _probe(site, "broken.html")
    finally:
        broken.unlink()
    assert found["missing"] == ["./sub-02/figures/gone.png"]


RATE = """<!DOCTYPE html><html><body><pre id="result">pending</pre>
<iframe id="page" src="%(url)s" style="width:1280px;height:2000px"></iframe>
<script>
document.getElementById("page").addEventListener("load", function () {
  var doc = this.contentDocument, win = this.contentWindow;
  doc.getElementById("rating-reviewer").value = "Ann Reviewer";
  doc.querySelectorAll("form.rating").forEach(function (form, i) {
    form.querySelector('input[value="' + (i === 0 ? "exclude" : "good") + '"]').click();
    form.querySelector(".rating-note").value = "looked at it";
  });
  document.getElementById("result").textContent = "RATED " + JSON.stringify(win.bidsDefaceRatings());
});
</script></body></html>
"""


def test_a_rating_made_in_the_browser_reaches_the_group_outputs(site, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(site["out"], out)
    probe = tmp_path / "rate.html"
    probe.write_text(RATE % {"url": (out / "sub-01.html").as_uri()})
    result = chromium(
        ["--allow-file-access-from-files", "--virtual-time-budget=15000", "--dump-dom", probe.as_uri()],
        tmp_path / "profile",
    )
    match = re.search(r"RATED (\{.*?\})</pre>", result.stdout)
    assert match, f"the rating probe did not finish ({result.stderr[-2000:]!r})"
    saved = json.loads(match.group(1).replace("&quot;", '"'))
    assert saved["subject"] == "01" and saved["reviewer"] == "Ann Reviewer"
    assert [r["rating"] for r in saved["ratings"]] == ["exclude"] + ["good"] * (len(saved["ratings"]) - 1)
    (out / "sub-01_desc-ratings.json").write_text(json.dumps(saved))  # where the reviewer saves the download
    main([str(site["root"] / "bids"), str(out), "group", "-w", str(tmp_path / "work")])
    summary = json.loads((out / "group_summary.json").read_text())
    assert summary["ratings"]["n_rated"] == len(saved["ratings"]) == 2  # sub-01 has 2 processed images, 1 error
    assert summary["ratings"]["exclude"] == 1 and summary["ratings"]["rated_by"] == ["Ann Reviewer"]
    assert "by Ann Reviewer" in (out / "group.html").read_text()
