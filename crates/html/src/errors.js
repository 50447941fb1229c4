// Counts this page's script errors, failed loads and console errors in <html data-errors>
// (read by the browser test; the page loads nothing, so it should stay 0).
(function () {
  "use strict";
  var root = document.documentElement;
  root.setAttribute("data-errors", "0");
  function note(text) {
    root.setAttribute("data-errors", String(Number(root.getAttribute("data-errors")) + 1));
    root.setAttribute("data-error-text", (root.getAttribute("data-error-text") || "") + text + "\n");
  }
  window.addEventListener("error", function (event) {
    var target = event.target || {};
    note("error: " + (event.message || target.src || target.href || "unknown"));
  }, true);
  window.addEventListener("unhandledrejection", function (event) { note("rejection: " + event.reason); });
  var consoleError = console.error;
  console.error = function () {
    note("console.error: " + Array.prototype.join.call(arguments, " "));
    return consoleError.apply(console, arguments);
  };
})();
