// The recipients table: search and sort. Without scripts the table is complete and in order;
// these only add the search box and clickable headings.
(function () {
  "use strict";
  var table = document.getElementById("recipient-table");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
  var search = document.getElementById("search");
  var count = document.getElementById("search-count");

  Array.prototype.forEach.call(document.querySelectorAll("[data-js-only]"), function (element) {
    element.hidden = false;
  });

  function cellText(row, column) {
    return row.cells[column].textContent.trim();
  }

  function filter() {
    var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    rows.forEach(function (row) {
      var text = row.textContent.toLowerCase();
      var match = words.every(function (word) { return text.indexOf(word) !== -1; });
      row.hidden = !match;
      if (match) { shown += 1; }
    });
    count.textContent = words.length ? shown.toLocaleString() + " of " + rows.length.toLocaleString() + " shown" : "";
  }

  var pending = null;
  search.addEventListener("input", function () {
    clearTimeout(pending);
    pending = setTimeout(filter, rows.length > 2000 ? 120 : 0);
  });

  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (heading, column) {
    var kind = heading.getAttribute("data-sort");
    if (!kind) { return; }
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = heading.textContent;
    heading.textContent = "";
    heading.appendChild(button);
    button.addEventListener("click", function () {
      var ascending = heading.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) {
        other.removeAttribute("aria-sort");
      });
      heading.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var keyed = rows.map(function (row, index) {
        var text = cellText(row, column);
        return { row: row, index: index, key: kind === "number" ? Number(text) : text };
      });
      keyed.sort(function (a, b) {
        var order = kind === "number" ? a.key - b.key : collator.compare(a.key, b.key);
        return (ascending ? order : -order) || a.index - b.index;
      });
      var fragment = document.createDocumentFragment();
      keyed.forEach(function (item) { fragment.appendChild(item.row); });
      body.appendChild(fragment);
      rows = keyed.map(function (item) { return item.row; });
    });
  });
})();
