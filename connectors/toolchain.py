"""Installs what shardline needs beyond pip: the npm emulators and the Flink connector jar.

Run by ``make setup`` (``python -m connectors.toolchain install``).  Every
step checks what is already there first, so a second run with warm caches
does no network I/O.  Jars from Maven Central are verified against the
checksums Maven Central publishes beside them before they enter the cache.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from connectors.local_stack import npm_root
from connectors.paths import state_dir

log = logging.getLogger("shardline.toolchain")

MAVEN_CENTRAL = os.environ.get("SHARDLINE_MAVEN_REPO", "https://repo1.maven.org/maven2")
ABSENT_TTL_S = 24 * 3600
NPM_EMULATORS = {"kinesalite": "3.3.3", "kinesis-local": "0.6.2", "dynalite": "4.0.0", "cbor-x": "1.6.9"}
"""cbor-x is no emulator: kinesalite's preload (connectors/kinesalite_guard.js) speaks CBOR with it."""


class ChecksumMismatch(RuntimeError):
    pass


@dataclass(frozen=True)
class MavenArtifact:
    group: str
    artifact: str
    version: str

    @property
    def file_name(self) -> str:
        return f"{self.artifact}-{self.version}.jar"

    @property
    def url(self) -> str:
        return f"{MAVEN_CENTRAL}/{self.group.replace('.', '/')}/{self.artifact}/{self.version}/{self.file_name}"

    def __str__(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"


# The official Flink 2.x Kinesis connector (SQL fat jar: one jar with the AWS SDK shaded in).
OFFICIAL_KINESIS_CONNECTOR = MavenArtifact(
    "org.apache.flink", "flink-sql-connector-aws-kinesis-streams", "6.0.0-2.0")


def cache_dir() -> Path:
    return Path(os.environ.get("SHARDLINE_CACHE", Path.home() / ".cache" / "shardline"))


def jar_dir() -> Path:
    """The folder the Flink environment loads jars from (see connectors.paths)."""
    return state_dir() / "jars"


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def fetch_maven_artifact(artifact: MavenArtifact) -> Path | None:
    """Download ``artifact`` into the cache, verified; ``None`` if Maven Central does not serve it."""
    target = cache_dir() / "maven" / artifact.file_name
    if target.exists():
        return target
    absent = target.with_suffix(".absent")
    if absent.exists() and time.time() - absent.stat().st_mtime < ABSENT_TTL_S:
        return None  # asked recently and refused: keep warm runs offline
    checksums = {algo: _get(f"{artifact.url}.{algo}") for algo in ("sha512", "sha256", "sha1")}
    checksums = {algo: text.decode().split()[0].strip().lower() for algo, text in checksums.items() if text}
    payload = _get(artifact.url) if checksums else None
    if payload is None:
        absent.parent.mkdir(parents=True, exist_ok=True)
        absent.touch()
        return None
    for algo, expected in checksums.items():
        actual = hashlib.new(algo, payload).hexdigest()
        if actual != expected:
            raise ChecksumMismatch(f"{artifact}: {algo} is {actual}, Maven Central says {expected}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    partial.write_bytes(payload)
    partial.replace(target)
    log.info("downloaded %s (%d bytes, verified %s)", artifact, len(payload), "+".join(checksums))
    return target


def install_npm_emulators() -> None:
    root = npm_root()
    wanted = {name: version for name, version in NPM_EMULATORS.items()
              if _installed_npm_version(root / name) != version}
    if not wanted:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed; the Kinesis emulators need Node.js 18+ and npm")
    prefix = root.parent
    prefix.mkdir(parents=True, exist_ok=True)
    subprocess.run([npm, "install", "--prefix", str(prefix), "--no-save", "--no-audit", "--no-fund",
                    "--loglevel", "error", *[f"{n}@{v}" for n, v in NPM_EMULATORS.items()]],
                   check=True, stdout=sys.stderr)


def _installed_npm_version(package: Path) -> str | None:
    try:
        return json.loads((package / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def install_flink_connector() -> list[Path]:
    """Put the Kinesis connector jars for Flink 2.2 into ``jar_dir()``.

    shardline's own FLIP-27 source and AsyncSink-based sink (``connectors/flink_java``)
    are always built: the PyFlink wrappers use them, with a bounded mode and
    (key, bytes) sink records.  The official SQL connector is added beside them
    where Maven Central serves it, for users of the Table API ``kinesis`` connector.
    """
    from connectors.flink import build_connector_jar

    jars = [build_connector_jar()]
    official = fetch_maven_artifact(OFFICIAL_KINESIS_CONNECTOR)
    if official is None:
        log.info("%s is not served by %s: the Table API 'kinesis' connector is unavailable; "
                 "shardline's DataStream connector is used", OFFICIAL_KINESIS_CONNECTOR, MAVEN_CENTRAL)
        return jars
    target = jar_dir() / official.name
    if not target.exists():
        jar_dir().mkdir(parents=True, exist_ok=True)
        shutil.copy2(official, target)
    return jars + [target]


def install(flink: bool = True) -> None:
    install_npm_emulators()
    if flink:
        install_flink_connector()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    if sys.argv[1:2] != ["install"]:
        sys.exit("usage: python -m connectors.toolchain install [--no-flink]")
    install(flink="--no-flink" not in sys.argv)
