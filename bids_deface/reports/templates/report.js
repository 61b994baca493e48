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
