// Signed in: my profile, my password, my second factor (security.js), my sessions, deleting
// my account.

import { ApiError, api } from "../api.js";
import {
  confirmAction,
  fromTemplate,
  h,
  onClick,
  onSubmit,
  pluralize,
  setFieldError,
  showFormError,
  timeElement,
} from "../dom.js";
import { describe, reportError } from "../messages.js";
import { withPassword } from "../reauth.js";
import { security } from "./security.js";

const PROFILE_FIELDS = ["first_name", "last_name", "email"];

export function account(ctx) {
  const view = fromTemplate("tpl-account");
  const me = ctx.user();
  const profileForm = view.querySelector("#profile-form");
  const passwordForm = view.querySelector("#password-form");
  const sessionsBody = view.querySelector("#sessions-table tbody");
  const sessionsCaption = view.querySelector("#sessions-caption");

  const emailStatus = view.querySelector("#account-email-status");
  const emailBadge = view.querySelector("#account-email-badge");
  const resendButton = view.querySelector("#resend-verification");

  const fill = (user) => {
    for (const name of PROFILE_FIELDS) profileForm.elements[name].value = user[name];
    // About the saved address, not what may be typed in the field.
    const known = typeof user.email_verified === "boolean";
    emailStatus.hidden = !known;
    emailBadge.textContent = user.email_verified ? "Verified" : "Not verified";
    emailBadge.className = `badge ${user.email_verified ? "verified" : "unverified"}`;
    resendButton.hidden = !known || user.email_verified;
  };
  fill(me);
  passwordForm.elements.username.value = me.username; // for password managers

  onSubmit(profileForm, async () => {
    const current = ctx.user();
    const changes = {};
    for (const name of PROFILE_FIELDS) {
      const value = profileForm.elements[name].value.trim();
      if (value !== current[name]) changes[name] = value;
    }
    if (!Object.keys(changes).length) {
      ctx.flash("Nothing to save: the profile is unchanged.", "success");
      return;
    }
    try {
      const saved = await withPassword(ctx, "Changing your email needs your password.", (password) =>
        api.updateUser(current.username, password ? { ...changes, current_password: password } : changes),
      );
      if (!saved) {
        showFormError(profileForm, "Not saved: changing your email needs your password.");
        return;
      }
      const { data } = saved;
      ctx.setUser(data);
      fill(data);
      const mailed =
        changes.email && data.email_verified === false
          ? ` We've sent a link to ${data.email}: open it to verify your new address.`
          : "";
      ctx.flash(`Your profile has been saved.${mailed}`, "success");
    } catch (error) {
      reportError(profileForm, error, {
        email: ["email", "That email address is already registered to another account."],
      });
    }
  });

  onClick(resendButton, async () => {
    try {
      await api.sendMyVerification();
      ctx.flash(
        `We've sent a verification link to ${ctx.user().email}. Open it to verify your address.`,
        "success",
      );
    } catch (error) {
      ctx.flash(describe(error), "error");
    }
  });

  onSubmit(passwordForm, async () => {
    const currentPassword = passwordForm.elements.current_password;
    const newPassword = passwordForm.elements.password;
    if (!currentPassword.value) {
      setFieldError(currentPassword, "Enter your current password.");
      currentPassword.focus();
      return;
    }
    try {
      await api.updateUser(ctx.user().username, {
        password: newPassword.value,
        current_password: currentPassword.value,
      });
      passwordForm.reset();
      passwordForm.elements.username.value = me.username;
      ctx.flash("Your password has been changed. Your other sessions were signed out.", "success");
      loadSessions();
    } catch (error) {
      currentPassword.value = "";
      newPassword.value = "";
      reportError(passwordForm, error);
    }
  });

  async function loadSessions() {
    if (!ctx.user()) return; // signed out meanwhile
    try {
      const { data } = await api.listSessions(ctx.user().username);
      sessionsBody.replaceChildren(...data.map((session) => sessionRow(session, endOne)));
      sessionsCaption.textContent = `Your sessions: ${pluralize(data.length, "session")}`;
    } catch (error) {
      sessionsCaption.textContent = "Your sessions could not be loaded";
      // A 401 has signed the tab out already (this view reads the account at the same time,
      // whose 401 may have come first): the sign-in form says why.
      if (!(error instanceof ApiError && error.status === 401)) ctx.flash(describe(error), "error");
    }
  }

  async function endOne(session) {
    try {
      await api.endSession(ctx.user().username, session.id);
      ctx.flash("That session has been signed out.", "success");
    } catch (error) {
      ctx.flash(describe(error), "error");
    }
    loadSessions();
  }

  onClick(view.querySelector("#revoke-sessions"), async () => {
    try {
      await api.revokeSessions(ctx.user().username);
      ctx.endSession("You have been signed out everywhere, this browser included.");
    } catch (error) {
      ctx.flash(describe(error), "error");
    }
  });

  onClick(view.querySelector("#delete-account"), async () => {
    const { username } = ctx.user();
    const sure = await confirmAction({
      title: "Delete your account?",
      text: `Your account “${username}” will be deleted and all your sessions signed out. This cannot be undone.`,
      confirmLabel: "Delete my account",
    });
    if (!sure) return;
    try {
      const deleted = await withPassword(ctx, "Deleting your account needs your password.", (password) =>
        api.deleteUser(username, password),
      );
      if (!deleted) return;
      ctx.endSession(`Your account “${username}” has been deleted.`);
    } catch (error) {
      ctx.flash(describe(error), "error");
    }
  });

  security(ctx, view.querySelector("#security"), { changed: loadSessions });
  loadSessions();
  return view;
}

function sessionRow(session, endOne) {
  const label = session.current
    ? h("span", { class: "badge current" }, "This browser")
    : h("span", { class: "muted" }, "Another sign-in");
  const device = [session.user_agent, session.address].filter(Boolean);
  const end = session.current
    ? null
    : h("button", { type: "button", class: "button secondary" }, "Sign out");
  if (end) {
    end.setAttribute("aria-label", `Sign out session ${session.id}`);
    onClick(end, () => endOne(session));
  }
  return h(
    "tr",
    { role: "row", class: session.current ? "current" : null, "data-session-id": session.id },
    h("td", { role: "cell", "data-label": "Session" }, label, " ", h("code", {}, session.id)),
    h(
      "td",
      { role: "cell", "data-label": "Device", class: "device" },
      device.length ? device.join(" · ") : h("span", { class: "muted" }, "Unknown"),
    ),
    h("td", { role: "cell", "data-label": "Signed in" }, timeElement(session.created_at)),
    h("td", { role: "cell", "data-label": "Last seen" }, timeElement(session.last_seen_at)),
    h("td", { role: "cell", "data-label": "Expires" }, timeElement(session.expires_at)),
    h("td", { role: "cell", "data-label": "" }, end),
  );
}
