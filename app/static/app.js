/* Hearth chat page: ask, stream, cite, stop, exclude and regenerate, conversations, feedback,
 * About and sign-in. No framework. Untrusted text goes through dom.js (text nodes only); requests
 * and identity through api.js. Works under `script-src 'self'` and `style-src 'self'`.
 */
import { api, apiKey, ApiError, request, serverEvents, setApiKey, whenUnauthorized } from "./api.js";
import { el, formatDate, formatDateTime, highlightSnippet, icon, renderAnswer, sourceLink } from "./dom.js";

const $ = (id) => document.getElementById(id);

const ui = {
  topbar: document.querySelector(".topbar"), chat: $("chat"), skipLink: document.querySelector(".skip-link"),
  nav: $("nav"), toggleNav: $("toggle-nav"), closeNav: $("close-nav"), scrim: $("scrim"),
  list: $("conversation-list"), listEmpty: $("conversation-empty"), listError: $("conversation-error"),
  notice: $("notice"), limit: $("question-limit"),
  title: $("conversation-title"), actions: $("conversation-actions"),
  welcome: $("welcome"), scroll: $("chat-scroll"), messages: $("messages"),
  form: $("ask-form"), question: $("question"), ask: $("ask"), stop: $("stop"),
  sources: $("sources"), sourcesTitle: $("sources-title"), sourcesIntro: $("sources-intro"),
  sourceList: $("source-list"), sourcesFoot: $("sources-foot"), regenerate: $("regenerate"),
  closeSources: $("close-sources"), announcer: $("announcer"),
  signinButton: $("open-signin"), signinDialog: $("signin-dialog"), signinForm: $("signin-form"),
  signinMessage: $("signin-message"), apiKey: $("api-key"),
  aboutDialog: $("about-dialog"), aboutList: $("about-list"), aboutNetwork: $("about-network"),
  renameDialog: $("rename-dialog"), renameForm: $("rename-form"), renameInput: $("rename-input"),
  renameError: $("rename-error"),
  deleteDialog: $("delete-dialog"), deleteForm: $("delete-form"), deleteMessage: $("delete-message"),
  deleteError: $("delete-error"),
};

const state = {
  conversationId: null,
  conversations: [],
  exchanges: [], // {question, exclude, article, body, sources, citations, answer, messageId}
  shown: null, // the exchange whose sources are in the panel
  controller: null, // AbortController of the answer being streamed
  pendingAsk: null, // a question to send again after signing in
  adopting: null, // finding the conversation the server stored for a stopped first answer
  listFailed: false, // the last refresh of the conversation list failed: it shows the one before
  pasteCut: false, // a paste was cut at the question box's maxlength
  limitSaid: null, // what was last announced of it ("cut", "full")
  drawerOpener: null, // the control that opened a drawer: Escape takes focus back to it
};

/** Say something to screen readers (the visually hidden status line). */
function announce(text) {
  ui.announcer.textContent = "";
  window.setTimeout(() => { ui.announcer.textContent = text; }, 50);
}

/** Show (and announce) a message in a visible line: the notice under the chat's title, an
 * error line in a dialog or the conversation list; "" hides it. */
function tell(node, text) {
  node.textContent = text;
  node.hidden = !text;
  if (text) announce(text);
}

/** An API failure in words for a person: the server's own sentence, or plainly for a gone
 * conversation (the server says "conversation not found"). */
function problem(error) {
  if (error instanceof ApiError && error.status === 404) return "This conversation no longer exists: it may have been deleted in another tab.";
  return error.message || "Something went wrong.";
}

// ---------------------------------------------------------------------------------------
// Panels (drawers on narrow screens)
// ---------------------------------------------------------------------------------------

const narrow = (px) => window.matchMedia("(max-width: " + px + "px)").matches;

/** Open or close a drawer; while one is open over the page, the rest of the page is inert. */
function setDrawer(name, open) {
  document.body.classList.toggle(name + "-open", open);
  const navOpen = document.body.classList.contains("nav-open") && narrow(759);
  const sourcesOpen = document.body.classList.contains("sources-open") && narrow(1099);
  ui.scrim.hidden = !(navOpen || sourcesOpen);
  for (const node of [ui.topbar, ui.chat, ui.skipLink]) node.inert = navOpen || sourcesOpen;
  ui.nav.inert = sourcesOpen;
  ui.sources.inert = navOpen && !sourcesOpen;
  if (name === "nav") {
    ui.toggleNav.setAttribute("aria-expanded", String(open));
    if (open && narrow(759)) ui.closeNav.focus();
  }
}

function closeDrawers() {
  const focusIn = (node) => node.contains(document.activeElement);
  const wasIn = focusIn(ui.nav) || focusIn(ui.sources);
  const opener = state.drawerOpener;
  state.drawerOpener = null;
  setDrawer("nav", false);
  setDrawer("sources", false);
  // back where the reader was (the citation, the Sources button), not to the question box
  if (wasIn && narrow(1099)) (opener && opener.isConnected ? opener : ui.question).focus();
}

// ---------------------------------------------------------------------------------------
// Citations: [n] markers become buttons that open source n in the sources panel
// ---------------------------------------------------------------------------------------

const UNCITED_NOTE = /\n\n\((Some statements[^()\n]*)\)\s*$/; // the server's trailing flag
const QUOTED_NOTE = /\n\n\((The model's own answer[^()\n]*)\)\s*$/; // ...and the quote's
// Why an answer is a quote (`quote_reason`, app/quote.py), said without the server notes' jargon.
const QUOTE_REASONS = {
  no_figure: "Hearth's own wording gave no figure, so this is quoted from a source that does.",
  model_declined: "Hearth's own wording said it did not know, yet the sources seem to say: this is quoted from the closest one.",
  unsupported: "Hearth's own wording was not supported by the sources, so this is quoted from the closest source.",
  other_row: "Hearth's own wording came from a passage about something other than what you named (another office or level), so this is quoted from one that names it.",
  negated: "Hearth's own wording stated what its source denies or excludes, so this is quoted from the closest source.",
  contradicted: "Hearth's own wording denied a number its source states, so this is quoted from the closest source.",
  other_count: "Hearth's own wording gave a number for something other than what you asked about, so this is quoted from a source that counts it.",
};
// Answers stored before `quote_reason` existed carry only the note's text.
const reasonOfNote = (note) =>
  /no figure/.test(note) ? "no_figure" : /did not know/.test(note) ? "model_declined" : /does not name/.test(note) ? "other_row" : /denies or excludes/.test(note) ? "negated" : /denies a number/.test(note) ? "contradicted" : "unsupported";
const quoteReason = (answer, note) => QUOTE_REASONS[answer.quote_reason] || QUOTE_REASONS[reasonOfNote(note)];

/** The button for marker [n] of an answer, or null when n is not one of its sources. */
function citeFor(exchange, n) {
  const source = exchange.sources.find((s) => s.n === n);
  return source ? citeButton(exchange, source) : null;
}

function citeButton(exchange, source) {
  const button = el("button", {
    type: "button", class: "cite", "data-n": source.n, text: String(source.n),
    "aria-label": "Source " + source.n + ": " + (source.title || "untitled"),
    title: source.title || "",
    "aria-controls": "sources", "aria-expanded": "false",
  });
  button.addEventListener("click", () => showSources(exchange, source.n, true));
  return button;
}

// ---------------------------------------------------------------------------------------
// Sources panel
// ---------------------------------------------------------------------------------------

function clearSources() {
  state.shown = null;
  ui.sourceList.replaceChildren();
  ui.sourcesTitle.textContent = "Sources";
  ui.sourcesIntro.textContent = "The passages behind an answer appear here.";
  ui.sourcesIntro.hidden = false;
  ui.sourcesFoot.hidden = true;
  ui.sources.classList.remove("is-idk");
  for (const old of ui.sources.querySelectorAll(".sources-question")) old.remove();
}

/** A source's retrieval score as a share of the best one's for this question: the raw fused
 * score (0 to 2 and more, by settings) means nothing to a reader; "match 64%" does. */
function matchLabel(exchange, score) {
  const best = Math.max(...(exchange.sources || []).map((s) => (typeof s.score === "number" ? s.score : 0)));
  return best > 0 ? "match " + Math.round((100 * score) / best) + "%" : "match 0%";
}

function sourceCard(exchange, source) {
  const citation = (exchange.citations || []).find((c) => c.marker === source.n);
  const meta = [];
  if (source.kind) meta.push(source.kind);
  if (source.page) meta.push("page " + source.page);
  if (source.modified) meta.push("modified " + formatDate(source.modified));
  if (source.revision) meta.push("revision " + source.revision);
  if (typeof source.score === "number") meta.push(matchLabel(exchange, source.score));
  const snippet = el("blockquote", { class: "source-snippet" });
  highlightSnippet(snippet, String(source.snippet || ""), citation ? String(citation.span || "") : "");
  const exclude = el("input", { type: "checkbox", "data-document-id": source.document_id });
  exclude.checked = exchange.pendingExclude.has(source.document_id);
  exclude.addEventListener("change", () => {
    if (exclude.checked) exchange.pendingExclude.add(source.document_id);
    else exchange.pendingExclude.delete(source.document_id);
    card.classList.toggle("is-excluded", exclude.checked);
    updateRegenerate(exchange);
  });
  const title = source.title || source.document_id || "Untitled";
  // every card had a box "Exclude from the answer" and a link "Open source": a list of the
  // page's controls could not tell them apart
  exclude.setAttribute("aria-label", "Exclude source " + source.n + ", " + title + ", from the answer");
  const link = sourceLink(source.url, source.page ? "Open at page " + source.page : "Open source");
  if (link) link.setAttribute("aria-label", "Open source " + source.n + ", " + title + (source.page ? ", at page " + source.page : "") + " (new tab)");
  const card = el(
    "li",
    { class: "source", id: "source-" + source.n, "data-n": source.n, tabindex: "-1" },
    el("div", { class: "source-head" },
      el("span", { class: "cite source-n", text: String(source.n), "aria-hidden": "true" }),
      el("h3", { class: "source-title", text: title })),
    source.heading ? el("p", { class: "source-heading", text: String(source.heading).split(" > ").join(" › ") }) : null,
    snippet,
    el("p", { class: "source-meta", text: meta.join(" · ") }),
    el("div", { class: "source-actions" },
      link,
      el("label", {}, exclude, "Exclude from the answer")),
  );
  card.classList.toggle("is-excluded", exclude.checked);
  return card;
}

/** The documents ticked on this answer's own source cards. pendingExclude also keeps what an
 * earlier regeneration excluded (still excluded next time), but those are not among these
 * sources, have no box here, and must not be counted on the button. */
function tickedDocuments(exchange) {
  return new Set(exchange.sources.map((s) => s.document_id).filter((id) => exchange.pendingExclude.has(id)));
}

function updateRegenerate(exchange) {
  const count = tickedDocuments(exchange).size;
  ui.regenerate.disabled = count === 0 || Boolean(state.controller);
  ui.regenerate.textContent = count
    ? "Regenerate without " + count + (count === 1 ? " source" : " sources")
    : "Regenerate without excluded sources";
}

function showSources(exchange, focusN, open) {
  const abstained = Boolean(exchange.answer && exchange.answer.abstained);
  state.shown = exchange;
  for (const node of ui.messages.querySelectorAll(".message-assistant.is-active")) node.classList.remove("is-active");
  if (exchange.article) exchange.article.classList.add("is-active");
  ui.sourcesTitle.textContent = abstained ? "Closest matches" : "Sources";
  ui.sources.classList.toggle("is-idk", abstained);
  for (const old of ui.sources.querySelectorAll(".sources-question")) old.remove();
  ui.sourcesIntro.hidden = exchange.sources.length > 0;
  ui.sourcesIntro.textContent = exchange.sources.length ? ""
    : exchange.searched ? "No passage was found for this question."
    : exchange.answer ? "No passages to show: the question was not answered."
    : "Searching your documents…";
  ui.sourcesTitle.parentElement.after(el("p", { class: "sources-question", text: "For: " + exchange.question }));
  ui.sourceList.replaceChildren(...exchange.sources.map((s) => sourceCard(exchange, s)));
  ui.sourcesFoot.hidden = exchange.sources.length === 0 || !exchange.answer;
  updateRegenerate(exchange);
  for (const button of ui.messages.querySelectorAll(".cite[aria-expanded='true']")) button.setAttribute("aria-expanded", "false");
  if (focusN !== undefined) {
    const card = document.getElementById("source-" + focusN);
    if (card) {
      card.classList.add("is-active");
      for (const button of exchange.article.querySelectorAll(".cite[data-n='" + focusN + "']")) button.setAttribute("aria-expanded", "true");
      if (open && narrow(1099)) {
        state.drawerOpener = document.activeElement;
        setDrawer("sources", true);
      }
      card.scrollIntoView({ block: "nearest", behavior: motion() });
      if (open) card.focus({ preventScroll: true });
    }
  } else if (open && narrow(1099)) {
    state.drawerOpener = document.activeElement;
    setDrawer("sources", true);
    ui.closeSources.focus();
  }
}

// ---------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------

function userMessage(question, exclude, titles) {
  const note = exclude.length
    ? el("span", { class: "note", text: "Asked again without: " + (titles.length ? titles.join(", ") : exclude.length + " sources") })
    : null;
  // a heading per question: a screen reader's heading keys step from one exchange to the next
  const asked = el("h3", { class: "question" }, el("span", { class: "visually-hidden", text: "You asked: " }), question);
  return el("div", { class: "message message-user" }, asked, note);
}

function newExchange(question, exclude, titles) {
  const exchange = {
    question, exclude, sources: [], citations: [], answer: null, messageId: null,
    pendingExclude: new Set(exclude),
  };
  exchange.head = el("div", { class: "answer-head" }, el("span", { class: "answer-who", text: "Hearth" }));
  exchange.body = el("div", { class: "answer-body" });
  exchange.foot = el("div", { class: "answer-foot" });
  const named = question.length > 80 ? question.slice(0, 79) + "…" : question;
  // a list of the page's articles said "Answer" for every one
  exchange.article = el("article", { class: "message message-assistant", "aria-label": "Answer to: " + named }, exchange.head, exchange.body, exchange.foot);
  ui.welcome.hidden = true;
  ui.messages.append(userMessage(question, exclude, titles || []), exchange.article);
  state.exchanges.push(exchange);
  return exchange;
}

function setStatus(exchange, text) {
  exchange.body.replaceChildren(el("p", { class: "answer-status", text }));
}

function badge(exchange, kind, text) {
  exchange.head.append(el("span", { class: "badge badge-" + kind, text }));
}

function note(exchange, kind, text) {
  exchange.body.after(el("p", { class: "answer-note note-" + kind, text }));
}

/** The finished answer: markers become citation buttons; abstention and uncited flagged. */
function finish(exchange, answer) {
  exchange.answer = answer;
  exchange.searched = true;
  exchange.sources = Array.isArray(answer.sources) ? answer.sources : exchange.sources;
  exchange.citations = Array.isArray(answer.citations) ? answer.citations : [];
  exchange.messageId = answer.message_id || null;
  exchange.body.classList.remove("is-streaming");
  const article = exchange.article;
  if (answer.abstained) {
    article.classList.add("is-abstained");
    badge(exchange, "idk", "I don't know");
    renderAnswer(exchange.body, answer.answer, null);
    note(exchange, "idk", exchange.sources.length
      ? "No passage answers this, so Hearth did not guess. Check the closest matches yourself."
      : "Nothing in the documents you can read matches this question.");
  } else {
    let text = String(answer.answer || "");
    let warning = "Some statements are not backed by any source shown. Treat them with care.";
    const serverNote = UNCITED_NOTE.exec(text);
    if (answer.uncited && serverNote) {
      text = text.slice(0, serverNote.index); // shown once, as the styled note below
      warning = serverNote[1] + " Treat them with care.";
    }
    const quotedNote = answer.quoted ? QUOTED_NOTE.exec(text) : null;
    if (quotedNote) text = text.slice(0, quotedNote.index);
    renderAnswer(exchange.body, text, (n) => citeFor(exchange, n));
    if (answer.quoted) {
      article.classList.add("is-quoted");
      badge(exchange, "quoted", "Quoted from a source");
      note(exchange, "quoted", quoteReason(answer, quotedNote ? quotedNote[1] : ""));
    }
    if (answer.uncited) {
      article.classList.add("is-uncited");
      badge(exchange, "uncited", "Not fully supported");
      note(exchange, "uncited", warning);
    }
  }
  if (answer.stopped) badge(exchange, "stopped", "Stopped");
  if (answer.truncated) {
    badge(exchange, "truncated", "Cut short");
    note(exchange, "truncated", "The answer reached its length limit and may be incomplete.");
  }
  answerFoot(exchange);
}

function answerFoot(exchange) {
  const answer = exchange.answer || {};
  const count = exchange.sources.length;
  const parts = [];
  if (answer.model && answer.abstained_by !== "retrieval") parts.push(answer.model); // it ran
  const ms = answer.timings && answer.timings.total_ms;
  if (typeof ms === "number") parts.push(ms < 1000 ? Math.round(ms) + " ms" : (ms / 1000).toFixed(1) + " s");
  exchange.foot.replaceChildren();
  if (count) {
    const label = (answer.abstained ? "Closest matches" : "Sources") + " (" + count + ")";
    const button = el("button", { type: "button", class: "button button-small", text: label, "aria-controls": "sources" });
    button.addEventListener("click", () => {
      showSources(exchange, undefined, true);
      if (!narrow(1099)) announce(label + " of this answer are shown beside it.");  // the panel changed silently
    });
    exchange.foot.append(button);
  }
  exchange.foot.append(el("span", { class: "answer-meta", text: parts.join(" · ") }));
  if (exchange.messageId) exchange.foot.append(feedbackControls(exchange));
}

function feedbackControls(exchange) {
  const group = el("div", { class: "feedback", role: "group", "aria-label": "Rate this answer" });
  const up = el("button", { type: "button", class: "icon-button", "aria-label": "Helpful", title: "Helpful", "aria-pressed": "false" }, icon("up"));
  const down = el("button", { type: "button", class: "icon-button", "aria-label": "Not helpful", title: "Not helpful", "aria-pressed": "false" }, icon("down"));
  const comment = el("textarea", { maxlength: "2000", rows: "2" });
  const commentId = "comment-" + exchange.messageId;
  comment.id = commentId;
  const thanks = el("span", { class: "thanks", role: "status" });
  const form = el("form", { class: "comment-form", hidden: true },
    el("label", { for: commentId, class: "small", text: "Tell us more (optional)" }), comment,
    el("div", { class: "comment-row" }, el("button", { type: "submit", class: "button button-small", text: "Send comment" }), thanks));
  let rating = null;
  const press = (value) => {
    rating = value;
    up.setAttribute("aria-pressed", String(value === "up"));
    down.setAttribute("aria-pressed", String(value === "down"));
  };
  const stored = exchange.answer && exchange.answer.rating; // a reopened conversation's
  if (stored === "up" || stored === "down") press(stored);
  const rate = async (value, button) => {
    press(value);
    try {
      await api("POST", "/api/messages/" + encodeURIComponent(exchange.messageId) + "/feedback", { rating: value, comment: comment.value });
      thanks.textContent = "Thanks, your rating was saved.";
      form.hidden = false;
    } catch (error) {
      thanks.textContent = "Could not save the rating: " + error.message;
      form.hidden = false;
    }
    button.focus();
  };
  up.addEventListener("click", () => rate("up", up));
  down.addEventListener("click", () => rate("down", down));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!rating) return;
    try {
      await api("POST", "/api/messages/" + encodeURIComponent(exchange.messageId) + "/feedback", { rating, comment: comment.value });
      thanks.textContent = "Thanks, your comment was saved.";
    } catch (error) {
      thanks.textContent = "Could not save the comment: " + error.message;
    }
  });
  group.append(up, down);
  exchange.article.append(form);
  return group;
}

const nearEnd = () => ui.scroll.scrollHeight - ui.scroll.scrollTop - ui.scroll.clientHeight < 160;

function scrollToEnd() {
  if (nearEnd()) ui.scroll.scrollTop = ui.scroll.scrollHeight;
}

/** Change an answer (finish, stop, fail: notes, sources button, rating) and keep the end in
 * view if the reader was there: they are following the answer, not reading further up. */
function keepingEnd(change) {
  const follow = nearEnd();
  change();
  if (follow) ui.scroll.scrollTop = ui.scroll.scrollHeight;
}

// ---------------------------------------------------------------------------------------
// Asking: POST /api/query with stream:true, read server-sent events
// ---------------------------------------------------------------------------------------

/** "smooth" unless the reader asked for less motion. */
function motion() {
  return window.matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth";
}

function setBusy(busy) {
  // Ask is hidden and Regenerate disabled while an answer streams: focus on either fell to
  // the page's body, and the next Tab started over in the sources panel
  const hadFocus = [ui.ask, ui.regenerate].includes(document.activeElement);
  ui.ask.hidden = busy;
  ui.stop.hidden = !busy;
  if (busy && hadFocus) ui.stop.focus();
  ui.messages.setAttribute("aria-busy", String(busy));
  if (state.shown) updateRegenerate(state.shown);
}

async function ask(question, exclude, titles) {
  if (state.controller || !question.trim()) return;
  tell(ui.notice, "");
  const exchange = newExchange(question, exclude, titles);
  const controller = new AbortController();
  state.controller = controller;
  const stopHadFocus = () => document.activeElement === ui.stop;
  setBusy(true);
  setStatus(exchange, "Searching your documents…");
  showSources(exchange);
  ui.scroll.scrollTop = ui.scroll.scrollHeight;
  let text = "";
  let paragraph = null;
  let finished = false;
  let known = null; // set when this question starts a conversation: the ids the page knew
  let gone = false; // a follow-up whose conversation no longer exists
  try {
    if (state.adopting) await state.adopting; // a follow-up goes to the stopped answer's chat
    if (!state.conversationId) known = new Set(state.conversations.map((c) => c.id));
    const body = { question, stream: true, exclude_document_ids: exclude };
    if (state.conversationId) body.conversation_id = state.conversationId;
    let response;
    try {
      response = await request("POST", "/api/query", body, controller.signal);
    } catch (error) {
      gone = error instanceof ApiError && error.status === 404 && Boolean(body.conversation_id);
      throw error;
    }
    for await (const { event, data } of serverEvents(response)) {
      if (event === "sources") {
        exchange.sources = Array.isArray(data) ? data : [];
        exchange.searched = true;
        const count = exchange.sources.length;
        setStatus(exchange, count ? "Reading " + count + (count === 1 ? " passage…" : " passages…") : "Thinking…");
        if (state.shown === exchange || !state.shown) showSources(exchange);
      } else if (event === "token") {
        if (!paragraph) {
          paragraph = document.createTextNode("");
          exchange.body.replaceChildren(el("p", {}, paragraph));
          exchange.body.classList.add("is-streaming");
        }
        text += String(data.text || "");
        paragraph.data = text;
        scrollToEnd();
      } else if (event === "done") {
        finished = true;
        if (data.conversation_id) state.conversationId = data.conversation_id;
        keepingEnd(() => finish(exchange, data));
        if (state.shown === exchange) showSources(exchange);
        announce(
          data.abstained ? "Hearth does not know."
          : data.quoted ? "Answer complete: quoted from a source."
          : data.uncited ? "Answer complete: some statements are not backed by the sources."
          : "Answer complete.",
        );
        await refreshConversations(); // before Ask comes back: the side list is current
      } else if (event === "error") {
        finished = true;
        failed(exchange, text, String((data && data.message) || "The answer failed."));
      }
    }
    if (!finished) failed(exchange, text, "The connection closed before the answer was complete.");
  } catch (error) {
    if (error.name === "AbortError") {
      stopped(exchange, text);
      if (known && !state.conversationId) adoptStoppedConversation(exchange, question, known);
    } else if ((error instanceof ApiError && error.status === 401) || gone) {
      exchange.article.previousElementSibling.remove();
      exchange.article.remove();
      state.exchanges.pop();
      if (!state.exchanges.length) {
        ui.welcome.hidden = false;
        clearSources();
      }
      if (!gone) state.pendingAsk = [question, exclude, titles];
    } else if (error instanceof ApiError && error.status === 503) {
      failed(exchange, "", "Hearth is busy with other questions. Try again" + (error.retryAfter ? " in " + error.retryAfter + " s." : " shortly."));
    } else {
      failed(exchange, text, error.message || "The answer failed.");
    }
  } finally {
    const refocus = stopHadFocus();
    state.controller = null;
    setBusy(false);
    if (refocus) ui.question.focus();
  }
  if (gone) {
    // Deleted meanwhile (another tab, another device): ask again in a new conversation.
    resetChat();
    await refreshConversations();
    ask(question, exclude, titles);
    tell(ui.notice, "The conversation you were in was deleted, so your question started a new one.");
  }
}

function stopped(exchange, text) {
  exchange.body.classList.remove("is-streaming");
  exchange.answer = { answer: text, stopped: true, abstained: false };
  keepingEnd(() => {
    badge(exchange, "stopped", "Stopped");
    if (text) {
      renderAnswer(exchange.body, text, null);
      note(exchange, "stopped", "You stopped this answer before it was checked against its sources: it may be incomplete or wrong.");
    } else {
      setStatus(exchange, "Stopped before the answer began."); // says it all: no second note
    }
    answerFoot(exchange);
  });
  if (state.shown === exchange) showSources(exchange);
  announce("Answer stopped.");
  refreshConversations();
}

/** A stopped answer gets no `done` event, so the page never learns its conversation id; the
 * server still stores the exchange (once the model has stopped and the partial answer is
 * attributed), in a new conversation titled with the question. Poll the list for it and adopt
 * it, so the header, the list and a follow-up all use it. A follow-up asked meanwhile waits
 * (see ask); New chat or opening another conversation abandons the search. */
function adoptStoppedConversation(exchange, question, known) {
  const title = Array.from(question.normalize("NFC").trim()).slice(0, 120).join("");
  const movedOn = () => Boolean(state.conversationId) || !state.exchanges.includes(exchange);
  const search = (async () => {
    for (const wait of [100, 200, 300, 400, 500, 750, 1000, 1000, 1500, 1500, 2000]) {
      await new Promise((resolve) => window.setTimeout(resolve, wait));
      if (movedOn()) return;
      await refreshConversations();
      if (movedOn()) return;
      const stored = state.conversations.find((c) => !known.has(c.id) && c.title === title);
      if (stored) {
        state.conversationId = stored.id;
        renderConversations();
        return;
      }
    }
  })();
  const done = search.finally(() => {
    if (state.adopting === done) state.adopting = null;
  });
  state.adopting = done;
}

function failed(exchange, text, message) {
  exchange.body.classList.remove("is-streaming");
  exchange.answer = { answer: text, abstained: false, failed: true };
  keepingEnd(() => {
    if (text) renderAnswer(exchange.body, text, null);
    else exchange.body.replaceChildren();
    badge(exchange, "error", "Error");
    note(exchange, "error", message);
    answerFoot(exchange);
  });
  if (state.shown === exchange) showSources(exchange); // no "No passage was found": none was sought
  let back = "";
  if (!text && !ui.question.value.trim()) { // nothing came back: the question goes back in the box
    ui.question.value = exchange.question;
    updateLimit();
    back = " Your question is back in the box.";
  }
  announce("The answer failed: " + message + back);
}

function stop() {
  if (state.controller) state.controller.abort();
}

// ---------------------------------------------------------------------------------------
// Conversations
// ---------------------------------------------------------------------------------------

function renderConversations() {
  ui.list.replaceChildren(...state.conversations.map((c) => {
    const button = el("button", { type: "button", "data-id": c.id, "aria-current": c.id === state.conversationId ? "true" : false },
      el("span", { class: "conversation-title", text: c.title || "Untitled" }),
      el("span", { class: "conversation-date", text: formatDate(c.updated_at) }));
    button.addEventListener("click", () => openConversation(c.id));
    return el("li", {}, button);
  }));
  ui.listEmpty.hidden = state.conversations.length > 0 || state.listFailed;
  const current = state.conversations.find((c) => c.id === state.conversationId);
  ui.title.textContent = current ? current.title : state.conversationId ? ui.title.textContent : "New conversation";
  ui.actions.hidden = !state.conversationId;
}

/** The caller's conversations. A failure keeps the list last shown (an empty list would say
 * they were all deleted) and says so; a refused identity (401) shows none: not theirs. */
async function refreshConversations() {
  try {
    const data = await api("GET", "/api/conversations");
    state.conversations = Array.isArray(data.conversations) ? data.conversations : [];
    state.listFailed = false;
    tell(ui.listError, "");
  } catch (error) {
    if (error.status === 401) {
      state.conversations = [];
      state.listFailed = false;
      tell(ui.listError, "");
    } else {
      const wasFailing = state.listFailed;
      state.listFailed = true;
      const text = (state.conversations.length ? "This list could not be refreshed. " : "Your conversations could not be loaded. ") + problem(error);
      if (wasFailing) ui.listError.textContent = text; // said once, not at every retry
      else tell(ui.listError, text);
    }
  }
  renderConversations();
}

function resetChat() {
  stop();
  state.conversationId = null;
  state.exchanges = [];
  ui.messages.replaceChildren();
  ui.welcome.hidden = false;
  tell(ui.notice, "");
  clearSources();
  renderConversations();
}

async function openConversation(id) {
  if (state.controller) stop();
  let conversation;
  try {
    conversation = await api("GET", "/api/conversations/" + encodeURIComponent(id));
  } catch (error) {
    await refreshConversations();
    tell(ui.listError, "Could not open the conversation. " + problem(error)); // where it was clicked
    return;
  }
  resetChat();
  state.conversationId = conversation.id;
  ui.title.textContent = conversation.title;
  let question = "";
  let last = null;
  for (const message of conversation.messages || []) {
    if (message.role === "user") {
      question = message.content;
      continue;
    }
    const details = message.details || {};
    const exchange = newExchange(question, [], []);
    exchange.sources = Array.isArray(details.sources) ? details.sources : [];
    finish(exchange, { ...details, answer: message.content, message_id: message.id, rating: message.rating });
    last = exchange;
  }
  if (last) showSources(last);
  renderConversations();
  setDrawer("nav", false);
  ui.question.focus();
  ui.scroll.scrollTop = ui.scroll.scrollHeight;
}

function currentTitle() {
  const current = state.conversations.find((c) => c.id === state.conversationId);
  return current ? current.title : ui.title.textContent;
}

async function renameConversation(event) {
  event.preventDefault();
  const title = ui.renameInput.value.trim();
  if (!state.conversationId) return;
  if (!title) {
    tell(ui.renameError, "Type a title: it cannot be only spaces.");
    ui.renameInput.focus();
    return;
  }
  try {
    await api("PATCH", "/api/conversations/" + encodeURIComponent(state.conversationId), { title });
    ui.renameDialog.close();
    announce("Conversation renamed.");
  } catch (error) {
    tell(ui.renameError, "Could not rename. " + problem(error));
  }
  await refreshConversations();
}

/** Delete the conversation shown; one already gone (404) is as good as deleted. A failure
 * keeps the dialog open and says why. */
async function deleteConversation(event) {
  event.preventDefault();
  if (!state.conversationId) return;
  try {
    await api("DELETE", "/api/conversations/" + encodeURIComponent(state.conversationId));
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) {
      tell(ui.deleteError, "Could not delete. " + problem(error));
      return;
    }
  }
  ui.deleteDialog.close();
  resetChat();
  announce("Conversation deleted.");
  ui.question.focus();
  await refreshConversations();
}

async function exportConversation() {
  if (!state.conversationId) return;
  try {
    const response = await request("GET", "/api/conversations/" + encodeURIComponent(state.conversationId) + "/export");
    const blob = new Blob([await response.blob()], { type: "application/json" });
    const url = URL.createObjectURL(blob);
    const link = el("a", { download: "conversation-" + state.conversationId + ".json" });
    link.href = url; // a blob: URL this page just made, not server text
    document.body.append(link);
    link.click();
    link.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (error) {
    tell(ui.notice, "Could not export. " + problem(error));
  }
}

// ---------------------------------------------------------------------------------------
// About and sign-in
// ---------------------------------------------------------------------------------------

function signedIn(identity) {
  if (!identity || identity.via === "anonymous") return "no: you read public documents only";
  const how = identity.via === "proxy" ? "through single sign-on" : "with an API key";
  return `as ${identity.user} ${how}; groups ${identity.groups.join(", ")}`;
}

async function openAbout() {
  ui.aboutList.replaceChildren(el("dt", { text: "Loading" }), el("dd", { text: "…" }));
  ui.aboutDialog.showModal();
  try {
    const info = await api("GET", "/api/info");
    const rows = [
      ["Model", info.model],
      ["Model licence", info.license || "unknown"],
      ["Context window", info.context_size ? info.context_size + " tokens" : ""],
      ["Embedder", info.embedder],
      ["Documents you can read", info.documents],
      ["Passages", info.chunks],
      ["Last ingest", formatDateTime(info.last_ingest)],
      ["Signed in", signedIn(info.identity)],
    ];
    ui.aboutList.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v === undefined || v === null ? "" : String(v) })]));
    if (info.network) ui.aboutNetwork.textContent = String(info.network);
  } catch (error) {
    ui.aboutList.replaceChildren(el("dt", { text: "Could not load" }), el("dd", { class: "error-text", text: error.message }));
  }
}

function updateSigninButton() {
  ui.signinButton.textContent = apiKey() ? "Sign out" : "Sign in";
}

function signinNeeded(message) {
  if (apiKey()) {
    setApiKey(null);
    updateSigninButton();
    ui.signinMessage.textContent = "That API key was refused (" + message + "). Paste a valid key.";
  } else {
    ui.signinMessage.textContent = "This Hearth requires an API key. Paste the key an administrator gave you; it is kept in this browser tab only.";
  }
  if (!ui.signinDialog.open) ui.signinDialog.showModal();
}

async function signIn(event) {
  event.preventDefault();
  const key = ui.apiKey.value.trim();
  if (!key) return;
  setApiKey(key);
  ui.apiKey.value = "";
  ui.signinDialog.close();
  updateSigninButton();
  resetChat(); // the conversation on screen was the previous identity's, not the key's
  await refreshConversations();
  if (apiKey()) {
    announce("Signed in.");
    const pending = state.pendingAsk;
    state.pendingAsk = null;
    if (pending) ask(...pending);
  }
}

// ---------------------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------------------

function submitQuestion() {
  const question = ui.question.value.trim();
  if (state.controller) return announce("Wait for the answer, or stop it, before asking again.");
  if (!question) return announce("Type a question first.");
  ui.question.value = "";
  state.pasteCut = false;
  updateLimit();
  ask(question, [], []);
}

/** The question box stops at its maxlength (the server's limit): near it, count; at it, say
 * so, and say when a paste was cut (its end, often the real question, is missing). */
function updateLimit() {
  const max = ui.question.maxLength;
  const length = ui.question.value.length;
  if (!length) state.pasteCut = false;
  const full = length >= max || state.pasteCut;
  const count = length.toLocaleString("en") + " of " + max.toLocaleString("en") + " characters";
  const text = state.pasteCut ? "The pasted text was cut at " + max.toLocaleString("en") + " characters: its end is missing. Shorten it to fit."
    : full ? count + ": the limit. Shorten the question to add more."
    : length >= max * 0.9 ? count : "";
  const kind = state.pasteCut ? "cut" : full ? "full" : null;
  if (kind && kind !== state.limitSaid) announce(text); // once, not at every keystroke
  state.limitSaid = kind;
  ui.limit.textContent = text;
  ui.limit.hidden = !text;
  ui.limit.classList.toggle("is-full", full);
}

function pasted(event) {
  const text = event.clipboardData ? event.clipboardData.getData("text") : "";
  const box = ui.question;
  const room = box.maxLength - box.value.length + (box.selectionEnd - box.selectionStart);
  if (text.length > room) {
    state.pasteCut = true;
    window.setTimeout(updateLimit, 0); // after the (cut) text is in
  }
}

function wire() {
  for (const width of [759, 1099]) {
    window.matchMedia("(max-width: " + width + "px)").addEventListener("change", () => {
      setDrawer("nav", false);
      setDrawer("sources", false);
    });
  }
  ui.form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitQuestion();
  });
  ui.question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submitQuestion();
    }
  });
  ui.stop.addEventListener("click", stop);
  ui.question.addEventListener("input", updateLimit);
  ui.question.addEventListener("paste", pasted);
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || document.querySelector("dialog[open]")) return;
    if (state.controller) stop();
    else closeDrawers();
  });
  $("new-chat").addEventListener("click", () => {
    resetChat();
    setDrawer("nav", false);
    ui.question.focus();
  });
  ui.toggleNav.addEventListener("click", () => setDrawer("nav", !document.body.classList.contains("nav-open")));
  ui.closeNav.addEventListener("click", () => { setDrawer("nav", false); ui.toggleNav.focus(); });
  ui.closeSources.addEventListener("click", () => { setDrawer("sources", false); ui.question.focus(); });
  ui.scrim.addEventListener("click", closeDrawers);
  ui.regenerate.addEventListener("click", () => {
    const exchange = state.shown;
    if (!exchange || !tickedDocuments(exchange).size || state.controller) return;
    const exclude = Array.from(exchange.pendingExclude);
    const titles = exchange.sources.filter((s) => exchange.pendingExclude.has(s.document_id)).map((s) => s.title || s.document_id);
    const previous = exchange.exclude.filter((id) => !exchange.sources.some((s) => s.document_id === id));
    setDrawer("sources", false);
    ask(exchange.question, exclude, titles.length ? titles : previous);
  });
  $("open-about").addEventListener("click", openAbout);
  ui.signinButton.addEventListener("click", () => {
    if (apiKey()) {
      setApiKey(null);
      updateSigninButton();
      resetChat();
      refreshConversations();
      announce("Signed out.");
    } else {
      ui.signinMessage.textContent = "Paste the API key an administrator gave you. It is kept in this browser tab only.";
      ui.signinDialog.showModal();
    }
  });
  ui.signinForm.addEventListener("submit", signIn);
  $("rename-conversation").addEventListener("click", () => {
    tell(ui.renameError, "");
    ui.renameInput.value = currentTitle();
    ui.renameDialog.showModal();
    ui.renameInput.select();
  });
  ui.renameForm.addEventListener("submit", renameConversation);
  $("delete-conversation").addEventListener("click", () => {
    tell(ui.deleteError, "");
    ui.deleteMessage.textContent = "“" + currentTitle() + "” and its ratings are removed for good.";
    ui.deleteDialog.showModal();
  });
  ui.deleteForm.addEventListener("submit", deleteConversation);
  $("export-conversation").addEventListener("click", exportConversation);
  for (const button of document.querySelectorAll("dialog [data-close]")) {
    button.addEventListener("click", () => button.closest("dialog").close());
  }
}

async function start() {
  whenUnauthorized(signinNeeded);
  wire();
  updateSigninButton();
  await refreshConversations();
  document.documentElement.setAttribute("data-ready", "true");
  performance.mark("hearth-ready");
}

start();
