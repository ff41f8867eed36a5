// Changes that need the password proven lately (REAUTH_WINDOW): the API answers 403
// `reauthentication-required`, the page asks for the password (or, for an account with
// passkeys, a passkey) and sends the change again.

import { ApiError, REAUTHENTICATION_REQUIRED, api } from "./api.js";
import { askPassword } from "./dom.js";
import { describe } from "./messages.js";
import { passkeyFailure, passkeysSupported, usePasskey } from "./webauthn.js";

const PASSKEY_REFUSED =
  "That passkey was not accepted: it may belong to another account, or have been removed from yours. Enter your password instead.";
const PASSKEY_NOT_ENOUGH =
  "Your passkey was accepted, but this change needs your password: enter it to go on.";

/**
 * Run `action()`; when the API wants the password for it (the session is older than
 * REAUTH_WINDOW), ask for it and run `action(password)`, which sends it with the change.
 * An account with passkeys may use one instead, where the browser can: the session is proven
 * again with it (POST /api/sessions/current/reauthentication) and `action()` runs once more,
 * without the password. Resolves to the action's result, or null when the person cancels.
 * A wrong password or a passkey not used keeps the dialog open; any other failure closes it
 * and is the caller's to report.
 */
export async function withPassword(ctx, text, action) {
  try {
    return await action();
  } catch (error) {
    if (!needsPassword(error)) throw error;
  }
  let outcome = null;
  // The change sent again once proven: `outcome` is its result, or a failure that is not
  // about the proof (which closes the dialog, for the caller); a refusal keeps it open.
  const sendAgain = async (password, refused) => {
    try {
      outcome = { value: await action(password) };
    } catch (error) {
      if (refused(error)) throw error;
      outcome = { error };
    }
  };
  const proven = await askPassword({
    text,
    username: ctx.user().username,
    verify: (password) => sendAgain(password, refusesPassword),
    explain: (error) => (error.status === 429 ? describe(error) : "That is not your password."),
    passkey: offersPasskey(ctx.user())
      ? passkeyProof({
          sendAgain: () => sendAgain(undefined, needsPassword),
          ended: (error) => {
            outcome = { error };
          },
        })
      : null,
  });
  if (!proven) return null;
  if (outcome.error) throw outcome.error;
  return outcome.value;
}

/** Whether to offer a passkey: the account has one, and this browser can use it. */
function offersPasskey(user) {
  return Boolean(user) && Number(user.passkeys) > 0 && passkeysSupported();
}

/**
 * The dialog's passkey: options for any passkey of this site, the browser's dialog, the
 * session proven with its answer, then `sendAgain()`. A failure before the change keeps the
 * dialog open, but a 401 (the session has ended, and the page signs out): `ended(error)`.
 */
function passkeyProof({ sendAgain, ended }) {
  let rpId = "";
  return {
    verify: async () => {
      try {
        const { options } = (await api.passkeySignInOptions()).data;
        rpId = options.rpId || "";
        await api.reauthenticateWithPasskey(await usePasskey(options));
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 401)) throw error;
        ended(error);
        return;
      }
      await sendAgain();
    },
    explain: (error) => {
      const failure = passkeyFailure(error, { rpId, instead: "enter your password" });
      if (failure) return failure;
      if (needsPassword(error)) return { calm: false, message: PASSKEY_NOT_ENOUGH };
      if (error instanceof ApiError && error.status === 422) {
        return { calm: false, message: PASSKEY_REFUSED }; // on `credential`
      }
      return { calm: false, message: describe(error) };
    },
  };
}

/** Whether the API asks for a recent proof (after a passkey too where REAUTH_WINDOW is 0). */
function needsPassword(error) {
  return error instanceof ApiError && error.type === REAUTHENTICATION_REQUIRED;
}

/** Whether a failure is about the password sent: wrong (401, 422 on it) or locked (429). */
function refusesPassword(error) {
  if (!(error instanceof ApiError)) return false;
  const onPassword = error.errors.some(({ field }) => field === "current_password");
  return error.status === 401 || error.status === 429 || (error.status === 422 && onPassword);
}
