// Signed out: sign in (with its second step, a code), register.

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

const UNVERIFIED =
  "Verify your email address first: open the link we mailed you, or send a new one with the button below.";
const CHALLENGE_EXPIRED =
  "Your sign-in has expired (or was used already). Enter your password again.";

export function signIn(ctx) {
  const view = fromTemplate("tpl-signin");
  const form = view.querySelector("form");
  const { username, password } = form.elements;
  const unverified = view.querySelector("#signin-unverified");
  const mfaForm = view.querySelector("#mfa-form");
  const code = mfaForm.elements.code;
  // The username whose password was right but whose address is not verified yet.
  let unverifiedName = null;
  // The second step's challenge (the answer to the right password of an account with a
  // second factor): in this view's memory only, and forgotten when the step ends.
  let challenge = null;
  if (ctx.prefill.username) username.value = ctx.prefill.username;

  /** Show the password step (`message` above it) or, with a challenge, the code step. */
  const showStep = (next, message = null) => {
    challenge = next;
    form.hidden = Boolean(next);
    mfaForm.hidden = !next;
    view.querySelector("#signin-register").hidden = Boolean(next);
    clearErrors(form);
    clearErrors(mfaForm);
    code.value = "";
    if (next) {
      code.focus();
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
        showStep(data.challenge);
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

  onSubmit(mfaForm, async () => {
    const typed = code.value.trim();
    if (!typed) {
      setFieldError(code, "Enter the code from your authenticator app, or a recovery code.");
      code.focus();
      return;
    }
    try {
      const { data } = await api.verifyLogin(challenge, typed);
      challenge = null;
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
