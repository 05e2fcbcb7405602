// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    // "/" focuses the query box (unless the user is already typing somewhere)
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    var tag = target && target.tagName ? target.tagName.toLowerCase() : "";
    if (tag === "input" || tag === "textarea" || tag === "select" || (target && target.isContentEditable)) return;
    var box = document.getElementById("q");
    if (box) {
      event.preventDefault();
      box.focus();
      box.select();
    }
  });
  // Changing the mode re-runs a search that is already on screen.
  var mode = document.getElementById("mode");
  var box = document.getElementById("q");
  if (mode && box && mode.form) {
    mode.addEventListener("change", function () {
      if (box.value.trim()) mode.form.submit();
    });
  }
})();
