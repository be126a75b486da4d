"""The loopback test servers work with the clients the platform uses: s3fs, sshfs and requests."""

from __future__ import annotations

import fsspec
import pytest
import requests
import s3fs
import sshfs

from workflow_platform_tests.servers import s3_server, sftp_server, webhook_server  # noqa: F401


def test_s3_server_round_trip(s3_server):  # noqa: F811
    fs, path = fsspec.core.url_to_fs(s3_server.url("exports/a.csv"), **s3_server.storage_options)
    assert isinstance(fs, s3fs.S3FileSystem)
    assert path == f"{s3_server.bucket}/exports/a.csv"
    fs.pipe(path, b"id\n1\n")
    fs.mv(path, f"{s3_server.bucket}/exports/b.csv")
    fs.invalidate_cache()
    assert fs.ls(f"{s3_server.bucket}/exports", detail=False) == [f"{s3_server.bucket}/exports/b.csv"]
    assert fs.cat(f"{s3_server.bucket}/exports/b.csv") == b"id\n1\n"
    body = s3_server.client().get_object(Bucket=s3_server.bucket, Key="exports/b.csv")["Body"].read()
    assert body == b"id\n1\n"


@pytest.mark.parametrize("change", ["wrong secret", "unknown key", "no permission"])
def test_s3_server_checks_credentials_and_permissions(s3_server, change):  # noqa: F811
    options = {"wrong secret": {**s3_server.storage_options, "secret": "wrong"},
               "unknown key": {**s3_server.storage_options, "key": "AKIAUNKNOWN0000000000"},
               "no permission": s3_server.denied_storage_options}[change]
    fs = fsspec.filesystem("s3", skip_instance_cache=True, **options)
    with pytest.raises(PermissionError):
        fs.pipe(f"{s3_server.bucket}/x", b"1")
    assert "Contents" not in s3_server.client().list_objects_v2(Bucket=s3_server.bucket)


def test_s3_server_gives_each_test_an_empty_bucket(s3_server):  # noqa: F811
    fs = fsspec.filesystem("s3", **s3_server.storage_options)
    assert fs.ls(s3_server.bucket) == []


def test_sftp_urls_map_to_sshfs(sftp_server):  # noqa: F811
    for protocol in ("sftp", "ssh"):
        fs, path = fsspec.core.url_to_fs(f"{protocol}://127.0.0.1:{sftp_server.port}/out",
                                         **sftp_server.storage_options)
        assert isinstance(fs, sshfs.SSHFileSystem)
        assert path == "/out"


def test_sftp_server_round_trip(sftp_server):  # noqa: F811
    fs, folder = fsspec.core.url_to_fs(sftp_server.url("exports/daily"), **sftp_server.storage_options)
    fs.makedirs(folder, exist_ok=True)
    with fs.open(f"{folder}/.a.csv.partial", "wb") as f:
        f.write(b"id\n1\n")
    fs.mv(f"{folder}/.a.csv.partial", f"{folder}/a.csv")
    assert fs.ls(folder, detail=False) == [f"{folder}/a.csv"]
    assert fs.cat(f"{folder}/a.csv") == b"id\n1\n"
    assert (sftp_server.root / "exports" / "daily" / "a.csv").read_bytes() == b"id\n1\n"
    assert not (sftp_server.root / "exports" / "daily" / ".a.csv.partial").exists()


def test_sftp_server_password_login(sftp_server):  # noqa: F811
    fs = fsspec.filesystem("sftp", skip_instance_cache=True, **sftp_server.password_storage_options)
    fs.pipe("/p.txt", b"pw")
    assert (sftp_server.root / "p.txt").read_bytes() == b"pw"


def test_sftp_server_rejects_wrong_password(sftp_server):  # noqa: F811
    options = {**sftp_server.password_storage_options, "password": "wrong"}
    with pytest.raises(Exception, match="(?i)permission|auth"):
        fsspec.filesystem("sftp", skip_instance_cache=True, **options).ls("/")


def test_sftp_server_is_chrooted(sftp_server):  # noqa: F811
    fs = fsspec.filesystem("sftp", **sftp_server.storage_options)
    (sftp_server.root / "here.txt").write_text("x")
    assert fs.ls("/", detail=False) == ["/here.txt"]
    assert [p.rsplit("/", 1)[-1] for p in fs.ls("/../..", detail=False)] == ["here.txt"]
    with pytest.raises(FileNotFoundError):
        fs.cat("/../../../../etc/hostname")


def test_webhook_server_records_and_scripts(webhook_server):  # noqa: F811
    webhook_server.script([429, 500], retry_after=0)
    with requests.Session() as session:
        first = session.post(webhook_server.url, json={"rows": [1]}, headers={"X-Test": "a"}, timeout=5)
        second = session.post(webhook_server.url, json={"rows": [2]}, timeout=5)
        third = session.post(f"{webhook_server.base_url}/other?x=1", json={"rows": [3]}, timeout=5)
    assert [first.status_code, second.status_code, third.status_code] == [429, 500, 200]
    assert first.headers["Retry-After"] == "0"
    assert "Retry-After" not in second.headers
    recorded = webhook_server.requests
    assert [r.json for r in recorded] == [{"rows": [1]}, {"rows": [2]}, {"rows": [3]}]
    assert [r.method for r in recorded] == ["POST"] * 3
    assert [r.path for r in recorded] == ["/hook", "/hook", "/other?x=1"]
    assert recorded[0].header("x-test") == "a"
    assert recorded[0].header("content-type") == "application/json"
