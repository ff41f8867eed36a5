// Signed out: sign in (with a password, then maybe a second step: a code or a passkey; or
// with a passkey alone), register.

import { ApiError, EMAIL_NOT_VERIFIED, SECOND_FACTOR_NEEDED, api, setToken } from "../api.js";
import {
  clearErrors,
  fromTemplate,
  onClick,
  onSubmit,
  setFieldError,
  showFormError,
} from "../dom.js";
import { describe, reportError } from "../messages.js";
import { passkeyFailure, passkeysSupported, usePasskey } from "../webauthn.js";

const UNVERIFIED =
  "Verify your email address first: open the link we mailed you, or send a new one with the button below.";
// A passkey's sign-in has no username to send a new link for: the password's has.
const UNVERIFIED_PASSKEY =
  "Verify your email address first: open the link we mailed you. To have a new one sent, sign in with your password.";
const CHALLENGE_EXPIRED =
  "Your sign-in has expired (or was used already). Enter your password again.";
const PASSKEY_REFUSED =
  "That passkey was not accepted: it may have been removed from your account. Sign in with your password, or try another passkey.";
const PASSKEY_STEP_REFUSED =
  "Your passkey was not accepted, or this sign-in has expired. Enter your password again.";
const PASSKEY_ANSWER_REFUSED =
  "Your passkey's answer was not accepted. Try again, or enter a code.";

/** The code step's words, for the second factors the 202 lists. */
function codeStepText(totp, passkey) {
  if (totp && passkey) {
    return "Use a passkey, or enter the 6-digit code from your authenticator app, or a recovery code.";
  }
  if (totp) return "Enter the 6-digit code from your authenticator app, or a recovery code.";
  if (passkey) return "Use a passkey, or enter a recovery code.";
  return "Enter a recovery code.";
}

/** Show `message` in a status line (`note`) or an alert (`alert`), or clear both. */
function say({ note, alert }, message = "", calm = true) {
  note.textContent = calm ? message : "";
  note.hidden = !(calm && message);
  alert.textContent = calm ? "" : message;
  alert.hidden = calm || !message;
}

export function signIn(ctx) {
  const view = fromTemplate("tpl-signin");
  const form = view.querySelector("form");
  const { username, password } = form.elements;
  const unverified = view.querySelector("#signin-unverified");
  const mfaForm = view.querySelector("#mfa-form");
  const code = mfaForm.elements.code;
  const passkeyBlock = view.querySelector("#passkey-signin");
  const passkeyMessages = {
    note: view.querySelector("#passkey-signin-note"),
    alert: view.querySelector("#passkey-signin-error"),
  };
  const mfaPasskey = view.querySelector("#mfa-passkey");
  const mfaPasskeyButton = view.querySelector("#mfa-passkey-button");
  const mfaMessages = {
    note: view.querySelector("#mfa-passkey-note"),
    alert: mfaForm.querySelector("[data-form-error]"),
  };
  const canUsePasskeys = passkeysSupported();
  // The username whose password was right but whose address is not verified yet.
  let unverifiedName = null;
  // The second step (the answer to the right password of an account with a second factor:
  // its challenge, the methods it takes, a passkey's options): in this view's memory only,
  // and forgotten when the step ends.
  let step = null;
  let hasTotp = true;
  if (ctx.prefill.username) username.value = ctx.prefill.username;
  passkeyBlock.hidden = !canUsePasskeys;

  /** Show the password step (`message` above it) or, with a 202's answer, the code step. */
  const showStep = (next, message = null) => {
    step = next;
    form.hidden = Boolean(next);
    passkeyBlock.hidden = Boolean(next) || !canUsePasskeys;
    mfaForm.hidden = !next;
    view.querySelector("#signin-register").hidden = Boolean(next);
    clearErrors(form);
    clearErrors(mfaForm);
    say(passkeyMessages);
    say(mfaMessages);
    code.value = "";
    if (next) {
      const methods = Array.isArray(next.methods) ? next.methods : ["totp", "recovery_code"];
      const passkey = canUsePasskeys && methods.includes("webauthn") && Boolean(next.webauthn);
      hasTotp = methods.includes("totp");
      const cannot = methods.includes("webauthn") && !canUsePasskeys;
      view.querySelector("#mfa-text").textContent =
        codeStepText(hasTotp, passkey) + (cannot ? " (This browser cannot use passkeys.)" : "");
      view.querySelector("#mfa-code-label").textContent = hasTotp ? "Code" : "Recovery code";
      mfaPasskey.hidden = !passkey;
      (passkey ? mfaPasskeyButton : code).focus();
      return;
    }
    if (message) showFormError(form, message);
    password.focus();
  };

  // Whatever is typed as the username carries over to the form that asks for a reset link.
  view.querySelector("#forgot-link").addEventListener("click", (event) => {
    const typed = username.value.trim();
    if (!typed) return;
    event.preventDefault();
    ctx.go("/forgot", { prefill: { account: typed } });
  });

  onClick(view.querySelector("#signin-resend"), async () => {
    try {
      await api.requestVerification({ username: unverifiedName });
      ctx.flash(
        `We've sent a new verification link to the email address of “${unverifiedName}”. Open it, then sign in.`,
        "success",
      );
    } catch (error) {
      ctx.flash(describe(error), "error");
    }
  });

  onSubmit(form, async () => {
    unverified.hidden = true;
    say(passkeyMessages);
    const missing = [
      [username, !username.value.trim() && "Enter your username."],
      [password, !password.value && "Enter your password."],
    ].filter(([, message]) => message);
    if (missing.length) {
      for (const [input, message] of missing) setFieldError(input, message);
      missing[0][0].focus();
      return;
    }
    const name = username.value.trim();
    try {
      const { status, data } = await api.login(name, password.value);
      password.value = "";
      if (status === SECOND_FACTOR_NEEDED) {
        showStep(data);
        return;
      }
      setToken(data.token);
      ctx.signedIn(data.user);
    } catch (error) {
      password.value = "";
      reportError(form, error);
      if (error instanceof ApiError && error.type === EMAIL_NOT_VERIFIED) {
        // The API's detail speaks to API clients (it names the route); this page has a button.
        showFormError(form, UNVERIFIED);
        unverifiedName = name;
        unverified.hidden = false;
        // The password was right: typing it again would not help, the button might.
        unverified.querySelector("button").focus();
        return;
      }
      password.focus();
    }
  });

  // A passkey alone: the browser offers this site's passkeys, the API names the account.
  onClick(view.querySelector("#passkey-signin-button"), async () => {
    unverified.hidden = true;
    clearErrors(form);
    say(passkeyMessages);
    let options = null;
    try {
      ({ options } = (await api.passkeySignInOptions()).data);
      const credential = await usePasskey(options);
      const { data } = await api.passkeySignIn(credential);
      setToken(data.token);
      ctx.signedIn(data.user);
    } catch (error) {
      const failure = passkeyFailure(error, { rpId: options?.rpId });
      if (failure) say(passkeyMessages, failure.message, failure.calm);
      else if (error instanceof ApiError && error.status === 401) {
        say(passkeyMessages, PASSKEY_REFUSED, false);
      } else if (error instanceof ApiError && error.type === EMAIL_NOT_VERIFIED) {
        say(passkeyMessages, UNVERIFIED_PASSKEY, false);
      } else say(passkeyMessages, describe(error), false);
    }
  });

  // A passkey as the second step, answering the 202's own options.
  onClick(mfaPasskeyButton, async () => {
    clearErrors(mfaForm);
    say(mfaMessages);
    const current = step;
    try {
      const credential = await usePasskey(current.webauthn);
      const { data } = await api.verifyLoginWithPasskey(current.challenge, credential);
      step = null;
      setToken(data.token);
      ctx.signedIn(data.user);
    } catch (error) {
      if (step !== current) return; // cancelled meanwhile: back on the password step
      const failure = passkeyFailure(error, {
        rpId: current.webauthn.rpId,
        instead: hasTotp ? "enter a code" : "enter a recovery code",
      });
      if (failure) say(mfaMessages, failure.message, failure.calm);
      else if (error instanceof ApiError && error.status === 401) {
        // Refused, or the challenge is unknown, used or expired: a new sign-in makes another.
        showStep(null, PASSKEY_STEP_REFUSED);
      } else if (error instanceof ApiError && error.status === 422) {
        say(mfaMessages, PASSKEY_ANSWER_REFUSED, false);
      } else say(mfaMessages, describe(error), false);
      if (!mfaForm.hidden) mfaPasskeyButton.focus();
    }
  });

  onSubmit(mfaForm, async () => {
    say(mfaMessages);
    const typed = code.value.trim();
    if (!typed) {
      setFieldError(
        code,
        hasTotp
          ? "Enter the code from your authenticator app, or a recovery code."
          : "Enter a recovery code.",
      );
      code.focus();
      return;
    }
    try {
      const { data } = await api.verifyLogin(step.challenge, typed);
      step = null;
      setToken(data.token);
      ctx.signedIn(data.user);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        // Unknown, used or expired: only a new sign-in makes another.
        showStep(null, CHALLENGE_EXPIRED);
        return;
      }
      // A wrong code (422, beside the field), or too many (429, with when to try again):
      // the challenge still holds until it expires.
      code.value = "";
      reportError(mfaForm, error);
      code.focus();
    }
  });

  view.querySelector("#mfa-cancel").addEventListener("click", (event) => {
    event.preventDefault(); // the link's own address is this view: stay, on its first step
    showStep(null);
  });
  return view;
}

export function register(ctx) {
  const view = fromTemplate("tpl-register");
  const form = view.querySelector("form");

  onSubmit(form, async () => {
    const fields = Object.fromEntries(
      ["username", "email", "first_name", "last_name", "password"].map((name) => [
        name,
        form.elements[name].value,
      ]),
    );
    fields.username = fields.username.trim();
    try {
      const { data } = await api.register(fields);
      ctx.go("/signin", {
        message: `Account “${data.username}” created. Sign in with your new password.`,
        prefill: { username: data.username },
      });
    } catch (error) {
      reportError(form, error, {
        username: ["username", "That username is taken; choose another."],
        email: ["email", "That email address is already registered."],
      });
    }
  });
  return view;
}
