// Every function name in one place: orchestrators call activities by these names, and a renamed
// orchestrator or activity breaks in-flight instances (the history replay test catches it).
export const Names = {
  orchestrators: {
    deployStack: "deployStack",
    planStack: "planStack",
    teardownStack: "teardownStack",
    reconcileStack: "reconcileStack",
    healStack: "healStack",
    scaleStack: "scaleStack",
  },
  activities: {
    buildStackGraph: "buildStackGraph",
    planResource: "planResource",
    applyResource: "applyResource",
    removeResource: "removeResource",
    listWebNodes: "listWebNodes",
    runNodeAgent: "runNodeAgent",
    recordObserved: "recordObserved",
    appendAudit: "appendAudit",
    releaseOperation: "releaseOperation",
    forgetStack: "forgetStack",
    takeHealSignals: "takeHealSignals",
    observeWebNode: "observeWebNode",
    claimForHeal: "claimForHeal",
    startWebNode: "startWebNode",
    restartWebNode: "restartWebNode",
    redeployWebNode: "redeployWebNode",
    reimageWebNode: "reimageWebNode",
    replaceWebNode: "replaceWebNode",
    prepareWebNode: "prepareWebNode",
    recordRepair: "recordRepair",
    markRelapsed: "markRelapsed",
    suspendNode: "suspendNode",
    setHealBrake: "setHealBrake",
    setHealConditions: "setHealConditions",
    consumeHealSignals: "consumeHealSignals",
  },
  http: {
    putStack: "putStack",
    getStack: "getStack",
    listStacks: "listStacks",
    deleteStack: "deleteStack",
    planStackHttp: "planStackHttp",
    getOperation: "getOperation",
    postAlert: "postAlert",
  },
  timers: {
    driftCheck: "driftCheck",
  },
} as const;

/** Instance ids: one per stack and verb, so a duplicate request finds the running instance. */
export const InstanceIds = {
  deploy: (stack: string, generation: number, at: string) => `deploy-${stack}-g${generation}-${at}`,
  teardown: (stack: string, at: string) => `teardown-${stack}-${at}`,
  plan: (stack: string, at: string) => `plan-${stack}-${at}`,
  reconcile: (stack: string, at: string) => `reconcile-${stack}-${at}`,
  /** singletons: one heal and one scale orchestration per stack, which new alerts wake up */
  heal: (stack: string) => `heal-${stack}`,
  scale: (stack: string) => `scale-${stack}`,
} as const;
