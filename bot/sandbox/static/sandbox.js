// The sandbox page: a Telegram-like chat (you are the customer) and a Slack-like channel.
// Everything goes through the sandbox server's small JSON API, which pushes updates to the
// Telegram stand-in and sends signed requests to the real churnbot over HTTP.
"use strict";

const state = {
  info: null,
  customerId: null,
  language: "en",
  chatId: null,
  token: null,
  chatJson: "",
  feedJson: "",
  toasts: null,
};

const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const response = await fetch(`/sandbox/api/${path}`, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `${path}: HTTP ${response.status}`);
  return data;
}

function say(text) {
  $("status").textContent = text;
}

function escapeHtml(text) {
  return String(text)
    .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

// --- Telegram -------------------------------------------------------------------------

function renderChat(messages) {
  const chat = $("chat");
  chat.replaceChildren();
  if (!messages.length) {
    const empty = document.createElement("div");
    empty.className = "empty";
    empty.textContent = state.chatId
      ? "No messages yet. Open the deep link to link this chat to the customer."
      : "Get a deep link for a customer above, then open it here.";
    chat.append(empty);
    return;
  }
  for (const message of messages) {
    const bubble = document.createElement("div");
    bubble.className = `msg ${message.from}` + (message.admin ? " admin" : "");
    bubble.dataset.messageId = message.message_id;
    // Each bubble takes the direction of its own first strong letter, as Telegram does:
    // Persian answers read right to left whoever wrote them.
    bubble.dir = "auto";
    const body = document.createElement("div");
    body.className = "text";  // no dir of its own: the bubble's "auto" reads this text
    body.textContent = message.text || message.caption || "";
    bubble.append(body);
    const meta = document.createElement("div");
    meta.className = "meta";
    // The time is isolated left to right, so "13:35" never turns into "35:13" or "PM 01:35"
    // inside a right-to-left bubble.
    meta.dir = "ltr";
    const when = new Date((message.edit_date || message.date) * 1000);
    meta.textContent = (message.admin ? "admin · " : "") + (message.edit_date ? "edited " : "") +
      when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    bubble.append(meta);
    chat.append(bubble);
    const rows = message.reply_markup && message.reply_markup.inline_keyboard;
    if (rows && rows.length) {
      const keyboard = document.createElement("div");
      keyboard.className = "keyboard";
      for (const row of rows) {
        const line = document.createElement("div");
        line.className = "row";
        for (const button of row) {
          const element = document.createElement("button");
          element.type = "button";
          element.className = "tg-button";
          element.dir = "auto";
          element.textContent = button.text;
          element.addEventListener("click", () => tap(message.message_id, button.callback_data));
          line.append(element);
        }
        keyboard.append(line);
      }
      chat.append(keyboard);
    }
  }
  chat.scrollTop = chat.scrollHeight;
}

function showToast(text) {
  const toast = $("toast");
  toast.textContent = text;
  toast.hidden = false;
  clearTimeout(showToast.timer);
  showToast.timer = setTimeout(() => { toast.hidden = true; }, 2500);
}

async function pollChat() {
  if (!state.chatId) return;
  const data = await api(`telegram/chat?chat_id=${state.chatId}`);
  const json = JSON.stringify(data.messages);
  if (json !== state.chatJson) {
    state.chatJson = json;
    renderChat(data.messages);
  }
  if (state.toasts !== null && data.toasts.length > state.toasts) {
    showToast(data.toasts[data.toasts.length - 1]);
  }
  state.toasts = data.toasts.length;
}

async function tap(messageId, data) {
  try {
    await api("telegram/tap", {
      chat_id: state.chatId, message_id: messageId, data, language: state.language,
    });
  } catch (error) {
    say(`Tap failed: ${error.message}`);
  }
}

async function send(text, asAdmin = false) {
  if (!state.chatId && asAdmin) {
    // No customer yet: the admin talks to the bot in their own private chat.
    state.chatId = state.info.admin_id;
    state.chatJson = "";
    $("tg-sub").textContent = `bot · you are the admin (Telegram user ${state.info.admin_id})`;
  }
  if (!state.chatId) {
    say("Get a deep link for a customer first: that picks the chat.");
    return;
  }
  await api("telegram/send", {
    chat_id: state.chatId, text, language: state.language, as_admin: asAdmin,
  });
  if (asAdmin) say(`Sent ${text} as the sandbox admin (Telegram user ${state.info.admin_id}).`);
}

// --- Slack ----------------------------------------------------------------------------

const EMOJI = { ":wave:": "👋", ":warning:": "⚠️", ":white_check_mark:": "✅", ":x:": "❌" };

function mrkdwn(raw) {
  const links = [];
  let text = String(raw || "").replace(/<([^|<>]+)(?:\|([^<>]+))?>/g, (_, url, label) => {
    links.push([url, label || url]);
    return `\u0000${links.length - 1}\u0000`;
  });
  text = text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  text = escapeHtml(text)
    .replace(/`([^`\n]+)`/g, "<code>$1</code>")
    .replace(/\*([^*\n]+)\*/g, "<b>$1</b>")
    .replace(/(^|[\s(])_([^_\n]+)_(?=$|[\s).,!?:;])/g, "$1<i>$2</i>")
    .replace(/~([^~\n]+)~/g, "<s>$1</s>")
    .replace(/:[a-z_]+:/g, (code) => EMOJI[code] || code)
    .replace(/^&gt; ?(.*)$/gm, '<span class="quote" dir="auto">$1</span>');
  return text.replace(/\u0000(\d+)\u0000/g, (_, n) => {
    const [url, label] = links[Number(n)];
    if (url.startsWith("@") || url.startsWith("#")) return `<b>${escapeHtml(label)}</b>`;
    return `<a href="${escapeHtml(url)}" target="_blank" rel="noopener">${escapeHtml(label)}</a>`;
  });
}

function textOf(object) {
  if (!object) return "";
  return object.type === "mrkdwn" ? mrkdwn(object.text) : escapeHtml(object.text);
}

function selectMenu(element, block, entry) {
  const select = document.createElement("select");
  select.className = "sl-select";
  const placeholder = document.createElement("option");
  placeholder.textContent = (element.placeholder && element.placeholder.text) || "Choose…";
  placeholder.value = "";
  select.append(placeholder);
  for (const option of element.options || []) {
    const item = document.createElement("option");
    item.value = option.value;
    item.textContent = option.text.text;
    if (element.initial_option && element.initial_option.value === option.value) {
      item.selected = true;
    }
    select.append(item);
  }
  select.addEventListener("change", async () => {
    if (!select.value) return;
    const answer = await api("slack/select", {
      channel: entry.channel, ts: entry.ts, block_id: block.block_id,
      action_id: element.action_id, value: select.value,
    });
    say(`Signed block_actions sent to /slack/interactivity → HTTP ${answer.status}`);
  });
  return select;
}

function renderBlocks(blocks, entry) {
  const box = document.createElement("div");
  for (const block of blocks) {
    let element;
    if (block.type === "header") {
      element = document.createElement("div");
      element.className = "blk-header";
      element.textContent = block.text.text;
    } else if (block.type === "section") {
      element = document.createElement("div");
      element.className = "blk-section sl-text";
      if (block.text) {
        const text = document.createElement("div");
        text.innerHTML = textOf(block.text);
        element.append(text);
      }
      if (block.fields) {
        const fields = document.createElement("div");
        fields.className = "blk-fields";
        for (const field of block.fields) {
          const cell = document.createElement("div");
          cell.className = "blk-field";
          cell.innerHTML = textOf(field);
          fields.append(cell);
        }
        element.append(fields);
      }
      if (block.accessory && block.accessory.type === "static_select") {
        const accessory = document.createElement("div");
        accessory.className = "blk-accessory";
        accessory.append(selectMenu(block.accessory, block, entry));
        element.append(accessory);
      }
    } else if (block.type === "context") {
      element = document.createElement("div");
      element.className = "blk-context sl-text";
      element.innerHTML = (block.elements || []).map(textOf).join(" · ");
    } else if (block.type === "divider") {
      element = document.createElement("hr");
      element.className = "blk-divider";
    } else if (block.type === "actions") {
      element = document.createElement("div");
      for (const item of block.elements || []) {
        if (item.type === "static_select") element.append(selectMenu(item, block, entry));
      }
    } else {
      continue;
    }
    box.append(element);
  }
  return box;
}

function renderEntry(entry, channels) {
  const row = document.createElement("div");
  row.className = `sl-msg kind-${entry.kind}`;
  const fromYou = entry.kind === "note" && !entry.ack;
  const avatar = document.createElement("div");
  avatar.className = fromYou ? "sl-avatar you" : "sl-avatar";
  avatar.textContent = fromYou ? "M" : "cb";
  const body = document.createElement("div");
  body.className = "sl-body";
  const name = document.createElement("div");
  name.className = "sl-name";
  name.textContent = fromYou ? "You (manager)" : "churnbot";
  const where = document.createElement("span");
  const channel = entry.channel || entry.channel_id;
  if (channel) {
    where.className = "where";
    where.textContent = `#${channels[channel] || channel}` + (entry.thread_ts ? " · in thread" : "");
    name.append(where);
  }
  if (entry.kind === "response" || entry.ack || entry.response_type === "ephemeral") {
    const eph = document.createElement("span");
    eph.className = "eph";
    eph.textContent = "Only visible to you";
    name.append(eph);
  }
  body.append(name);
  if (entry.kind === "file") {
    const file = document.createElement("div");
    file.className = "sl-file";
    const title = document.createElement("div");
    title.className = "title";
    title.textContent = `${entry.title || entry.filename} (${entry.filename})`;
    const image = document.createElement("img");
    image.src = `/sandbox/api/slack/file/${entry.file_id}`;
    image.alt = entry.title || entry.filename;
    image.addEventListener("load", () => { $("feed").scrollTop = $("feed").scrollHeight; });
    file.append(title, image);
    body.append(file);
  } else if (entry.blocks && entry.blocks.length) {
    body.append(renderBlocks(entry.blocks, entry));
  } else {
    const text = document.createElement("div");
    text.className = "blk-section sl-text";
    text.innerHTML = fromYou ? `<code>${escapeHtml(entry.text)}</code>` : mrkdwn(entry.text);
    body.append(text);
  }
  row.append(avatar, body);
  return row;
}

async function pollFeed() {
  const data = await api("slack/feed");
  const json = JSON.stringify(data.entries);
  if (json === state.feedJson) return;
  state.feedJson = json;
  const feed = $("feed");
  feed.replaceChildren(...data.entries.map((entry) => renderEntry(entry, data.channels)));
  if (!data.entries.length) {
    const empty = document.createElement("div");
    empty.className = "empty";
    empty.textContent = "Nothing in Slack yet.";
    feed.append(empty);
  }
  feed.scrollTop = feed.scrollHeight;
}

// --- controls -------------------------------------------------------------------------

async function getLink(event) {
  event.preventDefault();
  const customerId = $("customer-id").value.trim();
  state.language = $("language").value;
  try {
    const data = await api("link", { customer_id: customerId, language: state.language });
    state.customerId = data.customer_id;
    state.chatId = data.chat_id;
    state.token = data.token;
    state.chatJson = "";
    state.toasts = null;
    $("link-url").textContent = data.link;
    $("link-box").hidden = false;
    $("tg-sub").textContent = `bot · you are customer ${data.customer_id} (chat ${data.chat_id})`;
    say(`Deep link for ${data.customer_id} made. Open it to send /start with the token.`);
    await pollChat();
  } catch (error) {
    say(`Could not make a link: ${error.message}`);
  }
}

async function fire(type) {
  const customerId = state.customerId || $("customer-id").value.trim();
  try {
    const data = await api("event", { customer_id: customerId, type });
    const answer = JSON.stringify(data.answer);
    say(`POST /api/events ${type} for ${customerId} → HTTP ${data.status} ${answer}`);
  } catch (error) {
    say(`Event failed: ${error.message}`);
  }
}

async function cancelInStripe() {
  const customerId = state.customerId || $("customer-id").value.trim();
  try {
    const data = await api("stripe/cancel", { customer_id: customerId });
    for (const hook of data.webhooks || []) {
      say(`Stripe → POST /api/stripe/webhook ${hook.type} → HTTP ${hook.status} ${JSON.stringify(hook.answer)}`);
    }
    if (!(data.webhooks || []).length) say(`Stripe: ${data.subscription || data.error} already cancels at period end`);
  } catch (error) {
    say(`Stripe cancel failed: ${error.message}`);
  }
}

async function start() {
  state.info = await api("info");
  const select = $("language");
  for (const [code, name] of Object.entries(state.info.languages)) {
    const option = document.createElement("option");
    option.value = code;
    option.textContent = `${name} (${code})`;
    select.append(option);
  }
  $("command-text").value = `${state.info.command} stats`;
  $("customer-form").addEventListener("submit", getLink);
  $("open-link").addEventListener("click", () => send(`/start ${state.token}`));
  $("chat-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("chat-text").value.trim();
    if (!text) return;
    $("chat-text").value = "";
    await send(text, $("as-admin").checked);
  });
  $("admin-id").textContent = state.info.admin_id;
  for (const button of document.querySelectorAll(".admin-command")) {
    button.addEventListener("click", () => send(button.dataset.command, true));
  }
  $("command-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("command-text").value.trim();
    if (!text) return;
    const data = await api("slack/command", { text });
    say(`Signed slash command sent to /slack/commands → HTTP ${data.status}`);
  });
  $("fire-interaction").addEventListener("click", () => fire("interaction.completed"));
  $("fire-cancel").addEventListener("click", () => fire("subscription.cancelled"));
  $("stripe-cancel").addEventListener("click", cancelInStripe);
  renderChat([]);
  const loop = async () => {
    try {
      await Promise.all([pollChat(), pollFeed()]);
    } catch (error) {
      say(`Lost the sandbox server: ${error.message}`);
    }
    setTimeout(loop, 500);
  };
  loop();
}

start();
