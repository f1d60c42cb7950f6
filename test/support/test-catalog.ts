// A test catalog: a Guacamole release newer than the pinned ones, with stand-in artifacts (built the
// way upstream builds them, test/support/upstream-standins.ts) and their digests, added to the
// catalog for this process only (shared/node/catalog.ts useExtraGuacamoleReleases). The production
// catalog never holds it. Its JDBC bundle carries a stand-in upgrade script: DDL of the kind
// Guacamole's mysql/schema/upgrade/upgrade-pre-<version>.sql carries, which fails when run twice.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { useExtraGuacamoleReleases, type GuacamoleRelease, type PinnedArtifact } from "../../shared/node/catalog";
import { buildUpstreamStandIns, type StandInArtifact } from "./upstream-standins";

/** The test catalog's release: not an Apache release, and above any that will be for a long while. */
export const TEST_RELEASE = "1.99.0";

/** Upgrade scripts of the test release's JDBC bundle: the one that applies, and ones outside 1.6.0 -> 1.99.0. */
export const TEST_UPGRADE_SCRIPTS: Record<string, string> = {
  // at or below 1.6.0: already in a 1.6.0 schema, never run by an upgrade from 1.6.0
  "upgrade-pre-1.6.0.sql": "-- stand-in: must not run from 1.6.0\nSELECT no_such_column FROM guacamole_user;\n",
  "upgrade-pre-1.98.0.sql": [
    "--",
    "-- Stand-in upgrade script of the test catalog (not Apache's): adds a column, as Guacamole's own",
    "-- upgrade scripts do; a second run fails with a duplicate column.",
    "--",
    "ALTER TABLE guacamole_user ADD COLUMN jumpgate_test_upgraded_from VARCHAR(16) NULL;",
    "",
  ].join("\n"),
  [`upgrade-pre-${TEST_RELEASE}.sql`]: [
    "--",
    "-- Stand-in upgrade script of the test catalog (not Apache's): a new table, and a row written by",
    "-- the upgrade itself; a second run fails because the table exists.",
    "--",
    "CREATE TABLE guacamole_test_upgrade (",
    "  upgrade_id INT NOT NULL AUTO_INCREMENT,",
    "  note VARCHAR(64) NOT NULL,",
    "  PRIMARY KEY (upgrade_id)",
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;",
    "INSERT INTO guacamole_test_upgrade (note) VALUES ('upgraded to 1.99.0');",
    "UPDATE guacamole_user SET jumpgate_test_upgraded_from = '1.6.0';",
    "",
  ].join("\n"),
  // above the target: never run by an upgrade to 1.99.0
  "upgrade-pre-2.0.0.sql": "-- stand-in: must not run up to 1.99.0\nDROP TABLE guacamole_user;\n",
};

export interface TestCatalog {
  release: GuacamoleRelease;
  dir: string;
  artifacts: Record<string, StandInArtifact>;
  /** takes the release out of the catalog again and removes the artifacts */
  remove(): void;
}

/** Builds the stand-in artifacts of TEST_RELEASE and adds the release, with their digests, to the catalog. */
export function installTestCatalog(): TestCatalog {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jumpgate-test-catalog-"));
  const url = (name: string) => [`https://stand-in.invalid/guacamole/${TEST_RELEASE}/${name}`];
  const artifact = (name: string, digest: string | null): PinnedArtifact => ({
    urls: url(name),
    digest: digest
      ? { algorithm: "sha256", hex: digest, source: "test catalog: a stand-in artifact built by the test" }
      : null,
  });
  // the stand-in builder looks the version up in the catalog: add it first, digests once built
  const provisional: GuacamoleRelease = {
    version: TEST_RELEASE,
    server: artifact("server", null),
    war: artifact("war", null),
    authJdbc: artifact("auth-jdbc", null),
    authSso: artifact("auth-sso", null),
  };
  let undo = useExtraGuacamoleReleases([provisional]);
  const built = buildUpstreamStandIns(dir, {
    defaultGuacdConf: "/etc/guacamole/guacd.conf",
    guacamoleVersion: TEST_RELEASE,
    upgradeScripts: TEST_UPGRADE_SCRIPTS,
  });
  undo();
  const release: GuacamoleRelease = {
    version: TEST_RELEASE,
    server: artifact(path.basename(built.GUACAMOLE_SERVER.file), built.GUACAMOLE_SERVER.sha256),
    war: artifact(path.basename(built.GUACAMOLE_WAR.file), built.GUACAMOLE_WAR.sha256),
    authJdbc: artifact(path.basename(built.GUACAMOLE_AUTH_JDBC.file), built.GUACAMOLE_AUTH_JDBC.sha256),
    authSso: artifact(path.basename(built.GUACAMOLE_AUTH_SSO.file), built.GUACAMOLE_AUTH_SSO.sha256),
  };
  undo = useExtraGuacamoleReleases([release]);
  return {
    release,
    dir,
    artifacts: built,
    remove() {
      undo();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
