// Signed in: my profile, my password, my sessions, deleting my account.

import { api } from "../api.js";
import {
  confirmAction,
  fromTemplate,
  h,
  onClick,
  onSubmit,
  pluralize,
  setFieldError,
  timeElement,
} from "../dom.js";
import { describe, reportError } from "../messages.js";

const PROFILE_FIELDS = ["first_name", "last_name", "email"];

export function account(ctx) {
  const view = fromTemplate("tpl-account");
  const me = ctx.user();
  const profileForm = view.querySelector("#profile-form");
  const passwordForm = view.querySelector("#password-form");
  const sessionsBody = view.querySelector("#sessions-table tbody");
  const sessionsCaption = view.querySelector("#sessions-caption");

  const fill = (user) => {
    for (const name of PROFILE_FIELDS) profileForm.elements[name].value = user[name];
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
      const { data } = await api.updateUser(current.username, changes);
      ctx.setUser(data);
      fill(data);
      ctx.flash("Your profile has been saved.", "success");
    } catch (error) {
      reportError(profileForm, error, {
        email: ["email", "That email address is already registered to another account."],
      });
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
    try {
      const { data } = await api.listSessions(ctx.user().username);
      sessionsBody.replaceChildren(...data.map(sessionRow));
      sessionsCaption.textContent = `Your sessions: ${pluralize(data.length, "session")}`;
    } catch (error) {
      sessionsCaption.textContent = "Your sessions could not be loaded";
      ctx.flash(describe(error), "error");
    }
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
      await api.deleteUser(username);
      ctx.endSession(`Your account “${username}” has been deleted.`);
    } catch (error) {
      ctx.flash(describe(error), "error");
    }
  });

  loadSessions();
  return view;
}

function sessionRow(session) {
  const label = session.current
    ? h("span", { class: "badge current" }, "This browser")
    : h("span", { class: "muted" }, "Another sign-in");
  return h(
    "tr",
    { role: "row", class: session.current ? "current" : null, "data-session-id": session.id },
    h("td", { role: "cell", "data-label": "Session" }, label, " ", h("code", {}, session.id)),
    h("td", { role: "cell", "data-label": "Signed in" }, timeElement(session.created_at)),
    h("td", { role: "cell", "data-label": "Last seen" }, timeElement(session.last_seen_at)),
    h("td", { role: "cell", "data-label": "Expires" }, timeElement(session.expires_at)),
  );
}
