// The offline sandbox page: polls /api/state every 500 ms and renders two Telegram-like chats.
// Vanilla JS, no build step. Message text is always inserted as text (never as HTML).
"use strict";

const POLL_MS = 500;
const view = {
  version: "",
  patient: null,      // the Telegram user id whose phone is shown
  groupId: null,
  seenToasts: null,   // ids of button answers already shown (null until the first state)
  busy: false,
  rtStartDefault: "", // the radiotherapy date last offered by the server (virtual today + 2 days)
  formFilled: false,  // the site and arm choices are filled once, from the first state
};

const $ = (selector) => document.querySelector(selector);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  let data = {};
  try { data = await response.json(); } catch (e) { data = { ok: false, error: "Réponse illisible du serveur." }; }
  if (!response.ok || data.ok === false) throw new Error(data.error || `Erreur ${response.status}`);
  view.version = "";  // something changed: ask for the full state at the next poll
  return data;
}

function toast(text, error = false) {
  const node = el("div", { class: error ? "toast error" : "toast" }, text);
  $("#toasts").append(node);
  setTimeout(() => node.remove(), error ? 6000 : 3500);
}

async function attempt(action) {
  try {
    return await action();
  } catch (e) {
    toast(e.message, true);
    return null;
  }
}

// ---- rendering -------------------------------------------------------------------------------------------

const LINK = /(https?:\/\/[^\s]+)/g;

function richText(text) {
  // Plain text with clickable links; an invitation link (t.me/…?start=CODE) makes a new patient join.
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(LINK)) {
    parts.push(text.slice(last, match.index));
    const url = match[0];
    const start = url.match(/\?start=([A-Za-z0-9_-]+)/);
    if (start) {
      parts.push(el("a", {
        href: "#", title: "Ouvrir le lien comme un nouveau patient",
        onclick: (event) => { event.preventDefault(); join(start[1]); },
      }, url));
    } else {
      parts.push(el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, url));
    }
    last = match.index + url.length;
  }
  parts.push(text.slice(last));
  return parts;
}

function keyboard(message, chatId) {
  if (!message.buttons.length) return null;
  return el("div", { class: "keyboard" }, message.buttons.map((row) => el("div", { class: "keyboard-row" },
    row.map((button) => button.data
      ? el("button", {
          type: "button", "data-callback": button.data,
          onclick: () => press(chatId, message.id, button.data),
        }, button.text)
      : el("a", { href: button.url || "#", target: "_blank", rel: "noopener noreferrer" }, button.text)))));
}

function messageNode(message, chatId, showSender) {
  const mine = !message.from_bot;
  const bubble = el("div", { class: "bubble" },
    showSender && !mine ? el("div", { class: "sender" }, message.sender) : null,
    message.photo ? el("img", { src: message.photo, alt: "photo" }) : null,
    message.sticker ? el("div", { class: "sticker" }, message.sticker) : null,
    message.document ? el("a", { href: message.document.url, download: message.document.name },
                          "📄 " + message.document.name) : null,
    message.text ? richText(message.text) : null,
    message.caption ? richText(message.caption) : null,
    el("div", { class: "meta" }, (message.edited ? "modifié " : "") + message.time));
  return el("div", { class: mine ? "message mine" : "message", "data-message-id": message.id },
    bubble, keyboard(message, chatId));
}

function renderChat(container, messages, chatId, { showSender, empty }) {
  const nodes = [];
  let day = null;
  for (const message of messages) {
    if (message.day !== day) {
      day = message.day;
      nodes.push(el("div", { class: "day-separator" }, day));
    }
    nodes.push(messageNode(message, chatId, showSender));
  }
  if (!nodes.length) nodes.push(el("div", { class: "empty" }, empty));
  container.replaceChildren(...nodes);
  container.dataset.chat = chatId === null ? "" : String(chatId);
  // Follow new messages unless the reader scrolled up to read older ones.
  stickToBottom(container);
  // A plot arrives as an image that gets its height only once loaded: follow it then too.
  for (const image of container.querySelectorAll("img")) {
    if (!image.complete) image.addEventListener("load", () => stickToBottom(container), { once: true });
  }
}

function stickToBottom(container) {
  if (container.dataset.stick !== "no") container.scrollTop = container.scrollHeight;
}

function renderControls(state) {
  const invitations = $("#invitations");
  // Every open invitation in the database, also those made with /enroll typed in the group.
  invitations.replaceChildren(...(state.invitations.length ? state.invitations.map((inv) => el("li", {},
    el("span", {}, inv.study_id,
       el("span", { class: "muted small" }, ` · ${inv.site} · ${inv.arm} · valable jusqu'au ${inv.expires}`)),
    inv.code
      ? el("button", { type: "button", onclick: () => join(inv.code) }, "Rejoindre en tant que ce patient")
      : el("span", { class: "muted small" }, "lien inconnu")))
    : [el("li", { class: "muted" }, "Aucune pour l'instant.")]));

  const patients = $("#patients");
  patients.replaceChildren(...(state.patients.length ? state.patients.map((p) => el("li",
    { class: p.user_id === view.patient ? "selected" : "" },
    el("span", {}, p.study_id || p.name,
       el("span", { class: "muted small" }, " · " + statusLabel(p.status) + (p.day === null ? "" : ` · J${p.day >= 0 ? "+" : ""}${p.day}`))),
    p.user_id === view.patient
      ? el("span", { class: "muted small" }, "affiché")
      : el("button", { type: "button", onclick: () => selectPatient(p.user_id) }, "Voir")))
    : [el("li", { class: "muted" }, "Aucun patient n'a encore rejoint.")]));
}

function fillSelect(select, options, selected) {
  select.replaceChildren(...options.map(([value, label]) => el("option", { value, selected: value === selected }, label)));
}

function renderForm(form) {
  // Defaults from the sandbox's virtual clock, not the browser's date; a date the user typed is kept.
  const rtStart = $("#rt-start");
  if (!rtStart.value || rtStart.value === view.rtStartDefault) rtStart.value = form.rt_start;
  view.rtStartDefault = form.rt_start;
  if (view.formFilled) return;
  view.formFilled = true;
  fillSelect($("#site"), form.sites.map((s) => [s.code, `${s.name} (${s.code})`]), form.site || form.sites[0]?.code);
  fillSelect($("#arm"), form.arms.map((a) => [a, a]), form.arm);
}

function statusLabel(status) {
  return {
    invited: "invité", joined: "a rejoint", active: "suivi actif", paused: "en pause",
    withdrawn: "sorti de l'étude", unreachable: "injoignable",
    caregiver_joined: "aidant, accord à donner", caregiver_active: "aidant actif", caregiver_ended: "aidant, rôle terminé",
  }[status] || "pas encore lié";
}

function render(state) {
  $("#clock").textContent = state.now_label;
  view.busy = Boolean(state.busy);
  $("#busy").hidden = !state.busy;
  $("#busy").textContent = state.busy || "";
  for (const button of document.querySelectorAll(".clock-button")) button.disabled = view.busy;

  view.groupId = state.group.id;
  if (view.patient === null || !state.patients.some((p) => p.user_id === view.patient)) view.patient = state.patient;
  const shown = state.patients.find((p) => p.user_id === state.patient);
  // The study id once the patient has joined; never the fake Telegram user id, which means nothing to a reader.
  $("#phone-subtitle").textContent = shown
    ? (shown.study_id ? `téléphone de ${shown.study_id}` : (shown.name || "Patient"))
    : "téléphone du patient";
  const day = $("#study-day");
  day.hidden = !shown || shown.day === null;
  if (shown && shown.day !== null) day.textContent = `${shown.study_id} : jour ${shown.day}`;
  $("#phone-input").disabled = !shown;
  $("#phone-form button").disabled = !shown;
  $("#box-select").disabled = !shown;
  $("#box-form button").disabled = !shown;

  renderControls(state);
  renderForm(state.form);
  renderChat($("#phone-messages"), state.phone, state.patient, {
    showSender: false,
    empty: "Inscrivez un patient, puis « Rejoindre en tant que ce patient » : sa conversation avec le bot s'affiche ici.",
  });
  $("#group-title").textContent = state.group.title;
  renderChat($("#group-messages"), state.group.messages, state.group.id, {
    showSender: true,
    empty: "Le groupe de l'équipe soignante : inscriptions et alertes s'affichent ici.",
  });

  if (view.seenToasts === null) {
    view.seenToasts = new Set(state.toasts.map((t) => t.id));
  } else {
    for (const t of state.toasts) {
      if (!view.seenToasts.has(t.id)) {
        view.seenToasts.add(t.id);
        toast(t.text, false);
      }
    }
  }
}

// ---- polling and actions ---------------------------------------------------------------------------------

async function poll() {
  try {
    const params = new URLSearchParams({ since: view.version });
    if (view.patient !== null) params.set("patient", view.patient);
    const response = await fetch(`/api/state?${params}`);
    if (response.ok) {
      const state = await response.json();
      if (state.changed) render(state);
      view.version = state.version;
    }
  } catch (e) {
    $("#clock").textContent = "bac à sable arrêté ?";
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

function selectPatient(userId) {
  view.patient = userId;
  view.version = "";
  $("#phone-messages").dataset.stick = "yes";
}

async function press(chatId, messageId, data) {
  // The bot's answer to the press (if it has a text) arrives as a toast with the next state.
  await attempt(() => api("/api/press", { chat_id: chatId, message_id: messageId, data }));
}

async function join(code) {
  const result = await attempt(() => api("/api/join", { code }));
  if (result) selectPatient(result.user_id);
}

async function moveClock(action) {
  await attempt(() => api("/api/clock", { action, patient: view.patient }));
}

function setUp() {
  $("#study-id").value = "P-001";

  $("#enroll-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = $("#enroll-result");
    const studyId = $("#study-id").value.trim();
    try {
      const data = await api("/api/enroll", {
        study_id: studyId, rt_start: $("#rt-start").value, fractions: Number($("#fractions").value),
        site: $("#site").value, arm: $("#arm").value,
      });
      result.className = "result";
      result.replaceChildren(
        el("div", {}, `${studyId} inscrit. Lien personnel :`), el("div", {}, el("code", {}, data.link)),
        el("button", { type: "button", onclick: () => join(data.code) }, "Rejoindre en tant que ce patient"));
      const next = studyId.match(/^(.*?)(\d+)$/);
      if (next) $("#study-id").value = next[1] + String(Number(next[2]) + 1).padStart(next[2].length, "0");
    } catch (e) {
      result.className = "result error";
      result.replaceChildren(e.message);
    }
    result.hidden = false;
  });

  for (const button of document.querySelectorAll(".clock-button")) {
    button.addEventListener("click", () => moveClock(button.dataset.action));
  }

  $("#phone-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("#phone-input");
    if (!input.value.trim() || view.patient === null) return;
    const text = input.value;
    input.value = "";
    await attempt(() => api("/api/say", { chat_id: view.patient, text }));
  });

  $("#box-form").addEventListener("submit", async (event) => {
    // Issue 37: the photo of a sample box (made-up codes); read by the bot when the question asks for the medicine.
    event.preventDefault();
    if (view.patient === null) return;
    await attempt(() => api("/api/photo", { chat_id: view.patient, box: $("#box-select").value }));
  });

  $("#group-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("#group-input");
    if (!input.value.trim() || view.groupId === null) return;
    const text = input.value;
    input.value = "";
    await attempt(() => api("/api/say", { chat_id: view.groupId, text }));
  });

  for (const container of document.querySelectorAll(".messages")) {
    container.addEventListener("scroll", () => {
      const atBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 80;
      container.dataset.stick = atBottom ? "yes" : "no";
    });
  }
  poll();
}

document.addEventListener("DOMContentLoaded", setUp);
