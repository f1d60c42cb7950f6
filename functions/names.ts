// Every function name in one place: orchestrators call activities by these names, and a renamed
// orchestrator or activity breaks in-flight instances (the history replay test catches it).
export const Names = {
  orchestrators: {
    deployStack: "deployStack",
    planStack: "planStack",
    teardownStack: "teardownStack",
    reconcileStack: "reconcileStack",
    /**
     * v6 restarts a node's failed services (restart-services) before its VM when those are all that
     * fails; v5 drains before a restart or redeploy only a node with something to protect (live sessions,
     * or a probe still up, or an agent that did not answer); v4 judges the surge race at the look that finds the replacement healthy; v3 takes the step on
     * the round's own look and trusts the drain-off answer (no extra health checks); v2 surges (a
     * replacement comes up while the cheap step is tried); "healStackV5", "healStackV4", "healStackV3",
     * "healStackV2" and "healStack" (v1) only finish in-flight instances
     */
    healStack: "healStackV6",
    healStackV5: "healStackV5",
    healStackV4: "healStackV4",
    healStackV3: "healStackV3",
    healStackV2: "healStackV2",
    healStackV1: "healStack",
    /** v2 measures a scale-out's claim before acting; "scaleStack" (v1) only finishes in-flight instances */
    scaleStack: "scaleStackV2",
    scaleStackV1: "scaleStack",
    rotateDatabaseCredentials: "rotateDatabaseCredentials",
    renewCertificate: "renewCertificate",
    breakGlass: "breakGlass",
    syncConnections: "syncConnections",
    upgradeStack: "upgradeStack",
    buildNodeImage: "buildNodeImage",
    restoreDrill: "restoreDrill",
  },
  activities: {
    buildStackGraph: "buildStackGraph",
    planResource: "planResource",
    applyResource: "applyResource",
    removeResource: "removeResource",
    listWebNodes: "listWebNodes",
    runNodeAgent: "runNodeAgent",
    checkNodesInService: "checkNodesInService",
    recordObserved: "recordObserved",
    appendAudit: "appendAudit",
    releaseOperation: "releaseOperation",
    driftChangeHistory: "driftChangeHistory",
    forgetStack: "forgetStack",
    takeHealSignals: "takeHealSignals",
    observeWebNode: "observeWebNode",
    claimForHeal: "claimForHeal",
    startWebNode: "startWebNode",
    restartWebNodeServices: "restartWebNodeServices",
    restartWebNode: "restartWebNode",
    redeployWebNode: "redeployWebNode",
    reimageWebNode: "reimageWebNode",
    replaceWebNode: "replaceWebNode",
    prepareWebNode: "prepareWebNode",
    recordRepair: "recordRepair",
    markRelapsed: "markRelapsed",
    suspendNode: "suspendNode",
    setHealBrake: "setHealBrake",
    readHealFleet: "readHealFleet",
    setHealConditions: "setHealConditions",
    consumeHealSignals: "consumeHealSignals",
    takeScaleSignals: "takeScaleSignals",
    consumeScaleSignals: "consumeScaleSignals",
    claimForScale: "claimForScale",
    observeScaleFleet: "observeScaleFleet",
    readScaleLoad: "readScaleLoad",
    recordFleet: "recordFleet",
    fleetCertificate: "fleetCertificate",
    removeScaleSetInstance: "removeScaleSetInstance",
    setScaleCondition: "setScaleCondition",
    recordScaleObserved: "recordScaleObserved",
    loadRotationTarget: "loadRotationTarget",
    claimForRotation: "claimForRotation",
    readCredentialState: "readCredentialState",
    normalizeCredentialLabels: "normalizeCredentialLabels",
    createPendingPassword: "createPendingPassword",
    finishRotation: "finishRotation",
    abandonPending: "abandonPending",
    applyAdminPassword: "applyAdminPassword",
    recordCredentials: "recordCredentials",
    readCertificateState: "readCertificateState",
    claimForCertificate: "claimForCertificate",
    beginCertificateOrder: "beginCertificateOrder",
    issueCertificate: "issueCertificate",
    recordCertificateRollout: "recordCertificateRollout",
    recordCertificateFailure: "recordCertificateFailure",
    recordCertificateVerification: "recordCertificateVerification",
    recordCertificateCheck: "recordCertificateCheck",
    planAccessSync: "planAccessSync",
    recordAccess: "recordAccess",
    newGuacadminPassword: "newGuacadminPassword",
    claimForBreakGlass: "claimForBreakGlass",
    loadAccessTarget: "loadAccessTarget",
    planConnectionSync: "planConnectionSync",
    applyConnections: "applyConnections",
    recordConnections: "recordConnections",
    prepareBootSource: "prepareBootSource",
    lookAtUpgradeImage: "lookAtUpgradeImage",
    backupDatabase: "backupDatabase",
    recordUpgrade: "recordUpgrade",
    resolveNodeImage: "resolveNodeImage",
    startNodeImageBuild: "startNodeImageBuild",
    ensureImageGallery: "ensureImageGallery",
    deleteImageVersion: "deleteImageVersion",
    createImageBuilder: "createImageBuilder",
    readImageBake: "readImageBake",
    sealImageBuilder: "sealImageBuilder",
    generalizeImageBuilder: "generalizeImageBuilder",
    captureImageVersion: "captureImageVersion",
    removeImageBuilder: "removeImageBuilder",
    recordNodeImage: "recordNodeImage",
    restoreDrillServer: "restoreDrillServer",
    pollDrillRestore: "pollDrillRestore",
    deleteDrillServers: "deleteDrillServers",
    recordDrill: "recordDrill",
  },
  http: {
    putStack: "putStack",
    getStack: "getStack",
    listStacks: "listStacks",
    deleteStack: "deleteStack",
    planStackHttp: "planStackHttp",
    getOperation: "getOperation",
    listEvents: "listEvents",
    postAlert: "postAlert",
    postAlertWithToken: "postAlertWithToken",
    resumeHeal: "resumeHeal",
    rotateDatabase: "rotateDatabase",
    rotateCertificate: "rotateCertificate",
    getOpenApi: "getOpenApi",
    openBreakGlass: "openBreakGlass",
    closeBreakGlass: "closeBreakGlass",
    syncConnectionsHttp: "syncConnectionsHttp",
    listConnections: "listConnections",
    listRecordings: "listRecordings",
    buildNodeImageHttp: "buildNodeImageHttp",
    restoreDrillHttp: "restoreDrillHttp",
  },
  timers: {
    driftCheck: "driftCheck",
    credentialRotationCheck: "credentialRotationCheck",
    certificateRenewal: "certificateRenewal",
    storeRetention: "storeRetention",
    connectionSync: "connectionSync",
    restoreDrill: "restoreDrillTimer",
  },
} as const;

/** 20261121T101500123Z: the sortable UTC time in instance ids (`compactTime` in the HTTP handlers). */
const COMPACT_TIME = String.raw`\d{8}T\d{9}Z`;

/**
 * Whether `instanceId` is an operation of stack `stack`, exactly: built by InstanceIds for that
 * stack (a reconcile's deploy is `<reconcile id>-apply`). Stack names may contain hyphens, so a
 * prefix or substring test would let stack `web` read `deploy-x-web-g1-…` of stack `x-web`.
 */
export function isOperationOf(stack: string, instanceId: string): boolean {
  if (!/^[a-z0-9-]+$/.test(stack)) return false;
  if (
    [
      InstanceIds.heal,
      InstanceIds.scale,
      InstanceIds.rotateDatabase,
      InstanceIds.certificate,
      InstanceIds.breakGlass,
      InstanceIds.connections,
      InstanceIds.upgrade,
      InstanceIds.drill,
    ].some((id) => id(stack) === instanceId)
  ) {
    return true;
  }
  if (isNodeImageBuildOf(stack, instanceId)) return true;
  const timed = new RegExp(
    String.raw`^(?:deploy-${stack}-g[1-9]\d{0,8}|teardown-${stack}|plan-${stack}|reconcile-${stack})-${COMPACT_TIME}$|^reconcile-${stack}-${COMPACT_TIME}-apply$`,
  );
  return timed.test(instanceId);
}

/** Whether `instanceId` is a node image build of stack `stack` (`image-<stack>-<version>`), exactly. */
export function isNodeImageBuildOf(stack: string, instanceId: string): boolean {
  if (!/^[a-z0-9-]+$/.test(stack)) return false;
  return new RegExp(String.raw`^image-${stack}-\d{1,10}\.\d{1,10}\.\d{1,10}$`).test(instanceId);
}

/** Instance ids: one per stack and verb, so a duplicate request finds the running instance. */
export const InstanceIds = {
  deploy: (stack: string, generation: number, at: string) => `deploy-${stack}-g${generation}-${at}`,
  teardown: (stack: string, at: string) => `teardown-${stack}-${at}`,
  plan: (stack: string, at: string) => `plan-${stack}-${at}`,
  reconcile: (stack: string, at: string) => `reconcile-${stack}-${at}`,
  /** singletons: one heal and one scale orchestration per stack, which new alerts wake up */
  heal: (stack: string) => `heal-${stack}`,
  scale: (stack: string) => `scale-${stack}`,
  /** singleton: one database credential rotation per stack at a time */
  rotateDatabase: (stack: string) => `rotate-db-${stack}`,
  /** the stack's certificate worker: renews, rolls out and verifies, then sleeps until the next look */
  certificate: (stack: string) => `cert-${stack}`,
  /** singleton: guacadmin's break-glass window (and its password's scheduled rotation) */
  breakGlass: (stack: string) => `break-glass-${stack}`,
  /** singleton: the stack's connection sync started by the timer or a request (a deploy runs its own inside) */
  connections: (stack: string) => `connections-${stack}`,
  /** singleton: the stack's rolling upgrade of the Guacamole release (a PUT that changes guacamole.version) */
  upgrade: (stack: string) => `upgrade-${stack}`,
  /**
   * singleton per image version: one build of a node image at a time, whoever starts it (a deploy,
   * a scale-out, a request); `version` is MAJOR.MINOR.PATCH (image-identity.ts imageVersionName)
   */
  nodeImage: (stack: string, version: string) => `image-${stack}-${version}`,
  /** singleton: the stack's restore drill (a temporary server restored from backups, checked, deleted) */
  drill: (stack: string) => `drill-${stack}`,
} as const;
