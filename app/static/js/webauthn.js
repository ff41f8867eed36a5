// Passkeys (WebAuthn): the browser's own dialog, from the API's options (JSON) to the
// credential it makes or uses (JSON again), and what to tell a person when it ends without one.
//
// The browser's JSON helpers (PublicKeyCredential.parseCreationOptionsFromJSON,
// parseRequestOptionsFromJSON, credential.toJSON()) do the conversions where they exist; a
// browser without them gets the same from the few lines of base64url below.

/** Whether this browser can use passkeys here at all (WebAuthn, in a secure context). */
export function passkeysSupported() {
  return typeof window.PublicKeyCredential === "function";
}

/** Make a passkey from PublicKeyCredentialCreationOptionsJSON: the credential as JSON. */
export async function createPasskey(options) {
  const publicKey =
    typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function"
      ? PublicKeyCredential.parseCreationOptionsFromJSON(options)
      : {
          ...options,
          challenge: fromBase64url(options.challenge),
          user: { ...options.user, id: fromBase64url(options.user.id) },
          excludeCredentials: (options.excludeCredentials || []).map(withBinaryId),
        };
  return credentialJSON(await navigator.credentials.create({ publicKey }));
}

/** Use a passkey for PublicKeyCredentialRequestOptionsJSON: its answer as JSON. */
export async function usePasskey(options) {
  const publicKey =
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function"
      ? PublicKeyCredential.parseRequestOptionsFromJSON(options)
      : {
          ...options,
          challenge: fromBase64url(options.challenge),
          allowCredentials: (options.allowCredentials || []).map(withBinaryId),
        };
  return credentialJSON(await navigator.credentials.get({ publicKey }));
}

/**
 * What to say when the browser's dialog ends without a credential: {message, calm}, calm
 * when nothing went wrong but the person's choice (or a timeout); null for an error that is
 * not the dialog's (the caller describes it). `rpId` is the options' relying party;
 * `instead`, the other way on from where the person is.
 */
export function passkeyFailure(
  error,
  { rpId = "", adding = false, instead = "use your password" } = {},
) {
  switch (error && typeof error.name === "string" ? error.name : "") {
    case "NotAllowedError":
    case "AbortError":
      // Cancelled, timed out, or (signing in) no passkey for this site on the device.
      return {
        calm: true,
        message: adding
          ? "No passkey was added: the request was cancelled or timed out. Try again when you are ready."
          : `No passkey was used: the request was cancelled, timed out, or found no passkey for this site. Try again, or ${instead}.`,
      };
    case "SecurityError": {
      // The page is not at the relying party's host (an IP address, another name).
      const at = rpId ? ` (${rpId})` : "";
      return {
        calm: false,
        message: `Passkeys work at this service's own address${at}, and this page was opened at ${window.location.host}. Open the dashboard at the service's address to use them.`,
      };
    }
    case "InvalidStateError":
      return {
        calm: false,
        message:
          "This device or password manager holds a passkey for your account already: use that one, or add one somewhere else.",
      };
    case "NotSupportedError":
      return {
        calm: false,
        message: "This browser or device cannot make a passkey of a kind this service accepts.",
      };
    default:
      return null;
  }
}

function withBinaryId(descriptor) {
  return { ...descriptor, id: fromBase64url(descriptor.id) };
}

/** The credential as RegistrationResponseJSON or AuthenticationResponseJSON. */
function credentialJSON(credential) {
  if (typeof credential.toJSON === "function") return credential.toJSON();
  const { response } = credential;
  const json = {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment || undefined,
    clientExtensionResults: credential.getClientExtensionResults(),
    response: { clientDataJSON: toBase64url(response.clientDataJSON) },
  };
  if ("attestationObject" in response) {
    json.response.attestationObject = toBase64url(response.attestationObject);
    json.response.transports =
      typeof response.getTransports === "function" ? response.getTransports() : [];
  } else {
    json.response.authenticatorData = toBase64url(response.authenticatorData);
    json.response.signature = toBase64url(response.signature);
    if (response.userHandle) json.response.userHandle = toBase64url(response.userHandle);
  }
  return json;
}

function fromBase64url(text) {
  const base64 = String(text).replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "===".slice((base64.length + 3) % 4);
  return Uint8Array.from(atob(padded), (char) => char.charCodeAt(0)).buffer;
}

function toBase64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
