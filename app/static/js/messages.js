// Readable messages from the API's problem details.

import { ApiError } from "./api.js";
import { pluralize, setFieldError, showFieldErrors, showFormError } from "./dom.js";

/** What to tell a person about a failed request. */
export function describe(error, unmatchedErrors = error.errors || []) {
  if (!(error instanceof ApiError)) {
    return "Something went wrong in this page. Reload it and try again.";
  }
  let message = error.message;
  if (unmatchedErrors.length) {
    message += ` ${unmatchedErrors.map(({ field, detail }) => `${field}: ${detail}`).join("; ")}.`;
  }
  if (error.retryAfter !== null && (error.status === 429 || error.status === 503)) {
    message += ` ${whenToRetry(error.retryAfter)}`;
  }
  return message;
}

/**
 * Show a failed submission on its form: each 422 field error beside its field, a 409
 * beside the field it is about (`conflicts` maps a word of the detail to a field and a
 * message), and the problem's detail above the fields.
 */
export function reportError(form, error, conflicts = {}) {
  let unmatched = [];
  if (error instanceof ApiError && error.status === 422) {
    unmatched = showFieldErrors(form, error.errors);
  }
  if (error instanceof ApiError && error.status === 409) {
    for (const [word, [field, message]] of Object.entries(conflicts)) {
      if (error.detail.toLowerCase().includes(word)) {
        const input = form.elements.namedItem(field);
        setFieldError(input, message);
        input.focus();
        break;
      }
    }
  }
  showFormError(form, describe(error, unmatched));
}

/** "You can try again in 2 seconds (at 21:03:17)." */
export function whenToRetry(seconds) {
  const at = new Date(Date.now() + seconds * 1000).toLocaleTimeString(undefined, {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
  const wait =
    seconds < 90 ? pluralize(Math.max(1, seconds), "second") : `${Math.ceil(seconds / 60)} minutes`;
  return `You can try again in ${wait} (at ${at}).`;
}
