// Pinned upstream artifacts a web node installs, with the digests the installer checks before it
// uses a byte of them. Every digest below was copied from a published, independently verified
// source named next to it (package recipes whose builds fail on a mismatch); none was computed or
// guessed here. An artifact without a verified digest would be `digest: null`, and the installer
// refuses it unless the stack explicitly allows unverified artifacts.

export type DigestAlgorithm = "sha256" | "sha512";

export interface PinnedArtifact {
  /** download locations, tried in order (Apache's archive keeps every release forever) */
  urls: readonly string[];
  digest: { algorithm: DigestAlgorithm; hex: string; source: string } | null;
}

export interface GuacamoleRelease {
  version: string;
  /** guacamole-server source (guacd is built from it; the manual says it must be built from source) */
  server: PinnedArtifact;
  /** the web application, deployed as Tomcat's ROOT */
  war: PinnedArtifact;
  /** JDBC auth extensions; the node uses mysql/guacamole-auth-jdbc-mysql-<version>.jar and mysql/schema/ */
  authJdbc: PinnedArtifact;
  /** the SSO extensions; the node uses openid/guacamole-auth-sso-openid-<version>.jar (sign-in with Entra ID) */
  authSso: PinnedArtifact;
}

const apache = (path: string): string[] => [
  `https://archive.apache.org/dist/${path}`,
  `https://dlcdn.apache.org/${path}`,
];

export const GUACAMOLE_RELEASES: Readonly<Record<string, GuacamoleRelease>> = {
  "1.6.0": {
    version: "1.6.0",
    server: {
      urls: apache("guacamole/1.6.0/source/guacamole-server-1.6.0.tar.gz"),
      digest: {
        algorithm: "sha512",
        hex: "7a95ae98556c9fc95170b6e1582198d363677d2e757d7ed45de0064c530f45653f44cd2d22994dc623855b3bd8ef196f2f0ab891b756a123b5b0f5c277e8caee",
        source:
          "alpinelinux/aports community/guacamole-server/APKBUILD (pkgver 1.6.0-r3) @ 6161e5ade2b04bc129409e5c69bc4745be12175d, sha512sums",
      },
    },
    war: {
      urls: apache("guacamole/1.6.0/binary/guacamole-1.6.0.war"),
      digest: {
        algorithm: "sha256",
        hex: "b41ceb1e2df010b54db563e0b00edb8d5fe9f073c6168462e4c978df0fc6e716",
        source:
          "NixOS/nixpkgs pkgs/by-name/gu/guacamole-client/package.nix (version 1.6.0) @ f36b38ce3b1afa4bf206b85cbc296ac6f82ee5f7, hash sha256-tBzrHi3wELVNtWPgsA7bjV/p8HPGFoRi5Ml43w/G5xY= (SRI base64 to hex)",
      },
    },
    authJdbc: {
      urls: apache("guacamole/1.6.0/binary/guacamole-auth-jdbc-1.6.0.tar.gz"),
      digest: {
        algorithm: "sha256",
        hex: "97bc5fd3d67d25c0e98a475d1dfd308a037859f549fac47171c723b7a7039366",
        source:
          "NixOS configurations on GitHub that fetchurl archive.apache.org/dist/guacamole/1.6.0/binary/guacamole-auth-jdbc-1.6.0.tar.gz with hash sha256-l7xf09Z9JcDpikddHf0wigN4WfVJ+sRxcccjt6cDk2Y= (the same value appears in several independent flakes pinned to nixpkgs' guacamole-client 1.6.0; SRI base64 to hex)",
      },
    },
    authSso: {
      urls: apache("guacamole/1.6.0/binary/guacamole-auth-sso-1.6.0.tar.gz"),
      digest: {
        algorithm: "sha256",
        hex: "e957984471ac50a87f472f51aec9bf7e378ae67ce2502ff938030011a670dcae",
        source:
          "devnullvoid/nixmox modules/guacamole/default.nix @ a98ddf0796d8cadb0464ba1286b9220744bbcc17: fetchurl of dlcdn.apache.org/guacamole/${guacVer}/binary/guacamole-auth-sso-${guacVer}.tar.gz with hash sha256-6VeYRHGsUKh/Ry9Rrsm/fjeK5nziUC/5OAMAEaZw3K4= (SRI base64 to hex); its guacVer is 1.6.0, since the same file's fetch of guacamole-auth-jdbc-${guacVer}.tar.gz pins sha256-l7xf09Z9..., the 1.6.0 JDBC digest above. One source only (Apache's .sha256 file was not reachable from here): Nix refuses a mismatching download, so the value was checked on every build of that configuration.",
      },
    },
  },
};

export const DEFAULT_GUACAMOLE_VERSION = "1.6.0";

/**
 * Releases a test or sandbox adds beside the pinned ones (`useExtraGuacamoleReleases`): stand-in
 * artifacts for a version the production catalog does not have yet, so an upgrade can be exercised.
 * Empty in a deployed app: nothing in it is ever read from configuration or a request.
 */
let extraReleases: Readonly<Record<string, GuacamoleRelease>> = {};

/**
 * Adds releases to the catalog for this process (tests and the sandbox only: their digests are of
 * stand-in artifacts). A version of the production catalog cannot be replaced. Returns the undo.
 */
export function useExtraGuacamoleReleases(releases: readonly GuacamoleRelease[]): () => void {
  for (const r of releases) {
    if (GUACAMOLE_RELEASES[r.version]) throw new Error(`Guacamole ${r.version} is pinned in the production catalog`);
  }
  const before = extraReleases;
  extraReleases = { ...before, ...Object.fromEntries(releases.map((r) => [r.version, r])) };
  return () => {
    extraReleases = before;
  };
}

/** Every Guacamole version a stack may run: the pinned catalog and any releases a test added. */
export function catalogVersions(): string[] {
  return [...Object.keys(GUACAMOLE_RELEASES), ...Object.keys(extraReleases)].sort(compareVersions);
}

/** Orders dotted release versions numerically ("1.6.0" < "1.10.0"); a suffix orders after the plain version. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined || y === undefined) return x === undefined ? -1 : 1;
    const nx = /^\d+$/.test(x) ? Number(x) : NaN;
    const ny = /^\d+$/.test(y) ? Number(y) : NaN;
    if (!Number.isNaN(nx) && !Number.isNaN(ny)) {
      if (nx !== ny) return nx - ny;
    } else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/**
 * Tomcat 9 from Apache (Guacamole 1.6 is javax-based and Ubuntu 24.04 ships no tomcat9 package).
 * Bumping it is a catalog change: new nodes pick it up, existing ones on replacement.
 */
export const TOMCAT = {
  version: "9.0.118",
  artifact: {
    urls: apache("tomcat/tomcat-9/v9.0.118/bin/apache-tomcat-9.0.118.tar.gz"),
    digest: {
      algorithm: "sha512",
      hex: "737367433486757ccd687329d99b1188506cdec57a53a29b415173909c38cdf9da4fc9fd73b8cd17cd0a8def8610ad43bab8e84393dc904a0bd1121da8cab2fc",
      source:
        "docker-library/tomcat 9.0/jdk11/temurin-resolute/Dockerfile @ 4abe5b5179b660ef5d7f30d463e5aad084f98434, TOMCAT_SHA512 (the official image also checks the Apache PGP signature)",
    },
  } satisfies PinnedArtifact,
} as const;

/** MySQL Connector/J, the driver the Guacamole manual recommends for MySQL (TLS verify-identity works from 8.0.x on). */
export const MYSQL_CONNECTOR_J = {
  version: "9.1.0",
  /** the jar inside the platform-independent zip */
  member: "mysql-connector-j-9.1.0/mysql-connector-j-9.1.0.jar",
  artifact: {
    urls: [
      "https://dev.mysql.com/get/Downloads/Connector-J/mysql-connector-j-9.1.0.zip",
      "https://downloads.mysql.com/archives/get/p/3/file/mysql-connector-j-9.1.0.zip",
    ],
    digest: {
      algorithm: "sha256",
      hex: "72cdd53fe45df7d26b213931aa554b9fdc7914fcaba6965c22685d135d154f45",
      source:
        "NixOS/nixpkgs pkgs/by-name/my/mysql_jdbc/package.nix (version 9.1.0) @ 05fa61a2a56219c89579c336e00d850c290ebbec, hash sha256-cs3VP+Rd99JrITkxqlVLn9x5FPyrppZcImhdE10VT0U= (SRI base64 to hex)",
    },
  } satisfies PinnedArtifact,
} as const;

export function guacamoleRelease(version: string = DEFAULT_GUACAMOLE_VERSION): GuacamoleRelease {
  const release = Object.hasOwn(GUACAMOLE_RELEASES, version)
    ? GUACAMOLE_RELEASES[version]
    : Object.hasOwn(extraReleases, version)
      ? extraReleases[version]
      : undefined;
  if (!release) {
    throw new Error(`Guacamole ${version} is not in the catalog (known: ${catalogVersions().join(", ")})`);
  }
  return release;
}

/** Every artifact a node of this Guacamole release downloads, keyed by the installer's variable names. */
export function nodeArtifacts(version: string = DEFAULT_GUACAMOLE_VERSION): Record<string, PinnedArtifact> {
  const release = guacamoleRelease(version);
  return {
    GUACAMOLE_SERVER: release.server,
    GUACAMOLE_WAR: release.war,
    GUACAMOLE_AUTH_JDBC: release.authJdbc,
    GUACAMOLE_AUTH_SSO: release.authSso,
    TOMCAT: TOMCAT.artifact,
    MYSQL_CONNECTOR_J: MYSQL_CONNECTOR_J.artifact,
  };
}
