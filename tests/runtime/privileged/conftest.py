"""The OTA fixtures (a signing key, a real signed update zip, its uploads folder) for the helper."""

from tests.runtime.update.conftest import payload_file, signing_key, update_zip, uploads

__all__ = ["payload_file", "signing_key", "update_zip", "uploads"]
