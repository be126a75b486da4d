"""Inbound archives and OpenPGP, the way partners send them: decrypt, then decompress, then unarchive; member
selection; refusals that say what is wrong and quote neither a key nor a value. Keys are generated here."""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import duckdb
import pysequoia
import pytest

from workflow_platform.catalog.loader import CatalogInvalid, load_catalog
from workflow_platform.catalog.models import Destination
from workflow_platform.orchestrations.send import SendNames, send_rows
from workflow_platform_tests.test_destinations import (  # noqa: F401  (fixtures conn, data)
    CSV_LINES,
    NOW,
    assert_no_leftovers,
    conn,
    data,
    local,
    send,
)
from workflow_platform_tests.test_messy_files import DAY, HEADER, catalog, row, said

KEY_ENV = "TEST_PARTNER_PGP_KEY"


def tar_bytes(members: dict[str, str], gz: bool = False) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w") as archive:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def csv_text(*numbers: int) -> str:
    return "\n".join([HEADER, *(row(n) for n in numbers)]) + "\n"


def people(tenant) -> int:
    """Rows in the domain table (0 when nothing was ever loaded into it)."""
    exists = tenant.query("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'domain' AND table_name = 'people'")
    return tenant.query("SELECT count(*) FROM domain.people")[0][0] if exists[0][0] else 0


def loaded(tenant) -> list[tuple]:
    return tenant.query("SELECT id, _file FROM domain.people ORDER BY id::int")


@pytest.fixture
def key(monkeypatch) -> pysequoia.Tsk:
    """A partner's key pair: the secret half in the environment, as an operator sets it."""
    tsk = pysequoia.Tsk.generate("Partner <data@example.org>")
    monkeypatch.setenv(KEY_ENV, str(tsk))
    return tsk


def encrypt(content: bytes, cert, tmp_path: Path) -> bytes:
    plain, sealed = tmp_path / "plain.bin", tmp_path / "sealed.bin"
    plain.write_bytes(content)
    pysequoia.encrypt_file(str(plain), str(sealed), recipients=[cert], armor=False)
    return sealed.read_bytes()


@pytest.mark.parametrize("suffix, gz", [(".tar", False), (".tar.gz", True), (".tgz", True)])
def test_tar_archives_load_every_member_in_name_order(tenant, suffix, gz):
    tenant.write_catalog(catalog(suffix=suffix))
    tenant.land(f"in/c_20260105{suffix}", tar_bytes({"b/part2.csv": csv_text(3, 4), "a/part1.csv": csv_text(1, 2)},
                                                     gz))
    outcome = tenant.run(DAY, ingest_only=True)
    assert outcome.success, said(outcome)
    assert loaded(tenant) == [("1", f"in/c_20260105{suffix}!a/part1.csv"), ("2", f"in/c_20260105{suffix}!a/part1.csv"),
                              ("3", f"in/c_20260105{suffix}!b/part2.csv"), ("4", f"in/c_20260105{suffix}!b/part2.csv")]


def test_members_select_what_loads_and_a_missing_member_is_refused_unless_skipped(tenant):
    archive = tar_bytes({"customers_1.csv": csv_text(1), "customers_2.csv": csv_text(2), "readme.txt": "hello\n",
                         "nested/customers_3.csv": csv_text(3)}, gz=True)
    tenant.write_catalog(catalog(suffix=".tgz", file="{members: ['customers_*.csv', 'stores.csv']}"))
    tenant.land("in/c_20260105.tgz", archive)
    refused = said(tenant.run(DAY, ingest_only=True))
    assert "in/c_20260105.tgz: the archive has no member matching 'stores.csv' (file.members" in refused
    assert "in/c_20260105.tgz" in tenant.quarantined()

    tenant.write_catalog(catalog(suffix=".tgz", file="{members: ['customers_*.csv', 'stores.csv'], "
                                                     "skip_missing_members: true}"))
    tenant.land("in/c_20260105.tgz", archive)
    outcome = tenant.run(DAY, ingest_only=True)
    assert outcome.success, said(outcome)
    assert [r[0] for r in loaded(tenant)] == ["1", "2"]  # '*' stays in its folder: nested/ is not selected


def test_a_zip_from_a_mac_loads_without_its_resource_forks(tenant):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("people.csv", csv_text(1, 2))
        archive.writestr("__MACOSX/._people.csv", b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
        archive.writestr(".DS_Store", b"\x00\x00\x00\x01Bud1")
    tenant.write_catalog(catalog(suffix=".zip"))
    tenant.land("in/c_20260105.zip", buffer.getvalue())
    outcome = tenant.run(DAY, ingest_only=True)
    assert outcome.success, said(outcome)
    assert [r[0] for r in loaded(tenant)] == ["1", "2"]


@pytest.mark.parametrize("suffix, packed", [
    (".csv.pgp", lambda text: text.encode()),
    (".csv.gz.gpg", lambda text: gzip.compress(text.encode())),
    (".csv.tar.gz.pgp", lambda text: tar_bytes({"people.csv": text}, gz=True)),
])
def test_pgp_files_are_decrypted_then_decompressed_then_unarchived(tenant, key, tmp_path, suffix, packed):
    tenant.write_catalog(catalog(suffix=suffix, file=f"{{pgp_key_env: {KEY_ENV}}}"))
    tenant.land(f"in/c_20260105{suffix}", encrypt(packed(csv_text(1, 2, 3)), key.extract_certificate(), tmp_path))
    outcome = tenant.run(DAY, ingest_only=True)
    assert outcome.success, said(outcome)
    assert [r[0] for r in loaded(tenant)] == ["1", "2", "3"]
    assert tenant.query("SELECT email FROM domain.people WHERE id = '2'") == [("ann2@example.org",)]


def test_a_file_for_another_key_or_without_a_key_is_refused_naming_the_setting(tenant, key, tmp_path, monkeypatch):
    stranger = pysequoia.Tsk.generate("Someone else <x@example.org>")
    tenant.write_catalog(catalog(suffix=".csv.pgp", file=f"{{pgp_key_env: {KEY_ENV}}}"))
    tenant.land("in/c_20260105.csv.pgp", encrypt(csv_text(1).encode(), stranger.extract_certificate(), tmp_path))
    refused = said(tenant.run(DAY, ingest_only=True))
    assert f"in/c_20260105.csv.pgp: cannot be decrypted with the key in {KEY_ENV}: the file is not encrypted to this " \
           "key" in refused
    assert "BEGIN PGP" not in refused and "Stack backtrace" not in refused
    reasons = "\n".join(tenant.quarantined().values())
    assert "not encrypted to this key" in reasons and str(key) not in reasons

    monkeypatch.delenv(KEY_ENV)  # a missing secret fails the step and leaves the (good) file where it is
    tenant.land("in/c_20260105.csv.pgp", encrypt(csv_text(1).encode(), key.extract_certificate(), tmp_path))
    assert f"environment variable {KEY_ENV} is not set (the file is left in place)" in said(
        tenant.run(DAY, ingest_only=True))
    assert (tenant.landing / "in/c_20260105.csv.pgp").exists()

    tenant.write_catalog(catalog(suffix=".csv.pgp"))
    tenant.land("in/c_20260105.csv.pgp", encrypt(csv_text(1).encode(), key.extract_certificate(), tmp_path))
    assert "is OpenPGP-encrypted (.pgp/.gpg) but the courier has no file.pgp_key_env" in said(
        tenant.run(DAY, ingest_only=True))
    assert people(tenant) == 0


def test_a_decrypted_file_past_the_limits_is_stopped_while_it_is_written(tenant, key, tmp_path):
    tenant.write_catalog(catalog(suffix=".csv.pgp", file=f"{{pgp_key_env: {KEY_ENV}, "
                                                         "limits: {max_decompressed_bytes: 2000}}"))
    tenant.land("in/c_20260105.csv.pgp", encrypt(csv_text(*range(1, 200)).encode(), key.extract_certificate(),
                                                 tmp_path))
    refused = said(tenant.run(DAY, ingest_only=True))
    assert "in/c_20260105.csv.pgp: decrypts to more than 2,000 bytes (file.limits.max_decompressed_bytes" in refused
    assert people(tenant) == 0


@pytest.mark.skipif(shutil.which("gpg") is None, reason="GnuPG makes the passphrase-protected key")
def test_a_passphrase_protected_key_from_gnupg_decrypts_with_its_passphrase(tenant, tmp_path, monkeypatch):
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback", "--passphrase", "s3cret phrase"]
    subprocess.run([*gpg, "--quick-gen-key", "Partner <p@example.org>", "ed25519", "cert", "never"], check=True,
                   capture_output=True)
    fingerprint = subprocess.run(["gpg", "--homedir", str(home), "--list-keys", "--with-colons"], check=True,
                                 capture_output=True, text=True).stdout.split("fpr:::::::::")[1].split(":")[0]
    subprocess.run([*gpg, "--quick-add-key", fingerprint, "cv25519", "encr", "never"], check=True,
                   capture_output=True)
    secret = subprocess.run([*gpg, "--armor", "--export-secret-keys", fingerprint], check=True,
                            capture_output=True, text=True).stdout
    public = subprocess.run(["gpg", "--homedir", str(home), "--armor", "--export", fingerprint], check=True,
                            capture_output=True, text=True).stdout
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False, capture_output=True)
    monkeypatch.setenv(KEY_ENV, secret)
    file = f"{{pgp_key_env: {KEY_ENV}, pgp_passphrase_env: TEST_PARTNER_PGP_PASSPHRASE}}"
    tenant.write_catalog(catalog(suffix=".csv.gpg", file=file))
    sealed = encrypt(csv_text(7).encode(), pysequoia.Cert.from_bytes(public.encode()), tmp_path)

    monkeypatch.setenv("TEST_PARTNER_PGP_PASSPHRASE", "wrong")
    tenant.land("in/c_20260105.csv.gpg", sealed)
    refused = said(tenant.run(DAY, ingest_only=True))  # the operator's setting is wrong, not the file:
    assert "in/c_20260105.csv.gpg cannot be decrypted: TEST_PARTNER_PGP_KEY: the key's passphrase is wrong or " \
           "missing (the file is left in place)" in refused
    assert "in/c_20260105.csv.gpg" not in tenant.quarantined()

    monkeypatch.setenv("TEST_PARTNER_PGP_PASSPHRASE", "s3cret phrase")
    tenant.land("in/c_20260105.csv.gpg", sealed)
    outcome = tenant.run(DAY, ingest_only=True)
    assert outcome.success, said(outcome)
    assert [r[0] for r in loaded(tenant)] == ["7"]


@pytest.mark.parametrize("suffix, content, kind", [
    (".csv.bz2", b"BZh91AY&SY" + bytes(200), "a bzip2 file"),
    (".csv.xz", b"\xfd7zXZ\x00\x00\x04" + bytes(200), "an xz file"),
    (".7z", b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(200), "a 7z archive"),
    (".rar", b"Rar!\x1a\x07\x01\x00" + bytes(200), "a RAR archive"),
])
def test_an_unsupported_packing_is_refused_as_what_it_is(tenant, suffix, content, kind):
    tenant.write_catalog(catalog(suffix=suffix))
    tenant.land(f"in/c_20260105{suffix}", content)
    refused = said(tenant.run(DAY, ingest_only=True))
    assert f"in/c_20260105{suffix}: not a csv text file: it looks like {kind}" in refused
    assert "supported: gzip, zip, tar, tar.gz/.tgz" in refused
    assert "\x00" not in refused and "\\x00" not in refused


def test_awkward_archives_load_or_are_refused_without_a_traceback(tenant):
    """Members written by `tar -C dir .` (./ prefix), a member name that is not UTF-8, an encrypted zip member."""
    buffer = io.BytesIO()  # member names in Latin-1, as old tools write them
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT, encoding="latin-1") as archive:
        for name, text in (("./customers_1.csv", csv_text(1)), ("café.csv", csv_text(2))):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    assert b"caf\xe9.csv" in raw
    tenant.write_catalog(catalog(suffix=".tar"))
    tenant.land("in/c_20260105.tar", raw)
    outcome = tenant.run(DAY, ingest_only=True)
    assert outcome.success, said(outcome)
    assert sorted({r[1] for r in loaded(tenant)}) == ["in/c_20260105.tar!caf\ufffd.csv",
                                                      "in/c_20260105.tar!customers_1.csv"]

    tenant.write_catalog(catalog(suffix=".tar", file="{members: ['customers_*.csv']}"))
    tenant.land("in/c_20260105.tar", raw)
    assert tenant.run(DAY, ingest_only=True).success  # ./customers_1.csv matches customers_*.csv

    zipped = io.BytesIO()  # a zip whose member says it is encrypted (general purpose flag bit 0)
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("people.csv", csv_text(3))
    data = bytearray(zipped.getvalue())
    data[6] |= 1  # local header flag
    central = data.rfind(b"PK\x01\x02")
    data[central + 8] |= 1  # central directory flag
    tenant.write_catalog(catalog(suffix=".zip"))
    tenant.land("in/c_20260105.zip", bytes(data))
    refused = said(tenant.run(DAY, ingest_only=True))
    assert "a zip member uses a feature that cannot be read (encrypted zip members" in refused


def test_a_zip_of_many_members_is_held_to_the_limits_as_a_whole(tenant):
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        for n in range(4):
            archive.writestr(f"part{n}.csv", csv_text(n + 1) + "\n" * 3000)
    tenant.write_catalog(catalog(suffix=".zip", file="{limits: {max_decompressed_bytes: 8000}}"))
    tenant.land("in/c_20260105.zip", zipped.getvalue())
    refused = said(tenant.run(DAY, ingest_only=True))
    assert "in/c_20260105.zip: unpacks to more than 8,000 bytes (file.limits.max_decompressed_bytes)" in refused


def test_a_damaged_tar_is_refused_and_nothing_of_it_loads(tenant):
    whole = tar_bytes({"people.csv": csv_text(*range(1, 50))}, gz=True)
    tenant.write_catalog(catalog(suffix=".tar.gz"))
    tenant.land("in/c_20260105.tar.gz", whole[: len(whole) // 2])  # a transfer cut off
    refused = said(tenant.run(DAY, ingest_only=True))
    assert "in/c_20260105.tar.gz: not a readable tar.gz archive" in refused
    assert people(tenant) == 0


@pytest.mark.parametrize("file, message", [
    ("{compression: gzip, members: ['a.csv']}", "members select archive members; compression 'gzip' is not an archive"),
    ("{pgp_passphrase_env: X}", "pgp_passphrase_env needs pgp_key_env"),
    ("{encryption: none, pgp_key_env: X}", "pgp_key_env is set but encryption is 'none'"),
    ("{pgp_key_env: 'not a name'}", "pgp_key_env: 'not a name' is not an environment variable name"),
])
def test_archive_and_pgp_settings_are_checked_when_the_catalog_loads(tmp_path, file, message):
    (tmp_path / "catalog.yaml").write_text(catalog(file=file))
    with pytest.raises(CatalogInvalid) as error:
        load_catalog(tmp_path)
    assert message in str(error.value)


# ------------------------------------------------------------------------------------------------ outbound


def read_back(path: Path, compression: str) -> tuple[str, bytes]:
    """The one member of a tar or tar.gz archive: its name and bytes."""
    with tarfile.open(path, "r:gz" if compression == "tgz" else "r:") as archive:
        [member] = archive.getmembers()
        return member.name, archive.extractfile(member).read()


@pytest.mark.parametrize("compression, name", [("tar", "audience.csv.tar"), ("tgz", "audience.csv.tar.gz"),
                                               ("tgz", "audience.csv.tgz")])
def test_sends_are_archived_as_tar_and_tar_gz(conn, data, compression, name):  # noqa: F811
    summary = send(conn, local(compression=compression), template=name)
    path = data / "out" / name
    assert (summary.rows, summary.files) == (4, 1)
    assert read_back(path, compression) == ("audience.csv", ("\n".join(CSV_LINES) + "\n").encode())
    assert_no_leftovers(data, data / "out")


def test_sends_are_encrypted_last_to_the_recipients_public_key(conn, data, tmp_path):  # noqa: F811
    recipient = pysequoia.Tsk.generate("Partner <in@example.org>")
    destination = local(compression="tgz", pgp_public_key=str(recipient.extract_certificate()))
    summary = send(conn, destination, template="audience.csv.tar.gz.pgp")
    sealed = data / "out" / "audience.csv.tar.gz.pgp"
    assert summary.files == 1 and summary.bytes == sealed.stat().st_size
    assert b"say" not in sealed.read_bytes() and sealed.read_bytes()[:2] != b"\x1f\x8b"
    opened = tmp_path / "opened.tar.gz"
    pysequoia.decrypt_file(str(sealed), str(opened), decryptor=recipient.decryptor())
    assert read_back(opened, "tgz") == ("audience.csv", ("\n".join(CSV_LINES) + "\n").encode())
    assert_no_leftovers(data, data / "out")


def test_what_we_send_encrypted_a_partner_courier_loads(tenant, key, tmp_path, monkeypatch):
    """The outbound chain and the inbound one agree: CSV in a tar.gz, encrypted, sent, landed, loaded."""
    with duckdb.connect() as connection, monkeypatch.context() as sender:
        connection.execute("CREATE TABLE audience AS SELECT * FROM read_csv(?, all_varchar = true)",
                           [str(_written(tmp_path / "people.csv", csv_text(5, 6)))])
        sender.setenv("WORKFLOW_PLATFORM_DATA", str(tmp_path / "sender"))
        destination = Destination(name="partner", url="out", compression="tgz",
                                  pgp_public_key=str(key.extract_certificate()))
        send_rows(connection, "SELECT * FROM audience", destination, "c_20260105.csv.tar.gz.pgp",
                  SendNames("weekly"), NOW)
    tenant.write_catalog(catalog(suffix=".csv.tar.gz.pgp", file=f"{{pgp_key_env: {KEY_ENV}}}"))
    tenant.land("in/c_20260105.csv.tar.gz.pgp", (tmp_path / "sender" / "out" / "c_20260105.csv.tar.gz.pgp").read_bytes())
    outcome = tenant.run(DAY, ingest_only=True)
    assert outcome.success, said(outcome)
    assert loaded(tenant) == [("5", "in/c_20260105.csv.tar.gz.pgp!c_20260105.csv"),
                              ("6", "in/c_20260105.csv.tar.gz.pgp!c_20260105.csv")]


def _written(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_destination_key_must_be_a_public_key(key):
    assert "this is a secret (private) key" in _destination_error(pgp_public_key=str(key))
    assert "not an OpenPGP public key" in _destination_error(pgp_public_key="-----BEGIN PGP PUBLIC KEY BLOCK-----\nx")
    webhook = _destination_error(type="webhook", url="https://example.org/hook",
                                 pgp_public_key=str(key.extract_certificate()))
    assert "a webhook sends rows, not files" in webhook
    assert "BEGIN PGP" not in _destination_error(pgp_public_key=str(key))  # the key itself is never repeated


def _destination_error(**settings) -> str:
    with pytest.raises(ValueError) as error:
        Destination(name="partner", **({"url": "out"} | settings))
    return str(error.value)
