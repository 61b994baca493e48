/* Tabs for the methods boilerplate (nireports' markup, without bootstrap). */
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll('[data-bs-toggle="tab"]').forEach(function (button) {
    button.addEventListener("click", function () {
      var list = button.closest("ul");
      list.querySelectorAll("button").forEach(function (b) { b.classList.remove("active"); });
      button.classList.add("active");
      var target = document.querySelector(button.getAttribute("data-bs-target"));
      if (!target) { return; }
      Array.prototype.forEach.call(target.parentElement.children, function (pane) {
        pane.classList.remove("active", "show");
      });
      target.classList.add("active", "show");
    });
  });
});

/* Ratings: a person's decision per image, saved as sub-<label>_desc-ratings.json (no server). */
function bidsDefaceRatings() {
  var reviewer = document.getElementById("rating-reviewer");
  var ratings = [], subject = "";
  document.querySelectorAll("form.rating").forEach(function (form) {
    var chosen = form.querySelector('input[type="radio"]:checked');
    subject = subject || form.getAttribute("data-subject");
    if (!chosen) { return; }
    ratings.push({
      source_file: form.getAttribute("data-source-file"),
      rating: chosen.value,
      note: form.querySelector(".rating-note").value
    });
  });
  return {
    subject: subject,
    reviewer: reviewer ? reviewer.value : "",
    rated_at: new Date().toISOString(),
    ratings: ratings
  };
}
document.addEventListener("DOMContentLoaded", function () {
  var save = document.getElementById("rating-save");
  if (!save) { return; }
  save.addEventListener("click", function () {
    var data = bidsDefaceRatings();
    if (!data.reviewer) { document.getElementById("rating-reviewer").focus(); return; }
    var blob = new Blob([JSON.stringify(data, null, 2)], {type: "application/json"});
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "sub-" + data.subject + "_desc-ratings.json";
    document.body.appendChild(link);
    link.click();
    link.remove();
  });
});
