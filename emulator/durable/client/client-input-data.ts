// The JSON the extension injects for a `durableClient` input binding (BindingHelper
// .DurableOrchestrationClientToString): URL templates for the management API and, when the
// extension's local RPC endpoint is enabled, `rpcBaseUrl`, which makes the JS DurableClient call
// that endpoint instead of the public webhook URLs.

export interface ClientInputData {
  taskHubName: string;
  connectionName: string;
  creationUrls: {
    createNewInstancePostUri: string;
    createAndWaitOnNewInstancePostUri: string;
  };
  managementUrls: {
    id: string;
    statusQueryGetUri: string;
    sendEventPostUri: string;
    terminatePostUri: string;
    rewindPostUri: string;
    purgeHistoryDeleteUri: string;
    restartPostUri: string;
    suspendPostUri: string;
    resumePostUri: string;
  };
  baseUrl: string;
  requiredQueryStringParameters: string;
  rpcBaseUrl?: string;
}

export interface ClientInputDataOptions {
  /** origin the management URLs point at (the JS client rewrites it to localhost:7071 off Azure anyway) */
  hostOrigin?: string;
  taskHub?: string;
  connection?: string;
  /** the webhook system key */
  systemKey?: string;
  /** e.g. DurableRpcServer.rpcBaseUrl; without it the client uses the managementUrls templates */
  rpcBaseUrl?: string;
}

/** Client data shaped like the extension's, with the same URL templates (HttpApiHandler.GetClientResponseLinks). */
export function makeClientInputData(options: ClientInputDataOptions = {}): ClientInputData {
  const origin = options.hostOrigin ?? "http://localhost:7071";
  const taskHub = options.taskHub ?? "TestHubName";
  const connection = options.connection ?? "Storage";
  const code = `code=${options.systemKey ?? "systemkey"}`;
  const baseUrl = `${origin}/runtime/webhooks/durabletask`;
  const instance = `${baseUrl}/instances/INSTANCEID`;
  const query = `taskHub=${taskHub}&connection=${connection}&${code}`;
  return {
    taskHubName: taskHub,
    connectionName: connection,
    creationUrls: {
      createNewInstancePostUri: `${baseUrl}/orchestrators/{functionName}[/{instanceId}]?${code}`,
      createAndWaitOnNewInstancePostUri: `${baseUrl}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&${code}`,
    },
    managementUrls: {
      id: "INSTANCEID",
      statusQueryGetUri: `${instance}?${query}`,
      sendEventPostUri: `${instance}/raiseEvent/{eventName}?${query}`,
      terminatePostUri: `${instance}/terminate?reason={text}&${query}`,
      rewindPostUri: `${instance}/rewind?reason={text}&${query}`,
      purgeHistoryDeleteUri: `${instance}?${query}`,
      restartPostUri: `${instance}/restart?${query}`,
      suspendPostUri: `${instance}/suspend?reason={text}&${query}`,
      resumePostUri: `${instance}/resume?reason={text}&${query}`,
    },
    baseUrl,
    requiredQueryStringParameters: code,
    ...(options.rpcBaseUrl ? { rpcBaseUrl: options.rpcBaseUrl } : {}),
  };
}
