// The API client: fetch, problem details as errors, and the session token.
//
// The token lives in sessionStorage only: never in a cookie (so no CSRF, and it is not
// sent anywhere by itself) and never in a URL. It ends with the tab.

const TOKEN_KEY = "users-dashboard.token";

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null; // storage disabled: every request is anonymous
  }
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // nothing stored
  }
}

/** The problem type of a 403 to the right password of a disabled account. */
export const ACCOUNT_DISABLED = "tag:users-api,2026:account-disabled";

/** The problem type of a 403 that asks for the password again (REAUTH_WINDOW). */
export const REAUTHENTICATION_REQUIRED = "tag:users-api,2026:reauthentication-required";

/** The problem type of a 403 to the right password of an account whose email is unverified. */
export const EMAIL_NOT_VERIFIED = "tag:users-api,2026:email-not-verified";

/** The status of a login whose password was right and whose account has a second factor. */
export const SECOND_FACTOR_NEEDED = 202;

/** The problem type of a 400 to a mailed link's token that is unknown, used or expired. */
export const INVALID_TOKEN = "tag:users-api,2026:invalid-token";

/** A failed request, from an RFC 9457 problem (application/problem+json) where there is one. */
export class ApiError extends Error {
  constructor(status, problem = {}, retryAfter = null) {
    const detail = typeof problem.detail === "string" ? problem.detail : "";
    const title = typeof problem.title === "string" ? problem.title : "";
    super(detail || title || `The request failed (HTTP ${status}).`);
    this.name = "ApiError";
    this.status = status;
    this.title = title;
    this.detail = detail;
    // What kind of failure, when the status alone does not say ("about:blank").
    this.type = typeof problem.type === "string" ? problem.type : "about:blank";
    // [{field, detail}, ...] for a 422.
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    // Seconds to wait, from Retry-After (429, 503), or null.
    this.retryAfter = parseRetryAfter(retryAfter);
  }
}

function parseRetryAfter(value) {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds);
  const date = Date.parse(value); // the HTTP-date form
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

let unauthorizedHandler = () => {};

/** Called when a request made with the token gets 401: the session has ended. */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

/**
 * One API call. Resolves to {status, data, headers}; rejects with an ApiError.
 * `auth: false` sends no token (logging in, registering); `basic: {username, password}`
 * sends those instead of the token, for a change that needs the password itself.
 */
export async function request(method, path, { body, auth = true, basic = null } = {}) {
  const headers = { Accept: "application/json, application/problem+json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const token = auth && !basic ? getToken() : null;
  if (token) headers.Authorization = `Bearer ${token}`;
  // With credentials: "omit" below, a 401 never opens the browser's own password dialog.
  if (basic) headers.Authorization = `Basic ${base64(`${basic.username}:${basic.password}`)}`;

  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, {
      title: "Network error",
      detail: "The server cannot be reached. Check your connection and try again.",
    });
  }

  const data = await readJson(response);
  if (!response.ok) {
    if (response.status === 401 && token) unauthorizedHandler();
    throw new ApiError(response.status, data ?? {}, response.headers.get("Retry-After"));
  }
  return { status: response.status, data, headers: response.headers };
}

function base64(text) {
  const bytes = new TextEncoder().encode(text); // UTF-8, as the API reads Basic credentials
  return btoa(String.fromCharCode(...bytes));
}

async function readJson(response) {
  const type = response.headers.get("Content-Type") || "";
  if (response.status === 204 || !type.includes("json")) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}

/** The path of the next page from a Link header (`<...>; rel="next"`), or null. */
export function nextLink(headers) {
  const link = headers.get("Link") || "";
  for (const part of link.split(",")) {
    const match = part.match(/<([^>]*)>\s*;\s*rel="?next"?/i);
    // Only ever follow a path of this API on this origin.
    if (match && match[1].startsWith("/api/users?")) return match[1];
  }
  return null;
}

const userPath = (username) => `/api/users/${encodeURIComponent(username)}`;

export const api = {
  // 201 with a token; 202 with {challenge, methods, expires_at} when the account has a
  // second factor, which `verifyLogin` then answers.
  login: (username, password) =>
    request("POST", "/api/sessions", { body: { username, password }, auth: false }),
  // The challenge of a 202 and a code (an authenticator app's, or a recovery code): 201 as a login.
  verifyLogin: (challenge, code) =>
    request("POST", "/api/sessions/mfa", { body: { challenge, code }, auth: false }),
  // The same with a passkey's answer to the 202's `webauthn` options, in place of a code.
  verifyLoginWithPasskey: (challenge, credential) =>
    request("POST", "/api/sessions/mfa", { body: { challenge, credential }, auth: false }),
  // Signing in with a passkey alone: options for any passkey of this site, then its answer
  // (201 as a login).
  passkeySignInOptions: () => request("POST", "/api/sessions/passkey-options", { auth: false }),
  passkeySignIn: (credential) =>
    request("POST", "/api/sessions/passkey", { body: { credential }, auth: false }),
  logout: () => request("DELETE", "/api/sessions/current"),
  reauthenticate: (password) =>
    request("POST", "/api/sessions/current/reauthentication", { body: { password } }),
  // The same proof with a passkey's answer to `passkeySignInOptions` (any of the account's
  // passkeys): the session's proof is fresh again, and it counts as a second factor.
  reauthenticateWithPasskey: (credential) =>
    request("POST", "/api/sessions/current/reauthentication", { body: { credential } }),
  me: () => request("GET", "/api/user"),
  listUsers: (path) => request("GET", path),
  firstPage: (limit) => `/api/users?limit=${encodeURIComponent(limit)}`,
  // An admin's search: an exact email (one user at most), else a username prefix, in order.
  searchPage: (limit, query) =>
    query.includes("@")
      ? `/api/users?email=${encodeURIComponent(query)}`
      : `/api/users?limit=${encodeURIComponent(limit)}&prefix=${encodeURIComponent(query)}`,
  register: (fields) => request("POST", "/api/users", { body: fields, auth: false }),
  getUser: (username) => request("GET", userPath(username)),
  updateUser: (username, changes) => request("PATCH", userPath(username), { body: changes }),
  deleteUser: (username, password) =>
    request("DELETE", userPath(username), password ? { basic: { username, password } } : {}),
  // Two-step sign-in: a pending authenticator app (its key and QR code), turning it on with
  // a first code (which answers the recovery codes), and off with the password and a code.
  // `password`, when given, goes as HTTP Basic: the proof a change past REAUTH_WINDOW needs.
  startTotp: (username) => request("POST", `${userPath(username)}/totp`),
  confirmTotp: (username, code, password) =>
    request("POST", `${userPath(username)}/totp/confirm`, {
      body: { code },
      ...(password ? { basic: { username, password } } : {}),
    }),
  disableTotp: (username, password, code) =>
    request("DELETE", `${userPath(username)}/totp`, { body: { password, code } }),
  newRecoveryCodes: (username, password) =>
    request(
      "POST",
      `${userPath(username)}/recovery-codes`,
      password ? { basic: { username, password } } : {},
    ),
  // Passkeys: the options for the browser's dialog (`password` as above), then its answer
  // kept under a name (201, with the recovery codes when it is the first second factor).
  passkeyOptions: (username, password) =>
    request(
      "POST",
      `${userPath(username)}/passkey-options`,
      password ? { basic: { username, password } } : {},
    ),
  addPasskey: (username, name, credential) =>
    request("POST", `${userPath(username)}/passkeys`, { body: { name, credential } }),
  listPasskeys: (username) => request("GET", `${userPath(username)}/passkeys`),
  removePasskey: (username, id, password) =>
    request(
      "DELETE",
      `${userPath(username)}/passkeys/${encodeURIComponent(id)}`,
      password ? { basic: { username, password } } : {},
    ),
  listSessions: (username) => request("GET", `${userPath(username)}/sessions`),
  revokeSessions: (username) => request("DELETE", `${userPath(username)}/sessions`),
  endSession: (username, id) =>
    request("DELETE", `${userPath(username)}/sessions/${encodeURIComponent(id)}`),
  // `who` is {username} or {email}. The answer is the same whether or not it names an
  // account: there is nothing to learn from it but that a mail may be on its way.
  requestPasswordReset: (who) =>
    request("POST", "/api/password-resets", { body: who, auth: false }),
  // The mailed token is the proof here, not a session: none is sent.
  resetPassword: (token, password) =>
    request("POST", "/api/password-resets/confirm", { body: { token, password }, auth: false }),
  sendMyVerification: () => request("POST", "/api/email-verifications", { body: {} }),
  requestVerification: (who) =>
    request("POST", "/api/email-verifications", { body: who, auth: false }),
  verifyEmail: (token) =>
    request("POST", "/api/email-verifications/confirm", { body: { token }, auth: false }),
};
