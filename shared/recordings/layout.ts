// Where session recordings live on a web node, shared by the connection parameters, the node layout
// (shared/node/services.ts), the uploader (infra/node/jumpgate-recordings) and the tests.

/**
 * guacd writes recordings here: inside its StateDirectory= (/var/lib/guacd), the one place its
 * sandboxed unit (ProtectSystem=strict) may write, so no ReadWritePaths= widens the sandbox.
 */
export const RECORDING_LOCAL_DIR = "/var/lib/guacd/recordings";

/**
 * Guacamole's recording search path (its default `recording-search-path`): where the history page's
 * player looks for `<history uuid>`; `jumpgate-recordings fetch` puts a recording from the container here.
 */
export const RECORDING_SEARCH_DIR = "/var/lib/guacamole/recordings";

/** The uploader's ledger: one JSON line per recording shipped (or counted lost), kept on the node. */
export const RECORDING_LEDGER_DIR = "/var/lib/jumpgate/recordings";

/** The uploader itself and its systemd units. */
export const RECORDING_UPLOADER_PATH = "/usr/local/sbin/jumpgate-recordings";
export const RECORDING_UNITS = {
  service: "jumpgate-recordings.service",
  path: "jumpgate-recordings.path",
  timer: "jumpgate-recordings.timer",
} as const;

/** Blob names: `<node>/<history uuid>` (a node's recordings apart; a uuid is unique per stack's database). */
export function recordingBlobName(node: string, recording: string): string {
  if (!/^[A-Za-z0-9_.-]{1,80}$/.test(node)) throw new Error(`not a node name: ${node}`);
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(recording)) throw new Error(`not a recording file name: ${recording}`);
  return `${node}/${recording}`;
}
