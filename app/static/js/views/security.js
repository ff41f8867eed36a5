// My account's Security section: two-step sign-in with an authenticator app (TOTP) and the
// recovery codes that stand in for it.

import { ApiError, api } from "../api.js";
import {
  clearErrors,
  h,
  onClick,
  onSubmit,
  pluralize,
  setFieldError,
  showFormError,
} from "../dom.js";
import { describe, reportError } from "../messages.js";
import { withPassword } from "../reauth.js";
import { svgFromText } from "../svg.js";

const RECOVERY_CODES_LOW = 3;

/**
 * Fill in and run `section` (the #security card of My account). `changed()` is called after
 * each change, for the rest of the view to read what it may have ended (sessions).
 */
export function security(ctx, section, { changed = () => {} } = {}) {
  const $ = (selector) => section.querySelector(selector);
  const badge = $("#totp-badge");
  const status = $("#totp-status");
  const left = $("#recovery-codes-left");
  const setupButton = $("#totp-setup");
  const newCodesButton = $("#recovery-codes-new");
  const offButton = $("#totp-off");
  const enrol = $("#totp-enrol");
  const confirmForm = $("#totp-confirm-form");
  const codesPanel = $("#recovery-codes");
  const codesList = $("#recovery-codes-list");
  const offForm = $("#totp-off-form");
  // The codes on show, for Copy and Download; forgotten when the panel closes.
  let shownCodes = [];

  const fill = (user) => {
    const known = typeof user.totp_enabled === "boolean";
    const on = user.totp_enabled === true;
    badge.textContent = known ? (on ? "On" : "Off") : "…";
    badge.className = `badge ${on ? "verified" : "unverified"}`;
    status.textContent = !known
      ? ""
      : on
        ? "You sign in with your password and a code from your authenticator app (or a recovery code)."
        : "Your password alone signs you in. Add a code from an authenticator app on your phone, so that a stolen password is not enough.";
    left.hidden = !on;
    const count = Number(user.recovery_codes_left) || 0;
    left.textContent =
      count === 0
        ? "No recovery codes left: make new ones, or losing your phone locks you out."
        : `${pluralize(count, "recovery code")} left.${count <= RECOVERY_CODES_LOW ? " Make new ones soon." : ""}`;
    left.className = count <= RECOVERY_CODES_LOW ? "warning" : "";
    setupButton.hidden = !known || on;
    newCodesButton.hidden = !on;
    offButton.hidden = !on;
  };

  /** Read the account again (what it shows may have changed) and show it. */
  async function refresh() {
    const me = ctx.user();
    if (!me) return; // signed out meanwhile
    try {
      const { data } = await api.getUser(me.username);
      ctx.setUser(data);
      fill(data);
    } catch (error) {
      // A 401 has signed the tab out already, and the sign-in form says why.
      if (!(error instanceof ApiError && error.status === 401)) ctx.flash(describe(error), "error");
    }
  }

  /** Show one panel (or none), with its heading focused; the others close. */
  const openPanel = (panel) => {
    for (const other of [enrol, codesPanel, offForm]) {
      if (other !== panel) other.hidden = true;
    }
    if (panel !== codesPanel) forgetCodes();
    if (!panel) return;
    panel.hidden = false;
    panel.querySelector("h3").focus();
  };

  const forgetCodes = () => {
    shownCodes = [];
    codesList.replaceChildren();
  };

  const showCodes = (codes) => {
    openPanel(codesPanel);
    shownCodes = codes.map(String);
    codesList.replaceChildren(...shownCodes.map((code) => h("li", {}, h("code", {}, code))));
  };

  onClick(setupButton, async () => {
    try {
      const { data } = await api.startTotp(ctx.user().username);
      showEnrolment(data);
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) await refresh(); // on already
      ctx.flash(describe(error), "error");
    }
  });

  const showEnrolment = ({ secret, otpauth_uri: uri, qr_svg: svg }) => {
    const qr = $("#totp-qr");
    qr.replaceChildren();
    qr.hidden = true;
    try {
      const drawing = svgFromText(String(svg || ""));
      drawing.setAttribute("role", "img");
      drawing.setAttribute("aria-label", "QR code of the key, for your authenticator app");
      qr.append(drawing);
      qr.hidden = false;
    } catch {
      // No QR code to show: the key below, typed in, does the same.
    }
    // In groups of four, as authenticator apps show and take it.
    $("#totp-secret").textContent = String(secret).replace(/(.{4})(?=.)/g, "$1 ");
    const appLink = $("#totp-app-link");
    const linkable = typeof uri === "string" && uri.startsWith("otpauth://");
    $("#totp-app-link-line").hidden = !linkable;
    appLink.setAttribute("href", linkable ? uri : "#/account");
    confirmForm.reset();
    clearErrors(confirmForm);
    openPanel(enrol);
  };

  onSubmit(confirmForm, async () => {
    const code = confirmForm.elements.code;
    const typed = code.value.replace(/\s+/g, "");
    if (!/^\d{6}$/.test(typed)) {
      setFieldError(code, "Enter the 6 digits your authenticator app shows.");
      code.focus();
      return;
    }
    const { username } = ctx.user();
    try {
      const done = await withPassword(ctx, "Turning on two-step sign-in needs your password.", (password) =>
        api.confirmTotp(username, typed, password),
      );
      if (!done) {
        showFormError(confirmForm, "Not turned on: that needs your password.");
        return;
      }
      showCodes(done.data.recovery_codes);
      ctx.flash("Two-step sign-in is on. Save your recovery codes now.", "success");
      await refresh();
      changed();
    } catch (error) {
      code.value = "";
      reportError(confirmForm, error);
      if (error instanceof ApiError && error.status === 409) await refresh(); // on already
    }
  });

  onClick($("#totp-enrol-cancel"), () => {
    openPanel(null);
    setupButton.focus();
  });

  onClick(newCodesButton, async () => {
    const { username } = ctx.user();
    try {
      const done = await withPassword(ctx, "Making new recovery codes needs your password.", (password) =>
        api.newRecoveryCodes(username, password),
      );
      if (!done) {
        ctx.flash("No new recovery codes: making them needs your password.", "error");
        return;
      }
      showCodes(done.data.recovery_codes);
      ctx.flash("New recovery codes made: the old ones no longer work. Save these now.", "success");
      await refresh();
      changed();
    } catch (error) {
      ctx.flash(describe(error), "error");
      if (error instanceof ApiError && error.status === 409) await refresh(); // off meanwhile
    }
  });

  onClick($("#recovery-codes-copy"), async () => {
    try {
      await navigator.clipboard.writeText(codesText());
      ctx.flash("Recovery codes copied. Paste them somewhere safe.", "success");
    } catch {
      ctx.flash("They could not be copied here: download them, or write them down.", "error");
    }
  });

  onClick($("#recovery-codes-download"), () => {
    const url = URL.createObjectURL(new Blob([codesText()], { type: "text/plain" }));
    const link = h("a", { href: url, download: `recovery-codes-${ctx.user().username}.txt` });
    link.hidden = true;
    section.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000); // once the download has it
  });

  onClick($("#recovery-codes-done"), () => {
    openPanel(null);
    (newCodesButton.hidden ? setupButton : newCodesButton).focus();
  });

  const codesText = () =>
    [
      `Recovery codes for ${ctx.user().username} (${window.location.origin})`,
      "Each one signs you in once, in place of a code from your authenticator app.",
      "",
      ...shownCodes,
      "",
    ].join("\n");

  onClick(offButton, () => {
    offForm.reset();
    clearErrors(offForm);
    offForm.elements.username.value = ctx.user().username; // for password managers
    openPanel(offForm);
    offForm.elements.password.focus();
  });

  onClick($("#totp-off-cancel"), () => {
    openPanel(null);
    offButton.focus();
  });

  onSubmit(offForm, async () => {
    const { password, code } = offForm.elements;
    const missing = [
      [password, !password.value && "Enter your password."],
      [code, !code.value.trim() && "Enter a code from your authenticator app, or a recovery code."],
    ].filter(([, message]) => message);
    if (missing.length) {
      for (const [input, message] of missing) setFieldError(input, message);
      missing[0][0].focus();
      return;
    }
    try {
      await api.disableTotp(ctx.user().username, password.value, code.value.trim());
      openPanel(null);
      ctx.flash("Two-step sign-in is off: your password alone signs you in.", "success");
      await refresh();
      changed();
      setupButton.focus();
    } catch (error) {
      code.value = "";
      reportError(offForm, error);
    } finally {
      password.value = ""; // the password stays nowhere
    }
  });

  fill(ctx.user());
  refresh(); // the session's copy of the account may predate a change made elsewhere
}
