// Small promise utilities for emulating .NET tasks with JS promises.

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

/**
 * A TaskCompletionSource look-alike. Its promise is marked handled up front: the emulated host often
 * abandons tasks (WhenAny losers, swallowed failures), exactly as .NET does, and those must not turn
 * into unhandled-rejection crashes.
 */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  void ignoreRejection(promise);
  return { promise, resolve, reject };
}

/** Marks a promise whose failure is observed elsewhere (or deliberately ignored) as handled. */
export function ignoreRejection<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/**
 * Resolves after every pending microtask has run. DTFx runs task continuations inline while it applies
 * each history event; waiting one macrotask between events gives the emulated continuations the same
 * chance to run before the next event is looked at.
 */
export function drainMicrotasks(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}
