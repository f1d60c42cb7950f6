// The session-recording parameters of a Guacamole connection Jumpgate manages, pure: the connection
// sync (connections from the Azure inventory) merges them into every connection it writes. Names are
// guacd's own, as guacamole-server 1.6.0 reads them (src/protocols/{ssh,rdp,vnc}/settings.c);
// values are strings because guacamole_connection_parameter stores text.
//
// The recording is named after Guacamole's history entry (`${HISTORY_UUID}`, a token the JDBC
// extension sets on every connection it starts since 1.5), so the history page's player, which looks
// for `<recording-search-path>/<history uuid>` (guacamole-history-recording-storage), finds the file
// once a node has fetched it from the container (see shared/recordings/layout.ts).
import { RECORDING_LOCAL_DIR } from "./layout";

/** The protocols Jumpgate creates connections for. */
export type RecordedProtocol = "ssh" | "rdp" | "vnc";

/** guacd's recording parameters, by protocol (1.6.0: RDP alone also has recording-exclude-touch). */
export const GUACD_RECORDING_PARAMETERS: Record<RecordedProtocol, readonly string[]> = {
  ssh: [
    "recording-path",
    "recording-name",
    "recording-exclude-output",
    "recording-exclude-mouse",
    "recording-include-keys",
    "create-recording-path",
    "recording-write-existing",
  ],
  rdp: [
    "recording-path",
    "recording-name",
    "recording-exclude-output",
    "recording-exclude-mouse",
    "recording-exclude-touch",
    "recording-include-keys",
    "create-recording-path",
    "recording-write-existing",
  ],
  vnc: [
    "recording-path",
    "recording-name",
    "recording-exclude-output",
    "recording-exclude-mouse",
    "recording-include-keys",
    "create-recording-path",
    "recording-write-existing",
  ],
};

/** What decides a connection's recording: the stack's `recordings` and its source's own switch. */
export interface RecordingChoice {
  /** the stack's `recordings` section (absent: recordings off) */
  stack?: { enabled: boolean; includeKeys: boolean };
  /** the connection source's `recordings` switch, when it has one (absent: follow the stack) */
  source?: boolean;
}

/** Whether connections from a source are recorded: the stack must record, and the source not opt out. */
export function recordsConnections(choice: RecordingChoice): boolean {
  return (choice.stack?.enabled ?? false) && choice.source !== false;
}

/**
 * The parameters a managed connection carries: the recording ones when it is recorded, and nothing
 * otherwise. `managedParameterNames` lists every name this module owns, so the sync can remove the
 * recording parameters of a connection whose recording was switched off (and only those).
 */
export function recordingParameters(protocol: RecordedProtocol, choice: RecordingChoice): Record<string, string> {
  if (!recordsConnections(choice)) return {};
  const values: Record<string, string> = {
    "recording-path": RECORDING_LOCAL_DIR,
    "recording-name": "${HISTORY_UUID}",
    // the installer creates the directory (0750 guacd:guacd); guacd makes it again if it is missing
    "create-recording-path": "true",
    // a key log holds what users typed, passwords included: only when the stack asks for it
    "recording-include-keys": choice.stack?.includeKeys ? "true" : "false",
    // never append to (or take over) an existing file: O_EXCL, a suffix instead
    "recording-write-existing": "false",
  };
  const known = new Set(GUACD_RECORDING_PARAMETERS[protocol]);
  for (const name of Object.keys(values)) {
    if (!known.has(name)) throw new Error(`guacd ${protocol} has no parameter ${name}`);
  }
  return values;
}

/** Every parameter name this module may set on a connection of `protocol`. */
export function managedParameterNames(protocol: RecordedProtocol): readonly string[] {
  return GUACD_RECORDING_PARAMETERS[protocol];
}
