// The QR code the API draws (an SVG document from segno), made into elements one at a time.
//
// The page's policy leaves no way to hand markup to the browser: Trusted Types ('none')
// refuse DOMParser and innerHTML, and img-src 'self' refuses data: and blob: images. So this
// reads the few elements and attributes a drawing like it needs and builds them with
// createElementNS. An element outside that list (a script, a link, a foreign object) makes
// the whole drawing refused; an attribute outside it (an event handler, a style, an href) is
// left out.

const SVG_NS = "http://www.w3.org/2000/svg";
const ELEMENTS = new Set(["svg", "g", "path", "rect", "title", "desc"]);
const ATTRIBUTES = new Set([
  "class",
  "d",
  "fill",
  "fill-opacity",
  "fill-rule",
  "height",
  "shape-rendering",
  "stroke",
  "stroke-linecap",
  "stroke-opacity",
  "stroke-width",
  "transform",
  "version",
  "viewBox",
  "width",
  "x",
  "y",
]);
// Elements whose text is kept (as text): what the drawing says it is.
const TEXT_ELEMENTS = new Set(["title", "desc"]);

// One token at a time from where the last one ended ("y"): nothing is skipped unread.
const TOKEN = new RegExp(
  [
    /<\?[^]*?\?>/.source, // the XML declaration
    /<!--[^]*?-->/.source, // a comment
    /<!DOCTYPE[^>]*>/.source,
    /<\/([A-Za-z][\w.:-]*)\s*>/.source, // an end tag: 1 its name
    // a start tag: 2 its name, 3 its attributes (quoted values only), 4 "/" if self-closing
    /<([A-Za-z][\w.:-]*)((?:\s+[A-Za-z_:][\w.:-]*\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/.source,
    /([^<]+)/.source, // 5 text
  ].join("|"),
  "y",
);
const ATTRIBUTE = /([A-Za-z_:][\w.:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;
const ENTITY = /&(?:#(\d+)|#x([0-9A-Fa-f]+)|(amp|lt|gt|quot|apos));/g;
const NAMED = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decode(text) {
  return text.replace(ENTITY, (_, decimal, hex, name) =>
    name ? NAMED[name] : String.fromCodePoint(decimal ? Number(decimal) : parseInt(hex, 16)),
  );
}

/** The SVG element drawn by `text`; throws when it is anything but a plain drawing. */
export function svgFromText(text) {
  const stack = [];
  let root = null;
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    const at = TOKEN.lastIndex;
    const match = TOKEN.exec(text);
    if (!match) throw new Error(`Not a drawing this page can show (at character ${at}).`);
    const [, closing, opening, attributes, selfClosing, chars] = match;
    if (opening !== undefined) {
      // An <svg> first, and only there; the others inside it.
      const misplaced = root === null ? opening !== "svg" : opening === "svg" || !stack.length;
      if (!ELEMENTS.has(opening) || misplaced) {
        throw new Error(`Not a drawing this page can show (<${opening}>).`);
      }
      const element = document.createElementNS(SVG_NS, opening);
      for (const [, name, double, single] of attributes.matchAll(ATTRIBUTE)) {
        if (ATTRIBUTES.has(name)) element.setAttribute(name, decode(double ?? single));
      }
      if (root === null) root = element;
      else stack.at(-1).append(element);
      if (!selfClosing) stack.push(element);
    } else if (closing !== undefined) {
      if (stack.pop()?.localName !== closing) throw new Error("Not a drawing: unbalanced tags.");
    } else if (chars !== undefined && stack.length && TEXT_ELEMENTS.has(stack.at(-1).localName)) {
      stack.at(-1).append(decode(chars));
    }
    // The declaration, comments, a doctype and the white space between elements: nothing.
  }
  if (!root || stack.length) throw new Error("Not a drawing: no <svg>, or one left open.");
  // Scaled by the stylesheet: without a viewBox, a wider box would only add empty space.
  const width = parseFloat(root.getAttribute("width"));
  const height = parseFloat(root.getAttribute("height"));
  if (!root.hasAttribute("viewBox") && width > 0 && height > 0) {
    root.setAttribute("viewBox", `0 0 ${width} ${height}`);
  }
  return root;
}
