"""Encryption of API keys stored in the database (Fernet, key derived from a secret).

The key comes from ``WEAVER_ENCRYPTION_KEY`` when set, else from ``SECRET_KEY``. Rotating that
secret makes stored keys unreadable: re-enter them, or keep keys in environment variables.
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    secret = getattr(settings, "WEAVER_ENCRYPTION_KEY", "") or settings.SECRET_KEY
    digest = hashlib.sha256(b"weaver-llm-keys:" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError(
            "the stored API key cannot be decrypted (was SECRET_KEY or "
            "WEAVER_ENCRYPTION_KEY changed?); enter the key again"
        ) from None
