"""A software passkey authenticator for tests: what a browser's WebAuthn calls would answer.

It makes P-256 credentials with "none" attestation, and signs assertions with user presence
and verification, counting signatures as a hardware authenticator does. Its answers are the
JSON that `credential.toJSON()` gives in a browser, so the API verifies them for real.
(The browser tests use Chromium's own virtual authenticator.)
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

UP, UV, AT = 0x01, 0x04, 0x40  # authenticator data flags: presence, verification, credential


@dataclass
class Credential:
    """One credential the authenticator holds (a discoverable one: it keeps the user handle)."""

    id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: str
    sign_count: int = 0


class Authenticator:
    """Answers creation and request options as navigator.credentials would, at `origin`."""

    def __init__(self, origin: str = "http://localhost:5000", *, verified: bool = True) -> None:
        self.origin = origin
        self.verified = verified
        self.credentials: list[Credential] = []

    def create(self, options: dict[str, Any]) -> dict[str, Any]:
        """A new credential for the creation options: the registration response's JSON."""
        rp_id = options["rp"]["id"]
        credential = Credential(
            id=os.urandom(16),
            key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp_id,
            user_handle=options["user"]["id"],
        )
        self.credentials.append(credential)
        numbers = credential.key.public_key().public_numbers()
        cose_key = {
            1: 2,  # kty: EC2
            3: -7,  # alg: ES256
            -1: 1,  # crv: P-256
            -2: numbers.x.to_bytes(32, "big"),
            -3: numbers.y.to_bytes(32, "big"),
        }
        auth_data = (
            self._rp_hash(rp_id)
            + bytes([UP | AT | (UV if self.verified else 0)])
            + credential.sign_count.to_bytes(4, "big")
            + bytes(16)  # AAGUID
            + len(credential.id).to_bytes(2, "big")
            + credential.id
            + cbor2.dumps(cose_key)
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"])
        return _answer(
            credential,
            clientDataJSON=bytes_to_base64url(client_data),
            attestationObject=bytes_to_base64url(attestation),
            transports=["internal"],
        )

    def get(self, options: dict[str, Any], credential: Credential | None = None) -> dict[str, Any]:
        """An assertion for the request options: the authentication response's JSON.

        With no `credential`, the first one for the RP that the options allow.
        """
        if credential is None:
            allowed = {base64url_to_bytes(c["id"]) for c in options.get("allowCredentials", [])}
            credential = next(
                c
                for c in self.credentials
                if c.rp_id == options["rpId"] and (not allowed or c.id in allowed)
            )
        credential.sign_count += 1
        auth_data = (
            self._rp_hash(credential.rp_id)
            + bytes([UP | (UV if self.verified else 0)])
            + credential.sign_count.to_bytes(4, "big")
        )
        client_data = self._client_data("webauthn.get", options["challenge"])
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = credential.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return _answer(
            credential,
            clientDataJSON=bytes_to_base64url(client_data),
            authenticatorData=bytes_to_base64url(auth_data),
            signature=bytes_to_base64url(signature),
            userHandle=credential.user_handle,
        )

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}
        ).encode()

    @staticmethod
    def _rp_hash(rp_id: str) -> bytes:
        return hashlib.sha256(rp_id.encode()).digest()


def _answer(credential: Credential, **response: Any) -> dict[str, Any]:
    """A PublicKeyCredential as its toJSON() writes it."""
    return {
        "id": bytes_to_base64url(credential.id),
        "rawId": bytes_to_base64url(credential.id),
        "type": "public-key",
        "response": response,
        "clientExtensionResults": {},
        "authenticatorAttachment": "platform",
    }
