"""What `backupctl backup get` leaves unimported (issue 14's fast start): a listing on a
file:// location needs no API client, no archive reader and, without a config file, no
YAML parser. A module imported at the top of a command module again would show here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

NOT_NEEDED = (
    "kubernetes",
    "urllib3",  # the API client's transport
    "backupd.cluster.client",
    "backupd.archive.stored",  # the archive reader, with sealing
    "backupd.storage.sealing",
    "cli.backup_diff",
    "yaml",  # no config file and no -o yaml
    "boto3",
)

_PROBE = """
import json, sys
from cli.main import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    code = e.code
# registered lazy (cli.lazy.HEAVY) but never executed does not count as imported
loaded = [m for m in {wanted!r} if type(sys.modules.get(m)).__name__ == "module"]
print(json.dumps({{"code": code, "loaded": loaded}}), file=sys.stderr)
"""


def test_backup_get_on_a_file_location_imports_no_client_reader_or_yaml(tmp_path: Path) -> None:
    argv = ["backup", "get", "--location", (tmp_path / "store").as_uri()]
    (tmp_path / "store").mkdir()
    env = {**os.environ, "BACKUPD_CONFIG": str(tmp_path / "absent.yaml")}
    env.pop("BACKUPD_LOCATION", None)
    res = subprocess.run(
        [sys.executable, "-c", _PROBE.format(wanted=NOT_NEEDED), *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    report = json.loads(res.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None), res.stderr
    assert report["loaded"] == []
