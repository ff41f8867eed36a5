// The dashboard: a hash router over the views, the signed-in header, and the session.

import { api, clearToken, getToken, onUnauthorized } from "./js/api.js";
import { describe } from "./js/messages.js";
import { account } from "./js/views/account.js";
import { register, signIn } from "./js/views/auth.js";
import { forgotPassword, resetPassword, verifyEmail } from "./js/views/recovery.js";
import { forgetPages, list, profile } from "./js/views/users.js";

// `signedOut`: only when signed out; `anyone`: signed in or not (the links in mails, which
// open wherever the person happens to be); neither: only when signed in.
const ROUTES = [
  { path: /^\/signin$/, view: signIn, signedOut: true },
  { path: /^\/register$/, view: register, signedOut: true },
  { path: /^\/forgot$/, view: forgotPassword, signedOut: true },
  { path: /^\/reset$/, view: resetPassword, anyone: true },
  { path: /^\/verify$/, view: verifyEmail, anyone: true },
  { path: /^\/users$/, view: list, nav: "users" },
  { path: /^\/users\/([^/]+)$/, view: profile, nav: "users" },
  { path: /^\/account$/, view: account, nav: "account" },
];
const HOME = { signedIn: "/users", signedOut: "/signin" };
const APP_NAME = "User accounts";

const state = { user: null, rendered: false, pending: null };
const viewRoot = document.getElementById("view");
const flashBox = document.getElementById("flash");

/** What every view may use. */
const ctx = {
  prefill: {},
  // The fragment's own query (`#/reset?token=…`), for the view just opened.
  query: new URLSearchParams(),
  user: () => state.user,
  go,
  flash,
  setTitle,
  setUser,
  signedIn(user) {
    forgetPages();
    setUser(user);
    go(HOME.signedIn);
  },
  endSession,
};

/** Show `path`; `message` is shown on the new view, `prefill` is given to it. */
function go(path, { message = null, kind = "success", prefill = {} } = {}) {
  state.pending = { message, kind, prefill };
  if (window.location.hash === `#${path}`) render();
  else window.location.hash = path; // hashchange renders
}

function render() {
  const hash = window.location.hash;
  // An in-page anchor (the skip link) once the page is shown; on opening, the home view.
  if (hash && !hash.startsWith("#/") && state.rendered) return;
  // `#/reset?token=…`: the routes match the path, the view reads the query.
  const [path, query = ""] = splitOnce(hash.slice(1), "?");
  const home = state.user ? HOME.signedIn : HOME.signedOut;
  const route = ROUTES.find((candidate) => candidate.path.test(path));
  if (!route || (!route.anyone && Boolean(route.signedOut) === Boolean(state.user))) {
    window.location.replace(`#${home}`); // hashchange renders it
    return;
  }
  const { message, kind, prefill } = state.pending || {};
  state.pending = null;
  ctx.prefill = prefill || {};
  ctx.query = new URLSearchParams(query);

  const params = path.match(route.path).slice(1);
  const view = route.view(ctx, ...params);
  viewRoot.replaceChildren(view);
  updateNav(route.nav);
  const heading = view.querySelector("h1");
  setTitle(heading.textContent);
  flash(message || "", kind);
  // Move focus to the new view's heading, so keyboard and screen reader users start there
  // (not on the first load: the page has just opened).
  if (state.rendered) heading.focus();
  state.rendered = true;
}

function splitOnce(text, separator) {
  const at = text.indexOf(separator);
  return at === -1 ? [text] : [text.slice(0, at), text.slice(at + 1)];
}

function setTitle(text) {
  document.title = text ? `${text} · ${APP_NAME}` : APP_NAME;
}

function flash(message, kind = "success") {
  flashBox.textContent = message;
  flashBox.className = message ? `flash ${kind}` : "flash";
}

function setUser(user) {
  state.user = user;
  document.getElementById("welcome-name").textContent = user
    ? `${user.first_name} ${user.last_name}`
    : "";
  document.getElementById("welcome-type").textContent = user ? user.account_type : "";
  document.getElementById("account-summary").hidden = !user;
  document.getElementById("main-nav").hidden = !user;
}

function updateNav(current) {
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

/** Forget the session here (the server has ended it) and show the sign-in form. */
function endSession(message) {
  clearToken();
  setUser(null);
  forgetPages();
  go(HOME.signedOut, { message, kind: "success" });
}

async function signOut() {
  try {
    await api.logout();
  } catch {
    // Already ended on the server (a 401 is handled below): signing out here still counts.
  }
  if (state.user) endSession("You have signed out.");
}

async function start() {
  onUnauthorized(() => {
    if (state.user) endSession("Your session has ended. Please sign in again.");
    else clearToken();
  });
  document.getElementById("sign-out").addEventListener("click", signOut);
  if (getToken()) {
    try {
      const { data } = await api.me();
      setUser(data);
    } catch (error) {
      if (error.status !== 401) flash(describe(error), "error");
    }
  }
  window.addEventListener("hashchange", render);
  render();
}

start();
