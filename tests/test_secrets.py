from __future__ import annotations

from backupplan.secrets import SecretRegistry, mask_url_credentials


def test_registered_values_are_replaced_by_their_reference() -> None:
    secrets = SecretRegistry()
    secrets.add("s3cr3t-value", "API_KEY")
    secrets.add("s3cr3t", "SHORTER")  # a prefix of the longer one: the longer wins where both match
    assert secrets.mask("key=s3cr3t-value and s3cr3t") == "key=${API_KEY} and ${SHORTER}"


def test_short_values_are_not_masked_in_text() -> None:
    secrets = SecretRegistry()
    secrets.add("on", "FLAG")
    assert secrets.mask("turn it on") == "turn it on"


def test_url_credentials() -> None:
    assert mask_url_credentials("https://user:pa55@host/x") == "https://user:***@host/x"
    assert mask_url_credentials("https://h/p?token=abc&x=1") == "https://h/p?token=***&x=1"
    assert mask_url_credentials("https://h/p?X-Amz-Signature=abc") == "https://h/p?X-Amz-Signature=***"
    assert mask_url_credentials("https://h/p?api_key=abc#f") == "https://h/p?api_key=***#f"
    assert mask_url_credentials("rsync://bk@127.0.0.1/backup") == "rsync://bk@127.0.0.1/backup"
    assert mask_url_credentials("plain text = fine") == "plain text = fine"


def test_long_lines_are_masked_whole() -> None:
    """A 200,000-character run of letters (a long file name in a log) before a URL with a password:
    the password is masked (and masking takes linear time: the scheme pattern is bounded)."""
    from backupplan.secrets import mask

    line = "x://" + "a" * 200_000 + " then https://user:hunter2@example.com/path?api_key=abc"
    masked = mask(line)
    assert "hunter2" not in masked and "abc" not in masked
    assert masked.endswith("https://user:***@example.com/path?api_key=***")


def test_the_quick_test_sees_every_url_credential_the_mask_hides() -> None:
    from backupplan.secrets import may_hold_url_credentials

    for text in ("rsync://backup:hunter22@nas/module", "https://hc.example/ping?token=abc123", "x;key=v"):
        assert mask_url_credentials(text) != text
        assert may_hold_url_credentials(text.encode())
    plain = "user@host: /srv/data (42 files)"
    assert not may_hold_url_credentials(plain.encode()) and mask_url_credentials(plain) == plain


def test_status_files_mask_url_credentials_without_any_secret_registered() -> None:
    from backupplan.site.live import status_files
    from backupplan.site.masking import SiteMasker

    status = {"jobs": [{"id": "a", "description": "to https://me:pw-in-url@example.net/dav"}]}
    written, _ = status_files(status, SiteMasker(SecretRegistry()))
    assert b"pw-in-url" not in written and b"https://me:***@example.net/dav" in written
