"""The benchmarks are their own operator (docs/operations.md, "Security"): their tenants live in temporary
folders, and the generated catalogs of definitions_scale.py name example remote locations and destinations.
Imported for this effect by every benchmark that builds a tenant; an operator's own setting is kept."""

import os
import tempfile

EXAMPLE_REMOTES = ("s3://acme-esp", "s3://acme-dw", "s3://vendor-drop", "sftp://sftp.agency.example",
                   "sftp://files.partner.example:2222", "sftp://sftp.partner.example")

os.environ.setdefault("WORKFLOW_PLATFORM_ALLOWED_ROOTS", ",".join([tempfile.gettempdir(), *EXAMPLE_REMOTES]))
