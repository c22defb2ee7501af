"use strict";
// The script every scripted page starts with (viz/page.py inlines it before the page's own). Text is
// always set as text (textContent, attributes), never parsed as HTML: it comes from the user's files.

// el("td", {class: "num", text: "3", onclick: f}, child, ...): an element, its attributes and children.
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}
const missing = (x) => x === null || x === undefined;
// One rule for a fraction as a percentage, so the same accuracy reads the same on every page.
const pct = (x, digits = 2) => (missing(x) ? "n/a" : (100 * x).toFixed(digits) + "%");
const grouped = (n) => (missing(n) ? "n/a" : Number(n).toLocaleString("en-US"));
const fixed = (x, digits) => (missing(x) ? "n/a" : x.toFixed(digits));
