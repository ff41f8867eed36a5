// Changes that need the password proven lately (REAUTH_WINDOW): the API answers 403
// `reauthentication-required`, the page asks for the password and sends the change again.

import { ApiError, REAUTHENTICATION_REQUIRED } from "./api.js";
import { askPassword } from "./dom.js";
import { describe } from "./messages.js";

/**
 * Run `action()`; when the API wants the password for it (the session is older than
 * REAUTH_WINDOW), ask for it and run `action(password)`, which sends it with the change.
 * Resolves to the action's result, or null when the person cancels. A wrong password keeps
 * the dialog open; any other failure closes it and is the caller's to report.
 */
export async function withPassword(ctx, text, action) {
  try {
    return await action();
  } catch (error) {
    if (!(error instanceof ApiError && error.type === REAUTHENTICATION_REQUIRED)) throw error;
  }
  let outcome = null;
  const proven = await askPassword({
    text,
    username: ctx.user().username,
    verify: async (password) => {
      try {
        outcome = { value: await action(password) };
      } catch (error) {
        if (refusesPassword(error)) throw error;
        outcome = { error };
      }
    },
    explain: (error) => (error.status === 429 ? describe(error) : "That is not your password."),
  });
  if (!proven) return null;
  if (outcome.error) throw outcome.error;
  return outcome.value;
}

/** Whether a failure is about the password sent: wrong (401, 422 on it) or locked (429). */
function refusesPassword(error) {
  if (!(error instanceof ApiError)) return false;
  const onPassword = error.errors.some(({ field }) => field === "current_password");
  return error.status === 401 || error.status === 429 || (error.status === 422 && onPassword);
}
