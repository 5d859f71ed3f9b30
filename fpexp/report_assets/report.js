"use strict";
(function () {
  const table = document.getElementById("runs");
  const body = table.tBodies[0];
  const filter = document.getElementById("filter");
  const count = document.getElementById("count");
  const total = body.rows.length;

  function value(row, col) {
    const cell = row.cells[col];
    const num = cell.getAttribute("data-n");
    return num === null ? cell.textContent : Number(num);
  }

  function compare(a, b) {
    if (typeof a === "number" && typeof b === "number") return a < b ? -1 : a > b ? 1 : 0;
    if (typeof a === "number") return -1;
    if (typeof b === "number") return 1;
    return a.localeCompare(b, undefined, { numeric: true });
  }

  function sortBy(th) {
    const col = th.cellIndex;
    const dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    for (const other of th.parentNode.cells) other.removeAttribute("aria-sort");
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    const rows = Array.from(body.rows);
    rows.sort(function (r, s) {
      const a = value(r, col), b = value(s, col);
      if (a === "" || b === "") return (a === "") - (b === "");  // missing last either way
      return dir * compare(a, b);
    });
    for (const row of rows) body.appendChild(row);
  }

  function applyFilter() {
    const terms = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const row of body.rows) {
      const text = row.textContent.toLowerCase();
      row.hidden = !terms.every(function (t) { return text.includes(t); });
      if (!row.hidden) shown += 1;
    }
    count.textContent = shown + " of " + total + " runs";
  }

  for (const th of table.tHead.rows[0].cells) {
    th.querySelector("button").addEventListener("click", function () { sortBy(th); });
  }
  filter.addEventListener("input", applyFilter);
  applyFilter();

  // a link to a run's record opens it
  const openTarget = function () {
    const target = location.hash && document.getElementById(location.hash.slice(1));
    if (target && target.tagName === "DETAILS") target.open = true;
  };
  window.addEventListener("hashchange", openTarget);
  openTarget();

  const pick = document.getElementById("layer-run");
  if (pick) {
    const views = document.querySelectorAll(".layer-view");
    const show = function () {
      for (const view of views) view.hidden = view.getAttribute("data-run") !== pick.value;
    };
    pick.addEventListener("change", show);
    show();
  }
})();
