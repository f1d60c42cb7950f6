// Validation of PartitionKey / RowKey values (stack names), so a bad name fails here with a clear
// message instead of as an opaque 400 from Table Storage.

/** Table Storage refuses `/ \ # ?` and control characters in keys, and keys over 1 KiB. */
// eslint-disable-next-line no-control-regex
const FORBIDDEN_KEY_CHARACTERS = /[/\\#?\u0000-\u001f\u007f-\u009f]/;
/** Well under the 1 KiB key limit; stack names are far shorter. */
const MAX_KEY_LENGTH = 256;

export function assertStackName(name: string): void {
  if (typeof name !== "string" || name.length === 0 || name.length > MAX_KEY_LENGTH) {
    throw new RangeError(`a stack name must be 1-${MAX_KEY_LENGTH} characters, got '${String(name)}'`);
  }
  if (name.startsWith("~")) {
    throw new RangeError(`stack name '${name}' starts with '~', which the registry keeps for its index rows`);
  }
  if (FORBIDDEN_KEY_CHARACTERS.test(name)) {
    throw new RangeError(
      `stack name '${name}' contains a character Table Storage refuses in keys (/ \\ # ? or a control character)`,
    );
  }
}
