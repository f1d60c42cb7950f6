// Every activity, by the name orchestrations call it with: the map the app registers (register.ts)
// and the workflow kit types its calls by (functions/workflow/activity-map.ts), so the compiler
// checks each call's input and knows its output. A name is part of every history that scheduled
// it: renaming or removing one breaks instances in flight (the replay gate says so). The claim
// activities are one implementation (registry.ts claimFor) under the names their histories hold.
import type { Names } from "../names";
import * as access from "./access";
import * as certificates from "./certificates";
import * as connections from "./connections";
import * as drift from "./drift";
import * as drill from "./drill";
import * as heal from "./heal";
import * as images from "./images";
import * as inService from "./in-service";
import * as nodes from "./nodes";
import * as registry from "./registry";
import * as resources from "./resources";
import * as rotation from "./rotation";
import * as scale from "./scale";
import * as upgrade from "./upgrade";

export const activities = {
  // the resource graph
  buildStackGraph: resources.buildGraphActivity,
  planResource: resources.planResourceActivity,
  applyResource: resources.applyResourceActivity,
  removeResource: resources.removeResourceActivity,
  // web nodes
  listWebNodes: nodes.listWebNodesActivity,
  runNodeAgent: nodes.runNodeAgentActivity,
  checkNodesInService: inService.checkNodesInServiceActivity,
  // the registry, the audit trail, the inbox, the claim
  recordObserved: registry.recordObservedActivity,
  appendAudit: registry.appendAuditActivity,
  releaseOperation: registry.releaseOperationActivity,
  forgetStack: registry.forgetStackActivity,
  claimForHeal: registry.claimFor("heal"),
  claimForRotation: registry.claimFor("rotate-database"),
  claimForCertificate: registry.claimFor("rotate-certificate"),
  setHealConditions: registry.setConditionsActivity,
  setScaleCondition: registry.setConditionsActivity,
  consumeHealSignals: registry.consumeSignalsActivity,
  consumeScaleSignals: registry.consumeSignalsActivity,
  // heal
  takeHealSignals: heal.takeHealSignalsActivity,
  observeWebNode: heal.observeWebNodeActivity,
  startWebNode: heal.startWebNodeActivity,
  restartWebNodeServices: heal.restartWebNodeServicesActivity,
  restartWebNode: heal.restartWebNodeActivity,
  redeployWebNode: heal.redeployWebNodeActivity,
  reimageWebNode: heal.reimageWebNodeActivity,
  replaceWebNode: heal.replaceWebNodeActivity,
  prepareWebNode: heal.prepareWebNodeActivity,
  recordRepair: heal.recordRepairActivity,
  markRelapsed: heal.markRelapsedActivity,
  suspendNode: heal.suspendNodeActivity,
  setHealBrake: heal.setHealBrakeActivity,
  readHealFleet: scale.readHealFleetActivity,
  // scale
  takeScaleSignals: scale.takeScaleSignalsActivity,
  claimForScale: scale.claimForScaleActivity,
  observeScaleFleet: scale.observeScaleFleetActivity,
  readScaleLoad: scale.readScaleLoadActivity,
  recordFleet: scale.recordFleetActivity,
  fleetCertificate: scale.fleetCertificateActivity,
  removeScaleSetInstance: scale.removeScaleSetInstanceActivity,
  recordScaleObserved: scale.recordScaleObservedActivity,
  // database credential rotation
  loadRotationTarget: rotation.loadRotationTargetActivity,
  readCredentialState: rotation.readCredentialStateActivity,
  normalizeCredentialLabels: rotation.normalizeCredentialLabelsActivity,
  createPendingPassword: rotation.createPendingPasswordActivity,
  finishRotation: rotation.finishRotationActivity,
  abandonPending: rotation.abandonPendingActivity,
  applyAdminPassword: rotation.applyAdminPasswordActivity,
  recordCredentials: rotation.recordCredentialsActivity,
  // the certificate worker
  readCertificateState: certificates.readCertificateStateActivity,
  beginCertificateOrder: certificates.beginCertificateOrderActivity,
  issueCertificate: certificates.issueCertificateActivity,
  recordCertificateRollout: certificates.recordCertificateRolloutActivity,
  recordCertificateFailure: certificates.recordCertificateFailureActivity,
  recordCertificateVerification: certificates.recordCertificateVerificationActivity,
  recordCertificateCheck: certificates.recordCertificateCheckActivity,
  // sign-in with Entra ID and break-glass
  loadAccessTarget: access.loadAccessTargetActivity,
  planAccessSync: access.planAccessSyncActivity,
  recordAccess: access.recordAccessActivity,
  newGuacadminPassword: access.newGuacadminPasswordActivity,
  claimForBreakGlass: registry.claimFor("break-glass"),
  // the drift check
  driftChangeHistory: drift.driftChangeHistoryActivity,
  // connections from the Azure inventory
  planConnectionSync: connections.planConnectionSyncActivity,
  applyConnections: connections.applyConnectionsActivity,
  recordConnections: connections.recordConnectionsActivity,
  // the rolling upgrade
  prepareBootSource: upgrade.prepareBootSourceActivity,
  lookAtUpgradeImage: upgrade.lookAtUpgradeImageActivity,
  backupDatabase: upgrade.backupDatabaseActivity,
  recordUpgrade: upgrade.recordUpgradeActivity,
  // node images
  resolveNodeImage: images.resolveNodeImageActivity,
  startNodeImageBuild: images.startNodeImageBuildActivity,
  ensureImageGallery: images.ensureImageGalleryActivity,
  deleteImageVersion: images.deleteImageVersionActivity,
  createImageBuilder: images.createImageBuilderActivity,
  readImageBake: images.readImageBakeActivity,
  sealImageBuilder: images.sealImageBuilderActivity,
  generalizeImageBuilder: images.generalizeImageBuilderActivity,
  captureImageVersion: images.captureImageVersionActivity,
  removeImageBuilder: images.removeImageBuilderActivity,
  recordNodeImage: images.recordNodeImageActivity,
  // the restore drill
  restoreDrillServer: drill.restoreDrillServerActivity,
  pollDrillRestore: drill.pollDrillRestoreActivity,
  deleteDrillServers: drill.deleteDrillServersActivity,
  recordDrill: drill.recordDrillActivity,
} satisfies Record<keyof typeof Names.activities, (input: never) => Promise<unknown>>;
