(function () {
  "use strict";
  var panel = document.getElementById("detail");
  function show(index, cell) {
    var source = document.getElementById("detail-" + index);
    if (!panel || !source) { return; }
    panel.innerHTML = "";
    var close = document.createElement("button");
    close.className = "close";
    close.type = "button";
    close.textContent = "close";
    close.addEventListener("click", function () { panel.hidden = true; select(null); });
    panel.appendChild(close);
    panel.appendChild(source.cloneNode(true)).removeAttribute("id");
    panel.hidden = false;
    select(cell);
  }
  function select(cell) {
    var selected = document.querySelectorAll("a.cell.selected");
    for (var i = 0; i < selected.length; i++) { selected[i].classList.remove("selected"); }
    if (cell) { cell.classList.add("selected"); }
  }
  var cells = document.querySelectorAll("#grid a.cell");
  for (var i = 0; i < cells.length; i++) {
    cells[i].addEventListener("click", function (event) {
      event.preventDefault();
      show(this.getAttribute("data-index"), this);
    });
  }
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && panel) { panel.hidden = true; select(null); }
  });
  // #only=ID shows that element alone (one timeline, or the grid), e.g. for a screenshot.
  var only = /^#only=([A-Za-z0-9-]+)$/.exec(window.location.hash);
  if (only) {
    var element = document.getElementById(only[1]);
    if (element) { document.body.replaceChildren(element); }
  }
  document.documentElement.setAttribute("data-ready", "1");
})();
