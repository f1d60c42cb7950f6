// What Jumpgate last saw of a stack (the "observed" half of desired vs observed). It goes into the
// registry and the status API, so it holds names, ids, health facts and times: never secret values.
import type { NodeSummary } from "./node/model";

export interface ObservedResource {
  key: string;
  kind: string;
  id: string;
  /** what the last deploy or reconcile did to it */
  lastAction?: string;
}

export interface OperationOutcome {
  kind: string;
  instanceId: string;
  outcome: "succeeded" | "failed";
  startedAt: string;
  finishedAt: string;
  /** one line per failure, safe to show */
  failures: string[];
}

export interface StackObserved {
  /** generation of the desired spec this state was produced from */
  generation: number;
  publicFqdn?: string;
  hostname?: string;
  resources: ObservedResource[];
  nodes: NodeSummary[];
  lastOperation?: OperationOutcome;
  /** a plan that found drift, and what it found (reconcile) */
  drift?: { at: string; changes: { key: string; action: string; paths: string[] }[] };
  /** the database credentials as Key Vault labels them (names and versions only), and their rotations */
  credentials?: CredentialsObserved;
  /** the last time a deploy bootstrapped Guacamole's database, or checked it needed nothing */
  database?: DatabaseObserved;
  /** sign-in with Entra ID as last applied: the nodes' settings, the groups, guacadmin (shared/access) */
  access?: AccessObserved;
  /** the last rolling upgrade of the Guacamole release (functions/orchestrators/upgrade-stack.ts) */
  upgrade?: UpgradeObserved;
  /** the last on-demand backup of the flexible server Jumpgate took (before an upgrade) */
  lastBackup?: BackupObserved;
  /** the node image as last resolved and built (functions/activities/images.ts) */
  nodeImage?: NodeImageObserved;
  /** the last restore drill and its result (functions/orchestrators/restore-drill.ts) */
  drill?: DrillObserved;
}

/** An on-demand backup of the stack's flexible server: names and times only. */
export interface BackupObserved {
  /** the backup's name as Azure gave it, and its ARM id */
  name: string;
  id: string;
  /** when the server says the backup completed (ISO 8601), when it says */
  completedTime?: string;
  /** why it was taken, e.g. "before upgrading Guacamole 1.6.0 -> 1.7.0" */
  reason: string;
  /** the operation that took it */
  instanceId: string;
}

/** A rolling upgrade: where it is, or how it ended and why. */
export interface UpgradeObserved {
  from: string;
  to: string;
  instanceId: string;
  startedAt: string;
  state: "running" | "succeeded" | "failed";
  /** the step it is at, or the one that failed: prepare, backup, bring-up, schema, drain, remove, record */
  step: string;
  /** how it ended, one line (the failure's cause) */
  message?: string;
  finishedAt?: string;
  /** where the new nodes booted from: "source" (the installer builds at first boot) or "image" */
  bootSource?: "source" | "image";
  /** the target release's image version the new nodes booted from, or the one that was awaited */
  bootImage?: string;
  /** why that boot source (with nodeImage enabled): a reused or built image, or why from source */
  bootReason?: string;
  /** Guacamole's upgrade scripts, run once through `through` */
  schema?: { upgraded: boolean; applied: string[]; through: string; version: string };
  /** old node -> the new node that took its place, in order */
  replaced: { old: string; new: string }[];
}

/** Where new nodes boot from, as last resolved, and the last image build. */
export interface NodeImageObserved {
  /** the last resolution: the version for this Guacamole release and node digest, and what to do */
  resolved?: { at: string; version: string; action: "reuse" | "build" | "wait" | "conflict"; reason?: string };
  lastBuild?: NodeImageBuildObserved;
}

export interface NodeImageBuildObserved {
  version: string;
  instanceId: string;
  startedAt: string;
  finishedAt?: string;
  outcome: "running" | "succeeded" | "reused" | "failed" | "refused";
  reason?: string;
  /** the builder VM (deleted when the build ends, whatever its outcome) */
  builder?: string;
}

/** One restore drill as it ended: names, times and counts only. */
export interface DrillObserved {
  instanceId: string;
  trigger: "timer" | "request";
  outcome: "succeeded" | "failed";
  startedAt: string;
  finishedAt: string;
  /** the temporary server (deleted again unless `cleanup` says otherwise) */
  server?: string;
  restorePointInTime?: string;
  /** the web node the check ran on */
  node?: string;
  /** Guacamole's tables on the restored server: rows per table */
  tables?: Record<string, number>;
  /** why it failed: a CamelCase reason and one line, never a secret */
  failure?: { reason: string; message: string };
  /** the temporary servers deleted at its end, or why they could not be */
  cleanup: { deleted: string[]; failure?: string };
}

/**
 * What Jumpgate last applied (or verified) of the spec's access section. A deploy or the drift check
 * compares it with the spec: when the digests match and nothing is due for a look, it runs no
 * Run Command at all (a Run Command is an ARM write).
 */
export interface AccessObserved {
  signIn: "on" | "off";
  /** SHA-256 of the sign-in settings the nodes were given (null: sign-in off) */
  digest: string | null;
  /** each web node as last configured or checked: the digest it has */
  nodes: { name: string; id: string; digest: string | null; at: string }[];
  groups?: {
    /** SHA-256 of the mapping applied (shared/access/groups.ts groupsDigest) */
    digest: string;
    /** the Guacamole user groups Jumpgate manages, as mapped */
    mapped: { id: string; role: "admin" | "user"; permissions: string[] }[];
    /** groups of a mapped id that Jumpgate did not make: left alone */
    conflicts: string[];
    /** what the last sync changed ([] when it found them as mapped) */
    lastChanges: string[];
    /** when a sync last applied or confirmed the mapping */
    at: string;
    instanceId: string;
  };
  guacadmin?: GuacadminObserved;
}

/** The local administrator: disabled for daily use while `access` is set, open during break-glass. */
export interface GuacadminObserved {
  disabled: boolean;
  since: string;
  /** the Key Vault version of its password and since when (rotated after every break-glass window) */
  password?: { secret: string; version: string; since: string };
  /** a break-glass window now open: guacadmin is enabled until `until` */
  breakGlass?: { openedAt: string; until: string; instanceId: string; secret: string; version: string };
  /** the last window, once closed */
  lastBreakGlass?: { openedAt: string; closedAt: string; instanceId: string; closedBy: "timer" | "request" };
}

/**
 * What a deploy did to Guacamole's database (schema, app users, grants, guacadmin's default
 * password): `bootstrapped` as the admin, or `checked` (read-only, as the app users) and found
 * nothing to change. A later deploy trusts it for the same server and schema while the web nodes
 * pass the load balancer's probe, whose health check logs in as Guacamole's app user.
 */
export interface DatabaseObserved {
  /** ARM id of the flexible server, lower case */
  server: string;
  /** the Guacamole release whose schema was applied or found */
  schema: string;
  outcome: "bootstrapped" | "checked";
  at: string;
  /** the deploy that did it */
  instanceId: string;
}

/** One rotation of the database credentials, as it ended. */
export interface RotationOutcome {
  instanceId: string;
  rotationId: string;
  /** succeeded; rolled-back: nothing changed in the end; failed: left for the next run to finish or undo; skipped: not started */
  outcome: "succeeded" | "rolled-back" | "failed" | "skipped";
  startedAt: string;
  finishedAt: string;
  /** what happened to the app users and to the admin password, one line each */
  appUsers?: string;
  admin?: string;
  /** why it did not succeed, one line, never a secret */
  failure?: string;
}

/**
 * Copy of the credential state in Key Vault (the source of truth), written by the rotation after
 * every change it makes. Deploy, reconcile and heal read the current app user from here.
 */
export interface CredentialsObserved {
  database: {
    /** the app user every node logs in as */
    currentUser: string;
    slot: "a" | "b";
    version: string;
    /** ISO 8601: when it became current */
    since?: string;
    /** the idle app user, still valid until the next rotation */
    previousUser: string;
    /** a rotation that has not finished (its version and since when) */
    pending?: { user: string; version: string; rotationId?: string; since?: string };
  };
  admin: {
    version: string;
    since?: string;
    pending?: { version: string; rotationId?: string; since?: string };
  };
  lastRotation?: RotationOutcome;
  /** the last rotation that did not succeed; kept after later successes, for people */
  lastFailure?: RotationOutcome;
  /** ISO 8601: when this copy was taken from Key Vault */
  checkedAt: string;
}
