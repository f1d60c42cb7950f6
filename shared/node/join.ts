// How a web node joins the stack's service, and which database user it logs in as: the one place
// that decides both, for every path that brings a node in (a deploy, a scale-out, heal's
// replacement or reimage). The paths run these steps through the node agent: deploy and scale from
// their orchestrations (functions/workflow/node-steps.ts bringUp), heal inside its prepareWebNode
// activity (histories in flight hold that activity).
//
// A joining node gets the stack's certificate and its sign-in settings (Entra ID, when the spec has
// `access`) before its database credentials: without credentials its health check fails, so the
// load balancer sends it no client while it still serves the self-signed certificate it booted with
// or Guacamole's local sign-in page. A scale-out's or heal's new node is thus signed-in-ready when it
// joins, not at the drift check's next daily look; a deploy leaves sign-in to its access step. Heal's new node is also held out of the load balancer
// (drained) until heal has seen it healthy, as the node it replaces was.
import { normalizeSerial } from "../acme/certificate";
import type { StackObserved } from "../stack-status";
import { APP_USERS, type AppUserSlot } from "./constants";
import { databaseCheckFails, type NodeHealth } from "./model";

/** One node agent command. */
export interface AgentStep {
  command: string;
  args: string[];
  /** what it does, for a failure message */
  what: string;
  /** what it did, for a status */
  done: string;
}

export interface JoinPlan {
  /** the app user every node logs in as now (appUserForNewNode) */
  appUser: AppUserSlot;
  /** the stack's TLS bundle: a node that does not serve `serial` installs it (no serial: it installs it) */
  certificate?: { secret: string; serial?: string };
  /** hold the node out of the load balancer until the caller has seen it healthy */
  drained?: boolean;
  /** the stack's sign-in settings (shared/access/plan.ts joinSignIn): a node without them gets them */
  signIn?: JoinSignIn;
}

/** Sign-in with Entra ID as a joining node gets it: the agent's `sign-in` arguments and their digest. */
export interface JoinSignIn {
  args: string[];
  digest: string;
}

/**
 * The agent commands that bring a node into service, in order, from its health as last seen
 * (undefined: not known, so it gets everything). A node already serving the certificate keeps it;
 * one whose database login works keeps its credentials.
 */
export function joinSteps(health: NodeHealth | undefined, plan: JoinPlan): AgentStep[] {
  const steps: AgentStep[] = [];
  if (plan.drained) steps.push({ command: "drain", args: ["on"], what: "drain", done: "drain on" });
  const { certificate } = plan;
  if (certificate && !(certificate.serial && serves(health, certificate.serial))) {
    const args = ["--secret", certificate.secret];
    steps.push({ command: "install-cert", args, what: "certificate install", done: "certificate installed" });
  }
  const { signIn } = plan;
  if (signIn && health?.signInDigest !== signIn.digest) {
    steps.push({ command: "sign-in", args: signIn.args, what: "sign-in settings", done: "sign-in settings applied" });
  }
  if (!health || databaseCheckFails(health)) {
    const done = `database credentials of app user ${plan.appUser}`;
    steps.push({ command: "db-credentials", args: ["--user", plan.appUser], what: "database credentials", done });
  }
  return steps;
}

/**
 * Which app user a node brought into service logs in as: the rotation's record (the registry's copy
 * of Key Vault's labels) when there is one; before any rotation, what the node's healthy peers use
 * (`peers`: appUserOfPeers); else "a", the user a first deploy creates.
 */
export function appUserForNewNode(observed: StackObserved | undefined, peers?: AppUserSlot): AppUserSlot {
  return observed?.credentials?.database.slot ?? peers ?? "a";
}

/** The app user the healthy nodes log in as now, when one says. */
export function appUserOfPeers(peers: readonly NodeHealth[]): AppUserSlot | undefined {
  for (const p of peers) {
    if (!p.healthy) continue;
    if (p.databaseUser === APP_USERS.b) return "b";
    if (p.databaseUser === APP_USERS.a) return "a";
  }
  return undefined;
}

/** Whether the node's NGINX serves the certificate with this serial (serials compared normalized). */
function serves(health: NodeHealth | undefined, serial: string): boolean {
  const served = health?.certificate?.serial;
  return typeof served === "string" && normalizeSerial(served) === normalizeSerial(serial);
}
