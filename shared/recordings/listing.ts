// The recordings listing (GET /api/stacks/{name}/recordings), pure: the query as validated filters,
// and the container's blobs as what an auditor asks for (which recording, its size, node, session,
// when it was written and until when it is retained). The query comes from anyone who may call the
// API: every parameter is checked against a strict shape and a hostile one is refused whole.

/** What the uploader names a blob and writes into its metadata (infra/node/jumpgate-recordings). */
export interface ListedRecordingBlob {
  name: string;
  size: number;
  createdOn: Date;
  /** base64, as the service reports Content-MD5 */
  contentMd5?: string;
  metadata: Record<string, string>;
}

export interface RecordingsQuery {
  user?: string;
  connection?: string;
  node?: string;
  from?: Date;
  to?: Date;
}

export interface RecordingEntry {
  blob: string;
  node: string;
  /** Guacamole's history entry (the recording's name, `${HISTORY_UUID}`) */
  session: string;
  bytes: number;
  md5?: string;
  writtenAt: string;
  /** the container's time-based retention from the moment it was written: no change or delete before */
  retainedUntil: string;
  /** the session's Guacamole user (its history row's username), when the uploader found the row */
  user?: string;
  /** the connection's name in the session's history row, when the uploader found the row */
  connection?: string;
  /** the connection's id in Guacamole's database (absent once the connection was deleted) */
  connectionId?: number;
}

/** At most this many entries an answer; `truncated` says there were more (narrow the range). */
export const MAX_RECORDING_ENTRIES = 1000;

const PARAMETERS = ["user", "connection", "node", "from", "to"] as const;
// a UPN, an object id or a local Guacamole user name: printable, no control characters, no quotes
const USER = /^[\p{L}\p{N}@._+-]{1,256}$/u;
// a connection's name: its VM's name (connections from the inventory) or a hand-made one's name
// (letters, digits, spaces and a few marks; no quotes, no control characters)
const CONNECTION = /^[\p{L}\p{N}][\p{L}\p{N} _.@()+-]{0,127}$/u;
const NODE = /^[A-Za-z0-9_.-]{1,80}$/;
// RFC 3339 date-time, or a date alone (midnight UTC)
const INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

export function parseRecordingsQuery(
  query: URLSearchParams,
): { ok: true; query: RecordingsQuery } | { ok: false; parameter: string; detail: string } {
  const known = new Set<string>(PARAMETERS);
  const seen = new Set<string>();
  for (const key of query.keys()) {
    if (!known.has(key))
      return {
        ok: false,
        parameter: shown(key),
        detail: `unknown query parameter '${shown(key)}'; allowed: ${PARAMETERS.join(", ")}`,
      };
    if (seen.has(key)) return { ok: false, parameter: key, detail: `query parameter '${key}' given more than once` };
    seen.add(key);
  }
  const out: RecordingsQuery = {};
  const text = (key: "user" | "connection" | "node", pattern: RegExp, what: string) => {
    const value = query.get(key);
    if (value === null) return undefined;
    if (!pattern.test(value)) return { parameter: key, detail: `'${key}' is not ${what}` };
    out[key] = value;
    return undefined;
  };
  const problem =
    text("user", USER, "a user name (letters, digits, @ . _ + -, at most 256)") ??
    text("connection", CONNECTION, "a connection name (letters, digits, spaces, _ . @ ( ) + -, at most 128)") ??
    text("node", NODE, "a node name");
  if (problem) return { ok: false, ...problem };
  for (const key of ["from", "to"] as const) {
    const value = query.get(key);
    if (value === null) continue;
    const at = INSTANT.test(value) ? new Date(value) : undefined;
    if (!at || Number.isNaN(at.getTime()))
      return { ok: false, parameter: key, detail: `'${key}' is not an RFC 3339 date-time or date` };
    out[key] = at;
  }
  if (out.from && out.to && out.from > out.to) return { ok: false, parameter: "from", detail: "'from' is after 'to'" };
  return { ok: true, query: out };
}

/** The blobs as entries, filtered and newest first; retention counted from when each was written. */
export function recordingEntries(
  blobs: readonly ListedRecordingBlob[],
  retentionDays: number,
  query: RecordingsQuery,
): { recordings: RecordingEntry[]; truncated: boolean } {
  const entries: RecordingEntry[] = [];
  for (const b of blobs) {
    const [node, session, ...rest] = b.name.split("/");
    // only what the uploader names `<node>/<history uuid>`: anything else is not a recording of ours
    if (rest.length > 0 || !node || !session || !NODE.test(node)) continue;
    const meta = lowerKeys(b.metadata);
    const user = metadataText(meta.user);
    const connection = metadataText(meta.connection);
    const connectionId = /^[0-9]{1,10}$/.test(meta.connectionid ?? "") ? Number(meta.connectionid) : undefined;
    if (query.node !== undefined && node !== query.node) continue;
    // user names match whatever their case (Entra UPNs and Guacamole's MySQL user names do);
    // connection names exactly, as Guacamole stored them in the session's history row
    if (query.user !== undefined && user?.toLowerCase() !== query.user.toLowerCase()) continue;
    if (query.connection !== undefined && connection !== query.connection) continue;
    if (query.from && b.createdOn < query.from) continue;
    if (query.to && b.createdOn > query.to) continue;
    entries.push({
      blob: b.name,
      node,
      session,
      bytes: b.size,
      ...(b.contentMd5 ? { md5: b.contentMd5 } : {}),
      writtenAt: b.createdOn.toISOString(),
      retainedUntil: new Date(b.createdOn.getTime() + retentionDays * 86_400_000).toISOString(),
      ...(user ? { user } : {}),
      ...(connection ? { connection } : {}),
      ...(connectionId !== undefined ? { connectionId } : {}),
    });
  }
  entries.sort((a, b) => b.writtenAt.localeCompare(a.writtenAt) || a.blob.localeCompare(b.blob));
  return { recordings: entries.slice(0, MAX_RECORDING_ENTRIES), truncated: entries.length > MAX_RECORDING_ENTRIES };
}

/**
 * A metadata value as the uploader wrote it: percent-encoded UTF-8 (x-ms-meta-* headers take ASCII
 * only; infra/node/jumpgate-recordings session_metadata). One that does not decode is not the
 * uploader's: left out rather than shown half-read.
 */
function metadataText(value: string | undefined): string | undefined {
  if (value === undefined || value === "") return undefined;
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

function lowerKeys(metadata: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k.toLowerCase(), v]));
}

function shown(value: string): string {
  return value.replace(/[^\x20-\x7e]/g, "?").slice(0, 40);
}
