// A DurableClient backed directly by the test host, for unit-testing client functions (HTTP starters,
// timer triggers) without HTTP. It behaves like the real client against the real extension: the
// same errors for unknown instances, 410-style silent no-ops on finished ones. URL-building methods
// are delegated to a real DurableClient so the management URLs are the real ones.
import { HttpResponse, type HttpRequest } from "@azure/functions";
import * as df from "durable-functions";
import type { DurableTestHost } from "../durable-test-host";
import { HarnessError } from "../errors";
import { isTerminalStatus, type InstanceState, type RuntimeStatus } from "../instance-state";
import { realDurableClient } from "./client-context";
import { makeClientInputData, type ClientInputData } from "./client-input-data";

const runtimeStatusEnum: Record<RuntimeStatus, df.OrchestrationRuntimeStatus> = {
  Pending: df.OrchestrationRuntimeStatus.Pending,
  Running: df.OrchestrationRuntimeStatus.Running,
  Completed: df.OrchestrationRuntimeStatus.Completed,
  Failed: df.OrchestrationRuntimeStatus.Failed,
  Terminated: df.OrchestrationRuntimeStatus.Terminated,
};

export interface ClientCall {
  method: string;
  args: unknown[];
}

export class InMemoryDurableClient implements df.DurableClient {
  readonly taskHubName: string;
  readonly uniqueWebhookOrigins: string[];
  /** every client operation, in order, for assertions on what a client function did */
  readonly calls: ClientCall[] = [];
  private readonly urls: df.DurableClient;

  constructor(
    private readonly host: DurableTestHost,
    clientData: ClientInputData = makeClientInputData(),
  ) {
    this.urls = realDurableClient(clientData);
    this.taskHubName = this.urls.taskHubName;
    this.uniqueWebhookOrigins = this.urls.uniqueWebhookOrigins;
  }

  createCheckStatusResponse(request: HttpRequest | undefined, instanceId: string): HttpResponse {
    return this.urls.createCheckStatusResponse(request, instanceId);
  }

  createHttpManagementPayload(instanceId: string): df.HttpManagementPayload {
    return this.urls.createHttpManagementPayload(instanceId);
  }

  async startNew(orchestratorFunctionName: string, options?: df.StartNewOptions): Promise<string> {
    this.record("startNew", orchestratorFunctionName, options);
    if (!orchestratorFunctionName) throw new Error("orchestratorFunctionName must be a valid string.");
    return this.host.startNew(orchestratorFunctionName, { input: options?.input, instanceId: options?.instanceId });
  }

  async getStatus(instanceId: string, options: df.GetStatusOptions = {}): Promise<df.DurableOrchestrationStatus> {
    this.record("getStatus", instanceId, options);
    const instance = this.host.getStatus(instanceId);
    if (!instance) {
      throw new Error(
        "DurableClient error: Durable Functions extension replied with HTTP 404 response. " +
          `This usually means we could not find any data associated with the instanceId provided: ${instanceId}.`,
      );
    }
    return toDurableStatus(instance, options);
  }

  async getStatusAll(): Promise<df.DurableOrchestrationStatus[]> {
    this.record("getStatusAll");
    return this.host.listInstances().map((i) => toDurableStatus(i));
  }

  async getStatusBy(filter: df.OrchestrationFilter): Promise<df.DurableOrchestrationStatus[]> {
    this.record("getStatusBy", filter);
    return this.host
      .listInstances({
        runtimeStatus: filter.runtimeStatus?.map(String),
        createdTimeFrom: filter.createdTimeFrom,
        createdTimeTo: filter.createdTimeTo,
      })
      .map((i) => toDurableStatus(i));
  }

  async purgeInstanceHistory(instanceId: string): Promise<df.PurgeHistoryResult> {
    this.record("purgeInstanceHistory", instanceId);
    const result = this.host.purgeInstance(instanceId);
    if (result === "not-terminal") {
      const status = this.host.getStatus(instanceId)?.runtimeStatus ?? "unknown";
      throw new Error(
        `The operation failed with an unexpected status code: 412. Details: "Only orchestrations in a terminal state can be purged, but the orchestration with instance ID ${instanceId} has status ${status}"`,
      );
    }
    return { instancesDeleted: result === "purged" ? 1 : 0 };
  }

  async purgeInstanceHistoryBy(filter: df.OrchestrationFilter): Promise<df.PurgeHistoryResult> {
    this.record("purgeInstanceHistoryBy", filter);
    const instancesDeleted = this.host.purgeInstances({
      runtimeStatus: filter.runtimeStatus?.map(String),
      createdTimeFrom: filter.createdTimeFrom,
      createdTimeTo: filter.createdTimeTo,
    });
    return { instancesDeleted };
  }

  async raiseEvent(
    instanceId: string,
    eventName: string,
    eventData: unknown,
    options?: df.TaskHubOptions,
  ): Promise<void> {
    this.record("raiseEvent", instanceId, eventName, eventData, options);
    if (!eventName) throw new Error("eventName must be a valid string.");
    if (!this.host.getStatus(instanceId)) throw new Error(`No instance with ID '${instanceId}' found.`);
    this.host.raiseEvent(instanceId, eventName, eventData); // false = 410 Gone, which the real client ignores too
  }

  async terminate(instanceId: string, reason: string): Promise<void> {
    this.record("terminate", instanceId, reason);
    if (!this.host.getStatus(instanceId)) throw new Error(`No instance with ID '${instanceId}' found.`);
    this.host.terminate(instanceId, reason);
  }

  async waitForCompletionOrCreateCheckStatusResponse(
    request: HttpRequest,
    instanceId: string,
    waitOptions: df.WaitForCompletionOptions = {},
  ): Promise<HttpResponse> {
    this.record("waitForCompletionOrCreateCheckStatusResponse", instanceId, waitOptions);
    const timeoutMs = waitOptions.timeoutInMilliseconds ?? 10_000;
    // Time only passes on its own while the pump runs; on the virtual clock, answer from the current state.
    if (this.host.isPumpRunning) {
      await this.host
        .waitForStatus(instanceId, (s) => isTerminalStatus(s.runtimeStatus), timeoutMs)
        .catch(() => undefined);
    }
    const status = await this.getStatus(instanceId);
    switch (status.runtimeStatus) {
      case df.OrchestrationRuntimeStatus.Completed:
        return jsonResponse(200, status.output);
      case df.OrchestrationRuntimeStatus.Terminated:
      case df.OrchestrationRuntimeStatus.Canceled:
        return jsonResponse(200, status);
      case df.OrchestrationRuntimeStatus.Failed:
        return jsonResponse(500, status);
      default:
        return this.createCheckStatusResponse(request, instanceId);
    }
  }

  async readEntityState<T>(): Promise<df.EntityStateResponse<T>> {
    throw notEmulated("readEntityState");
  }

  async signalEntity(): Promise<void> {
    throw notEmulated("signalEntity");
  }

  async rewind(): Promise<void> {
    throw notEmulated("rewind");
  }

  async suspend(): Promise<void> {
    throw notEmulated("suspend");
  }

  async resume(): Promise<void> {
    throw notEmulated("resume");
  }

  private record(method: string, ...args: unknown[]): void {
    this.calls.push({ method, args });
  }
}

/**
 * What the real client builds from the extension's status payload. `history` is filled when
 * showHistory is set; note that against the real extension it stays undefined, because the
 * extension sends the history as `historyEvents` and the library reads `history`.
 */
function toDurableStatus(instance: InstanceState, options: df.GetStatusOptions = {}): df.DurableOrchestrationStatus {
  return {
    name: instance.name,
    instanceId: instance.instanceId,
    createdTime: new Date(instance.createdTime),
    lastUpdatedTime: new Date(instance.lastUpdatedTime),
    input: options.showInput === false ? null : structuredCloneOrNull(instance.input),
    output: structuredCloneOrNull(instance.output),
    runtimeStatus: runtimeStatusEnum[instance.runtimeStatus],
    customStatus: structuredCloneOrNull(instance.customStatus),
    history: options.showHistory ? structuredClone(instance.history) : undefined,
  };
}

function structuredCloneOrNull(value: unknown): unknown {
  return value === undefined ? null : structuredClone(value);
}

function jsonResponse(status: number, body: unknown): HttpResponse {
  return new HttpResponse({ status, jsonBody: body, headers: { "Content-Type": "application/json" } });
}

function notEmulated(method: string): HarnessError {
  return new HarnessError(`DurableClient.${method}() is not emulated by the in-memory durable client.`);
}
