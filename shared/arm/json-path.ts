// Dotted paths into ARM documents ("properties.osProfile.customData"); a numeric segment indexes an
// array ("...publicKeys.0.keyData"). The graph names write-only, create-only and secret-filled
// places this way.

export type Json = string | number | boolean | null | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: unknown };

export function splitPath(path: string): string[] {
  return path.split(".").filter((s) => s !== "");
}

export function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function child(container: unknown, segment: string): unknown {
  if (Array.isArray(container)) return /^\d+$/.test(segment) ? container[Number(segment)] : undefined;
  return isObject(container) ? container[segment] : undefined;
}

export function getAt(doc: unknown, path: string): unknown {
  let cur = doc;
  for (const s of splitPath(path)) cur = child(cur, s);
  return cur;
}

export function hasPath(doc: unknown, path: string): boolean {
  const segs = splitPath(path);
  const parent = getAt(doc, segs.slice(0, -1).join("."));
  const last = segs[segs.length - 1];
  if (Array.isArray(parent)) return /^\d+$/.test(last) && Number(last) < parent.length;
  return isObject(parent) && Object.prototype.hasOwnProperty.call(parent, last);
}

/** Sets a value, creating objects (or arrays, before a numeric segment) on the way. */
export function setAt(doc: JsonObject, path: string, value: unknown): void {
  const segs = splitPath(path);
  let cur: unknown = doc;
  segs.forEach((s, i) => {
    const last = i === segs.length - 1;
    const key: string | number = Array.isArray(cur) ? Number(s) : s;
    const holder = cur as Record<string | number, unknown>;
    if (last) {
      holder[key] = value;
      return;
    }
    if (holder[key] === null || typeof holder[key] !== "object") holder[key] = /^\d+$/.test(segs[i + 1]) ? [] : {};
    cur = holder[key];
  });
}

export function deleteAt(doc: unknown, path: string): void {
  const segs = splitPath(path);
  const parent = getAt(doc, segs.slice(0, -1).join("."));
  const last = segs[segs.length - 1];
  if (isObject(parent)) delete parent[last];
}

/** True when `path` is `prefix` or lies below it. */
export function isAtOrBelow(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(`${prefix}.`);
}

/** Every leaf (scalar, empty array or empty object) of a document with its dotted path. */
export function leaves(doc: unknown, prefix = ""): { path: string; value: unknown }[] {
  const join = (k: string) => (prefix ? `${prefix}.${k}` : k);
  if (Array.isArray(doc) && doc.length > 0) return doc.flatMap((v, i) => leaves(v, join(String(i))));
  if (isObject(doc) && Object.keys(doc).length > 0 && !("$ref" in doc))
    return Object.entries(doc).flatMap(([k, v]) => leaves(v, join(k)));
  return [{ path: prefix, value: doc }];
}
