// DOM helpers. Text always goes in as text (append, textContent), never as HTML: the page's
// Content-Security-Policy enforces Trusted Types, so an innerHTML string would throw.

/** An element with attributes and children; strings become text nodes. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") element.className = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return element;
}

/** A fresh copy of a <template>'s first element. */
export function fromTemplate(id) {
  return document.getElementById(id).content.firstElementChild.cloneNode(true);
}

export function pluralize(count, one, many = `${one}s`) {
  return `${count} ${count === 1 ? one : many}`;
}

/** An ISO 8601 time, in the reader's locale, in a <time> element. */
export function timeElement(iso) {
  const date = new Date(iso);
  const text = Number.isNaN(date.getTime())
    ? String(iso)
    : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  return h("time", { datetime: iso, title: iso }, text);
}

/** Show errors beside their fields; returns those that match no field of the form. */
export function showFieldErrors(form, errors) {
  const byField = new Map();
  for (const { field, detail } of errors) {
    const input = field ? form.elements.namedItem(field) : null;
    if (!(input instanceof HTMLElement) || input.hidden) {
      continue;
    }
    byField.set(input, [...(byField.get(input) || []), detail]);
  }
  for (const [input, details] of byField) setFieldError(input, details.join(" "));
  const first = byField.keys().next().value;
  if (first) first.focus();
  return errors.filter(({ field }) => {
    const input = field ? form.elements.namedItem(field) : null;
    return !(input instanceof HTMLElement) || input.hidden;
  });
}

/** One field's error, right after the field, and tied to it for screen readers. */
export function setFieldError(input, message) {
  const errorId = `${input.id}-error`;
  let error = document.getElementById(errorId);
  if (!error) {
    error = h("p", { class: "field-error", id: errorId });
    input.closest(".field").append(error);
    const describedBy = input.getAttribute("aria-describedby");
    input.setAttribute("aria-describedby", describedBy ? `${errorId} ${describedBy}` : errorId);
  }
  error.textContent = message;
  error.hidden = false;
  input.setAttribute("aria-invalid", "true");
}

/** The form's message above its fields (a live alert). */
export function showFormError(form, message) {
  const box = form.querySelector("[data-form-error]");
  box.textContent = message;
  box.hidden = false;
}

export function clearErrors(form) {
  const box = form.querySelector("[data-form-error]");
  if (box) {
    box.textContent = "";
    box.hidden = true;
  }
  for (const error of form.querySelectorAll(".field-error")) {
    error.textContent = "";
    error.hidden = true;
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

/**
 * Run a form's submission once at a time: a second submit while the first is on its way
 * is ignored. The button stays focusable (it is not disabled), so focus is never lost.
 */
export function onSubmit(form, handler) {
  let busy = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return;
    busy = true;
    form.setAttribute("aria-busy", "true");
    clearErrors(form);
    try {
      await handler(event);
    } finally {
      busy = false;
      form.removeAttribute("aria-busy");
    }
  });
}

/** The same once-at-a-time guard for a button. */
export function onClick(button, handler) {
  let busy = false;
  button.addEventListener("click", async (event) => {
    if (busy) return;
    busy = true;
    button.setAttribute("aria-busy", "true");
    try {
      await handler(event);
    } finally {
      busy = false;
      button.removeAttribute("aria-busy");
    }
  });
}

/** Ask before something that cannot be undone; resolves to true to go ahead. */
export function confirmAction({ title, text, confirmLabel }) {
  const dialog = document.getElementById("confirm-dialog");
  const confirm = dialog.querySelector("[data-dialog-confirm]");
  const cancel = dialog.querySelector("[data-dialog-cancel]");
  dialog.querySelector("#confirm-title").textContent = title;
  dialog.querySelector("#confirm-text").textContent = text;
  confirm.textContent = confirmLabel;
  return new Promise((resolve) => {
    const finish = (answer) => {
      confirm.removeEventListener("click", yes);
      cancel.removeEventListener("click", no);
      dialog.removeEventListener("close", no);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const yes = () => finish(true);
    const no = () => finish(false);
    confirm.addEventListener("click", yes);
    cancel.addEventListener("click", no);
    dialog.addEventListener("close", no); // Escape
    dialog.showModal();
    cancel.focus(); // the safe choice is the default
  });
}

/**
 * Ask for the password in a dialog and hand it to `verify` (which returns a promise).
 * Resolves to true once `verify` succeeds, false when the person cancels. While `verify`
 * fails the dialog stays open, showing `explain(error)` beside the field.
 *
 * With `passkey` ({verify, explain}), the dialog also offers "Use a passkey instead":
 * `passkey.verify()` resolving closes it as the password does; while it fails the dialog
 * stays open for the password, with `passkey.explain(error)` ({message, calm}) above it:
 * calm in a status line (cancelled, timed out), else as the form's alert.
 */
export function askPassword({ text, username, verify, explain, passkey = null }) {
  const dialog = document.getElementById("password-dialog");
  const form = dialog.querySelector("form");
  const input = form.elements.password;
  const cancel = dialog.querySelector("[data-dialog-cancel]");
  const passkeyBlock = dialog.querySelector("[data-dialog-passkey]");
  const passkeyButton = passkeyBlock.querySelector("button");
  const note = passkeyBlock.querySelector(".note");
  dialog.querySelector("#password-dialog-text").textContent = text;
  form.reset();
  clearErrors(form);
  const clearNote = () => {
    note.textContent = "";
    note.hidden = true;
  };
  clearNote();
  passkeyBlock.hidden = !passkey;
  form.elements.username.value = username; // for password managers
  return new Promise((resolve) => {
    let busy = false;
    const finish = (answer) => {
      form.removeEventListener("submit", submit);
      passkeyButton.removeEventListener("click", withPasskey);
      cancel.removeEventListener("click", no);
      dialog.removeEventListener("close", no);
      input.value = ""; // the password stays nowhere
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const no = () => finish(false);
    /** Run one proof at a time (the password's or the passkey's), the form busy meanwhile. */
    const attempt = async (proof, failed) => {
      if (busy) return;
      clearErrors(form);
      clearNote();
      busy = true;
      form.setAttribute("aria-busy", "true");
      try {
        await proof();
        finish(true);
      } catch (error) {
        failed(error);
        input.focus();
      } finally {
        busy = false;
        form.removeAttribute("aria-busy");
      }
    };
    const submit = (event) => {
      event.preventDefault(); // a method="dialog" form would close the dialog
      if (busy) return;
      if (!input.value) {
        clearErrors(form);
        clearNote();
        setFieldError(input, "Enter your password.");
        input.focus();
        return;
      }
      attempt(
        () => verify(input.value),
        (error) => {
          input.value = "";
          setFieldError(input, explain(error));
        },
      );
    };
    const withPasskey = () =>
      attempt(
        () => passkey.verify(),
        (error) => {
          const { message, calm } = passkey.explain(error);
          if (calm) {
            note.textContent = message;
            note.hidden = false;
          } else showFormError(form, message);
        },
      );
    form.addEventListener("submit", submit);
    if (passkey) passkeyButton.addEventListener("click", withPasskey);
    cancel.addEventListener("click", no);
    dialog.addEventListener("close", no); // Escape
    dialog.showModal();
    input.focus();
  });
}
