"""A tenant's catalog reaches only what the operator gave it (issue #23): landing locations, their quarantine and
file destinations stay inside the data folder or WORKFLOW_PLATFORM_ALLOWED_ROOTS, and webhooks, SFTP hosts
and S3 endpoints reach loopback, private or link-local addresses only when WORKFLOW_PLATFORM_ALLOWED_HOSTS lists
them. Refused both when the catalog is validated and when a run is about to read, write or connect."""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from workflow_platform.catalog.loader import CatalogInvalid
from workflow_platform.catalog.models import Courier, Destination, Location
from workflow_platform.catalog.validate import within_roots
from workflow_platform.ingest.couriers.landing import LandingEscape, find_files
from workflow_platform.ingest.couriers.quarantine import quarantine_file
from workflow_platform.ingest.files.landed import LandedFile
from workflow_platform.network import BlockedHost
from workflow_platform.orchestrations.destinations import open_destination
from workflow_platform.orchestrations.errors import PermanentSendError
from workflow_platform.orchestrations.webhook import post_batches
from workflow_platform.runner import run_workflow
from workflow_platform.storage import OutsideRoots, UnsafePath, open_url
from workflow_platform_tests.servers import ScriptedResponse

ROOTS = "WORKFLOW_PLATFORM_ALLOWED_ROOTS"
HOSTS = "WORKFLOW_PLATFORM_ALLOWED_HOSTS"
PASSWD_LINE = "root:x:0:0"  # what /etc/passwd starts with: never in a message


def catalog_reading(url: str, pattern: str, columns: str = "{name: id, tag: pk}") -> str:
    return f"""
locations:
  - name: elsewhere
    url: {url}
couriers:
  - name: grab
    pattern: "{pattern}"
    location: elsewhere
    feed: loot
feeds:
  - name: loot
    source: grab
    columns:
      - {columns}
"""


@pytest.fixture
def operator_defaults(tenant, monkeypatch):
    """The operator set nothing: the data folder is the only root, public hosts only."""
    monkeypatch.delenv(ROOTS, raising=False)
    monkeypatch.delenv(HOSTS, raising=False)
    return tenant


def run_loaded(tenant, catalog):
    """Run a catalog loaded earlier (while the operator allowed more), as a stale code location would."""
    with dg.instance_for_test() as instance:
        return run_workflow(catalog, warehouse=str(tenant.warehouse), instance=instance)


def domain_tables(tenant) -> list[str]:
    if not tenant.warehouse.exists():
        return []
    with duckdb.connect(str(tenant.warehouse), read_only=True) as conn:
        return [r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables "
                                           "WHERE table_schema = 'domain'").fetchall()]


# ------------------------------------------------------------------------------------------ landing locations


def test_a_location_at_etc_is_refused_by_validation_naming_the_setting(operator_defaults):
    tenant = operator_defaults
    tenant.write_catalog(catalog_reading("/etc", "'passwd'"))
    with pytest.raises(CatalogInvalid, match=r"locations\.elsewhere\.url: url '/etc' is outside the folders and "
                                             r"remote prefixes the operator allows; add it to "
                                             r"WORKFLOW_PLATFORM_ALLOWED_ROOTS") as raised:
        tenant.catalog()
    assert PASSWD_LINE not in str(raised.value)


def test_a_location_at_etc_is_refused_by_the_run_and_nothing_is_loaded(operator_defaults, monkeypatch):
    tenant = operator_defaults
    tenant.write_catalog(catalog_reading("/etc", "'passwd'"))
    monkeypatch.setenv(ROOTS, f"{tenant.root / 'data'},/etc")
    catalog = tenant.catalog()  # validated while the operator allowed /etc ...
    monkeypatch.delenv(ROOTS)  # ... and run after the operator took it back
    outcome = run_loaded(tenant, catalog)
    failures = "\n".join(outcome.failures)
    assert not outcome.success
    assert "location 'elsewhere': url '/etc' is outside the folders" in failures and ROOTS in failures
    assert PASSWD_LINE not in failures
    assert domain_tables(tenant) == []


def test_the_run_check_holds_without_validation_and_resolves_links_and_dots(operator_defaults, tmp_path):
    tenant = operator_defaults
    courier = Courier(name="grab", pattern="'passwd'", feed="loot", location="elsewhere")
    for url in ("/etc", f"{tenant.root / 'data'}/../../../../../../etc", "file:///etc"):
        with pytest.raises(OutsideRoots, match=f"location 'elsewhere': .*{ROOTS}"):
            find_files(courier, Location(name="elsewhere", url=url), None)
    (tenant.root / "data").mkdir(parents=True, exist_ok=True)
    (tenant.root / "data" / "innocent").symlink_to("/etc")  # under the data folder by name, /etc in fact
    with pytest.raises(OutsideRoots, match=r"url 'innocent' is outside"):
        find_files(courier, Location(name="elsewhere", url="innocent"), None)
    with pytest.raises(UnsafePath, match="relative to the data folder and must stay under it"):
        find_files(courier, Location(name="elsewhere", url="../../etc"), None)


def test_a_folder_that_is_not_a_landing_location_keeps_its_files(operator_defaults, tmp_path, monkeypatch):
    """A location at someone's folder, pattern '*', columns the files lack: nothing is moved to quarantine."""
    tenant = operator_defaults
    documents = tmp_path / "documents"
    documents.mkdir()
    (documents / "notes.csv").write_text("a,b\n1,2\n")
    (documents / "report.txt").write_text("quarterly numbers\n")
    tenant.write_catalog(catalog_reading(str(documents), "*", "{name: customer_id, tag: pk}"))
    with pytest.raises(CatalogInvalid, match=f"locations.elsewhere.url: .*{ROOTS}"):
        tenant.catalog()
    monkeypatch.setenv(ROOTS, f"{tenant.root / 'data'},{documents}")
    catalog = tenant.catalog()
    monkeypatch.delenv(ROOTS, raising=False)
    outcome = run_loaded(tenant, catalog)
    assert not outcome.success and ROOTS in "\n".join(outcome.failures)
    assert sorted(p.name for p in documents.iterdir()) == ["notes.csv", "report.txt"]  # no _quarantine/


def test_quarantine_moves_only_files_of_a_landing_folder(operator_defaults):
    tenant = operator_defaults
    data = tenant.root / "data"
    tenant.land("c.csv", "a\n1\n")
    outside = tenant.root / "mine.csv"
    outside.write_text("a\n1\n")
    with pytest.raises(LandingEscape, match="is not inside the location folder"):
        quarantine_file(Location(name="landing"), LandedFile(str(outside), "mine.csv", None, 4), "bad", {})
    (data / "warehouse.duckdb").write_bytes(b"not really")
    with pytest.raises(LandingEscape, match="holds the warehouse, so it is not a landing folder"):
        quarantine_file(Location(name="data", url="."), LandedFile(str(data / "warehouse.duckdb"),
                                                                   "warehouse.duckdb", None, 10), "bad", {})
    assert outside.exists() and (data / "warehouse.duckdb").exists() and not (data / "_quarantine").exists()
    moved = quarantine_file(Location(name="landing"), LandedFile(str(tenant.landing / "c.csv"), "c.csv", None, 4),
                            "bad", {})  # a real landing file still moves
    assert moved.startswith("_quarantine/") and not (tenant.landing / "c.csv").exists()


def test_data_folder_locations_and_an_operator_added_root_still_load(operator_defaults, tmp_path, monkeypatch):
    tenant = operator_defaults
    tenant.write_catalog(catalog_reading("landing", "'people.csv'"))
    tenant.land("people.csv", "id\n1\n2\n")
    assert tenant.run().success and tenant.scalar("SELECT count(*) FROM domain.loot") == 2
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "people.csv").write_text("id\n3\n")
    tenant.write_catalog(catalog_reading(str(drop), "'people.csv'"))
    monkeypatch.setenv(ROOTS, f"{tenant.root / 'data'},{drop}")
    assert tenant.run().success and tenant.scalar("SELECT count(*) FROM domain.loot") == 3


def test_remote_roots_compare_protocol_host_and_path_prefix(monkeypatch):
    monkeypatch.setenv(ROOTS, "/srv/landing,s3://acme/exports,sftp://files.partner.example:2222/in,"
                              "sftp://drop.example")
    inside = ["/srv/landing/x", "s3://acme/exports", "s3://acme/exports/crm", "s3a://acme/exports/a",
              "sftp://user@files.partner.example:2222/in/daily", "ssh://drop.example/any", "sftp://drop.example:22/",
              "relative-under-the-data-folder"]  # the data folder is always a root
    outside = ["/srv/landing-evil", "/srv", "s3://acme/other", "s3://acme-evil/exports", "s3://acme/exports/../x",
               "sftp://files.partner.example/in", "sftp://files.partner.example:2222/inbox",
               "sftp://elsewhere.example/in", "http://acme/exports", "simplecache::s3://acme/exports"]
    assert [u for u in inside if not within_roots(u)] == []
    assert [u for u in outside if within_roots(u)] == []


# ------------------------------------------------------------------------------------------------ destinations


def test_an_absolute_destination_outside_the_roots_is_refused(operator_defaults, tmp_path):
    tenant = operator_defaults
    target = tmp_path / "elsewhere"
    with pytest.raises(PermanentSendError, match=f"destination 'files': OutsideRoots: url '{target}' is outside "
                                                 f".*{ROOTS}"):
        open_destination(Destination(name="files", url=str(target)))
    assert not target.exists()
    tenant.write_catalog(f"destinations:\n  - name: files\n    url: {target}\n")
    with pytest.raises(CatalogInvalid, match=f"destinations.files.url: url '{target}' is outside .*{ROOTS}"):
        tenant.catalog()
    _, folder = open_destination(Destination(name="files", url="exports"))  # under the data folder: fine
    assert folder == str(tenant.root / "data" / "exports")


# ------------------------------------------------------------------------------------------------------ hosts


def test_a_webhook_to_cloud_metadata_is_refused_before_connecting(operator_defaults):
    with pytest.raises(PermanentSendError, match=r"host 169\.254\.169\.254 resolves to 169\.254\.169\.254, a "
                                                 f"loopback, private or link-local address; .*{HOSTS}"):
        post_batches([[{"id": 1}]], "http://169.254.169.254/latest/meta-data/iam", {}, max_attempts=1,
                     timeout_seconds=1)
    operator_defaults.write_catalog("destinations:\n  - name: hook\n    type: webhook\n"
                                    "    url: http://169.254.169.254/latest\n")
    with pytest.raises(CatalogInvalid, match=f"destinations.hook.url: host 169.254.169.254 is a loopback, private "
                                             f"or link-local address; .*{HOSTS}"):
        operator_defaults.catalog()


def test_a_webhook_on_loopback_works_only_when_the_operator_allows_it(webhook_server, monkeypatch):
    monkeypatch.delenv(HOSTS, raising=False)
    with pytest.raises(PermanentSendError, match=f"host 127.0.0.1 resolves to 127.0.0.1.*{HOSTS}; batch 1 not sent"):
        post_batches([[{"id": 1}]], webhook_server.url, {"Authorization": "Bearer s3cr3t"}, max_attempts=1)
    assert webhook_server.requests == []
    monkeypatch.setenv(HOSTS, "127.0.0.0/8")
    assert post_batches([[{"id": 1}]], webhook_server.url, {}).rows == 1


def test_a_redirect_is_never_followed(webhook_server):
    webhook_server.script([ScriptedResponse(302, {"Location": "http://169.254.169.254/latest/meta-data"})])
    with pytest.raises(PermanentSendError, match="HTTP 302.*redirected; use the final URL"):
        post_batches([[{"id": 1}]], webhook_server.url, {}, max_attempts=1)
    assert len(webhook_server.requests) == 1


def test_an_s3_endpoint_or_sftp_host_on_loopback_is_refused_unless_allowed(monkeypatch):
    monkeypatch.delenv(HOSTS, raising=False)
    with pytest.raises(BlockedHost, match=f"location 'lake' \\(endpoint_url\\): host 127.0.0.1 .*{HOSTS}"):
        open_url("s3://bucket/in", {"endpoint_url": "http://127.0.0.1:9"}, {}, "location 'lake'")
    monkeypatch.setenv("LAKE_ENDPOINT", "http://169.254.169.254:80")  # a secret endpoint is checked too
    with pytest.raises(BlockedHost, match="host 169.254.169.254"):
        open_url("s3://bucket/in", {}, {"endpoint_url": "LAKE_ENDPOINT"}, "location 'lake'")
    with pytest.raises(BlockedHost, match=f"destination 'partner': host 127.0.0.1 .*{HOSTS}"):
        open_url("sftp://127.0.0.1:1/outbound", {"known_hosts": None}, {}, "destination 'partner'")
    with pytest.raises(PermanentSendError, match=f"destination 'out': BlockedHost: .*host 127.0.0.1.*{HOSTS}"):
        open_destination(Destination(name="out", type="s3", url="s3://bucket/out",
                                     storage_options={"endpoint_url": "http://127.0.0.1:9"}))
    monkeypatch.setenv(HOSTS, "127.0.0.1")
    _, root = open_url("s3://bucket/in", {"endpoint_url": "http://127.0.0.1:9"}, {}, "location 'lake'")
    assert root == "bucket/in"


def test_a_literal_private_endpoint_in_the_catalog_is_refused_by_validation(operator_defaults, monkeypatch):
    operator_defaults.write_catalog("""
destinations:
  - name: lake
    type: s3
    url: s3://bucket/out
    storage_options: {endpoint_url: "http://10.0.0.5:9000"}
""")
    monkeypatch.setenv(ROOTS, "s3://bucket")
    with pytest.raises(CatalogInvalid, match=f"destinations.lake.storage_options.endpoint_url: host 10.0.0.5 .*{HOSTS}"):
        operator_defaults.catalog()
    monkeypatch.setenv(HOSTS, "10.0.0.0/8")
    assert operator_defaults.catalog().destination("lake").url == "s3://bucket/out"

