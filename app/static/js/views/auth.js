// Signed out: sign in, register.

import { api, setToken } from "../api.js";
import { fromTemplate, onSubmit, setFieldError } from "../dom.js";
import { reportError } from "../messages.js";

export function signIn(ctx) {
  const view = fromTemplate("tpl-signin");
  const form = view.querySelector("form");
  const { username, password } = form.elements;
  if (ctx.prefill.username) username.value = ctx.prefill.username;

  onSubmit(form, async () => {
    const missing = [
      [username, !username.value.trim() && "Enter your username."],
      [password, !password.value && "Enter your password."],
    ].filter(([, message]) => message);
    if (missing.length) {
      for (const [input, message] of missing) setFieldError(input, message);
      missing[0][0].focus();
      return;
    }
    try {
      const { data } = await api.login(username.value.trim(), password.value);
      setToken(data.token);
      ctx.signedIn(data.user);
    } catch (error) {
      password.value = "";
      reportError(form, error);
      password.focus();
    }
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
