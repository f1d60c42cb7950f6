// The activity map as the workflow side sees it: every activity's name, input and output, taken from
// the one map the app registers (functions/activities/map.ts). Type-only: importing this runs no
// activity module, registers nothing and pulls in no I/O.
import type { activities } from "../activities/map";

export type Activities = typeof activities;
export type ActivityName = keyof Activities;
export type ActivityInput<K extends ActivityName> = Parameters<Activities[K]>[0];
export type ActivityOutput<K extends ActivityName> = Awaited<ReturnType<Activities[K]>>;

/** The activities whose output is `T` (e.g. the claim activities, which all answer a WorkerClaim). */
export type ActivitiesAnswering<T> = {
  [K in ActivityName]: ActivityOutput<K> extends T ? K : never;
}[ActivityName];
