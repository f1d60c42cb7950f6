// The Function App's entry point ("main" in package.json): importing a module registers its
// functions with the host.
import "./activities/register";
import "./orchestrators/deploy-stack";
import "./orchestrators/plan-stack";
import "./orchestrators/teardown-stack";
import "./orchestrators/reconcile-stack";
import "./orchestrators/heal-stack";
import "./orchestrators/scale-stack";
import "./orchestrators/rotate-database";
import "./orchestrators/renew-certificate";
import "./orchestrators/break-glass";
import "./orchestrators/connection-sync";
import "./http/stacks";
import "./http/events";
import "./http/alerts";
import "./http/heal";
import "./http/rotate";
import "./http/certificates";
import "./http/break-glass";
import "./http/connections";
import "./http/recordings";
import "./http/openapi";
import "./timers/drift-check";
import "./timers/credential-rotation";
import "./timers/certificate-renewal";
import "./timers/store-retention";
import "./timers/connection-sync";
