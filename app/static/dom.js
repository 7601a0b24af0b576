/* Safe DOM building for untrusted text: answers, snippets, titles, headings.
 *
 * Everything from the server is text. Nodes are made with createElement + textContent only
 * (no innerHTML, no inline style or handlers); a link is made only from an http(s) URL of a
 * source, never from the model's text; no image is ever loaded from anywhere.
 */

const FORBIDDEN = /^(?:style|href|src|srcset|action|formaction|on.*)$/i;

/** el("p", {class: "x", text: "hello"}, child, "text", ...): attributes as strings, no markup. */
export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (FORBIDDEN.test(key)) throw new Error("refusing to set " + key); // links: sourceLink()
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/** A CSS-masked icon (the shapes are data: SVGs in style.css). */
export const icon = (name) => el("span", { class: "icon", "data-icon": name, "aria-hidden": "true" });

/** An absolute http(s) URL, or null: never javascript:, data:, blob: or a relative path. */
export function safeUrl(value) {
  if (typeof value !== "string" || !value) return null;
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** A link to a source's deep link that opens in a new tab without referrer or opener. */
export function sourceLink(url, label) {
  const safe = safeUrl(url);
  if (!safe) return null;
  const link = el("a", { target: "_blank", rel: "noopener noreferrer" }, label, " ", icon("link"));
  link.href = safe;
  return link;
}

export function formatDate(value) {
  if (!value) return "";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

export function formatDateTime(value) {
  if (!value) return "never";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** The snippet as text, with the cited span (if found in it) wrapped in <mark>. The span is
 * matched word for word across any whitespace (a quote joins a hard-wrapped line into one) and
 * without the "…" of a span cut short. */
export function highlightSnippet(node, snippet, span) {
  const words = (span || "").replace(/…$/, "").trim().split(/\s+/).filter(Boolean);
  const found = words.length ? new RegExp(words.map(escapeRegExp).join("\\s+")).exec(snippet) : null;
  if (!found) {
    node.textContent = snippet;
    return;
  }
  const at = found.index;
  const end = at + found[0].length;
  node.append(snippet.slice(0, at), el("mark", { text: snippet.slice(at, end) }), snippet.slice(end));
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// A little Markdown: paragraphs, - and 1. lists, **bold**, `code`; [n] markers become whatever
// `cite(n)` returns (a button), or stay text when it returns null. Markdown links and images in
// the model's text stay text.
const INLINE = /(\*\*[^*\n]+\*\*|`[^`\n]+`|\[\d{1,3}\])/g;
const BULLET = /^\s*(?:[-*•]|(\d{1,3})[.)])\s+/;

function renderInline(parent, text, cite) {
  for (const part of text.split(INLINE)) {
    if (!part) continue;
    const marker = /^\[(\d{1,3})\]$/.exec(part);
    const button = marker && cite ? cite(Number(marker[1])) : null;
    if (button) parent.append(button);
    else if (part.length > 4 && part.startsWith("**") && part.endsWith("**")) {
      parent.append(el("strong", { text: part.slice(2, -2) }));
    } else if (part.length > 2 && part.startsWith("`") && part.endsWith("`")) {
      parent.append(el("code", { text: part.slice(1, -1) }));
    } else {
      parent.append(document.createTextNode(part));
    }
  }
}

/** Replace the container's content with the rendered answer text. */
export function renderAnswer(container, text, cite) {
  container.replaceChildren();
  let paragraph = [];
  let list = null;
  const flush = () => {
    if (paragraph.length) {
      const p = el("p");
      renderInline(p, paragraph.join("\n"), cite);
      container.append(p);
    }
    paragraph = [];
  };
  for (const line of String(text).split("\n")) {
    const bullet = BULLET.exec(line);
    if (bullet) {
      flush();
      const kind = bullet[1] ? "ol" : "ul";
      if (!list || list.tagName.toLowerCase() !== kind) {
        list = el(kind);
        container.append(list);
      }
      const item = el("li");
      renderInline(item, line.slice(bullet[0].length), cite);
      list.append(item);
    } else if (!line.trim()) {
      flush();
      list = null;
    } else {
      list = null;
      paragraph.push(line);
    }
  }
  flush();
}
