// My account's Security section: two-step sign-in with an authenticator app (TOTP) or
// passkeys, the recovery codes that stand in for them, and the passkeys themselves.

import { ApiError, api } from "../api.js";
import {
  clearErrors,
  confirmAction,
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
import { svgFromText } from "../svg.js";
import { createPasskey, passkeyFailure, passkeysSupported } from "../webauthn.js";

const RECOVERY_CODES_LOW = 3;
const PASSKEYS_MAX = 10; // the API's limit (409 past it)

/** What two-step sign-in means for this account, in a sentence. */
function statusText(totp, passkeys) {
  if (totp && passkeys) {
    return "You sign in with a passkey alone, or with your password and a passkey or a code from your authenticator app (or a recovery code).";
  }
  if (totp) {
    return "You sign in with your password and a code from your authenticator app (or a recovery code).";
  }
  if (passkeys) {
    return "You sign in with a passkey alone, or with your password and a passkey (or a recovery code).";
  }
  return "Your password alone signs you in. Add a passkey, or a code from an authenticator app on your phone, so that a stolen password is not enough.";
}

/** "Passkey on Linux" (the platform as the browser names it), made unique among `taken`. */
function defaultPasskeyName(taken) {
  const platform =
    (navigator.userAgentData && navigator.userAgentData.platform) ||
    [
      [/Android/, "Android"],
      [/iPhone|iPad|iPod/, "iOS"],
      [/Mac OS X|Macintosh/, "macOS"],
      [/Windows/, "Windows"],
      [/CrOS/, "ChromeOS"],
      [/Linux/, "Linux"],
    ].find(([pattern]) => pattern.test(navigator.userAgent))?.[1];
  const base = platform ? `Passkey on ${platform}` : "Passkey";
  let name = base;
  for (let n = 2; taken.has(name); n += 1) name = `${base} (${n})`;
  return name;
}

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
  const passkeysStatus = $("#passkeys-status");
  const passkeysList = $("#passkeys-list");
  const addButton = $("#passkey-add");
  const addForm = $("#passkey-add-form");
  const addNote = $("#passkey-add-note");
  const canAddPasskeys = passkeysSupported();
  // The codes on show, for Copy and Download; forgotten when the panel closes.
  let shownCodes = [];
  // The names of the passkeys listed, for a new one's default name.
  let passkeyNames = new Set();

  const fill = (user) => {
    const known = typeof user.totp_enabled === "boolean";
    const totp = user.totp_enabled === true;
    const passkeys = Number(user.passkeys) || 0;
    const on = totp || passkeys > 0;
    badge.textContent = known ? (on ? "On" : "Off") : "…";
    badge.className = `badge ${on ? "verified" : "unverified"}`;
    status.textContent = known ? statusText(totp, passkeys) : "";
    left.hidden = !on;
    const count = Number(user.recovery_codes_left) || 0;
    left.textContent =
      count === 0
        ? "No recovery codes left: make new ones, or losing your phone locks you out."
        : `${pluralize(count, "recovery code")} left.${count <= RECOVERY_CODES_LOW ? " Make new ones soon." : ""}`;
    left.className = count <= RECOVERY_CODES_LOW ? "warning" : "";
    setupButton.hidden = !known || totp;
    newCodesButton.hidden = !on;
    offButton.hidden = !totp;
    $("#totp-off-text").textContent = passkeys
      ? "Codes from your app will no longer be asked for. Your passkeys stay, and so do your recovery codes."
      : "Your password alone will sign you in again, and your recovery codes will stop working.";

    const full = passkeys >= PASSKEYS_MAX;
    passkeysStatus.textContent = [
      passkeys
        ? `${pluralize(passkeys, "passkey")}. Each one signs you in by itself, or as the step after your password.`
        : "A passkey signs you in with this device's screen lock (your fingerprint, face or PIN) or a security key: no password to type, and nothing a fake site could use.",
      full ? `An account has ${PASSKEYS_MAX} at most: remove one to add another.` : "",
      canAddPasskeys ? "" : "This browser cannot make passkeys: add them from one that can.",
    ]
      .filter(Boolean)
      .join(" ");
    addButton.hidden = !known || full || !canAddPasskeys;
  };

  /** Read the account again (what it shows may have changed) and show it; the account. */
  async function refresh() {
    const me = ctx.user();
    if (!me) return null; // signed out meanwhile
    try {
      const { data } = await api.getUser(me.username);
      ctx.setUser(data);
      fill(data);
      return data;
    } catch (error) {
      // A 401 has signed the tab out already, and the sign-in form says why.
      if (!(error instanceof ApiError && error.status === 401)) ctx.flash(describe(error), "error");
      return null;
    }
  }

  /** The account and its passkeys, read again. */
  async function update() {
    const user = await refresh();
    if (user) await loadPasskeys(user.passkeys);
    return user;
  }

  /** List the passkeys (none to read when the account says it has none). */
  async function loadPasskeys(count) {
    const me = ctx.user();
    if (!me) return;
    let passkeys = [];
    if (count !== 0) {
      passkeysList.setAttribute("aria-busy", "true");
      try {
        ({ data: passkeys } = await api.listPasskeys(me.username));
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 401)) ctx.flash(describe(error), "error");
        return;
      } finally {
        passkeysList.removeAttribute("aria-busy");
      }
    }
    passkeyNames = new Set(passkeys.map(({ name }) => name));
    passkeysList.replaceChildren(...passkeys.map((passkey) => passkeyItem(passkey)));
  }

  const passkeyItem = (passkey) => {
    const remove = h("button", { type: "button", class: "button secondary" }, "Remove");
    remove.setAttribute("aria-label", `Remove passkey ${passkey.name}`);
    onClick(remove, () => removePasskey(passkey));
    return h(
      "li",
      { "data-passkey-id": passkey.id },
      h(
        "div",
        { class: "passkey" },
        h(
          "p",
          { class: "passkey-name" },
          h("strong", {}, passkey.name),
          passkey.backed_up
            ? [
                " ",
                h(
                  "span",
                  {
                    class: "badge synced",
                    title: "Backed up by your password manager or platform: it signs you in on your other devices too",
                  },
                  "synced",
                ),
              ]
            : null,
        ),
        h(
          "p",
          { class: "passkey-dates muted" },
          "Added ",
          timeElement(passkey.created_at),
          " · ",
          passkey.last_used_at ? ["last used ", timeElement(passkey.last_used_at)] : "never used",
        ),
      ),
      remove,
    );
  };

  /** Show one panel (or none), with its heading focused; the others close. */
  const openPanel = (panel) => {
    for (const other of [enrol, codesPanel, offForm, addForm]) {
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
      "Each one signs you in once, in place of a passkey or a code from your authenticator app.",
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

  onClick(addButton, () => {
    addForm.reset();
    clearErrors(addForm);
    addNote.hidden = true;
    addForm.elements.name.value = defaultPasskeyName(passkeyNames);
    openPanel(addForm);
    addForm.elements.name.focus();
  });

  onClick($("#passkey-add-cancel"), () => {
    openPanel(null);
    addButton.focus();
  });

  onSubmit(addForm, async () => {
    addNote.hidden = true;
    const input = addForm.elements.name;
    const name = input.value.trim();
    if (!name) {
      setFieldError(input, "Name this passkey, to tell it apart from others.");
      input.focus();
      return;
    }
    const { username } = ctx.user();
    let options = null;
    try {
      const started = await withPassword(ctx, "Adding a passkey needs your password.", (password) =>
        api.passkeyOptions(username, password),
      );
      if (!started) {
        showFormError(addForm, "No passkey added: that needs your password.");
        return;
      }
      ({ options } = started.data);
      // The browser's dialog: this device, a password manager or a security key makes it.
      const credential = await createPasskey(options);
      const { data } = await api.addPasskey(username, name, credential);
      const codes = Array.isArray(data.recovery_codes) ? data.recovery_codes : [];
      if (codes.length) {
        showCodes(codes);
        ctx.flash(
          `Passkey “${data.name}” added: two-step sign-in is on. Save your recovery codes now.`,
          "success",
        );
      } else {
        openPanel(null);
        ctx.flash(`Passkey “${data.name}” added.`, "success");
      }
      await update();
      changed();
      if (!codes.length) addButton.focus();
    } catch (error) {
      const failure = passkeyFailure(error, { rpId: options?.rp?.id, adding: true });
      if (failure && failure.calm) {
        addNote.textContent = failure.message;
        addNote.hidden = false;
      } else if (failure) {
        showFormError(addForm, failure.message);
      } else if (
        error instanceof ApiError &&
        error.status === 422 &&
        error.errors.some(({ field }) => field === "credential")
      ) {
        // Most likely the options expired while the dialog was open: they are made afresh.
        showFormError(addForm, "Your device's answer was not accepted (it may have come too late). Try again.");
      } else {
        reportError(addForm, error);
        if (error instanceof ApiError && error.status === 409) await update(); // at the limit
      }
    }
  });

  async function removePasskey(passkey) {
    const sure = await confirmAction({
      title: "Remove this passkey?",
      text: `“${passkey.name}” will no longer sign you in. Delete it from your device or password manager as well.`,
      confirmLabel: "Remove passkey",
    });
    if (!sure) return;
    const { username } = ctx.user();
    let message = null;
    try {
      const done = await withPassword(ctx, "Removing a passkey needs your password.", (password) =>
        api.removePasskey(username, passkey.id, password),
      );
      if (!done) {
        ctx.flash("The passkey was not removed: that needs your password.", "error");
        return;
      }
      message = `Passkey “${passkey.name}” removed.`;
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        message = `Passkey “${passkey.name}” had been removed already.`;
      } else {
        ctx.flash(describe(error), "error");
        return;
      }
    }
    const user = await update();
    changed();
    const alone = user && !user.totp_enabled && !user.passkeys;
    ctx.flash(`${message}${alone ? " Your password alone signs you in now." : ""}`, "success");
    $("#passkeys-title").focus(); // its button went with it
  }

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
      const user = await refresh();
      ctx.flash(
        user && user.passkeys
          ? "The authenticator app is off: your passkeys still sign you in."
          : "Two-step sign-in is off: your password alone signs you in.",
        "success",
      );
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
  update(); // the session's copy of the account may predate a change made elsewhere
}
