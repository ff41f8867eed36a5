// The mailed links' side: asking for a password reset, setting the new password, and
// verifying an email address.

import { ApiError, INVALID_TOKEN, api } from "../api.js";
import { fromTemplate, onSubmit, setFieldError } from "../dom.js";
import { describe, reportError } from "../messages.js";

const PASSWORD_CHANGED = "Password changed. Sign in with your new password.";
const LINK_INVALID =
  "This link is no longer valid: it has expired, has been used already, or was copied incompletely.";
const LINK_MISSING =
  "This page needs the link from your email. Open that link again (it works until it is used or expires), or ask for a new one.";
const VERIFY_LINK_MISSING =
  "This page needs the link from your email. Open that link again (it works until it is used or expires).";

/**
 * The token of a mailed link (`#/reset?token=…`), taken out of the address bar at once so
 * that it stays in no history entry, bookmark or shared screenshot: from here on it lives
 * in the view's memory only. A reload therefore needs the mailed link again.
 */
function takeToken(ctx, path) {
  const token = ctx.query.get("token") || "";
  if (ctx.query.has("token")) window.history.replaceState(window.history.state, "", `#${path}`);
  return token;
}

/** Whether the API refused the token itself: unknown, used, expired, or not even well formed. */
function badToken(error) {
  if (!(error instanceof ApiError)) return false;
  if (error.status === 400 && error.type === INVALID_TOKEN) return true;
  return error.status === 422 && error.errors.some(({ field }) => field === "token");
}

export function forgotPassword(ctx) {
  const view = fromTemplate("tpl-forgot");
  const form = view.querySelector("form");
  const account = form.elements.account;
  if (ctx.prefill.account) account.value = ctx.prefill.account;

  onSubmit(form, async () => {
    const value = account.value.trim();
    if (!value) {
      setFieldError(account, "Enter your username or email address.");
      account.focus();
      return;
    }
    const who = value.includes("@") ? { email: value } : { username: value };
    try {
      await api.requestPasswordReset(who);
      // The API answers the same whether or not an account matches, and so does the page.
      ctx.flash(
        `If an account matches “${value}”, we've sent a link to set a new password to its email address. It may take a minute to arrive; check your spam folder too.`,
        "success",
      );
    } catch (error) {
      // The API names the field it was sent (email or username); the page has one for both.
      if (error instanceof ApiError) {
        error.errors = error.errors.map((item) =>
          item.field === "email" || item.field === "username" ? { ...item, field: "account" } : item,
        );
      }
      reportError(form, error);
    }
  });
  return view;
}

export function resetPassword(ctx) {
  const view = fromTemplate("tpl-reset");
  const form = view.querySelector("form");
  const problem = view.querySelector("#reset-problem");
  const { password, confirm } = form.elements;
  const token = takeToken(ctx, "/reset");

  const showProblem = (text) => {
    form.hidden = true;
    problem.querySelector("[data-problem-text]").textContent = text;
    if (ctx.user()) {
      // Signed in, the password changes from My account (no mail needed).
      const link = problem.querySelector("[data-problem-link]");
      link.href = "#/account";
      link.textContent = "Change your password from My account";
    }
    problem.hidden = false;
  };

  if (!token) {
    showProblem(LINK_MISSING);
    return view;
  }

  onSubmit(form, async () => {
    if (!password.value) {
      setFieldError(password, "Enter a new password.");
      password.focus();
      return;
    }
    if (confirm.value !== password.value) {
      setFieldError(confirm, "The two passwords differ: type the new password again.");
      confirm.value = "";
      confirm.focus();
      return;
    }
    try {
      await api.resetPassword(token, password.value);
    } catch (error) {
      password.value = "";
      confirm.value = "";
      if (badToken(error)) {
        showProblem(LINK_INVALID);
        problem.focus(); // the form, and the button that had focus, are gone
        return;
      }
      // A refused password leaves the token usable: the person tries another one.
      reportError(form, error);
      return;
    }
    // Every session of the account has ended on the server, this tab's too if it was theirs.
    if (ctx.user()) ctx.endSession(PASSWORD_CHANGED);
    else ctx.go("/signin", { message: PASSWORD_CHANGED });
  });
  return view;
}

export function verifyEmail(ctx) {
  const view = fromTemplate("tpl-verify");
  const checking = view.querySelector("#verify-checking");
  const done = view.querySelector("#verify-done");
  const problem = view.querySelector("#verify-problem");
  const next = view.querySelector("#verify-next");
  const nextLink = next.querySelector("a");
  const token = takeToken(ctx, "/verify");

  const finish = (box, text, [href, label]) => {
    checking.hidden = true;
    box.textContent = text;
    nextLink.href = href;
    nextLink.textContent = label;
    next.hidden = false;
  };
  const signedIn = () => Boolean(ctx.user());
  const fail = (text) =>
    finish(
      problem,
      text,
      signedIn()
        ? ["#/account", "Send a new link from My account"]
        : ["#/signin", "Sign in to send a new link"],
    );

  if (!token) {
    fail(VERIFY_LINK_MISSING);
    return view;
  }

  api.verifyEmail(token).then(
    async () => {
      if (signedIn()) {
        try {
          const { data } = await api.me();
          ctx.setUser(data); // My account then shows the address as verified
        } catch {
          // The address is verified all the same; a reload shows it in My account.
        }
      }
      finish(
        done,
        "Your email address is verified.",
        signedIn() ? ["#/account", "Go to My account"] : ["#/signin", "Sign in"],
      );
    },
    (error) => fail(badToken(error) ? LINK_INVALID : describe(error)),
  );
  return view;
}
