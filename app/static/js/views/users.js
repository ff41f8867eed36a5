// Signed in: the users table (a page at a time), a user's profile, and admin tools.

import { api, nextLink } from "../api.js";
import { confirmAction, fromTemplate, h, onClick, onSubmit, pluralize, timeElement } from "../dom.js";
import { describe, reportError } from "../messages.js";

const PAGE_SIZES = [10, 25, 50, 100];
const DEFAULT_PAGE_SIZE = 25;

/** Users per page: `?page_size=N` (1 to 100) in the page's URL, else 25. */
export function pageSize() {
  const raw = new URLSearchParams(window.location.search).get("page_size");
  const size = Number(raw);
  return Number.isInteger(size) && size >= 1 && size <= 100 ? size : DEFAULT_PAGE_SIZE;
}

// The pages seen so far (the API's cursors only go forward), kept across views so that
// coming back from a profile shows the same page (and the same search, for an admin).
const pager = { size: null, paths: [], index: 0, query: "" };

function resetPager(size, query = "") {
  pager.size = size;
  pager.query = query;
  pager.paths = [query ? api.searchPage(size, query) : api.firstPage(size)];
  pager.index = 0;
}

export function forgetPages() {
  pager.size = null;
}

export function list(ctx) {
  const view = fromTemplate("tpl-users");
  const select = view.querySelector("#page-size");
  const region = view.querySelector(".table-wrap");
  const caption = view.querySelector("caption");
  const tbody = view.querySelector("tbody");
  const prev = view.querySelector("#prev-page");
  const next = view.querySelector("#next-page");
  const search = view.querySelector("#user-search");
  const clear = view.querySelector("#clear-search");

  const size = pageSize();
  if (pager.size !== size) resetPager(size);
  const sizes = [...new Set([...PAGE_SIZES, size])].sort((a, b) => a - b);
  select.append(...sizes.map((n) => h("option", { value: n, selected: n === size }, String(n))));

  let nextPath = null;

  async function load(focusTable) {
    region.setAttribute("aria-busy", "true");
    try {
      const { data, headers } = await api.listUsers(pager.paths[pager.index]);
      nextPath = nextLink(headers);
      tbody.replaceChildren(...data.map((user) => userRow(ctx, user)));
      if (!data.length) {
        const none = pager.query ? `No user matches “${pager.query}”.` : "No users on this page.";
        tbody.append(h("tr", { role: "row" }, h("td", { role: "cell", colspan: 3 }, none)));
      }
      const found = pager.query ? ` matching “${pager.query}”` : "";
      caption.textContent = `Page ${pager.index + 1} · ${pluralize(data.length, "user")}${found} on this page`;
    } catch (error) {
      nextPath = null;
      caption.textContent = "Users could not be loaded";
      ctx.flash(describe(error), "error");
    } finally {
      region.removeAttribute("aria-busy");
      prev.disabled = pager.index === 0;
      next.disabled = !nextPath;
      if (focusTable) region.focus();
    }
  }

  next.addEventListener("click", () => {
    if (!nextPath) return;
    pager.paths = [...pager.paths.slice(0, pager.index + 1), nextPath];
    pager.index += 1;
    load(true);
  });
  prev.addEventListener("click", () => {
    if (pager.index === 0) return;
    pager.index -= 1;
    load(true);
  });
  select.addEventListener("change", () => {
    // Kept in the page's URL, so that a reload or a bookmark keeps it.
    const url = new URL(window.location.href);
    url.searchParams.set("page_size", select.value);
    window.history.replaceState(null, "", url);
    resetPager(pageSize(), pager.query);
    load(false);
  });

  if (ctx.user().account_type === "admin_user") {
    search.hidden = false;
    search.elements.query.value = pager.query;
    clear.hidden = !pager.query;
    onSubmit(search, async () => {
      resetPager(pageSize(), search.elements.query.value.trim());
      clear.hidden = !pager.query;
      await load(false);
    });
    clear.addEventListener("click", () => {
      search.elements.query.value = "";
      clear.hidden = true;
      resetPager(pageSize());
      load(false);
    });
  }

  prev.disabled = next.disabled = true;
  load(false);
  return view;
}

function userRow(ctx, user) {
  const href = `#/users/${encodeURIComponent(user.username)}`;
  const row = h(
    "tr",
    { class: "clickable", role: "row", "data-username": user.username },
    h("td", { role: "cell", class: "username" }, h("a", { href }, user.username)),
    h("td", { role: "cell", class: "name" }, `${user.first_name} ${user.last_name}`),
    h(
      "td",
      { role: "cell", class: "type" },
      h("span", { class: `badge ${user.account_type}` }, user.account_type),
      // Only an admin's list says whether an account is disabled.
      user.disabled ? h("span", { class: "badge disabled" }, "disabled") : null,
    ),
  );
  // The whole row opens the profile for a pointer; the link is there for the keyboard.
  row.addEventListener("click", (event) => {
    if (!event.target.closest("a")) ctx.go(`/users/${encodeURIComponent(user.username)}`);
  });
  return row;
}

function verifiedBadge(verified) {
  return h(
    "span",
    { class: `badge ${verified ? "verified" : "unverified"}` },
    verified ? "Verified" : "Not verified",
  );
}

function decoded(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // a mistyped address: the API will say there is no such user
  }
}

export function profile(ctx, encodedUsername) {
  const username = decoded(encodedUsername);
  const view = fromTemplate("tpl-profile");
  const title = view.querySelector("h1");
  const details = view.querySelector("#profile-details");
  const tools = view.querySelector("#admin-tools");
  const typeForm = view.querySelector("#account-type-form");
  const disableButton = view.querySelector("#disable-user");
  const enableButton = view.querySelector("#enable-user");
  title.textContent = username;

  const show = (user) => {
    title.textContent = `${user.first_name} ${user.last_name}`;
    ctx.setTitle(title.textContent);
    const rows = [
      ["Username", user.username],
      ["First name", user.first_name],
      ["Last name", user.last_name],
      ["Account type", h("span", { class: `badge ${user.account_type}` }, user.account_type)],
    ];
    // The full view, for the user themself or an admin.
    if (user.email) {
      const verified =
        typeof user.email_verified === "boolean"
          ? [" ", verifiedBadge(user.email_verified)]
          : [];
      rows.push(["Email", [user.email, ...verified]]);
    }
    if (user.disabled !== undefined) {
      const status = user.disabled ? "disabled" : "active";
      rows.push(["Status", h("span", { class: `badge ${status}` }, status)]);
      disableButton.hidden = user.disabled;
      enableButton.hidden = !user.disabled;
    }
    if (user.created_at) rows.push(["Registered", timeElement(user.created_at)]);
    if (user.updated_at) rows.push(["Last changed", timeElement(user.updated_at)]);
    details.replaceChildren(
      ...rows.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]),
    );
    typeForm.elements.account_type.value = user.account_type;
  };

  const me = ctx.user();
  if (me.account_type === "admin_user" && me.username !== username.toLowerCase()) {
    tools.hidden = false;
    onSubmit(typeForm, async () => {
      try {
        const accountType = typeForm.elements.account_type.value;
        const { data } = await api.updateUser(username, { account_type: accountType });
        show(data);
        ctx.flash(`${data.username} is now ${data.account_type}.`, "success");
      } catch (error) {
        reportError(typeForm, error);
      }
    });
    const setDisabled = async (disabled) => {
      try {
        const { data } = await api.updateUser(username, { disabled });
        show(data);
        const done = disabled ? "disabled: their sessions have ended" : "enabled";
        ctx.flash(`The account “${data.username}” is ${done}.`, "success");
        (disabled ? enableButton : disableButton).focus();
      } catch (error) {
        ctx.flash(describe(error), "error");
      }
    };
    onClick(disableButton, async () => {
      const sure = await confirmAction({
        title: `Disable ${username}?`,
        text: `“${username}” will be signed out everywhere and unable to sign in until an admin enables the account again.`,
        confirmLabel: "Disable user",
      });
      if (sure) await setDisabled(true);
    });
    onClick(enableButton, () => setDisabled(false));
    onClick(view.querySelector("#delete-user"), async () => {
      const sure = await confirmAction({
        title: `Delete ${username}?`,
        text: `The account “${username}” and all its sessions will be deleted. This cannot be undone.`,
        confirmLabel: "Delete user",
      });
      if (!sure) return;
      try {
        await api.deleteUser(username);
        ctx.go("/users", { message: `The account “${username}” was deleted.` });
      } catch (error) {
        ctx.flash(describe(error), "error");
      }
    });
  }

  api.getUser(username).then(
    ({ data }) => show(data),
    (error) => {
      tools.hidden = true;
      title.textContent = error.status === 404 ? "No such user" : username;
      ctx.setTitle(title.textContent);
      ctx.flash(describe(error), "error");
    },
  );
  return view;
}
