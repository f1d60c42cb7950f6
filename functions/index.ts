// The Function App's entry point ("main" in package.json): importing a module registers its
// functions with the host.
import "./activities/resources";
import "./activities/nodes";
import "./activities/registry";
import "./activities/heal";
import "./activities/certificates";
import "./orchestrators/deploy-stack";
import "./orchestrators/plan-stack";
import "./orchestrators/teardown-stack";
import "./orchestrators/reconcile-stack";
import "./orchestrators/heal-stack";
import "./orchestrators/renew-certificate";
import "./http/stacks";
import "./http/alerts";
import "./http/heal";
import "./http/certificates";
import "./timers/drift-check";
import "./timers/certificate-renewal";
